"""Identity miss rates: chosen from the columns present, point in time, equal in both paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import risk_identities as ri
from features.dataset import Dataset
from features.master import MasterData
from features.order_fields import record_fields
from features.risk_history import state_values
from features.risk_state import RiskState
from models.reasons import reason
from tests.order_risk.test_missing_optional import VARIANTS, without
from tests.order_risk.tiny import line, tiny_dataset


def names(ds: Dataset) -> dict[str, ri.Identity]:
    chosen = ri.choose(ds.orders, set(MasterData.from_dataset(ds).names))
    return {identity.name: identity for identity in chosen}


def test_identities_follow_the_columns_present(small_ds: Dataset, monkeypatch):
    full = names(small_ds)
    assert full["route"].parts == ("location_id", "carrier_id", "ship_method")
    assert full["route"].parent == "location" and full["route"].recent
    assert full["supplier_location"].parent == "supplier"
    assert full["item"].parent == "category"
    assert "x_promo" not in full, "numeric x_* columns pass through as values, not identities"

    orders = small_ds.orders.assign(
        x_vendor=np.where(np.arange(len(small_ds.orders)) % 3 == 0, "V1", None),
        x_po=[f"PO{k}" for k in range(len(small_ds.orders))],
    )
    monkeypatch.setattr(ri, "MAX_FREE_LEVELS", 100)
    extra = ri.choose(orders, set(MasterData.from_dataset(small_ds).names))
    assert "x_vendor" in {i.name for i in extra} and "x_po" not in {i.name for i in extra}

    bare = names(without(small_ds, **VARIANTS["everything optional missing"]))
    assert {"route", "carrier", "priority", "customer_region"}.isdisjoint(bare)
    assert {"location", "item", "category"} <= set(bare)
    no_method = names(without(small_ds, orders=["ship_method"]))
    assert no_method["route"].parts == ("location_id", "carrier_id")


def routed(order_id: str, ts: str, promised: str, **extra) -> dict:
    return line(
        order_id, 1, ts, promised, carrier_id="CR1", ship_method="ground", x_vendor="V7", **extra
    )


def tiny_routes() -> Dataset:
    orders = [
        routed("late", "2024-01-02T09:00", "2024-01-04"),
        routed("ontime", "2024-01-02T10:00", "2024-01-06"),
        routed("same_day", "2024-01-05T09:00", "2024-01-09"),  # the late delivery is not known yet
        routed("after", "2024-01-07T09:00", "2024-01-11"),
        routed("other", "2024-01-07T09:00", "2024-01-11", location_id="ATL"),
    ]
    fulfillments = [
        {"order_id": o, "line_no": 1, "shipped_qty": 4, "ship_date": s, "delivered_date": d}
        for o, s, d in [
            ("late", "2024-01-03", "2024-01-05"),  # known from Jan 6
            ("ontime", "2024-01-03", "2024-01-04"),  # known from Jan 5
        ]
    ]
    return tiny_dataset(orders, fulfillments)


def test_a_route_counts_only_outcomes_known_before_the_order():
    ds = tiny_routes()
    values = state_values(ds)
    by_order = {o: k for k, o in enumerate(ds.orders["order_id"])}
    n, m = values["ids_route_n"], values["ids_route_m"]
    assert (n[by_order["late"]], m[by_order["late"]]) == (0, 0)
    assert (n[by_order["same_day"]], m[by_order["same_day"]]) == (1, 0), "only the on-time one"
    assert (n[by_order["after"]], m[by_order["after"]]) == (2, 1)
    assert n[by_order["other"]] == 0, "another location is another route"
    assert values["ids_x_vendor_n"][by_order["other"]] == 2, "the vendor is the same"
    assert values["net_n"][by_order["after"]] == 2 and values["net_m"][by_order["after"]] == 1
    # The route's usual promised lead counts earlier orders, outcome or not.
    lead_n, lead_sum = values["route_lead_n"], values["route_lead_sum"]
    assert lead_n[by_order["after"]] == 3 and lead_sum[by_order["after"]] == 2 + 4 + 4


def test_the_live_state_counts_the_same_through_record_outcome():
    ds = tiny_routes()
    history = state_values(ds)
    state = RiskState.from_dataset(ds, as_of=pd.Timestamp("2024-01-03"))
    assert state.record_outcome("late", 1, 4, "2024-01-03", "2024-01-05")
    assert state.record_outcome("ontime", 1, 4, "2024-01-03", "2024-01-04")
    for order_id in ("same_day", "after", "other"):
        records = ds.orders[ds.orders["order_id"] == order_id].to_dict("records")
        got = state.values(record_fields(records))
        k = int(np.flatnonzero(ds.orders["order_id"] == order_id)[0])
        for name in [n for n in history if n.startswith(("ids_", "net_", "route_lead"))]:
            assert got[name][0] == pytest.approx(history[name][k]), (order_id, name)
        state.record_order(records)


def test_route_reason_quotes_the_plain_counts():
    ds = tiny_routes()
    values = state_values(ds)
    k = int(np.flatnonzero(ds.orders["order_id"] == "after")[0])
    inputs = {
        **{c: ds.orders[c].astype(object).to_numpy() for c in ("location_id", "carrier_id")},
        "ship_method": ds.orders["ship_method"].astype(object).to_numpy(),
        **values,
    }
    derived = {"miss_rate_route": np.full(len(ds.orders), 0.4), "lead_vs_route": np.zeros(5)}
    text = reason("route", k, inputs, derived)
    assert text.startswith("route DAL → CR1 ground: 50% of its past 2 lines missed")
    assert "(all lines: 50%)" in text
