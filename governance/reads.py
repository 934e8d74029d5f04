"""The read side serving uses (the routers, the workbench's pages, the process's caches):
query functions, sessions inside.

A router or a page gets :class:`Reads` through a dependency and calls one method per
question; it never opens a session or holds an ORM object (SPEC §2, ``STYLE.md`` rule 4).
Every method opens one read session on the store (what one page needs together is read in
one) and returns the domain's frozen views.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from governance import audit, policy_versions, queues, worklists
from governance import events as event_store
from governance import keys as key_store
from governance import served as served_store
from governance.access import Principal
from governance.audit import AuditEvent, Verification
from governance.events import InventoryEvent, LineOutcome
from governance.policy import Policy
from governance.queues import QueueItem
from governance.recommendations import RecommendationView, list_recommendations
from governance.store.engine import Database
from governance.workflow import Status
from governance.worklists import MyDecision, PendingItem, PendingSnapshot


@dataclass(frozen=True, slots=True)
class QueueItemDetail:
    """One queue item, the audit event that created its recommendation, and its history."""

    item: QueueItem
    created: AuditEvent | None
    history: list[AuditEvent]


@dataclass(frozen=True, slots=True)
class ItemTrail:
    """One queue item with the audit events of its recommendation and its own history."""

    item: QueueItem
    recommendation_events: list[AuditEvent]  # ``recommendation.created`` and its feedback
    history: list[AuditEvent]
    people: dict[str, str]  # actor (``key:<id>``) → the key holder's name, for the page


@dataclass(frozen=True, slots=True)
class Overview:
    """A reviewer's start: pending counts, what falls due soon, what they decided."""

    pending_counts: dict[str, int]
    due: list[PendingItem]
    decided: list[MyDecision]


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

    def served(self, kind: str, *, model_name: str | None = None) -> list[served_store.Served]:
        """Every stored recommendation of ``kind`` with its payload, review and feedback
        (what ``stockpilot monitor --home`` joins to outcomes), oldest first."""
        with self.db.read() as session:
            return served_store.served(session, kind, model_name=model_name)

    def line_outcomes(self) -> list[LineOutcome]:
        """Every line outcome posted (``POST /v1/outcomes``), oldest first."""
        with self.db.read() as session:
            return event_store.outcomes_since(session)

    def recommendations(
        self, *, kind: str, subject_prefix: str | None = None, limit: int = 100
    ) -> list[RecommendationView]:
        with self.db.read() as session:
            return list_recommendations(
                session, kind=kind, subject_prefix=subject_prefix, limit=limit
            )

    # --- keys and policy (every request's authentication, the cached policy) ----------

    def authenticate_until(self, token: str | None) -> tuple[Principal, datetime | None]:
        """The key's principal and expiry; :class:`~stockpilot.errors.Unauthorized` if not
        valid."""
        with self.db.read() as session:
            return key_store.authenticate_until(session, token)

    def active_policy(self, unless_version: int | None = None) -> Policy | None:
        """The active policy, or ``None`` when its version is ``unless_version`` (one index
        probe: what a cache that already holds that version asks)."""
        with self.db.read() as session:
            version = policy_versions.active_version(session)
            if unless_version is not None and version == unless_version:
                return None
            return policy_versions.active_policy(session).policy

    # --- what serving's live state replays at start ---------------------------------

    def live_history(self) -> tuple[list[InventoryEvent], list[LineOutcome]]:
        """Every inventory event and line outcome recorded, oldest first."""
        with self.db.read() as session:
            return event_store.inventory_since(session), event_store.outcomes_since(session)

    # --- the review workbench --------------------------------------------------------

    def item(self, item_id: str) -> QueueItem:
        """One queue item as it is now; :class:`~stockpilot.errors.NotFound` if unknown."""
        with self.db.read() as session:
            return queues.get_item(session, item_id)

    def item_trail(self, item_id: str, *, recommendation_events: int = 20) -> ItemTrail:
        """What an item page shows of the store; :class:`~stockpilot.errors.NotFound`."""
        with self.db.read() as session:
            item = queues.get_item(session, item_id)
            created = audit.list_events(
                session,
                subject_type="recommendation",
                subject_id=item.recommendation_id,
                limit=recommendation_events,
            )
            history = audit.list_events(session, subject_type="queue_item", subject_id=item.id)
            events = created + history
            people = key_store.names_of(
                session,
                [item.requested_by, item.decided_by or "", *item.approvers]
                + [e.actor for e in events]
                + [a for e in events for a in e.payload.get("approvers") or ()],
            )
        return ItemTrail(item, created, history, people)

    def overview(
        self,
        queue_names: Iterable[str],
        *,
        due_before: datetime,
        actor: str,
        decided_since: datetime,
    ) -> Overview:
        """Pending counts of every queue; of ``queue_names``, what falls due before
        ``due_before``; what ``actor`` decided since ``decided_since``."""
        with self.db.read() as session:
            return Overview(
                worklists.pending_counts(session),
                worklists.due_before(session, queue_names, due_before),
                worklists.decided_by(session, actor, decided_since),
            )

    def approvers(self, items: Iterable[PendingItem]) -> dict[str, tuple[str, ...]]:
        """The approvers of the current round of each item that has any."""
        with self.db.read() as session:
            return worklists.approvers(session, items)

    def pending_by_id(self, ids: Iterable[str]) -> list[PendingItem]:
        """These items, if still pending."""
        with self.db.read() as session:
            return worklists.pending_by_id(session, ids)

    def pending(
        self, queue: str, known: PendingSnapshot | None, *, incremental: bool
    ) -> PendingSnapshot:
        """A queue's pending items, ``known`` brought up to date
        (:func:`governance.worklists.refresh_pending`)."""
        with self.db.read() as session:
            return worklists.refresh_pending(session, queue, known, incremental=incremental)
