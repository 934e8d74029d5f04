"""Optional columns and tables missing: fewer features, the same pipeline, no crash."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from features.dataset import Dataset
from features.order_fields import record_fields
from features.risk_history import state_values
from features.risk_state import RiskState
from models.order_risk_scorer import OrderRiskScorer
from training.order_risk import Prepared, fit, prepare, split_lines

ORDER_OPTIONAL = ["discount_pct", "requested_date", "carrier_id", "ship_method", "priority"]


def without(ds: Dataset, **columns: list[str] | None) -> Dataset:
    """``table=None`` drops an optional table; ``table=[...]`` drops those columns."""
    changes = {}
    for table, cols in columns.items():
        frame = getattr(ds, table)
        if cols is None:
            changes[table] = None
        else:
            drop = [c for c in frame.columns if c in cols or (c.startswith("x_") and "x_*" in cols)]
            changes[table] = frame.drop(columns=drop)
    return dataclasses.replace(ds, **changes)


VARIANTS = {
    "no carriers table": {"carriers": None},
    "no x_* columns": {"orders": ["x_*"]},
    "no in-transit": {"inventory": ["in_transit", "in_transit_eta"]},
    "no discount": {"orders": ["discount_pct"]},
    "bare orders": {"orders": [*ORDER_OPTIONAL, "x_*"]},
    "bare fulfillments": {"fulfillments": ["ship_date", "delivered_date", "status"]},
    "no delivery dates": {"fulfillments": ["delivered_date"]},
    "bare inventory": {
        "inventory": ["allocated", "reserved", "quarantined", "in_transit", "in_transit_eta"]
    },
    "bare master data": {
        "items": ["brand", "description", "pack_size", "uom", "supplier_id", "active"],
        "customers": ["segment", "tier", "region"],
        "locations": ["region", "kind"],
        "carriers": None,
    },
    "everything optional missing": {
        "orders": [*ORDER_OPTIONAL, "x_*"],
        "fulfillments": ["ship_date", "status"],
        "inventory": ["allocated", "reserved", "quarantined", "in_transit", "in_transit_eta"],
        "items": ["active"],
        "customers": ["segment", "tier", "region"],
        "carriers": None,
        "demand": None,
        "substitutions": None,
        "purchase_orders": None,
    },
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_pipeline_degrades_to_fewer_features(
    variant: str, small_ds: Dataset, tiny_scorer: OrderRiskScorer
):
    ds = without(small_ds, **VARIANTS[variant])
    prepared: Prepared = prepare(ds)
    labelled = ~np.isnan(prepared.outcomes["miss"].to_numpy(float))
    scorer = fit(prepared, split_lines(prepared.orders["order_ts"], labelled), {"n_estimators": 8})
    names = set(scorer.feature_names)
    assert names < set(tiny_scorer.feature_names), f"{variant}: expected fewer features"
    assert {"inv_cover", "inv_shortfall_share", "promised_days"} <= names

    state = RiskState.from_dataset(ds)
    orders = ds.orders.tail(60)
    for _, lines in orders.groupby("order_id", sort=False):
        risk = scorer.score_order(lines.to_dict("records"), state)
        assert 0 <= risk.score <= 1
    p = scorer.predict_frame(orders, state)
    assert ((p >= 0) & (p <= 1)).all()


def test_serving_equals_training_on_a_bare_dataset(small_ds: Dataset):
    ds = without(small_ds, **VARIANTS["everything optional missing"])
    history = state_values(ds)
    orders = ds.orders.reset_index(drop=True)
    start = orders["order_ts"].iloc[len(orders) * 2 // 3]
    state = RiskState.from_dataset(ds, as_of=start)
    today = orders[(orders["order_ts"] >= start) & (orders["order_ts"].dt.date == start.date())]
    for _, lines in today.groupby(["order_ts", "order_id"], sort=True):
        lines = lines.sort_values("line_no")
        got = state.values(record_fields(lines.to_dict("records")))
        assert set(got) == set(history)
        for name, values in got.items():
            want = history[name][lines.index.to_numpy()]
            if values.dtype == object:
                assert list(values) == list(want), name
            else:
                np.testing.assert_allclose(values, want, rtol=1e-9, atol=1e-9, err_msg=name)
        state.record_order(lines.to_dict("records"))


def test_serving_tolerates_lines_without_optional_fields(
    tiny_scorer: OrderRiskScorer, small_ds: Dataset
):
    state = RiskState.from_dataset(small_ds)
    lines = small_ds.orders.tail(3).to_dict("records")
    required = [
        "order_id",
        "line_no",
        "order_ts",
        "customer_id",
        "item_id",
        "location_id",
        "qty",
        "unit_price",
        "promised_date",
    ]
    bare = [{k: line[k] for k in required} for line in lines]
    risk = tiny_scorer.score_order(bare, state)
    assert all(0 < line.probability < 1 for line in risk.lines)
    unknown = [{**bare[0], "item_id": "NOT-IN-MASTER", "customer_id": "NEW-CUSTOMER"}]
    risk = tiny_scorer.score_order(unknown, state)
    assert risk.lines[0].feature_values["item_unknown"] == 1.0
    assert risk.lines[0].feature_values["customer_unknown"] == 1.0
