"""Queue decisions on a real store: transitions, four-eyes, two approvers, edits, SLA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from governance import audit, queues
from governance.routing import OrderRisk, Replenishment
from governance.store.engine import Database
from governance.store.tables import AuditEventRow, QueueItemRow, RecommendationRow
from governance.sweep import sweep
from governance.workflow import Status
from stockpilot.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.governance.support import principal

SUPERVISOR = principal("sam", "supervisor")
SALES = principal("sally", "sales")
PLANNER_1 = principal("pat", "planner")
PLANNER_2 = principal("paula", "planner")


def _decide(db, policy, item_id, who, action, **kw):
    with db.write() as session:
        return queues.decide(session, item_id, principal=who, action=action, policy=policy, **kw)


def _events(db: Database, item_id: str) -> list[audit.AuditEvent]:
    with db.read() as session:
        return audit.list_events(session, subject_type="queue_item", subject_id=item_id)


def test_recording_writes_recommendation_item_and_full_audit_payload(db, policy, open_item):
    recorded = open_item(OrderRisk(probability=0.8))
    assert recorded.item is not None and recorded.item.queue == "order-hold"
    assert recorded.item.status is Status.pending and recorded.item.version == 1
    with db.read() as session:
        event = audit.get_event(session, recorded.audit_seq)
        row = session.get(RecommendationRow, recorded.recommendation_id)
    assert row.threshold_name == "order_risk.hold_at" and row.queue == "order-hold"
    assert event.subject_id == recorded.recommendation_id
    assert event.kind == "recommendation.created" and event.actor == "key:erp"
    payload = event.payload
    assert payload["model"] == {"name": "order-risk", "version": "3"}
    assert payload["features"]["missing"] is None  # NaN recorded as null
    assert payload["contributions"] == {"qty": 0.1, "lead_time_days": 0.3}
    assert payload["decision"]["policy_version"] == policy.version
    assert payload["decision"]["threshold"] == 0.7
    assert payload["queue_item_id"] == recorded.item.id


def test_reviewer_summary_is_stored_as_plain_json(db, policy):
    import numpy as np

    from governance.recommendations import ModelOutput, record
    from governance.routing import route

    with db.write() as session:
        recorded = record(
            session,
            ModelOutput("order:7", "order-risk", "3", 0.5),
            route(OrderRisk(0.5), policy),
            principal=principal("erp", "order_system"),
            summary={"line_value": np.float64(120.5), "gap": float("nan"), "top": ["carrier"]},
        )
    with db.read() as session:
        details = queues.get_item(session, recorded.item.id).details
    assert details["line_value"] == 120.5 and details["gap"] is None
    assert details["top"] == ["carrier"] and "review_at" in details["reason"]


def test_released_orders_get_no_queue_item_but_are_audited(db, open_item):
    recorded = open_item(OrderRisk(probability=0.1))
    assert recorded.item is None and recorded.decision.action == "release"
    with db.read() as session:
        assert audit.get_event(session, recorded.audit_seq).payload["queue_item_id"] is None


def test_a_failed_transaction_leaves_nothing_behind(db, policy):
    from governance.recommendations import ModelOutput, record
    from governance.routing import route

    with pytest.raises(RuntimeError), db.write() as session:
        record(
            session,
            ModelOutput("order:1", "order-risk", "3", 0.9),
            route(OrderRisk(0.9), policy),
            principal=principal("erp", "order_system"),
        )
        raise RuntimeError("response could not be built")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(QueueItemRow)) == 0
        assert session.scalar(select(func.count()).select_from(RecommendationRow)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEventRow)) == 1  # policy


def test_approve_moves_pending_to_approved_once(db, policy, open_item):
    item = open_item(OrderRisk(probability=0.5)).item
    decided = _decide(db, policy, item.id, SALES, "approve")
    assert (decided.status, decided.version, decided.decided_by) == (
        Status.approved,
        2,
        "key:sally",
    )
    (event,) = _events(db, item.id)
    assert event.kind == "queue.approved"
    assert event.payload["from_status"] == "pending" and event.payload["to_status"] == "approved"
    assert event.payload["policy_version"] == policy.version
    with pytest.raises(Conflict, match="already approved"):
        _decide(db, policy, item.id, SUPERVISOR, "reject", reason="late")


@pytest.mark.parametrize(
    ("action", "status"), [("reject", Status.rejected), ("override", Status.overridden)]
)
def test_reject_and_override_need_a_reason(db, policy, open_item, action, status):
    item = open_item(OrderRisk(probability=0.5)).item
    for reason in (None, "", "   "):
        with pytest.raises(InvalidInput, match="reason"):
            _decide(db, policy, item.id, SALES, action, reason=reason)
    decided = _decide(db, policy, item.id, SALES, action, reason="  customer agreed to wait ")
    assert decided.status is status
    assert decided.reason == "customer agreed to wait"
    assert _events(db, item.id)[0].payload["reason"] == "customer agreed to wait"


def test_four_eyes_requester_cannot_approve_or_override_but_may_withdraw(db, policy, open_item):
    item = open_item(Replenishment(5000.0), requester=PLANNER_1).item
    with pytest.raises(Forbidden, match="four-eyes"):
        _decide(db, policy, item.id, PLANNER_1, "approve")
    with pytest.raises(Forbidden, match="four-eyes"):
        _decide(db, policy, item.id, PLANNER_1, "override", reason="mine")
    assert _events(db, item.id) == []
    withdrawn = _decide(db, policy, item.id, PLANNER_1, "reject", reason="duplicate")
    assert withdrawn.status is Status.rejected


def test_high_value_needs_two_distinct_approvers(db, policy, open_item):
    item = open_item(Replenishment(30000.0), requester=PLANNER_1).item
    assert item.required_approvals == 2
    first = _decide(db, policy, item.id, PLANNER_2, "approve")
    assert (first.status, first.approvers, first.version) == (Status.pending, ("key:paula",), 2)
    with pytest.raises(Forbidden, match="already approved"):
        _decide(db, policy, item.id, PLANNER_2, "approve")
    second = _decide(db, policy, item.id, SUPERVISOR, "approve", expected_version=2)
    assert second.status is Status.approved
    assert second.approvers == ("key:paula", "key:sam")
    assert [e.kind for e in _events(db, item.id)] == ["queue.approval_recorded", "queue.approved"]


def test_edited_quantity_is_approved_and_can_raise_required_approvals(db, policy, open_item):
    # 100 units at 20 = 2000: one approver; edited to 2000 units = 40000: now two
    item = open_item(Replenishment(2000.0), requester=PLANNER_1, quantity=100).item
    assert item.required_approvals == 1
    edited = _decide(db, policy, item.id, PLANNER_2, "approve", edited_qty=2000)
    assert (edited.status, edited.quantity, edited.required_approvals) == (
        Status.pending,
        2000,
        2,
    )
    done = _decide(db, policy, item.id, SUPERVISOR, "approve")
    assert (done.status, done.quantity) == (Status.approved, 2000)


def test_an_edit_voids_approvals_given_for_the_old_quantity(db, policy, open_item):
    item = open_item(Replenishment(30000.0), requester=PLANNER_1, quantity=1000).item
    _decide(db, policy, item.id, PLANNER_2, "approve")
    edited = _decide(db, policy, item.id, SUPERVISOR, "approve", edited_qty=1500)
    assert (edited.status, edited.approvers) == (Status.pending, ("key:sam",))
    assert _events(db, item.id)[-1].payload["approvals_reset"] is True
    # paula approved 1000, not 1500: her approval of the new quantity counts
    done = _decide(db, policy, item.id, PLANNER_2, "approve")
    assert (done.status, done.quantity) == (Status.approved, 1500)
    with db.read() as session:
        assert queues.get_item(session, item.id).approvers == ("key:sam", "key:paula")


def test_bad_quantities_are_invalid_input(db, policy, open_item):
    order = open_item(OrderRisk(probability=0.5)).item
    with pytest.raises(InvalidInput, match="no quantity"):
        _decide(db, policy, order.id, SALES, "approve", edited_qty=5)
    repl = open_item(Replenishment(5000.0), requester=PLANNER_1).item
    for bad in (0, -3, float("nan"), float("inf")):
        with pytest.raises(InvalidInput, match="edited_qty"):
            _decide(db, policy, repl.id, PLANNER_2, "approve", edited_qty=bad)
    with pytest.raises(InvalidInput, match="only an approval"):
        _decide(db, policy, repl.id, PLANNER_2, "reject", reason="x", edited_qty=5)
    with pytest.raises(InvalidInput, match="action"):
        _decide(db, policy, repl.id, PLANNER_2, "escalate")


def test_only_roles_allowed_on_the_queue_decide(db, policy, open_item):
    held = open_item(OrderRisk(probability=0.9)).item  # order-hold: supervisors only
    with pytest.raises(Forbidden, match="may not decide items in this queue"):
        _decide(db, policy, held.id, SALES, "approve")
    with pytest.raises(Forbidden, match="queues:decide"):
        _decide(db, policy, held.id, principal("erp", "order_system"), "approve")
    # data scientists decide (model-promotion, model-monitoring), not in a queue kept from them
    with pytest.raises(Forbidden, match="may not decide items in this queue"):
        _decide(db, policy, held.id, principal("ds", "data_scientist"), "approve")
    assert _decide(db, policy, held.id, SUPERVISOR, "override", reason="release").status == (
        Status.overridden
    )


def test_stale_and_unknown_items(db, policy, open_item):
    item = open_item(OrderRisk(probability=0.5)).item
    with pytest.raises(Conflict, match="stale"):
        _decide(db, policy, item.id, SALES, "approve", expected_version=7)
    with pytest.raises(NotFound):
        _decide(db, policy, "nope", SALES, "approve")
    with db.read() as session, pytest.raises(NotFound):
        queues.get_item(session, "nope")


def test_sla_expiry(db, policy, open_item):
    start = datetime.now(UTC)
    review = open_item(OrderRisk(probability=0.5), now=start).item  # 4 h SLA
    hold = open_item(OrderRisk(probability=0.9), now=start).item  # 2 h SLA
    later = start + timedelta(hours=3)
    with pytest.raises(Conflict, match="SLA has passed"):
        _decide(db, policy, hold.id, SUPERVISOR, "approve", now=later)
    result = sweep(db, now=later)
    assert result.expired == (hold.id,)
    assert sweep(db, now=later).expired == ()  # nothing left to expire
    with db.read() as session:
        assert queues.get_item(session, hold.id).status is Status.expired
        assert queues.get_item(session, review.id).status is Status.pending
    (event,) = _events(db, hold.id)
    assert (event.kind, event.actor, event.actor_role) == ("queue.expired", "system:sla", None)
    with pytest.raises(Conflict, match="already expired"):
        _decide(db, policy, hold.id, SUPERVISOR, "approve", now=later)


def test_list_items_filters_by_queue_and_status_oldest_first(db, policy, open_item):
    start = datetime.now(UTC)
    a = open_item(OrderRisk(probability=0.5), now=start).item
    b = open_item(OrderRisk(probability=0.5), now=start + timedelta(seconds=1)).item
    c = open_item(OrderRisk(probability=0.9), now=start).item
    _decide(db, policy, a.id, SALES, "approve")
    with db.read() as session:
        pending_review = queues.list_items(session, queue="order-review")
        everything = queues.list_items(session, status=None)
        approved = queues.list_items(session, status="approved")
    assert [i.id for i in pending_review] == [b.id]
    assert {i.id for i in everything} == {a.id, b.id, c.id}
    assert [i.id for i in approved] == [a.id]
