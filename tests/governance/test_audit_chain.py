"""The audit chain: canonical hashing, append-only enforcement by the database, tamper
detection and contiguous sequence numbers under concurrent appends."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from governance import audit
from governance.chain import GENESIS, Link, link_hash, verify_links
from governance.store.engine import Database
from stockpilot.jsonable import canonical_json
from tests.governance.support import principal

ALICE = principal("alice", "supervisor")


def _append(db: Database, n: int, subject: str = "x") -> None:
    for i in range(n):
        with db.write() as session:
            audit.append(
                session,
                kind="test.event",
                actor=ALICE,
                subject_type="test",
                subject_id=subject,
                payload={"i": i, "features": {"qty": 3.5, "gap": float("nan")}},
            )


# --- pure -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(), min_size=7, max_size=7),
    seq=st.integers(min_value=1, max_value=2**62),
    role=st.none() | st.text(),
)
def test_link_hashes_are_those_of_the_canonical_json(texts, seq, role):
    # The chain's hash format is sha256 of canonical_json; link_hash takes a faster
    # encoder, which must give the same bytes for any text (or old chains stop verifying).
    kind, actor, subject_type, subject_id, payload, prev_hash, _ = texts
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    link = Link(seq, at, kind, actor, role, subject_type, subject_id, payload, prev_hash)
    content = {
        "seq": seq,
        "at": "2026-01-02T03:04:05.000006Z",
        "kind": kind,
        "actor": actor,
        "actor_role": role,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    assert link_hash(link) == hashlib.sha256(canonical_json(content).encode()).hexdigest()


def test_canonical_json_is_order_and_type_stable():
    a = canonical_json({"b": 1, "a": [1.5, None], "c": {"z": True, "y": "é"}})
    b = canonical_json({"c": {"y": "é", "z": True}, "a": (1.5, None), "b": 1})
    assert a == b == '{"a":[1.5,null],"b":1,"c":{"y":"é","z":true}}'
    assert canonical_json({"x": np.float64(0.25), "n": np.int64(3), "v": np.array([1, 2])}) == (
        '{"n":3,"v":[1,2],"x":0.25}'
    )
    assert canonical_json({"missing": float("nan"), "inf": np.inf}) == '{"inf":null,"missing":null}'
    moment = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert canonical_json({"at": moment}) == '{"at":"2025-01-02T03:04:05.000006Z"}'
    with pytest.raises(TypeError, match="payload"):
        canonical_json({"x": object()})


def _links(n: int) -> list[Link]:
    links, prev = [], GENESIS
    for seq in range(1, n + 1):
        link = Link(seq, datetime.now(UTC), "k", "a", None, "t", "s", f'{{"i":{seq}}}', prev)
        link = replace(link, hash=link_hash(link))
        links.append(link)
        prev = link.hash
    return links


def test_verify_links_names_the_first_broken_link():
    links = _links(5)
    assert verify_links(links).ok and verify_links(links).count == 5
    assert verify_links([]).ok
    edited = [*links[:2], replace(links[2], payload='{"i":99}'), *links[3:]]
    assert verify_links(edited).first_broken == 3
    rehashed = replace(edited[2], hash=link_hash(edited[2]))  # forger recomputes the hash...
    result = verify_links([*links[:2], rehashed, *links[3:]])
    assert (result.first_broken, result.problem) == (4, result.problem)  # ...4 no longer links
    assert "prev_hash" in result.problem
    dropped = verify_links([*links[:2], *links[3:]])
    assert (dropped.first_broken, dropped.ok) == (3, False)
    assert "missing" in dropped.problem


# --- storage ----------------------------------------------------------------------------


def test_appends_are_contiguous_and_verify(db: Database):
    _append(db, 5)
    with db.read() as session:
        events = audit.list_events(session)
        result = audit.verify(session)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].payload["features"] == {"qty": 3.5, "gap": None}
    assert events[0].actor == "key:alice" and events[0].actor_role == "supervisor"
    assert (result.ok, result.count) == (True, 5)


def test_subject_events_are_each_subjects_wanted_kinds_in_seq_order(db: Database):
    subjects = [f"s{i:03d}" for i in range(501)]  # one more than an IN list is asked at once
    with db.write() as session:

        def add(kind: str, subject: str, i: int, subject_type: str = "test") -> None:
            audit.append(
                session,
                kind=kind,
                actor=ALICE,
                subject_type=subject_type,
                subject_id=subject,
                payload={"i": i},
            )

        for i, subject in enumerate(subjects):
            add("test.event", subject, i)
        add("test.other", "s000", -1)
        add("test.unwanted", "s000", -2)
        add("test.event", "s001", -3, subject_type="other")
    with db.read() as session:
        found = audit.subject_events(
            session, "test", [*subjects, "s000", "nobody"], ("test.event", "test.other")
        )
    assert sorted(found) == subjects
    assert found["s000"] == [("test.event", {"i": 0}), ("test.other", {"i": -1})]
    assert found["s001"] == [("test.event", {"i": 1})]
    assert found["s500"] == [("test.event", {"i": 500})]


def test_update_and_delete_are_refused_by_the_database(db: Database):
    _append(db, 2)
    for statement in (
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.write() as session:
            session.execute(text(statement))
    if db.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), db.write() as session:
            session.execute(text("TRUNCATE audit_events"))
    with db.read() as session:
        assert audit.verify(session).count == 2
        assert audit.get_event(session, 1).actor == "key:alice"


def _drop_triggers(db: Database) -> None:
    with db.write() as session:
        if db.dialect == "postgresql":
            session.execute(text("DROP TRIGGER audit_events_no_update_delete ON audit_events"))
        else:
            session.execute(text("DROP TRIGGER audit_events_no_update"))
            session.execute(text("DROP TRIGGER audit_events_no_delete"))


def test_tampering_with_one_row_is_pinned_to_that_row(db: Database):
    _append(db, 6)
    _drop_triggers(db)
    with db.write() as session:
        session.execute(
            text("UPDATE audit_events SET payload = :p WHERE seq = 4"), {"p": '{"i":1000}'}
        )
    with db.read() as session:
        result = audit.verify(session)
    assert (result.ok, result.first_broken) == (False, 4)
    assert "broken at seq 4" in str(result)


def test_deleting_a_row_is_detected(db: Database):
    _append(db, 4)
    _drop_triggers(db)
    with db.write() as session:
        session.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    with db.read() as session:
        result = audit.verify(session)
    assert (result.ok, result.first_broken) == (False, 2)


def test_concurrent_appends_keep_one_contiguous_chain(db: Database):
    threads, per_thread = 8, 10
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            _append(db, per_thread, subject=f"t{n}")
        except BaseException as err:  # surfaced below
            errors.append(err)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    with db.read() as session:
        result = audit.verify(session)
        seqs = [e.seq for e in audit.list_events(session, limit=1000)]
    assert (result.ok, result.count) == (True, threads * per_thread)
    assert seqs == list(range(1, threads * per_thread + 1))
