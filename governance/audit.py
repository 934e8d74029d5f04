"""The append-only audit log: appending links to the chain, reading and verifying it.

An append is one read of the chain head (the highest ``seq``, a primary-key probe; later
appends in the same transaction reuse the head they wrote) and one insert, inside the
caller's transaction, so the event commits or rolls back together with
the effect it records. Appends must be serialized for ``seq`` to stay contiguous and the
chain linear:

* SQLite: every write transaction already holds the database write lock (``BEGIN
  IMMEDIATE``, see :mod:`governance.store.engine`), so the head cannot move under us.
* PostgreSQL: the append takes ``LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE``,
  which conflicts with itself and with INSERT but not with readers, and is held to commit.

To stay deadlock-free on PostgreSQL the audit lock must be the last lock a transaction
takes: append after the rows you change, and change no other rows afterwards (updating the
idempotency record the same transaction inserted is fine — nobody else can hold it).

A store opened with an anchor (:mod:`governance.store.anchor`) records the head after every
commit that appended (:func:`anchor_commits`), and :func:`verify` checks the chain against
it, so a deleted tail is found too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, sessionmaker

from governance.access import Principal
from governance.chain import (
    GENESIS,
    Link,
    Verification,
    canonical_payload,
    link_hash,
    verify_links,
)
from governance.store.anchor import Anchor, Checkpoint
from governance.store.fast_inserts import RowInsert
from governance.store.tables import AuditEventRow

log = logging.getLogger(__name__)
# Built once: an append runs on every scored order, so the insert goes straight to the
# driver (governance.store.fast_inserts) and the head query hits SQLAlchemy's compiled cache.
_LOCK = text("LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE")
_HEAD = select(AuditEventRow.seq, AuditEventRow.hash).order_by(AuditEventRow.seq.desc()).limit(1)
_INSERT = RowInsert(AuditEventRow.__table__)
_KNOWN_HEAD = "audit.head"  # session.info key: (transaction, seq, hash) of our last append
_COMMITTING_HEAD = "audit.committing_head"  # session.info key: the head this commit makes


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    at: datetime
    kind: str
    actor: str
    actor_role: str | None
    subject_type: str
    subject_id: str
    payload: dict[str, Any]
    hash: str

    @classmethod
    def from_row(cls, row: AuditEventRow) -> AuditEvent:
        return cls(
            row.seq,
            row.at,
            row.kind,
            row.actor,
            row.actor_role,
            row.subject_type,
            row.subject_id,
            orjson.loads(row.payload),
            row.hash,
        )


@dataclass(frozen=True, slots=True)
class Appended:
    """Where an append landed in the chain (the payload is not read back: hot path)."""

    seq: int
    at: datetime
    hash: str


def append(
    session: Session,
    *,
    kind: str,
    actor: Principal | str,
    subject_type: str,
    subject_id: str,
    payload: Mapping[str, Any],
    at: datetime | None = None,
) -> Appended:
    """Append one event to the chain in the session's transaction.

    ``actor`` is the principal acting, or a plain name for the system itself (the SLA sweep).
    """
    conn = session.connection()
    # The head this transaction (or savepoint) last appended: group commit appends many
    # events per transaction, and nobody else can move the head while we hold the lock.
    scope = session.get_nested_transaction() or session.get_transaction()
    known = session.info.get(_KNOWN_HEAD)
    if known is not None and known[0] is scope:
        seq, prev_hash = known[1] + 1, known[2]
    else:
        if conn.dialect.name == "postgresql":
            conn.execute(_LOCK)
        head = conn.execute(_HEAD).first()
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS)
    at = (at or datetime.now(UTC)).astimezone(UTC)
    body = canonical_payload(payload)
    name, role = (actor, None) if isinstance(actor, str) else (actor.actor, actor.role.value)
    digest = link_hash(Link(seq, at, kind, name, role, subject_type, subject_id, body, prev_hash))
    _INSERT(
        session,
        {
            "seq": seq,
            "at": at,
            "kind": kind,
            "actor": name,
            "actor_role": role,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "payload": body,
            "prev_hash": prev_hash,
            "hash": digest,
        },
    )
    session.info[_KNOWN_HEAD] = (scope, seq, digest)
    return Appended(seq, at, digest)


def list_events(
    session: Session,
    *,
    subject_type: str | None = None,
    subject_id: str | None = None,
    kind: str | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[AuditEvent]:
    """Events in ``seq`` order, optionally for one subject or kind; page with ``after_seq``."""
    query = select(AuditEventRow).where(AuditEventRow.seq > after_seq)
    if subject_type is not None:
        query = query.where(AuditEventRow.subject_type == subject_type)
    if subject_id is not None:
        query = query.where(AuditEventRow.subject_id == subject_id)
    if kind is not None:
        query = query.where(AuditEventRow.kind == kind)
    rows = session.scalars(query.order_by(AuditEventRow.seq).limit(min(limit, 1000)))
    return [AuditEvent.from_row(row) for row in rows]


def subject_events(
    session: Session, subject_type: str, ids: Iterable[str], kinds: tuple[str, ...]
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The ``kinds`` of events about each of these subjects, as (kind, payload) in ``seq``
    order; asked 500 ids at a time (an IN list has a size limit)."""
    wanted = sorted(set(ids))
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(AuditEventRow.subject_id, AuditEventRow.kind, AuditEventRow.payload)
            .where(
                AuditEventRow.subject_type == subject_type,
                AuditEventRow.subject_id.in_(wanted[start : start + 500]),
                AuditEventRow.kind.in_(kinds),
            )
            .order_by(AuditEventRow.seq)
        )
        for subject_id, kind, payload in rows:
            found.setdefault(subject_id, []).append((kind, orjson.loads(payload)))
    return found


def get_event(session: Session, seq: int) -> AuditEvent | None:
    row = session.get(AuditEventRow, seq)
    return AuditEvent.from_row(row) if row else None


def verify(session: Session, *, anchor: Anchor | None = None, batch: int = 2000) -> Verification:
    """Walk the whole chain once (streaming rows, so memory stays flat on long logs); with an
    ``anchor``, the chain must also reach the anchored head with the anchored hash.

    The anchor is read before the chain: it is written after each commit, so it can only be
    behind the snapshot the walk reads, never ahead of it.
    """
    checkpoint = anchor.read() if anchor is not None else None
    return verify_links(_links(session, batch), anchor=checkpoint)


def anchor_commits(sessions: sessionmaker[Session], anchor: Anchor) -> None:
    """Record the chain head in ``anchor`` after every commit of ``sessions`` that appended.

    The head is read inside the transaction just before it commits (one primary-key probe
    per commit, not per event: a savepoint rolled back may have undone our last append),
    and written once the commit has succeeded.
    """

    @event.listens_for(sessions, "before_commit")
    def _head(session: Session) -> None:
        if session.info.pop(_KNOWN_HEAD, None) is None:
            return
        head = session.connection().execute(_HEAD).first()
        if head is not None:
            session.info[_COMMITTING_HEAD] = Checkpoint(int(head[0]), head[1])

    @event.listens_for(sessions, "after_commit")
    def _record(session: Session) -> None:
        checkpoint = session.info.pop(_COMMITTING_HEAD, None)
        if checkpoint is None:
            return
        try:
            anchor.record(checkpoint)
        except OSError as err:  # the commit stands; the anchor lags until the next one
            log.warning("audit anchor %s not written: %s", anchor.path, err)

    @event.listens_for(sessions, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop(_KNOWN_HEAD, None)
        session.info.pop(_COMMITTING_HEAD, None)


def _links(session: Session, batch: int) -> Iterator[Link]:
    columns = (
        AuditEventRow.seq,
        AuditEventRow.at,
        AuditEventRow.kind,
        AuditEventRow.actor,
        AuditEventRow.actor_role,
        AuditEventRow.subject_type,
        AuditEventRow.subject_id,
        AuditEventRow.payload,
        AuditEventRow.prev_hash,
        AuditEventRow.hash,
    )
    result = session.execute(
        select(*columns).order_by(AuditEventRow.seq).execution_options(yield_per=batch)
    )
    for row in result:
        yield Link(*row)
