"""Group commit: units share a transaction, fail alone, and keep the audit chain whole."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from governance import audit
from governance.batching import GroupCommitter
from governance.idempotency import StoredResponse, idempotent, request_fingerprint
from governance.recommendations import ModelOutput, record
from governance.routing import OrderRisk, route
from governance.tables import RecommendationRow
from stockpilot.errors import Conflict, NotReady
from tests.governance.support import principal

ERP = principal("erp", "order_system")


def score_unit(policy, subject: str, p: float = 0.5):
    def unit(session):
        recorded = record(
            session,
            ModelOutput(subject, "order-risk", "1", p, features={"qty": 1.0}),
            route(OrderRisk(p), policy),
            principal=ERP,
        )
        return recorded.recommendation_id

    return unit


def gate_unit(release: threading.Event, started: threading.Event | None = None):
    """A first unit that holds the writer until the rest of the batch is queued."""

    def unit(session):
        if started is not None:
            started.set()
        release.wait(10)
        return "gate"

    return unit


def count(db, model=RecommendationRow) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_queued_units_commit_together_and_each_gets_its_result(db, policy):
    release, started = threading.Event(), threading.Event()
    with GroupCommitter(db) as committer:
        gate = committer.submit(gate_unit(release, started))
        assert started.wait(10)  # the writer is inside the first batch
        futures = [committer.submit(score_unit(policy, f"order:{i}")) for i in range(20)]
        release.set()
        ids = [f.result(10) for f in futures]
        assert gate.result(10) == "gate"
        assert committer.batches == 2 and committer.units == 21
    assert len(set(ids)) == 20
    assert count(db) == 20
    with db.read() as session:
        assert audit.verify(session).ok


def test_a_failing_unit_rolls_back_alone(db, policy):
    def failing(session):
        score_unit(policy, "order:doomed")(session)  # written, then undone by its savepoint
        raise Conflict("stale")

    release = threading.Event()
    with GroupCommitter(db) as committer:
        committer.submit(gate_unit(release))
        before = committer.submit(score_unit(policy, "order:a"))
        bad = committer.submit(failing)
        after = committer.submit(score_unit(policy, "order:b"))
        release.set()
        assert before.result(10) and after.result(10)
        with pytest.raises(Conflict):
            bad.result(10)
        assert committer.retried == 1  # optimistic run rolled back, then unit by unit
    with db.read() as session:
        subjects = set(session.scalars(select(RecommendationRow.subject)))
        assert subjects == {"order:a", "order:b"}
        assert audit.verify(session).ok


def test_a_batch_without_failures_runs_no_savepoint(db, policy):
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement.upper())

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        release, started = threading.Event(), threading.Event()
        with GroupCommitter(db) as committer:
            committer.submit(gate_unit(release, started))
            assert started.wait(10)
            futures = [committer.submit(score_unit(policy, f"order:{i}")) for i in range(5)]
            release.set()
            assert all(f.result(10) for f in futures)
            assert committer.retried == 0 and committer.batches == 2
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if "SAVEPOINT" in s]
    assert count(db) == 5


def test_a_failing_lone_unit_leaves_nothing_and_the_next_one_commits(db, policy):
    def failing(session):
        score_unit(policy, "order:doomed")(session)
        raise Conflict("stale")

    with GroupCommitter(db) as committer:
        with pytest.raises(Conflict):
            committer.run(failing)
        assert committer.run(score_unit(policy, "order:next"))
        assert committer.batches == 1  # the failed unit committed nothing
    with db.read() as session:
        assert set(session.scalars(select(RecommendationRow.subject))) == {"order:next"}
        assert audit.verify(session).ok


def test_concurrent_submitters_keep_the_chain_linear(db, policy):
    with db.read() as session:
        before = audit.verify(session).count
    with GroupCommitter(db) as committer, ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: committer.run(score_unit(policy, f"order:{i}")), range(64)))
    assert len(set(ids)) == 64
    with db.read() as session:
        verification = audit.verify(session)
        assert verification.ok and verification.count == before + 64


def test_one_idempotency_key_twice_in_a_batch_has_one_effect(db, policy):
    body = {"order": "order:idem", "p": 0.5}
    fingerprint = request_fingerprint("POST", "/v1/orders/risk", body)

    def unit(session):
        return idempotent(
            session,
            caller="erp",
            key="k-1",
            fingerprint=fingerprint,
            retention=timedelta(hours=1),
            effect=lambda s: (201, {"id": score_unit(policy, "order:idem")(s)}),
        )

    release = threading.Event()
    with GroupCommitter(db) as committer:
        committer.submit(gate_unit(release))
        first, second = committer.submit(unit), committer.submit(unit)
        release.set()
        a, b = first.result(10), second.result(10)
    assert isinstance(a, StoredResponse) and not a.replayed and b.replayed
    assert a.body == b.body
    assert count(db) == 1


def test_closed_committer_refuses_work(db):
    committer = GroupCommitter(db).start()
    committer.close()
    with pytest.raises(NotReady):
        committer.submit(lambda s: None)
