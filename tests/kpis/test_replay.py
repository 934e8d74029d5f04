"""The KPI replay: first-come-first-served allocation, counterfactual outcomes, and the
whole comparison on a small simulated world with tiny models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.kpi_scenarios import accepted_substitutes, allocate, best_offers, fulfillments


def day_lines() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": ["A", "B", "C", "D"],
            "line_no": [1, 1, 1, 1],
            "order_ts": pd.to_datetime(
                ["2025-01-01 09:00", "2025-01-01 08:00", "2025-01-01 10:00", "2025-01-02 08:00"]
            ),
            "qty": [4.0, 3.0, 5.0, 2.0],
            "t": [0, 0, 0, 1],
            "s": [0, 0, 0, 0],
            "promised_date": pd.to_datetime(["2025-01-05"] * 4),
            "item_id": ["I"] * 4,
            "customer_id": ["C1", "C2", "C3", "C1"],
        }
    )


def test_served_units_go_to_the_earliest_lines_first():
    served = np.array([[9.0], [2.0]])
    demand = np.array([[12.0], [2.0]])
    # Day 0: B (08:00) gets 3, A (09:00) 4, C (10:00) the remaining 2; day 1: D in full.
    assert allocate(day_lines(), served, demand).tolist() == [4.0, 3.0, 2.0, 2.0]


def test_a_share_is_applied_when_the_policy_saw_other_demand():
    served, demand = np.array([[6.0], [1.0]]), np.array([[24.0], [1.0]])  # a quarter served
    assert allocate(day_lines(), served, demand).tolist() == [0.0, 3.0, 0.0, 2.0]


def test_counterfactual_outcomes_keep_recorded_deliveries():
    recorded = pd.DataFrame(
        {
            "order_id": ["A", "B", "C"],
            "line_no": [1, 1, 1],
            "shipped_qty": [4.0, 0.0, 5.0],
            "ship_date": pd.to_datetime(["2025-01-02", None, "2025-01-02"]),
            "delivered_date": pd.to_datetime(["2025-01-06", None, "2025-01-04"]),
            "status": ["delivered", "cancelled", "delivered"],
        }
    )
    late = pd.Series(
        [True, True, False], index=pd.MultiIndex.from_tuples([("A", 1), ("B", 1), ("C", 1)])
    )
    out = fulfillments(day_lines(), recorded, np.array([2.0, 3.0, 0.0, 2.0]), late).set_index(
        "order_id"
    )
    assert out.loc["A", "delivered_date"] == pd.Timestamp("2025-01-06")  # as recorded, late
    assert out.loc["A", "shipped_qty"] == 2.0
    # B was cancelled in the records; shipping now, it travels with its (late) order.
    assert out.loc["B", "status"] == "delivered"
    assert out.loc["B", "delivered_date"] == pd.Timestamp("2025-01-06")
    assert out.loc["C", "status"] == "cancelled" and pd.isna(out.loc["C", "delivered_date"])
    assert "D" not in out.index  # no fulfillment row in the records: still open


def test_substitutes_are_the_top_ranked_offer_accepted_at_the_true_rate():
    offers = pd.DataFrame(
        {
            "event_id": ["E1", "E2", "E3"],
            "ts": pd.to_datetime(["2025-01-01 12:00"] * 3),
            "order_id": ["A", "A", "C"],
            "original_item_id": ["I", "I", "I"],
            "offered_item_id": ["X", "Y", "Z"],
        }
    )
    best = best_offers(offers, np.array([0.2, 0.9, 0.5]))
    assert best.set_index("order_id").loc["A", "offered_item_id"] == "Y"
    short = np.array([True, False, True, False])
    certain = accepted_substitutes(day_lines(), short, best, pd.Series({"E2": 1.0, "E3": 0.0}), 0)
    assert certain.set_index("order_id")["accepted"].to_dict() == {"A": True, "C": False}
    n = 2000
    many = pd.DataFrame(
        {"order_id": [f"O{k}" for k in range(n)], "item_id": "I", "customer_id": "C"}
    )
    many_offers = pd.DataFrame(
        {
            "event_id": [f"E{k}" for k in range(n)],
            "ts": pd.Timestamp("2025-01-01"),
            "order_id": many["order_id"],
            "original_item_id": "I",
            "offered_item_id": "X",
        }
    )
    p = pd.Series(0.3, index=many_offers["event_id"])
    drawn = accepted_substitutes(many, np.ones(n, dtype=bool), many_offers, p, seed=7)
    assert drawn["accepted"].mean() == pytest.approx(0.3, abs=0.04)  # 4 standard errors
    again = accepted_substitutes(many, np.ones(n, dtype=bool), many_offers, p, seed=7)
    assert drawn.equals(again)  # seeded: reruns print the same figures


@pytest.mark.slow
def test_the_replay_compares_both_sides_on_a_small_world(tmp_path):
    from training.demand.backtest import BacktestConfig
    from training.kpi_replay import KPIS, SCENARIOS, ReplayConfig, format_report, replay_kpis
    from training.simulator import simulate, write

    write(simulate("small", seed=3), tmp_path / "data")
    config = ReplayConfig(
        backtest=BacktestConfig(horizon=14, n_windows=1, refresh_days=7),
        demand_model={"n_estimators": 5},
        substitution_trees=5,
        threads=1,
    )
    report = replay_kpis(tmp_path / "data", config)
    assert set(report["kpis"]) == set(KPIS)
    for kpi in KPIS:
        for scenario in SCENARIOS:
            assert 0 <= report["kpis"][kpi][scenario] <= 1, (kpi, scenario)
    without = report["kpis"]
    # No substitutes without StockPilot: after substitution equals first time there.
    assert without["fill_rate_line_after_substitution"]["without_stockpilot"] == pytest.approx(
        without["fill_rate_line"]["without_stockpilot"]
    )
    offered = report["substitution"]["with_stockpilot"]
    assert offered["offered_lines"] <= report["substitution"]["short_lines_with_stockpilot"]
    assert report["window"]["lines"] > 0 and "assumptions" in format_report(report)
