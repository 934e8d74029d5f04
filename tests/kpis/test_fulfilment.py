"""Fulfilment KPIs pinned on the hand-made distributor (expected figures counted by hand
from the table in tests/kpis/tiny.py)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from features.kpis.compute import compute, evaluate
from features.kpis.query import Period, Query, day_number
from tests.kpis import tiny
from tests.kpis.conftest import facts_of, january


def value(facts, kpi_id: str, query: Query | None = None):
    return evaluate(kpi_id, facts, query or january())


def test_fill_rates_count_partial_and_cancelled_lines_as_not_filled(facts):
    # Shipped or cancelled: O1 ×2, O2, O3, O4, O5, O6, O9 = 8 lines; O7, O8 have no outcome.
    # In full: O1 ×2, O4, O5, O6, O9 = 6 (O2 partial, O3 cancelled).
    line = value(facts, "fill_rate_line")
    assert (line.numerator, line.denominator) == (6, 8)
    assert line.value == pytest.approx(0.75)
    # Units: ordered 10+5+10+4+2+3+3+4 = 41; shipped 10+5+6+0+2+3+3+4 = 33.
    unit = value(facts, "fill_rate_unit")
    assert (unit.numerator, unit.denominator) == (33, 41)
    # Orders known: O1..O6, O9 (O7, O8 unshipped); in full: O1, O4, O5, O6, O9.
    order = value(facts, "fill_rate_order")
    assert (order.numerator, order.denominator) == (5, 7)


def test_an_accepted_substitute_fills_the_short_line(facts):
    # O2 is short and its customer accepted substitute S1; O3's offer was rejected.
    assert value(facts, "fill_rate_line_after_substitution").numerator == 7
    unit = value(facts, "fill_rate_unit_after_substitution")
    assert (unit.numerator, unit.denominator) == (37, 41)  # O2 counts its 10 units
    order = value(facts, "fill_rate_order_after_substitution")
    assert (order.numerator, order.denominator) == (6, 7)
    assert value(facts, "fill_rate_line_after_substitution").note is None


def test_without_linkable_offers_after_substitution_equals_first_time_and_says_so():
    facts = facts_of(tiny.dataset(substitutions=tiny.substitutions(with_order_id=False)))
    after = value(facts, "fill_rate_line_after_substitution")
    assert after.value == value(facts, "fill_rate_line").value
    assert "cannot be linked" in after.note
    no_table = facts_of(tiny.dataset(substitutions=None))
    assert value(no_table, "fill_rate_unit_after_substitution").numerator == 33


def test_promise_accuracy_knows_late_lines_before_they_arrive(facts):
    # Known: O1 ×2, O2, O9 on time; O4 delivered late, O5 in transit past its promise,
    # O7 not shipped past its promise. O3 (cancelled) is short, not late; O6 not due yet.
    result = value(facts, "promise_accuracy")
    assert (result.numerator, result.denominator) == (4, 7)


def test_perfect_order_line_and_order_level(facts):
    # Imperfect: O2 short, O3 cancelled, O4/O5/O7 late, O9 damaged; perfect: O1 ×2.
    # O6 (in transit, not due) and O8 (not due) have no outcome yet.
    line = value(facts, "perfect_order_line")
    assert (line.numerator, line.denominator) == (2, 8)
    order = value(facts, "perfect_order_rate")
    assert (order.numerator, order.denominator) == (1, 7)  # O1 of O1..O5, O7, O9


def test_perfect_order_product_multiplies_the_known_components(facts):
    result = value(facts, "perfect_order_product")
    # on time 4/7 × in full 6/8 × undamaged 2/3 (damage known for O1 ×2 and O9).
    assert result.value == pytest.approx(4 / 7 * 6 / 8 * 2 / 3)
    assert result.components["undamaged_rate"] == pytest.approx(2 / 3)
    assert "documents" in result.note and "documents_rate" not in result.components


def test_documents_where_known_make_a_line_imperfect():
    ful = tiny.fulfillments()
    ful["documents_ok"] = pd.array([False] + [None] * (len(ful) - 1), dtype="boolean")
    facts = facts_of(tiny.dataset(fulfillments=ful))
    line = value(facts, "perfect_order_line")
    assert (line.numerator, line.denominator) == (1, 8)  # O1 line 1 lost its papers
    assert value(facts, "perfect_order_rate").numerator == 0


def test_without_dates_lateness_is_unknown_and_said_so():
    ful = tiny.fulfillments().drop(columns=["ship_date", "delivered_date"])
    facts = facts_of(tiny.dataset(fulfillments=ful))
    result = value(facts, "promise_accuracy")
    assert result.value is None and "neither delivered_date nor ship_date" in result.note
    assert value(facts, "perfect_order_rate").value is None
    assert value(facts, "fill_rate_line").value == pytest.approx(0.75)  # fill needs no dates


def test_slices_select_lines_and_orders_count_only_their_lines_in_the_slice(facts):
    a = facts.dims.code("category", "A")
    # Category A lines (I1): O1 line 1, O2, O4, O5, O6, O8, O9 → shipped: O1.1 O2 O4 O5 O6 O9.
    line = value(facts, "fill_rate_line", january(category=a))
    assert (line.numerator, line.denominator) == (5, 6)
    # O1 counts with its line 1 only; O3 and O7 (I2) drop out.
    order = value(facts, "perfect_order_rate", january(category=a))
    assert (order.numerator, order.denominator) == (1, 5)  # O1 of O1, O2, O4, O5, O9
    retail = facts.dims.code("segment", "retail")  # C1: O1, O2, O7, O8
    assert value(facts, "fill_rate_line", january(segment=retail)).denominator == 3
    k2 = facts.dims.code("carrier", "K2")  # O4, O5
    assert value(facts, "promise_accuracy", january(carrier=k2)).value == 0.0


def test_period_is_by_due_date_and_trend_buckets_add_up(facts):
    # Only O7 is due before 2025-01-06.
    early = Query(Period(day_number(date(2025, 1, 1)), day_number(date(2025, 1, 5)), "day"))
    result = value(facts, "promise_accuracy", early)
    assert (result.numerator, result.denominator) == (0, 1)
    assert result.trend == [None, None, None, None, 0.0]
    weekly = value(facts, "fill_rate_line")  # weeks from Jan 1: 1–5, 6–12, 13–19, 20–26, 27–31
    assert weekly.trend == [None, pytest.approx(5 / 7), None, 1.0, None]  # O6 due 01-20


def test_every_kpi_computes_on_the_tiny_data(facts):
    results = compute(facts, january())
    assert [c.definition.id for c in results][:3] == [
        "perfect_order_rate",
        "perfect_order_line",
        "perfect_order_product",
    ]
    for computed in results:
        assert len(computed.result.trend) == 5, computed.definition.id


def test_the_contract_types_the_perfect_order_columns():
    from features.contract import validate_table

    raw = pd.DataFrame(
        {
            "order_id": ["O1", "O2"],
            "line_no": ["1", "1"],
            "shipped_qty": ["3", "2"],
            "damaged": ["no", ""],
            "documents_ok": ["yes", "true"],
        }
    )
    typed, violations = validate_table("fulfillments", raw)
    assert violations == [] and str(typed["damaged"].dtype) == "boolean"
    assert typed["damaged"].isna().tolist() == [False, True]
    _, violations = validate_table("fulfillments", raw.assign(damaged=["broken", "no"]))
    assert any("damaged" in str(v) for v in violations)
