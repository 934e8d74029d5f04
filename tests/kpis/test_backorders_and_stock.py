"""Backorder aging and the inventory KPIs on the hand-made distributor."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from features.kpis.compute import evaluate
from features.kpis.query import Period, Query, day_number
from features.kpis.stock import with_events
from tests.kpis import tiny
from tests.kpis.conftest import facts_of, january


def until(day: str, grain: str = "day") -> Query:
    return Query(Period(day_number(date(2025, 1, 1)), day_number(date.fromisoformat(day)), grain))


def test_backorders_are_a_snapshot_at_the_end_of_the_period(facts):
    # Data ends 2025-01-15: O7 (promised 01-05, never shipped) is 10 days past due.
    result = evaluate("backorder_aging", facts, january())
    assert result.value == 1
    assert result.components["8_14_days"] == 1 and result.components["over_30_days"] == 0
    assert result.components["units"] == 1
    assert "2025-01-15" in result.note  # the period runs past the data
    early = evaluate("backorder_aging", facts, until("2025-01-07"))
    assert early.components["0_7_days"] == 1 and early.value == 1
    assert evaluate("backorder_aging", facts, until("2025-01-05")).value == 0  # not yet late


def test_a_short_shipment_that_keeps_the_rest_open_is_a_backorder():
    ful = tiny.fulfillments()
    ful.loc[ful["order_id"] == "O2", "status"] = "backordered"
    facts = facts_of(tiny.dataset(fulfillments=ful))
    result = evaluate("backorder_aging", facts, until("2025-01-15"))
    assert result.value == 2  # O7 and O2's remaining 4 units (5 days past its promise)
    assert result.components["0_7_days"] == 1 and result.components["units"] == 1 + 4


def test_backorder_trend_counts_at_each_bucket_end_and_stops_at_the_data(facts):
    # Week ends: 01-05 (O7 not late yet), 01-12 (late), 01-19 and later: past the data.
    assert evaluate("backorder_aging", facts, january()).trend == [0, 1, None, None, None]


def test_stockout_frequency_uses_the_single_inventory_truth(facts):
    # I1@L1 always has 10; I2@L1 has 0 on 01-14 and 3 on hand all allocated on 01-15.
    result = evaluate("stockout_frequency", facts, january())
    assert (result.numerator, result.denominator) == (2, 10)


def test_inactive_items_are_left_out_of_stockouts():
    inv = pd.concat(
        [
            tiny.inventory(),
            pd.DataFrame(
                {
                    "snapshot_date": pd.date_range("2025-01-11", "2025-01-15"),
                    "item_id": "I3",
                    "location_id": "L1",
                    "on_hand": 0.0,
                    "allocated": 0.0,
                }
            ),
        ],
        ignore_index=True,
    )
    facts = facts_of(tiny.dataset(inventory=inv))
    assert evaluate("stockout_frequency", facts, january()).denominator == 10


def test_turns_and_cover_weigh_items_by_cost(facts):
    # Goods shipped 01-11..01-15 from series with snapshots: O6 (3 × I1 at 10) = 30.
    # Inventory at cost per day: I1 10×10 + I2 [4,4,4,0,3]×5 → mean 115 over 5 days.
    turns = evaluate("inventory_turns", facts, january())
    assert turns.components["cost_of_goods_shipped"] == 30
    assert turns.components["average_inventory_value"] == pytest.approx(115)
    assert turns.value == pytest.approx(30 / 115 * 365 / 5)
    # Cover at the last snapshot (01-15): available 10 × 10 (I2 has none available) over
    # goods of the 28 days up to it from L1 series: O1.1 100 + O2 60 + O4 20 + O6 30 + O9 40.
    cover = evaluate("days_of_cover", facts, january())
    assert cover.components["available_value"] == 100
    assert cover.value == pytest.approx(100 / (250 / 28))


def test_stock_kpis_refuse_customer_slices_with_a_reason(facts):
    result = evaluate("stockout_frequency", facts, january(segment=0))
    assert result.value is None and "segment" in result.note


def test_reported_positions_replace_their_day_and_carry_unset_fields(facts):
    events = pd.DataFrame(
        {
            "snapshot_date": pd.to_datetime(["2025-01-15", "2025-01-16"]),
            "item_id": ["I2", "I1"],
            "location_id": ["L1", "L1"],
            "on_hand": [5.0, 0.0],
            "allocated": [float("nan"), float("nan")],
        }
    )
    live = with_events(facts.stock, events, facts.dims)
    facts.stock = live
    # 01-15: I2 on hand 5, still 3 allocated → 2 available; 01-16: I1 reported empty.
    result = evaluate("stockout_frequency", facts, january())
    assert (result.numerator, result.denominator) == (2, 11)  # I2 on 01-14, I1 on 01-16
    assert live.available[list(live.item_ids).index("I2"), 4] == 2
    new_series = with_events(live, events.assign(item_id="I9"), facts.dims)
    assert len(new_series.item_ids) == len(live.item_ids) + 1  # an unknown item × location


def test_stock_of_items_nobody_ordered_does_not_confuse_the_goods_lookup():
    inv = pd.concat(
        [
            tiny.inventory(),
            *(
                pd.DataFrame(
                    {
                        "snapshot_date": pd.date_range("2025-01-11", "2025-01-15"),
                        "item_id": item,
                        "location_id": "L1",
                        "on_hand": 1.0,
                        "allocated": 0.0,
                    }
                )
                for item in ("I3", "I4")  # I3 never ordered, I4 not even in the master
            ),
        ],
        ignore_index=True,
    )
    facts = facts_of(tiny.dataset(inventory=inv))
    assert evaluate("inventory_turns", facts, january()).components["cost_of_goods_shipped"] == 30
