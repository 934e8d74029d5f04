"""Model behaviour: directions that must hold, calibration, erosion flags, reason text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.dataset import Dataset
from features.risk_state import RiskState
from models.order_risk import MarginErosionDetector
from models.order_risk_scorer import OrderRiskScorer, aggregate
from training.order_risk import Prepared


@pytest.fixture(scope="module")
def test_slice(prepared: Prepared, masks: dict[str, np.ndarray]):
    fields, state = prepared.take(masks["test"])
    keep = np.arange(len(fields["qty"])) < 1500
    return {k: v[keep] for k, v in fields.items()}, {k: v[keep] for k, v in state.items()}


@pytest.mark.parametrize("extra", [1.0, 5.0, 50.0, 1000.0])
def test_more_available_stock_never_raises_risk(tiny_scorer: OrderRiskScorer, test_slice, extra):
    fields, state = test_slice
    base = tiny_scorer.explain_arrays(fields, state)
    more = dict(state)
    more["inv_on_hand"] = state["inv_on_hand"] + extra
    more["inv_available"] = state["inv_available"] + extra
    stocked = tiny_scorer.explain_arrays(fields, more)
    assert (stocked.probability <= base.probability + 1e-12).all()
    assert (stocked.probability < base.probability - 1e-6).any(), "stock must matter somewhere"


@pytest.mark.parametrize("days", [1, 3, 10])
def test_a_later_promise_never_raises_risk(
    tiny_scorer: OrderRiskScorer, small_ds: Dataset, days: int
):
    """Through the live state, so that in-transit stock due by the promise moves too."""
    state = RiskState.from_dataset(small_ds)
    orders = small_ds.orders.tail(400)
    for _, lines in orders.groupby("order_id", sort=False):
        records = lines.to_dict("records")
        later = [
            {**r, "promised_date": r["promised_date"] + pd.Timedelta(days=days)} for r in records
        ]
        now = tiny_scorer.score_order(records, state)
        postponed = tiny_scorer.score_order(later, state)
        for a, b in zip(now.lines, postponed.lines, strict=True):
            assert b.probability <= a.probability + 1e-12


def test_restocking_a_position_lowers_the_lines_risk(tiny_scorer: OrderRiskScorer, small_ds):
    state = RiskState.from_dataset(small_ds)
    orders = small_ds.orders.tail(300)
    for _, lines in orders.groupby("order_id", sort=False):
        records = lines.to_dict("records")
        before = tiny_scorer.score_order(records, state)
        r = records[0]
        pos = state.positions.position(r["item_id"], r["location_id"])
        if pos is None:
            continue
        state.update_inventory(
            r["item_id"], r["location_id"], r["order_ts"], on_hand=pos["on_hand"] + 10 * r["qty"]
        )
        after = tiny_scorer.score_order(records, state)
        assert after.lines[0].probability <= before.lines[0].probability + 1e-12


def test_probabilities_are_calibrated_and_monotone_in_the_margin(tiny_scorer, test_slice):
    scores = tiny_scorer.explain_arrays(*test_slice)
    assert ((scores.probability > 0) & (scores.probability < 1)).all()
    order = np.argsort(scores.margin)
    assert (np.diff(scores.probability[order]) >= 0).all()
    assert tiny_scorer.classifier.calibration_slope_ > 0


def test_order_score_aggregations():
    p = np.array([0.1, 0.2, 0.5])
    assert aggregate(p, "max") == 0.5
    assert aggregate(p, "noisy_or") == pytest.approx(1 - 0.9 * 0.8 * 0.5)
    with pytest.raises(ValueError, match="aggregation"):
        aggregate(p, "mean")


def erosion_inputs(**overrides: float) -> tuple[dict, dict]:
    features = {
        "price_vs_item_usual": np.array([overrides.get("item", 0.0)]),
        "price_vs_category_usual": np.array([overrides.get("category", 0.0)]),
        "margin_pct": np.array([overrides.get("margin", 0.3)]),
        "price_vs_recorded_discount": np.array([overrides.get("mismatch", 0.0)]),
        "discount_vs_usual": np.array([overrides.get("jump", 0.0)]),
    }
    state = {
        "ci_pi_n": np.array([overrides.get("ci_n", 5.0)]),
        "cc_pi_n": np.array([20.0]),
        "cust_disc_n": np.array([20.0]),
    }
    return features, state


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({}, ""),
        ({"item": np.log(0.9)}, ""),  # a promotion-sized cut is not erosion
        ({"item": np.log(0.7)}, "price_drop"),
        ({"item": 0.0, "category": np.log(0.6), "ci_n": 0.0}, "price_drop"),
        ({"mismatch": np.log(0.7)}, "price_mismatch"),
        ({"margin": -0.05}, ""),  # below cost at the customer's normal, recorded price
        ({"margin": -0.2, "mismatch": np.log(0.85)}, "below_cost"),
        ({"jump": 30.0}, "discount_jump"),
    ],
)
def test_margin_erosion_rules(overrides: dict, kind: str):
    result = MarginErosionDetector().fit().detect(*erosion_inputs(**overrides))
    assert result.kind[0] == kind
    assert bool(result.flag[0]) == bool(kind)


def test_detector_validates_its_parameters():
    with pytest.raises(ValueError, match="min_drop"):
        MarginErosionDetector(min_drop=1.5).fit()


def test_served_order_carries_reasons_families_and_contributions(
    tiny_scorer: OrderRiskScorer, small_ds: Dataset
):
    state = RiskState.from_dataset(small_ds)
    orders = small_ds.orders.tail(2000)
    results = [
        tiny_scorer.score_order(lines.to_dict("records"), state)
        for _, lines in orders.groupby("order_id", sort=False)
    ]
    risky = max(results, key=lambda r: r.score)
    line = max(risky.lines, key=lambda x: x.probability)
    assert risky.score == pytest.approx(line.probability)  # "max" aggregation
    assert line.reasons and line.reasons[0].contribution >= 0.1
    assert set(line.families) <= {
        "inventory_shortfall",
        "carrier_delay",
        "route",
        "slack",
        "warehouse_load",
        "customer",
        "margin_erosion",
        "order_anomaly",
        "master_data",
        "context",
    }
    total = risky.expected_value + sum(line.contributions.values())
    assert total == pytest.approx(line.margin, abs=1e-9)
    shortfalls = [
        reason.text
        for r in results
        for x in r.lines
        for reason in x.reasons
        if reason.family == "inventory_shortfall"
    ]
    assert any(" available at " in text for text in shortfalls), shortfalls[:5]
    flagged = [x for r in results for x in r.lines if x.margin_erosion]
    assert flagged and all(x.margin_erosion_reason for x in flagged)


def test_many_orders_at_once_score_as_each_alone(tiny_scorer: OrderRiskScorer, small_ds: Dataset):
    """One feature/SHAP pass for many orders gives each order what it gets alone; a bad
    order gets its error in its place and an order with its own context column is scored."""
    state = RiskState.from_dataset(small_ds)
    orders = [
        lines.to_dict("records")
        for _, lines in small_ds.orders.tail(300).groupby("order_id", sort=False)
    ][:40]
    orders[5] = [{**line, "order_ts": "not a date"} for line in orders[5]]
    orders[9] = [{**line, "x_rush": 1.0} for line in orders[9]]
    together = tiny_scorer.score_orders(orders, state)
    assert isinstance(together[5], ValueError) and "order_ts" in str(together[5])
    for k, lines in enumerate(orders):
        if k == 5:
            continue
        alone = tiny_scorer.score_order(lines, state)
        assert together[k].score == pytest.approx(alone.score, abs=1e-12)
        assert _texts(together[k].reasons) == _texts(alone.reasons)
        for a, b in zip(together[k].lines, alone.lines, strict=True):
            assert a.contribution_list == pytest.approx(b.contribution_list, abs=1e-12)
            assert a.feature_list == pytest.approx(b.feature_list, abs=1e-12, nan_ok=True)
            assert (a.line_no, _texts(a.reasons), a.margin_erosion_reason) == (
                b.line_no,
                _texts(b.reasons),
                b.margin_erosion_reason,
            )


def _texts(reasons) -> list[tuple[str, str]]:
    return [(r.family, r.text) for r in reasons]
