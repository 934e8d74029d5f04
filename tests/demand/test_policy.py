"""The policy replay's mechanics on a tiny hand-made world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.dataset import Dataset
from models.demand import DemandForecaster
from models.replenishment import ReplenishmentPolicy
from tests.demand.conftest import synthetic_items
from training.demand.backtest import BacktestConfig, run_backtest
from training.demand.policy import baseline_decider, matched, simulate_policies
from training.demand.replay import World, run_policy


def world(start_stock: float = 5.0, lead: int = 2) -> World:
    days = 10
    return World(
        dates=pd.date_range("2024-03-01", periods=days),
        series=pd.DataFrame(
            {
                "unique_id": ["A|X"],
                "item_id": ["A"],
                "location_id": ["X"],
                "lead_time_days": [float(lead)],
                "lead_time_std": [0.0],
                "moq": [0.0],
                "order_multiple": [1.0],
                "unit_cost": [3.0],
            }
        ),
        demand=np.full((days, 1), 2.0),
        history=np.full((28, 1), 2.0),
        start_stock=np.array([start_stock]),
        open_orders=pd.DataFrame({"s": [0], "qty": [4.0], "expected": [3], "arrival": [4]}),
        lead_draws=np.full((days, 1), lead),
    )


def never(t: int, on_hand: np.ndarray, orders: pd.DataFrame) -> np.ndarray:
    return np.zeros_like(on_hand)


def test_without_orders_stock_runs_out_and_open_orders_arrive_when_realised():
    out = run_policy(world(), never)
    # 5 on hand + 4 arriving on day 4 against 2 a day for 10 days: 9 of 20 served.
    assert out.fill_rate == pytest.approx(9 / 20)
    assert out.orders == 0
    assert out.daily_inventory.tolist()[:5] == [3.0, 1.0, 0.0, 0.0, 2.0]
    assert out.avg_inventory_value == pytest.approx(3.0 * out.avg_inventory)
    assert out.stockout_days == 6


def test_after_warm_up_only_the_later_days_count():
    w = world()
    out = run_policy(w, never, warm_up_days=4)
    # days 4..9: the 4 received on day 4 serve days 4 and 5, then nothing: 4 of 12
    assert out.fill_rate == pytest.approx(4 / 12)
    assert out.fill_rate_all == pytest.approx(9 / 20)
    assert out.avg_inventory == pytest.approx(np.mean(out.daily_inventory[4:]))
    assert out.stockout_days == 4 and out.warm_up_days == 4
    assert w.warm_up_days(review_days=1) == min(int(w.protection.max()) + 1, len(w.dates) // 2)
    with pytest.raises(ValueError, match="warm_up_days"):
        run_policy(w, never, warm_up_days=len(w.dates))


def test_moving_average_baseline_orders_before_running_out():
    w = world(start_stock=8.0)
    out = run_policy(w, baseline_decider(w, ReplenishmentPolicy(service_level=0.95)))
    assert out.fill_rate == pytest.approx(1.0)
    assert out.orders >= 1
    assert out.stockout_days == 0


def _point(policy: str, level: float, fill: float, stock: float) -> dict:
    return {"policy": policy, "service_level": level, "fill_rate": fill, "avg_inventory": stock}


def test_matched_reads_our_stock_at_the_baselines_achieved_fill():
    points = [
        _point("baseline", 0.95, 0.90, 100.0),
        _point("ours", 0.90, 0.88, 70.0),
        _point("ours", 0.95, 0.92, 110.0),
        _point("ours", 0.99, 0.95, 150.0),
    ]
    out = matched(points, 0.95)
    assert out["baseline_fill_rate"] == 0.90
    assert out["at_equal_fill"]["avg_inventory"] == pytest.approx(90.0)  # halfway 70 → 110
    assert out["at_equal_fill"]["inventory_saving"] == pytest.approx(0.10)
    assert out["grid_point"]["service_level"] == 0.95  # cheapest point reaching 0.90
    assert out["grid_point"]["inventory_saving"] == pytest.approx(-0.10)


def test_matched_is_none_when_our_curve_never_reaches_the_baseline():
    points = [_point("baseline", 0.95, 0.99, 100.0), _point("ours", 0.95, 0.90, 80.0)]
    assert matched(points, 0.95) is None
    assert matched([_point("ours", 0.95, 0.9, 1.0)], 0.95) is None


def _bare_dataset(demand: pd.DataFrame) -> Dataset:
    """Issue 14's export: no purchase orders, no item lead times, one constant stock level."""
    pairs = demand.drop_duplicates(["item_id", "location_id"])[["item_id", "location_id"]]
    no_lines = pd.DataFrame(columns=["order_id", "line_no"])
    return Dataset(
        items=synthetic_items(),
        locations=pd.DataFrame({"location_id": sorted(pairs["location_id"].unique())}),
        customers=pd.DataFrame({"customer_id": ["C1"]}),
        orders=no_lines,
        fulfillments=no_lines,
        inventory=pairs.assign(snapshot_date=demand["date"].min(), on_hand=40.0),
        demand=demand,
    )


@pytest.mark.slow
def test_replay_runs_without_purchase_orders_lead_times_or_stock_changes(
    demand_table: pd.DataFrame, daily: pd.DataFrame
) -> None:
    """`train demand` died here with an IndexError: the open orders of a dataset without
    purchase orders had no integer series index."""
    ds = _bare_dataset(demand_table)
    config = BacktestConfig(horizon=7, n_windows=2, refresh_days=7)
    bt = run_backtest(
        daily,
        ds.items,
        lambda: DemandForecaster(horizon=7, n_estimators=5, min_child_samples=5),
        config,
    )
    policy = ReplenishmentPolicy()
    outcomes, points = simulate_policies(bt, daily, ds, policy, levels=(0.9,))
    for outcome in outcomes.values():
        assert 0 < outcome.fill_rate <= 1
        assert outcome.orders > 0  # 40 units do not last: both policies reorder
    assert {(p["policy"], p["service_level"]) for p in points} == {
        (name, level) for name in ("ours", "baseline") for level in (0.9, 0.95)
    }
