"""Exception volume, override rate and approval turnaround on hand-made queue items.

Queue items refer to the tiny distributor's orders, so an override can be judged by what
happened to its order: O1 met its commitment, O4 was late, O6 has no outcome yet and
X99 is an order the dataset does not hold.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from features.kpis.compute import evaluate
from features.kpis.records import build_records
from features.kpis.rows import rows
from tests.kpis import tiny
from tests.kpis.conftest import facts_of, january

T0 = datetime(2025, 1, 5, 8, 0, tzinfo=UTC)


def item(id_, kind, queue, subject, status, decided_after_h, sla_h, customer=None, family=None):
    created = T0
    return {
        "id": id_,
        "queue": queue,
        "kind": kind,
        "subject": subject,
        "action": "hold" if queue == "order-hold" else "review",
        "status": status,
        "created_at": created,
        "due_at": created + timedelta(hours=sla_h),
        "decided_at": None
        if decided_after_h is None
        else created + timedelta(hours=decided_after_h),
        "decided_by": None if decided_after_h is None else "key:sup",
        "top_family": family,
        "customer_id": customer,
    }


ITEMS = [
    item("Q1", "order_risk", "order-hold", "order:O4", "overridden", 1, 2, family="carrier_delay"),
    item(
        "Q2",
        "order_risk",
        "order-review",
        "order:O1",
        "overridden",
        3,
        4,
        family="inventory_shortfall",
    ),
    item("Q3", "order_risk", "order-review", "order:O6", "approved", 2, 4, family="carrier_delay"),
    item("Q4", "order_risk", "logistics", "order:X99", "overridden", 1, 4, customer="C2"),
    item("Q5", "replenishment", "replenishment", "item:I1@loc:L1", "rejected", 30, 24),
    item("Q6", "order_risk", "order-hold", "order:O6", "expired", 2, 2, family="carrier_delay"),
    item("Q7", "order_risk", "order-review", "order:O9", "pending", None, 4),
    item("Q8", "order_risk", "order-review", "order:O6", "overridden", 1, 4),
]


def recommendations(n_order_risk: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"R{k}" for k in range(n_order_risk + 1)],
            "kind": ["order_risk"] * n_order_risk + ["replenishment"],
            "subject": ["order:O1"] * n_order_risk + ["item:I1@loc:L1"],
            "created_at": [T0] * (n_order_risk + 1),
        }
    )


@pytest.fixture
def facts():
    facts = facts_of(tiny.dataset())
    segment = pd.Series({"C1": "retail", "C2": "industrial"})
    facts.records = build_records(
        pd.DataFrame(ITEMS), recommendations(), facts.lines, facts.dims, segment
    )
    return facts


def test_exception_volume_by_queue_and_driver_family(facts):
    result = evaluate("exception_volume", facts, january())
    assert result.value == 7  # every order-risk item (Q5 is replenishment)
    assert result.components["share_of_recommendations"] == pytest.approx(7 / 20)
    queues = {q["key"]: q["items"] for q in result.breakdown["queue"]}
    assert queues == {"order-review": 4, "order-hold": 2, "logistics": 1}
    families = {f["key"]: f["items"] for f in result.breakdown["driver_family"]}
    assert families == {"carrier_delay": 3, "inventory_shortfall": 1, "unknown": 3}


def test_override_rate_split_by_what_happened_to_the_order(facts):
    result = evaluate("manual_override_rate", facts, january())
    # Decided by a person: Q1, Q2, Q3, Q4, Q5, Q8 (Q6 expired, Q7 pending); overridden: 4.
    assert (result.numerator, result.denominator) == (4, 6)
    c = result.components
    assert (c["proved_right"], c["proved_wrong"], c["pending"], c["not_assessable"]) == (1, 1, 1, 1)
    assert c["right_share"] == 0.5  # Q2 (O1 on time in full) vs Q1 (O4 late)


def test_turnaround_against_each_items_own_sla(facts):
    result = evaluate("approval_turnaround", facts, january())
    # Within SLA: Q1, Q2, Q3, Q4, Q8; Q5 decided after 30 h of 24; Q6 expired.
    assert (result.numerator, result.denominator) == (5, 7)
    assert result.components["expired"] == 1
    hours = sorted([1, 3, 2, 1, 30, 2, 1])
    assert result.components["p50_hours"] == pytest.approx(pd.Series(hours).quantile(0.5))
    assert result.components["p90_hours"] == pytest.approx(pd.Series(hours).quantile(0.9))
    hold = next(q for q in result.breakdown["queue"] if q["key"] == "order-hold")
    assert hold["sla_hours"] == 2 and hold["within_sla"] == 0.5  # Q1 in time, Q6 expired


def test_governance_slices_follow_the_order_or_the_customer(facts):
    industrial = facts.dims.code("segment", "industrial")  # C2: O4, O6, O9 and X99's customer
    assert evaluate("exception_volume", facts, january(segment=industrial)).value == 6
    l1 = facts.dims.code("location", "L1")  # X99 is not in the dataset: no location
    assert evaluate("exception_volume", facts, january(location=l1)).value == 6


def test_override_drill_down_names_each_outcome(facts):
    page = rows(facts, "manual_override_rate", january(), outcome="missed")
    assert page.total == 4
    outcomes = {r["item_id"]: r["override_outcome"] for r in page.rows}
    assert outcomes == {"Q1": "wrong", "Q2": "right", "Q4": "not_assessable", "Q8": "pending"}


def test_no_governance_store_means_no_data_not_zero():
    facts = facts_of(tiny.dataset())
    facts.has_records = False
    result = evaluate("manual_override_rate", facts, january())
    assert result.value is None and "no governance store" in result.note


def test_model_promotions_and_monitoring_alerts_do_not_count(facts):
    """Data scientists' items (days of SLA, decided by people who do not decide orders) are
    no operational exception: with them added every governance KPI stays the same."""
    before = {
        k: evaluate(k, facts, january()) for k in ("manual_override_rate", "approval_turnaround")
    }
    lab = [
        item("M1", "model_promotion", "model-promotion", "model:order-risk", "rejected", 50, 72),
        item(
            "M2", "monitoring", "model-monitoring", "model:order-risk:drift:x", "overridden", 1, 72
        ),
        item("M3", "monitoring", "model-monitoring", "model:demand:dq:y", "expired", 72, 72),
    ]
    with_lab = facts_of(tiny.dataset())
    segment = pd.Series({"C1": "retail", "C2": "industrial"})
    with_lab.records = build_records(
        pd.DataFrame(ITEMS + lab), recommendations(), with_lab.lines, with_lab.dims, segment
    )
    for kpi, result in before.items():
        after = evaluate(kpi, with_lab, january())
        assert (after.numerator, after.denominator) == (result.numerator, result.denominator), kpi
    queues = {
        q["key"] for q in evaluate("approval_turnaround", with_lab, january()).breakdown["queue"]
    }
    assert "model-promotion" not in queues and "model-monitoring" not in queues
    page = rows(with_lab, "manual_override_rate", january(), outcome="missed")
    assert "M2" not in {r["item_id"] for r in page.rows}
