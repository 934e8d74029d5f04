"""Idempotency keys: replay, different body, concurrency, failure and retention."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from governance import idempotency
from governance.idempotency import StoredResponse, request_fingerprint, run_once
from governance.recommendations import ModelOutput, record
from governance.routing import OrderRisk, route
from governance.store.tables import IdempotencyRow, RecommendationRow
from governance.sweep import sweep
from stockpilot.errors import Conflict, InvalidInput
from tests.governance.support import principal

ERP = principal("erp", "order_system")
DAY = timedelta(hours=24)


def _score(db, policy, key, body, *, caller="erp", pause=0.0):
    """What serving does for POST /v1/orders/risk: one transaction, claim to response."""

    def effect(session):
        recorded = record(
            session,
            ModelOutput(body["order"], "order-risk", "3", body["p"]),
            route(OrderRisk(body["p"]), policy),
            principal=ERP,
        )
        time.sleep(pause)  # widen the window in which concurrent retries arrive
        return 201, {"recommendation_id": recorded.recommendation_id, "action": "review"}

    fingerprint = request_fingerprint("POST", "/v1/orders/risk", body)
    return run_once(
        db, caller=caller, key=key, fingerprint=fingerprint, retention=DAY, effect=effect
    )


def _recommendations(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(RecommendationRow))


def test_retry_with_the_same_body_replays_the_stored_response(db, policy):
    body = {"order": "SO-1", "p": 0.5}
    first = _score(db, policy, "key-1", body)
    again = _score(db, policy, "key-1", {"p": 0.5, "order": "SO-1"})  # key order differs
    assert (first.status_code, first.replayed) == (201, False)
    assert (again.status_code, again.body, again.replayed) == (201, first.body, True)
    assert _recommendations(db) == 1


def test_same_key_with_a_different_body_is_refused(db, policy):
    _score(db, policy, "key-1", {"order": "SO-1", "p": 0.5})
    with pytest.raises(InvalidInput, match="different request") as caught:
        _score(db, policy, "key-1", {"order": "SO-1", "p": 0.9})
    assert caught.value.status_code == 422
    assert _recommendations(db) == 1


def test_keys_are_scoped_per_caller(db, policy):
    body = {"order": "SO-1", "p": 0.5}
    a = _score(db, policy, "shared", body, caller="erp-a")
    b = _score(db, policy, "shared", body, caller="erp-b")
    assert a.body != b.body and _recommendations(db) == 2


def test_eight_concurrent_requests_with_one_key_have_one_effect(db, policy):
    body = {"order": "SO-9", "p": 0.5}
    barrier = threading.Barrier(8)
    outcomes: list[object] = [None] * 8

    def work(n: int) -> None:
        barrier.wait()
        try:
            outcomes[n] = _score(db, policy, "burst", body, pause=0.2)
        except Exception as err:
            outcomes[n] = err

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    responses = [o for o in outcomes if isinstance(o, StoredResponse)]
    assert len(responses) == 8, outcomes  # later ones waited and got the stored response
    assert sum(not r.replayed for r in responses) == 1
    assert len({r.body["recommendation_id"] for r in responses}) == 1
    assert _recommendations(db) == 1


def test_a_failed_effect_stores_nothing_and_can_be_retried(db, policy):
    def boom(session):
        raise RuntimeError("model exploded")

    fingerprint = request_fingerprint("POST", "/x", {"a": 1})
    with pytest.raises(RuntimeError):
        run_once(db, caller="erp", key="k", fingerprint=fingerprint, retention=DAY, effect=boom)
    done = run_once(
        db,
        caller="erp",
        key="k",
        fingerprint=fingerprint,
        retention=DAY,
        effect=lambda session: (200, {"ok": True}),
    )
    assert (done.body, done.replayed) == ({"ok": True}, False)


def test_a_claim_without_a_response_is_in_progress(db):
    # A caller that commits a claim before completing it (long-running work) must not let a
    # retry run the effect a second time.
    with db.write() as session:
        idempotency.claim(session, caller="erp", key="slow", fingerprint="f", retention=DAY)
    with db.write() as session, pytest.raises(Conflict, match="in progress"):
        idempotency.claim(session, caller="erp", key="slow", fingerprint="f", retention=DAY)


def test_records_expire_after_retention_and_the_key_is_reusable(db, policy):
    start = datetime.now(UTC)
    with db.write() as session:
        claimed = idempotency.claim(
            session, caller="erp", key="k", fingerprint="a", retention=DAY, now=start
        )
        idempotency.complete(session, claimed, status_code=201, body={"n": 1})
    later = start + DAY + timedelta(seconds=1)
    with db.write() as session:
        again = idempotency.claim(
            session, caller="erp", key="k", fingerprint="b", retention=DAY, now=later
        )
    assert isinstance(again, idempotency.Claim)  # a new life, different body allowed
    with db.write() as session:
        idempotency.claim(session, caller="erp", key="old", fingerprint="a", retention=DAY)
    assert sweep(db, now=later + DAY + DAY).purged_idempotency == 2
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRow)) == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "caf\u00e9"])
def test_malformed_keys_are_invalid(db, key):
    with db.write() as session, pytest.raises(InvalidInput, match="Idempotency-Key"):
        idempotency.claim(session, caller="erp", key=key, fingerprint="f", retention=DAY)


def test_fingerprint_ignores_formatting_but_not_content():
    a = request_fingerprint("post", "/v1/x", {"b": [1, 2], "a": 1.0})
    assert a == request_fingerprint("POST", "/v1/x", {"a": 1.0, "b": [1, 2]})
    assert a != request_fingerprint("POST", "/v1/x", {"a": 1.0, "b": [2, 1]})
    assert a != request_fingerprint("POST", "/v1/y", {"a": 1.0, "b": [1, 2]})
