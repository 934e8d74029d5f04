"""The read side serving's routers (and any page) use: query functions, sessions inside.

A router gets :class:`Reads` through a dependency and calls one method per question; it
never opens a session or holds an ORM object (SPEC §2, ``STYLE.md`` rule 4). Every method
opens one read session on the store and returns the domain's frozen views.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance import audit, queues
from governance.audit import AuditEvent, Verification
from governance.queues import QueueItem
from governance.recommendations import RecommendationView, list_recommendations
from governance.store.engine import Database
from governance.workflow import Status


@dataclass(frozen=True, slots=True)
class QueueItemDetail:
    """One queue item, the audit event that created its recommendation, and its history."""

    item: QueueItem
    created: AuditEvent | None
    history: list[AuditEvent]


class Reads:
    """Read-only questions to the governance store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def queue_items(self, queue: str, *, status: Status | None, limit: int) -> list[QueueItem]:
        with self.db.read() as session:
            return queues.list_items(session, queue=queue, status=status, limit=limit)

    def queue_item(self, item_id: str) -> QueueItemDetail:
        """Raises :class:`~stockpilot.errors.NotFound` for an unknown id."""
        with self.db.read() as session:
            item = queues.get_item(session, item_id)
            created = audit.list_events(
                session, subject_type="recommendation", subject_id=item.recommendation_id, limit=1
            )
            history = audit.list_events(session, subject_type="queue_item", subject_id=item.id)
        return QueueItemDetail(item, created[0] if created else None, history)

    def audit_events(
        self,
        *,
        subject_type: str | None = None,
        subject_id: str | None = None,
        kind: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[AuditEvent]:
        with self.db.read() as session:
            return audit.list_events(
                session,
                subject_type=subject_type,
                subject_id=subject_id,
                kind=kind,
                after_seq=after_seq,
                limit=limit,
            )

    def verify_audit(self) -> Verification:
        """The hash chain walked from the start, against the anchored head if there is one."""
        with self.db.read() as session:
            return audit.verify(session, anchor=self.db.anchor)

    def recommendation_created(self, recommendation_id: str) -> AuditEvent | None:
        """The ``recommendation.created`` event of a recommendation, if it exists."""
        events = self.audit_events(
            subject_type="recommendation",
            subject_id=recommendation_id,
            kind="recommendation.created",
            limit=1,
        )
        return events[0] if events else None

    def recommendations(
        self, *, kind: str, subject_prefix: str | None = None, limit: int = 100
    ) -> list[RecommendationView]:
        with self.db.read() as session:
            return list_recommendations(
                session, kind=kind, subject_prefix=subject_prefix, limit=limit
            )
