"""The promotion gate's statistics and the retrain's evidence join, on tiny seeded frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from features.dataset import Dataset
from governance.evidence import DECISION_COLUMNS, Evidence
from governance.policy import PolicyError, PromotionPolicy, default_policy_text, parse_policy
from training.promotion_gate import (
    bootstrap_improvement,
    compare,
    holdout_mask,
    log_loss,
    report_sha256,
)
from training.retrain import merge_evidence

CFG = PromotionPolicy(bootstrap_samples=2000, min_segment_lines=50, segment_tolerance=0.05)
GATE_OK = {"beats_best_baseline": True, "best_baseline": "tabular", "margin": 0.02}


def test_the_bootstrap_resamples_orders_so_correlated_lines_widen_the_interval() -> None:
    rng = np.random.default_rng(0)
    per_order = rng.normal(0.01, 0.05, size=60)  # 60 orders of 25 lines that move together
    diff = np.repeat(per_order, 25)
    champion, challenger = np.full(diff.size, 0.5) + diff, np.full(diff.size, 0.5)
    orders = np.repeat(np.arange(60), 25)
    by_order = bootstrap_improvement(champion, challenger, orders, 2000)
    by_line = bootstrap_improvement(champion, challenger, np.arange(diff.size), 2000)
    width = lambda r: r["ci95"][1] - r["ci95"][0]  # noqa: E731
    assert by_order["mean"] == pytest.approx(by_line["mean"])
    assert width(by_order) > 3 * width(by_line)  # ~ sqrt(25) wider: lines are not independent
    assert by_order["orders"] == 60 and by_order["resampled"] == "orders"


def test_the_interval_must_be_above_zero() -> None:
    loss = np.random.default_rng(1).uniform(0.2, 0.8, 400)
    orders = np.arange(400) // 4
    same = bootstrap_improvement(loss, loss, orders, 500)
    assert same["mean"] == 0 and not same["passed"]
    better = bootstrap_improvement(loss, loss * 0.9, orders, 500)
    assert better["ci95"][0] > 0 and better["passed"]
    with pytest.raises(ValueError, match="too few"):
        bootstrap_improvement(loss[:3], loss[:3], np.zeros(3), 500)


def _holdout(n: int = 2000, seed: int = 2) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.6, n)
    y = (rng.uniform(size=n) < p).astype(float)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(n) // 2,
            "location_id": np.where(np.arange(n) < 1900, "DC1", "DC2"),  # DC2: 100 lines
            "carrier_id": np.where(np.arange(n) % 2 == 0, "C1", "C2"),
            "category": "valves",
        }
    )
    return y, p, frame


def test_a_segment_much_worse_fails_the_gate_and_is_named() -> None:
    y, p, frame = _holdout()
    noisy = np.clip(0.5 * p + 0.25, 0, 1)  # the champion is blurred everywhere ...
    challenger = p.copy()
    c2 = (frame["carrier_id"] == "C2").to_numpy()
    challenger[c2] = np.clip(p[c2] * 0.3 + 0.5 * (1 - y[c2]), 0.01, 0.99)  # ... C2 ruined
    out = compare(y, noisy, challenger, frame, GATE_OK, CFG)
    assert "carrier_id=C2" in out["segments"]["worse"]
    assert not out["passed"] and any("carrier_id=C2" in f for f in out["failures"])


def test_small_segments_are_reported_not_judged_and_calibration_counts() -> None:
    y, p, frame = _holdout()
    champion = np.clip(0.5 * p + 0.25, 0, 1)
    challenger = p.copy()
    dc2 = (frame["location_id"] == "DC2").to_numpy()
    challenger[dc2] = 1 - y[dc2] * 0.98  # confidently wrong, on fewer lines than judged
    small = compare(
        y, champion, challenger, frame, GATE_OK, CFG.model_copy(update={"min_segment_lines": 150})
    )
    row = next(r for r in small["segments"]["rows"] if r["value"] == "DC2")
    assert row["lines"] == 100 and not row["judged"] and not row["worse"]
    good = compare(y, champion, p, frame, GATE_OK, CFG)
    assert good["passed"] and good["calibration"]["challenger_ece"] < CFG.max_ece
    strict = compare(y, champion, p, frame, GATE_OK, CFG.model_copy(update={"max_ece": 0.001}))
    assert not strict["calibration"]["passed"] and not strict["passed"]
    losing = compare(y, champion, p, frame, {**GATE_OK, "beats_best_baseline": False}, CFG)
    assert not losing["passed"] and "best baseline" in losing["failures"][-1]


def test_log_loss_and_the_report_hash() -> None:
    assert log_loss(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == pytest.approx([0, 0], abs=1e-5)
    report = {"a": 1, "b": [1.5, "x"]}
    digest = report_sha256(report)
    assert report_sha256({**report, "sha256": digest}) == digest  # the hash is not hashed
    assert report_sha256({**report, "a": 2}) != digest


def _tiny() -> Dataset:
    orders = pd.DataFrame(
        {"order_id": ["A", "A", "B", "C"], "line_no": [1, 2, 1, 1], "qty": [1.0, 2.0, 1.0, 1.0]}
    )
    ful = pd.DataFrame(
        {
            "order_id": ["A", "B", "C"],
            "line_no": [1, 1, 1],
            "shipped_qty": [1.0, 0.0, 1.0],
            "delivered_date": pd.to_datetime(["2024-01-02", None, "2024-01-03"]),
        }
    )
    empty = pd.DataFrame()
    return Dataset(empty, empty, empty, orders, ful, empty)


def test_live_outcomes_join_and_review_made_labels_leave() -> None:
    live = pd.DataFrame(
        {
            "order_id": ["A", "A", "Z"],
            "line_no": [1, 2, 1],
            "shipped_qty": [0.5, 2.0, 1.0],
            "ship_date": pd.NaT,
            "delivered_date": pd.to_datetime(["2024-01-05", "2024-01-04", "2024-01-04"]),
            "status": "delivered",
        }
    )
    decisions = pd.DataFrame(
        [("B", "order-hold", "rejected", "customer_declined", "key:k1", None)],
        columns=DECISION_COLUMNS,
    )
    merged, summary = merge_evidence(_tiny(), Evidence(live, decisions))
    ful = merged.fulfillments.set_index(["order_id", "line_no"])
    assert ful.loc[("A", 1), "shipped_qty"] == 0.5  # the live report replaced the export's
    assert ("A", 2) in ful.index and ("Z", 1) not in ful.index  # unknown line left out
    assert ("B", 1) not in ful.index  # cancelled by the review: no label
    assert "ship_date" not in ful.columns  # the export's columns only
    assert summary["live_outcomes_used"] == 2 and summary["live_outcomes_unknown_lines"] == 1
    assert summary["live_outcomes_replacing_export_rows"] == 1
    assert summary["rejected_lines_unlabelled"] == 1


def test_the_promotion_section_is_validated() -> None:
    assert parse_policy(default_policy_text()).promotion.queue == "model-promotion"
    data = yaml.safe_load(default_policy_text())
    del data["promotion"], data["queues"]["model-promotion"]
    assert parse_policy(yaml.safe_dump(data)).promotion.max_ece == 0.05  # older files still load
    data = yaml.safe_load(default_policy_text())
    del data["queues"]["model-promotion"]
    with pytest.raises(PolicyError, match=r"promotion\.queue"):
        parse_policy(yaml.safe_dump(data))
    data = yaml.safe_load(default_policy_text())
    data["promotion"]["segment_tolerence"] = 0.1
    with pytest.raises(PolicyError, match="did you mean 'segment_tolerance'"):
        parse_policy(yaml.safe_dump(data))


def test_wape_improvement_resamples_series_and_weighs_by_demand() -> None:
    """With the actuals as denominator the statistic is the WAPE difference; a segment's
    figure is its own WAPE, not a mean of per-day errors."""
    from training.promotion_gate import segment_table

    rng = np.random.default_rng(3)
    series = np.repeat(np.arange(30), 20)
    y = rng.poisson(np.repeat(rng.uniform(0.5, 20, 30), 20)).astype(float)
    champ, chall = y + rng.normal(0, 3, y.size), y + rng.normal(0, 1, y.size)
    e_champ, e_chall = np.abs(y - champ), np.abs(y - chall)
    out = bootstrap_improvement(
        e_champ, e_chall, series, 500, denominator=y, resampled="series", unit="WAPE"
    )
    wape = lambda e: e.sum() / y.sum()  # noqa: E731
    assert out["mean"] == pytest.approx(wape(e_champ) - wape(e_chall))
    assert out["series"] == 30 and out["passed"]
    frame = pd.DataFrame({"segment": np.where(series < 10, "fast", "slow")})
    table = segment_table(
        frame, e_champ, e_chall, CFG, segments=("segment",), denominator=y, metric="wape"
    )
    fast = next(r for r in table["rows"] if r["value"] == "fast")
    in_fast = series < 10
    assert fast["champion_wape"] == pytest.approx(e_champ[in_fast].sum() / y[in_fast].sum())
    assert fast["lines"] == 200 and table["passed"]


def test_the_holdout_is_the_latest_share_of_labelled_lines_or_of_whole_offer_sets() -> None:
    ts = pd.Series(pd.date_range("2024-01-01", periods=100, freq="h")).sample(
        frac=1, random_state=0
    )
    labelled = np.arange(100) % 4 != 0
    mask = holdout_mask(ts, 0.2, labelled)
    assert not mask[~labelled].any()
    latest = ts[labelled].sort_values().index[-15:]  # 20 % of 75 labelled lines
    assert set(ts.index[mask]) == set(latest)
    sets = np.repeat(np.arange(20), 5)  # offer sets of five, every offer at its set's start
    start = pd.Series(pd.date_range("2024-01-01", periods=20, freq="D")[sets])
    held = holdout_mask(start, 0.3)
    assert held.sum() == 30 and set(sets[held]) == set(range(14, 20))
