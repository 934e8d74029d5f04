"""Labels and final-outcome events derived from fulfillments (SPEC §3)."""

from __future__ import annotations

import numpy as np

from features.asof import epoch_day
from features.order_outcomes import line_outcomes
from tests.order_risk.tiny import line, tiny_dataset


def ful(order_id: str, shipped: float, ship: str | None, delivered: str | None, **kw) -> dict:
    return {
        "order_id": order_id,
        "line_no": 1,
        "shipped_qty": shipped,
        "ship_date": ship,
        "delivered_date": delivered,
        **kw,
    }


def day(text: str) -> int:
    return epoch_day(text)


def test_labels_late_short_in_flight_cancelled_and_open():
    promise = {"flight_early": "2024-01-07"}
    orders = [
        line(o, 1, "2024-01-02T09:00", promise.get(o, "2024-01-05"))
        for o in ("ontime", "late", "short", "flight_late", "flight_early", "cancel", "open")
    ]
    ds = tiny_dataset(
        orders,
        [
            ful("ontime", 4, "2024-01-03", "2024-01-05"),
            ful("late", 4, "2024-01-03", "2024-01-06"),
            ful("short", 3, "2024-01-03", "2024-01-04"),
            ful("flight_late", 4, "2024-01-03", None),
            ful("flight_early", 4, "2024-01-05", None),
            ful("cancel", 0, None, None),
        ],
        inventory=[
            {"snapshot_date": d, "item_id": "A", "location_id": "DAL", "on_hand": 10}
            for d in ("2024-01-01", "2024-01-06")  # the export ends on Jan 6
        ],
    )
    out = line_outcomes(ds).set_index(ds.orders["order_id"])
    miss = out["miss"]
    assert miss["ontime"] == 0 and miss["late"] == 1 and miss["short"] == 1
    assert miss["flight_late"] == 1, "on its way after its promised date: late whatever happens"
    assert np.isnan(miss["flight_early"]), "still travelling before its promise: unknown"
    assert miss["cancel"] == 1 and np.isnan(miss["open"])
    final = out["final_day"]
    assert final["ontime"] == day("2024-01-06") and final["late"] == day("2024-01-07")
    assert np.isnan(final["flight_late"]) and np.isnan(final["open"])
    assert final["cancel"] == day("2024-01-06"), "cancelled: known by the export at the latest"
    assert out.loc["ontime", "o2d_days"] == 3 and out.loc["ontime", "transit_days"] == 2
    assert out["late_known"].tolist() == [True, True, True, False, False, False, False]


def test_in_flight_past_its_promise_is_a_known_miss():
    ds = tiny_dataset(
        [line("o", 1, "2024-01-02T09:00", "2024-01-04")],
        [ful("o", 4, "2024-01-03", None)],
        inventory=[
            {"snapshot_date": "2024-01-09", "item_id": "A", "location_id": "DAL", "on_hand": 1}
        ],
    )
    out = line_outcomes(ds)
    assert out["miss"].tolist() == [1.0]
    assert np.isnan(out["final_day"].iloc[0]), "not final: statistics wait for the delivery"


def test_without_delivery_dates_shipping_decides_lateness():
    ds = tiny_dataset(
        [
            line("a", 1, "2024-01-02T09:00", "2024-01-04"),
            line("b", 1, "2024-01-02T09:00", "2024-01-04"),
        ],
        [
            {"order_id": "a", "line_no": 1, "shipped_qty": 4, "ship_date": "2024-01-03"},
            {"order_id": "b", "line_no": 1, "shipped_qty": 4, "ship_date": "2024-01-05"},
        ],
    )
    out = line_outcomes(ds)
    assert out["miss"].tolist() == [0.0, 1.0]
    assert out["final_day"].tolist() == [day("2024-01-04"), day("2024-01-06")]
