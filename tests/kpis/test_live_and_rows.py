"""Live outcomes patch the facts exactly as a rebuild would; drill-down pages add up."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.kpis.compute import compute
from features.kpis.lines import with_outcomes
from features.kpis.query import Period, Query, day_number
from features.kpis.rows import rows
from features.kpis.weights import line_weights, patched_weights, weights
from tests.kpis import tiny
from tests.kpis.conftest import facts_of, january


def reported(**columns) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for column in ("ship_date", "delivered_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def test_an_outcome_moves_a_line_from_unknown_to_known(facts):
    before = compute(facts, january(), ids=["promise_accuracy", "fill_rate_line"])
    outcome = reported(
        order_id=["O6", "O7", "NOPE"],
        line_no=[1, 1, 1],
        shipped_qty=[3.0, 1.0, 2.0],
        ship_date=["2025-01-14", "2025-01-14", "2025-01-14"],
        delivered_date=["2025-01-16", "2025-01-16", None],
        status=["delivered", "delivered", "in_transit"],
    )
    lines, unmatched, changed = with_outcomes(facts.lines, outcome)
    assert unmatched == 1  # an order the dataset does not hold cannot be measured
    assert lines.horizon == facts.lines.horizon + 1  # the records now reach 01-16
    weights(facts.lines)
    patched_weights(facts.lines, lines, changed)
    np.testing.assert_array_equal(lines.__dict__["_cached_weights"], line_weights(lines))
    facts.lines = lines
    after = compute(facts, january(), ids=["promise_accuracy", "fill_rate_line"])
    # O6 delivered on time (promised 01-20); O7 shipped in full, late (promised 01-05).
    assert (before[0].result.numerator, before[0].result.denominator) == (4, 7)
    assert (after[0].result.numerator, after[0].result.denominator) == (5, 8)
    assert (after[1].result.numerator, after[1].result.denominator) == (7, 9)


def test_outcomes_of_a_later_day_make_waiting_lines_late():
    facts = facts_of(tiny.dataset())
    # Nothing about O8 (promised 01-25) is reported, but a report dated 01-26 moves the
    # horizon past its promise: unshipped by then, it is late.
    outcome = reported(
        order_id=["O1"], line_no=[1], shipped_qty=[10.0],
        ship_date=["2025-01-08"], delivered_date=["2025-01-26"], status=["delivered"],
    )  # fmt: skip
    lines, _, changed = with_outcomes(facts.lines, outcome)
    o8 = int(facts.lines.row_of(["O8"], [1])[0])
    assert np.isnan(facts.lines.late[o8]) and lines.late[o8] == 1.0
    assert o8 in changed


def test_line_rows_paginate_newest_first(facts):
    first = rows(facts, "fill_rate_line", january(), limit=3)
    second = rows(facts, "fill_rate_line", january(), limit=3, offset=3)
    everything = rows(facts, "fill_rate_line", january(), limit=100)
    assert first.total == second.total == 8
    assert first.rows + second.rows == everything.rows[:6]
    assert everything.rows[0]["order_id"] == "O6"  # due 01-20, the latest
    missed = rows(facts, "fill_rate_line", january(), outcome="missed")
    assert {(r["order_id"], r["line_no"]) for r in missed.rows} == {("O2", 1), ("O3", 1)}
    cancelled = next(r for r in missed.rows if r["order_id"] == "O3")
    assert cancelled["status"] == "cancelled" and cancelled["on_time"] is None


def test_order_and_backorder_rows(facts):
    orders = rows(facts, "perfect_order_rate", january(), outcome="met")
    assert [r["order_id"] for r in orders.rows] == ["O1"] and orders.rows[0]["lines"] == 2
    backorders = rows(facts, "backorder_aging", january())
    assert [(r["order_id"], r["days_past_due"], r["age_bucket"]) for r in backorders.rows] == [
        ("O7", 10, "8_14_days")
    ]


@pytest.mark.parametrize("outcome", ["all", "met", "missed"])
def test_stock_day_pages_match_a_plain_listing(facts, outcome):
    listing = rows(facts, "stockout_frequency", january(), outcome=outcome, limit=500).rows
    pages = []
    for offset in range(0, 12, 3):
        pages += rows(
            facts, "stockout_frequency", january(), outcome=outcome, limit=3, offset=offset
        ).rows
    assert pages == listing
    dates = [r["date"] for r in listing]
    assert dates == sorted(dates, reverse=True)
    expected = {"all": 10, "met": 8, "missed": 2}[outcome]
    assert len(listing) == expected


def test_item_location_rows_carry_turns_and_cover(facts):
    page = rows(facts, "days_of_cover", january())
    by_series = {(r["item_id"], r["location_id"]): r for r in page.rows}
    i1 = by_series[("I1", "L1")]
    assert i1["available_value"] == 100
    # I1@L1 shipped O1.1 100 + O2 60 + O4 20 + O6 30 + O9 40 in the 28 days to 01-15.
    assert i1["days_of_cover"] == pytest.approx(100 / (250 / 28))
    i2 = by_series[("I2", "L1")]  # nothing shipped from it (O3 cancelled, O7 waiting)
    assert i2["available_value"] == 0 and i2["days_of_cover"] is None and i2["met"] is None


@pytest.mark.parametrize("kpi", ["inventory_turns", "days_of_cover", "stockout_frequency"])
@pytest.mark.parametrize("outcome", ["all", "met", "missed"])
def test_stock_rows_of_a_period_outside_the_data_agree_with_the_tile(facts, kpi, outcome):
    """A period after (or before) the inventory snapshots: no IndexError, and the rows say
    what the tile says — cover at the last snapshot, no turns and no stock days."""
    after = Query(Period(day_number(date(2025, 6, 1)), day_number(date(2025, 6, 30)), "week"))
    before = Query(Period(day_number(date(2024, 6, 1)), day_number(date(2024, 6, 30)), "week"))
    for query in (after, before):
        page = rows(facts, kpi, query, outcome=outcome)
        tile = compute(facts, query, [kpi])[0].result
        assert page.total == len(page.rows)
        if kpi == "days_of_cover" and query is after:
            assert tile.value is not None
            if outcome == "all":  # the series' available value adds up to the tile's
                assert page.total > 0
                total = sum(r["available_value"] for r in page.rows)
                assert total == pytest.approx(tile.components["available_value"])
        else:
            assert page.total == 0
