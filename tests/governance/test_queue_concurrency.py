"""Sixteen reviewers decide the same item at the same moment: exactly one wins."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event

from governance import audit, queues
from governance.routing import OrderRisk, Replenishment
from governance.workflow import Status
from stockpilot.errors import Conflict
from tests.governance.support import principal

THREADS = 16


def _race(db, policy, item_id, calls):
    """Run ``calls`` (principal, action, kwargs) at once; returns (winners, errors).

    On PostgreSQL every thread is held just before its UPDATE until all of them have read
    the item, so all sixteen really decide on the same snapshot and only the
    compare-and-set can stop the losers. (SQLite serializes whole write transactions with
    BEGIN IMMEDIATE, so there the losers read the winner's result instead.)
    """
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)
    if db.dialect == "postgresql":
        before_update = threading.Barrier(len(calls))

        @event.listens_for(db.engine, "before_cursor_execute")
        def hold(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("UPDATE QUEUE_ITEMS"):
                before_update.wait(timeout=30)

    def work(n: int) -> None:
        who, action, kwargs = calls[n]
        barrier.wait()
        try:
            with db.write() as session:
                results[n] = queues.decide(
                    session, item_id, principal=who, action=action, policy=policy, **kwargs
                )
        except Exception as err:
            results[n] = err

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [r for r in results if isinstance(r, queues.QueueItem)]
    errors = [r for r in results if not isinstance(r, queues.QueueItem)]
    return winners, errors


@pytest.mark.parametrize("mixed", [False, True], ids=["all-approve", "mixed-actions"])
def test_exactly_one_of_sixteen_concurrent_decisions_wins(db, policy, open_item, mixed):
    item = open_item(OrderRisk(probability=0.9)).item  # order-hold, one approval
    actions = ["approve", "reject", "override"] if mixed else ["approve"]
    calls = [
        (
            principal(f"sup{n}", "supervisor"),
            actions[n % len(actions)],
            {"reason": "decided in a hurry", "expected_version": 1}
            if actions[n % len(actions)] != "approve"
            else {"expected_version": 1},
        )
        for n in range(THREADS)
    ]
    winners, errors = _race(db, policy, item.id, calls)
    assert len(winners) == 1, errors
    assert len(errors) == THREADS - 1
    assert all(isinstance(e, Conflict) for e in errors), errors
    with db.read() as session:
        final = queues.get_item(session, item.id)
        events = audit.list_events(session, subject_type="queue_item", subject_id=item.id)
        assert audit.verify(session).ok
    assert final.status is winners[0].status and final.status is not Status.pending
    assert final.version == 2
    assert len(events) == 1 and events[0].actor == winners[0].decided_by


def test_two_approver_item_under_a_race_records_each_approval_once(db, policy, open_item):
    item = open_item(Replenishment(30000.0), requester=principal("pat", "planner")).item
    # Every reviewer saw version 1; only one approval of that version may count.
    calls = [
        (principal(f"sup{n}", "supervisor"), "approve", {"expected_version": 1})
        for n in range(THREADS)
    ]
    winners, errors = _race(db, policy, item.id, calls)
    assert len(winners) == 1 and all(isinstance(e, Conflict) for e in errors)
    with db.read() as session:
        final = queues.get_item(session, item.id)
        events = audit.list_events(session, subject_type="queue_item", subject_id=item.id)
    assert (final.status, len(final.approvers)) == (Status.pending, 1)
    assert [e.kind for e in events] == ["queue.approval_recorded"]
