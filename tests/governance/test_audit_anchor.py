"""The anchored chain head: a deleted tail, a truncation, a reordering or a replaced row
whose hashes were recomputed all pass the plain chain check, and all fail against the
anchor that every commit writes outside the database (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import text

from governance import audit
from governance.chain import GENESIS, Link, link_hash
from governance.store.anchor import Anchor, Checkpoint
from governance.store.committer import GroupCommitter
from governance.store.engine import Database
from tests.governance.support import principal

ALICE = principal("alice", "supervisor")


@pytest.fixture
def anchored(db_url: str, tmp_path: Path):
    database = Database(db_url, anchor=tmp_path / "audit-anchor")
    yield database
    database.dispose()


def append_one(session, i: int) -> int:
    return audit.append(
        session,
        kind="test.event",
        actor=ALICE,
        subject_type="test",
        subject_id=f"s{i}",
        payload={"i": i},
    ).seq


def _append(db: Database, n: int) -> None:
    for i in range(n):
        with db.write() as session:
            append_one(session, i)


def _verify(db: Database, anchor: Anchor | None):
    with db.read() as session:
        return audit.verify(session, anchor=anchor)


def _links(db: Database) -> list[Link]:
    with db.read() as session:
        return list(audit._links(session, 100))


def _as_attacker(db: Database, statements: list[tuple[str, dict]]) -> None:
    """What someone with SQL access does: drop the append-only triggers, then edit."""
    with db.write() as session:
        if db.dialect == "postgresql":
            session.execute(text("DROP TRIGGER audit_events_no_update_delete ON audit_events"))
            session.execute(text("DROP TRIGGER audit_events_no_truncate ON audit_events"))
        else:
            session.execute(text("DROP TRIGGER audit_events_no_update"))
            session.execute(text("DROP TRIGGER audit_events_no_delete"))
        for statement, params in statements:
            session.execute(text(statement), params)


def _rewrite(db: Database, links: list[Link]) -> None:
    """Store ``links`` (same seqs) with every hash recomputed: a chain that checks out."""
    prev, updates = GENESIS, []
    for link in links:
        link = replace(link, prev_hash=prev, hash="")
        link = replace(link, hash=link_hash(link))
        prev = link.hash
        updates.append(
            (
                "UPDATE audit_events SET kind = :kind, subject_id = :subject_id, "
                "payload = :payload, prev_hash = :prev_hash, hash = :hash WHERE seq = :seq",
                {
                    "kind": link.kind,
                    "subject_id": link.subject_id,
                    "payload": link.payload,
                    "prev_hash": link.prev_hash,
                    "hash": link.hash,
                    "seq": link.seq,
                },
            )
        )
    _as_attacker(db, updates)


def test_every_commit_anchors_the_head(anchored: Database):
    assert anchored.anchor.read() is None
    _append(anchored, 3)
    head = _links(anchored)[-1]
    assert anchored.anchor.read() == Checkpoint(3, head.hash)
    result = _verify(anchored, anchored.anchor)
    assert (result.ok, result.count, result.anchored) == (True, 3, 3)
    assert str(result) == "audit chain intact: 3 events, anchored head at seq 3"


def test_a_rolled_back_append_is_not_anchored(anchored: Database):
    _append(anchored, 2)
    with pytest.raises(RuntimeError), anchored.write() as session:
        append_one(session, 99)
        raise RuntimeError("the effect failed after its audit event")
    assert anchored.anchor.read().seq == 2
    assert _verify(anchored, anchored.anchor).ok


def test_a_deleted_tail_is_found(anchored: Database):
    _append(anchored, 5)
    _as_attacker(anchored, [("DELETE FROM audit_events WHERE seq >= 4", {})])
    assert _verify(anchored, None).ok  # the shorter chain is valid on its own...
    result = _verify(anchored, anchored.anchor)  # ...but not against its anchor
    assert (result.ok, result.first_broken, result.anchored) == (False, 4, 5)
    assert "events 4..5 were deleted" in result.problem


def test_a_truncated_log_is_found(anchored: Database):
    _append(anchored, 3)
    truncate = (
        "TRUNCATE audit_events" if anchored.dialect == "postgresql" else "DELETE FROM audit_events"
    )
    _as_attacker(anchored, [(truncate, {})])
    result = _verify(anchored, anchored.anchor)
    assert (result.ok, result.count, result.first_broken) == (False, 0, 1)
    assert "ends at seq 0" in result.problem


def test_reordered_events_with_recomputed_hashes_are_found(anchored: Database):
    _append(anchored, 5)
    links = _links(anchored)
    # Swap what events 2 and 3 say, keep their seqs, recompute every hash from there on.
    swapped = [
        links[0],
        replace(links[2], seq=2, at=links[1].at),
        replace(links[1], seq=3, at=links[2].at),
        *links[3:],
    ]
    _rewrite(anchored, swapped)
    assert [e.payload["i"] for e in _events(anchored)] == [0, 2, 1, 3, 4]
    assert _verify(anchored, None).ok  # a consistent chain...
    result = _verify(anchored, anchored.anchor)
    assert (result.ok, result.first_broken) == (False, 5)  # ...that ends at another head
    assert "rewritten at or before" in result.problem


def test_a_replaced_row_with_recomputed_hashes_is_found(anchored: Database):
    _append(anchored, 4)
    links = _links(anchored)
    forged = replace(links[1], payload='{"i":1000}', subject_id="forged")
    _rewrite(anchored, [links[0], forged, *links[2:]])
    assert _verify(anchored, None).ok
    result = _verify(anchored, anchored.anchor)
    assert (result.ok, result.first_broken) == (False, 4)


def test_an_anchor_behind_the_head_is_accepted(anchored: Database, tmp_path: Path):
    # A crash between a commit and its anchor write leaves the anchor behind: still a valid
    # lower bound, checked at the event it names.
    _append(anchored, 2)
    behind = Anchor(tmp_path / "copy")
    behind.record(anchored.anchor.read())
    _append(anchored, 3)
    result = _verify(anchored, behind)
    assert (result.ok, result.count, result.anchored) == (True, 5, 2)


def test_a_torn_slot_falls_back_to_the_other(tmp_path: Path):
    anchor = Anchor(tmp_path / "anchor")
    anchor.record(Checkpoint(7, "ab" * 32))
    anchor.record(Checkpoint(8, "cd" * 32))
    data = bytearray(anchor.path.read_bytes())
    data[5] ^= 0xFF  # seq 8 lives in the first slot (even seqs); its CRC no longer matches
    anchor.path.write_bytes(bytes(data))
    assert Anchor(anchor.path).read() == Checkpoint(7, "ab" * 32)
    anchor.path.write_bytes(b"")
    assert Anchor(anchor.path).read() is None


def test_the_writer_process_anchors_its_batches(anchored: Database):
    with GroupCommitter(anchored) as committer:
        futures = [committer.submit(partial(append_one, i=i)) for i in range(20)]
        seqs = [f.result(timeout=30) for f in futures]
    assert sorted(seqs) == list(range(1, 21))
    # Read by this process, written by the writer's own connection after each commit.
    assert anchored.anchor.read() == Checkpoint(20, _links(anchored)[-1].hash)
    _as_attacker(anchored, [("DELETE FROM audit_events WHERE seq = 20", {})])
    assert _verify(anchored, anchored.anchor).first_broken == 20


def _events(db: Database):
    with db.read() as session:
        return audit.list_events(session)
