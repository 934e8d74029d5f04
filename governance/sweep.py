"""The periodic housekeeping serving runs every ``Settings.expire_interval_seconds``.

Expires queue items whose SLA has passed and drops idempotency records past retention, in
batches of short write transactions so the SQLite write lock is never held for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from governance import idempotency, queues
from governance.store.engine import Database


@dataclass(frozen=True, slots=True)
class SweepResult:
    expired: tuple[str, ...]  # queue item ids
    purged_idempotency: int


def sweep(db: Database, *, now: datetime | None = None, batch: int = 500) -> SweepResult:
    now = now or datetime.now(UTC)
    expired: list[str] = []
    while True:
        with db.write() as session:
            ids = queues.expire_due(session, now=now, limit=batch)
        expired += ids
        if len(ids) < batch:
            break
    with db.write() as session:
        purged = idempotency.purge_expired(session, now=now)
    return SweepResult(tuple(expired), purged)
