"""What the review workbench reads of the queues: light rows to rank, counts, my decisions.

A ranked queue page needs every pending item of its queue (the ranking is by expected cost,
computed from each item's details, not a column the database can sort by), so this reads
only the columns the ranking and the table show, in one statement; the page's own items
then get their approvers in one more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from governance.store.tables import ApprovalRow, QueueItemRow
from governance.workflow import Status


@dataclass(frozen=True, slots=True)
class PendingItem:
    id: str
    queue: str
    kind: str
    subject: str
    action: str
    version: int
    requested_by: str
    required_approvals: int
    approvals: int
    quantity: float | None
    details: dict[str, Any]
    created_at: datetime
    due_at: datetime


_PENDING_COLUMNS = (
    QueueItemRow.id,
    QueueItemRow.queue,
    QueueItemRow.kind,
    QueueItemRow.subject,
    QueueItemRow.action,
    QueueItemRow.version,
    QueueItemRow.requested_by,
    QueueItemRow.required_approvals,
    QueueItemRow.approvals,
    QueueItemRow.quantity,
    QueueItemRow.details,
    QueueItemRow.created_at,
    QueueItemRow.due_at,
)


def pending_items(session: Session, queues: Iterable[str]) -> list[PendingItem]:
    """Every pending item of ``queues`` (oldest first)."""
    wanted = list(queues)
    if not wanted:
        return []
    rows = session.execute(
        select(*_PENDING_COLUMNS)
        .where(QueueItemRow.queue.in_(wanted), QueueItemRow.status == Status.pending.value)
        .order_by(QueueItemRow.created_at, QueueItemRow.id)
    )
    return [PendingItem(*row) for row in rows]


def pending_counts(session: Session) -> dict[str, int]:
    """Pending items per queue."""
    rows = session.execute(
        select(QueueItemRow.queue, func.count())
        .where(QueueItemRow.status == Status.pending.value)
        .group_by(QueueItemRow.queue)
    )
    return {queue: int(n) for queue, n in rows}


def approvers(session: Session, items: Iterable[PendingItem]) -> dict[str, tuple[str, ...]]:
    """The approvers of the current approval round of each item that has any."""
    with_approvals = [i.id for i in items if i.approvals]
    if not with_approvals:
        return {}
    rounds = dict(
        session.execute(
            select(QueueItemRow.id, QueueItemRow.approval_round).where(
                QueueItemRow.id.in_(with_approvals)
            )
        ).all()
    )
    found: dict[str, list[str]] = {}
    for item_id, round_, actor in session.execute(
        select(ApprovalRow.item_id, ApprovalRow.round, ApprovalRow.actor)
        .where(ApprovalRow.item_id.in_(with_approvals))
        .order_by(ApprovalRow.id)
    ):
        if rounds.get(item_id) == round_:
            found.setdefault(item_id, []).append(actor)
    return {item_id: tuple(actors) for item_id, actors in found.items()}


@dataclass(frozen=True, slots=True)
class MyDecision:
    item_id: str
    queue: str
    subject: str
    status: str  # the item's status now
    what: str  # "approved", "approval recorded", "rejected", "overridden"
    at: datetime


def decided_by(session: Session, actor: str, since: datetime, limit: int = 50) -> list[MyDecision]:
    """What ``actor`` decided since ``since``: final decisions and recorded approvals."""
    final = session.execute(
        select(
            QueueItemRow.id,
            QueueItemRow.queue,
            QueueItemRow.subject,
            QueueItemRow.status,
            QueueItemRow.decided_at,
        )
        .where(QueueItemRow.decided_by == actor, QueueItemRow.decided_at >= since)
        .order_by(QueueItemRow.decided_at.desc())
        .limit(limit)
    ).all()
    out = [MyDecision(i, q, s, st, st, at) for i, q, s, st, at in final]
    seen = {d.item_id for d in out}
    approvals = session.execute(
        select(
            QueueItemRow.id,
            QueueItemRow.queue,
            QueueItemRow.subject,
            QueueItemRow.status,
            ApprovalRow.at,
        )
        .join(ApprovalRow, ApprovalRow.item_id == QueueItemRow.id)
        .where(ApprovalRow.actor == actor, ApprovalRow.at >= since)
        .where(or_(QueueItemRow.decided_by.is_(None), QueueItemRow.decided_by != actor))
        .order_by(ApprovalRow.at.desc())
        .limit(limit)
    ).all()
    out += [
        MyDecision(i, q, s, st, "approval recorded", at)
        for i, q, s, st, at in approvals
        if i not in seen
    ]
    return sorted(out, key=lambda d: d.at, reverse=True)[:limit]


def due_before(
    session: Session, queues: Iterable[str], before: datetime, limit: int = 10
) -> list[PendingItem]:
    """Pending items of ``queues`` whose SLA is due before ``before``, soonest first."""
    wanted = list(queues)
    if not wanted:
        return []
    rows = session.execute(
        select(*_PENDING_COLUMNS)
        .where(
            QueueItemRow.status == Status.pending.value,
            QueueItemRow.due_at < before,
            QueueItemRow.queue.in_(wanted),
        )
        .order_by(QueueItemRow.due_at)
        .limit(limit)
    )
    return [PendingItem(*row) for row in rows]


def pending_versions(session: Session, queue: str) -> dict[str, int]:
    """id → version of every pending item of ``queue``: what changed since a cached read."""
    # On the connection, not through the ORM: 10,000 rows on every queue page.
    rows = session.connection().execute(
        select(QueueItemRow.__table__.c.id, QueueItemRow.__table__.c.version).where(
            QueueItemRow.__table__.c.queue == queue,
            QueueItemRow.__table__.c.status == Status.pending.value,
        )
    )
    return dict(rows.fetchall())


def pending_by_id(session: Session, ids: Iterable[str]) -> list[PendingItem]:
    """These items, if still pending (in chunks: an IN list has a size limit)."""
    wanted = list(ids)
    out: list[PendingItem] = []
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(*_PENDING_COLUMNS).where(
                QueueItemRow.id.in_(wanted[start : start + 500]),
                QueueItemRow.status == Status.pending.value,
            )
        )
        out += [PendingItem(*row) for row in rows]
    return out


def pending_fingerprint(session: Session, queue: str) -> tuple[Any, ...]:
    """What changes whenever the pending items of ``queue`` do, in one aggregate: a decision
    lowers the count, an approval raises a version, a new item is the newest one."""
    table = QueueItemRow.__table__
    row = session.connection().execute(
        select(
            func.count(),
            func.coalesce(func.sum(table.c.version), 0),
            func.max(table.c.created_at),
            func.max(table.c.id),
        ).where(table.c.queue == queue, table.c.status == Status.pending.value)
    )
    return tuple(row.one())


def changed_since(session: Session, queue: str, since: datetime) -> set[str]:
    """Items of ``queue`` created, decided or approved at or after ``since``."""
    table = QueueItemRow.__table__
    moved = session.connection().execute(
        select(table.c.id).where(
            table.c.queue == queue,
            or_(table.c.created_at >= since, table.c.decided_at >= since),
        )
    )
    approved = session.connection().execute(
        select(ApprovalRow.__table__.c.item_id)
        .join(table, table.c.id == ApprovalRow.__table__.c.item_id)
        .where(table.c.queue == queue, ApprovalRow.__table__.c.at >= since)
    )
    return {row[0] for row in moved} | {row[0] for row in approved}


CHANGE_MARGIN = timedelta(seconds=10)  # for clocks and commits in flight


@dataclass(frozen=True, slots=True)
class PendingSnapshot:
    """A queue's pending items as one read saw them, and what the next read compares with."""

    fingerprint: tuple[Any, ...]
    items: dict[str, PendingItem]
    read_at: datetime  # when the read of the items started
    full: bool  # every pending ``(id, version)`` was read (not only what moved)


def refresh_pending(
    session: Session, queue: str, known: PendingSnapshot | None, *, incremental: bool
) -> PendingSnapshot:
    """``known`` brought up to date: ``known`` itself when nothing changed.

    With ``incremental``, an unchanged :func:`pending_fingerprint` answers at once, and
    otherwise only the items that moved since ``known`` was read are fetched again, the
    result checked against the aggregate. Without it (or when the check fails), every
    pending ``(id, version)`` is read and the new or changed items fetched.
    """
    fingerprint = pending_fingerprint(session, queue)
    if incremental and known is not None and known.fingerprint == fingerprint:
        return known
    started = datetime.now(UTC)
    if incremental and known is not None:
        moved = changed_since(session, queue, known.read_at - CHANGE_MARGIN)
        current = {i: it for i, it in known.items.items() if i not in moved}
        current.update({it.id: it for it in pending_by_id(session, moved)})
        if (len(current), sum(it.version for it in current.values())) == fingerprint[:2]:
            return PendingSnapshot(fingerprint, current, started, full=False)
    cached = known.items if known is not None else {}
    versions = pending_versions(session, queue)
    stale = [i for i, v in versions.items() if i not in cached or cached[i].version != v]
    current = {i: it for i, it in cached.items() if versions.get(i) == it.version}
    current.update({it.id: it for it in pending_by_id(session, stale)})
    return PendingSnapshot(fingerprint, current, started, full=True)
