"""Recording a scored recommendation: row, queue item and audit event in one transaction.

Serving calls :func:`record` inside ``Database.write()`` (together with the idempotency
claim, see :mod:`governance.idempotency`), so when the block commits the recommendation,
its queue item and its audit event exist together, and when anything fails none of them
do. The audit event carries the full payload (model, features, contributions, decision);
the ``recommendations`` row is the small index next to it. The hot path is Core inserts plus
one audit append: about ten statements per scored order including the idempotency record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from governance import audit, queues
from governance.access import Principal
from governance.chain import canonical_payload
from governance.queues import QueueItem
from governance.routing import Decision
from governance.store.fast_inserts import RowInsert
from governance.store.ids import new_id
from governance.store.tables import RecommendationRow
from stockpilot.errors import InvalidInput

_INSERT = RowInsert(RecommendationRow.__table__)  # straight to the driver: runs per order
MAX_SUBJECT_CHARS = 1000  # the ids a subject is made of (request ids: up to 200 each)


@dataclass(frozen=True, slots=True)
class ModelOutput:
    """What a model produced for one subject, as the audit log must keep it."""

    subject: str  # e.g. "order:SO-1042", "item:A12@loc:DC1"
    model_name: str
    model_version: str
    score: float | None  # the probability/value routing used
    features: Mapping[str, Any] = field(default_factory=dict)
    contributions: Mapping[str, Any] = field(default_factory=dict)  # SHAP values, by feature
    explanation: Mapping[str, Any] = field(default_factory=dict)  # reasons, driver families...
    quantity: float | None = None  # replenishment: the suggested quantity
    unit_value: float | None = None  # replenishment: value per unit, to re-check approvals


@dataclass(frozen=True, slots=True)
class Recorded:
    recommendation_id: str
    decision: Decision
    item: QueueItem | None
    audit_seq: int
    created_at: datetime


def record(
    session: Session,
    output: ModelOutput,
    decision: Decision,
    *,
    principal: Principal,
    summary: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Recorded:
    """Store one recommendation and its routing; open a queue item when a person must decide.

    ``summary`` is the small context shown to reviewers in queue listings (top reasons,
    customer, line value); the full payload stays in the audit event.
    """
    if not output.subject or len(output.subject) > MAX_SUBJECT_CHARS:
        raise InvalidInput(
            f"subject: must be 1 to {MAX_SUBJECT_CHARS} characters", subject=output.subject[:300]
        )
    now = now or datetime.now(UTC)
    rec_id = new_id()
    _INSERT(
        session,
        {
            "id": rec_id,
            "kind": decision.kind.value,
            "subject": output.subject,
            "model_name": output.model_name,
            "model_version": output.model_version,
            "score": output.score,
            "action": decision.action.value,
            "queue": decision.queue,
            "threshold_name": decision.threshold_name,
            "threshold": decision.threshold,
            "policy_version": decision.policy_version,
            "created_at": now,
            "created_by": principal.actor,
        },
    )
    item = None
    if decision.needs_review:
        item = queues.insert_item(
            session,
            recommendation_id=rec_id,
            decision=decision,
            subject=output.subject,
            requested_by=principal,
            now=now,
            quantity=output.quantity,
            unit_value=output.unit_value,
            # through canonical JSON so NumPy values and NaN are stored as plain JSON
            details=orjson.loads(
                canonical_payload(
                    {"reason": decision.reason, "score": output.score, **(summary or {})}
                )
            ),
        )
    event = audit.append(
        session,
        kind="recommendation.created",
        actor=principal,
        subject_type="recommendation",
        subject_id=rec_id,
        payload={
            "recommendation_id": rec_id,
            "kind": decision.kind.value,
            "subject": output.subject,
            "model": {"name": output.model_name, "version": output.model_version},
            "score": output.score,
            "features": output.features,
            "contributions": output.contributions,
            "explanation": output.explanation,
            "quantity": output.quantity,
            "unit_value": output.unit_value,
            "decision": {
                "action": decision.action.value,
                "queue": decision.queue,
                "threshold_name": decision.threshold_name,
                "threshold": decision.threshold,
                "policy_version": decision.policy_version,
                "required_approvals": decision.required_approvals,
                "reason": decision.reason,
            },
            "queue_item_id": item.id if item else None,
            "due_at": item.due_at if item else None,
        },
        at=now,
    )
    return Recorded(rec_id, decision, item, event.seq, now)


@dataclass(frozen=True, slots=True)
class RecommendationView:
    """A recorded recommendation with the state of its queue item, if it has one."""

    id: str
    kind: str
    subject: str
    model_name: str
    model_version: str
    score: float | None
    action: str
    queue: str | None
    policy_version: int
    created_at: datetime
    created_by: str
    queue_item_id: str | None
    status: str | None  # the queue item's status; None when nothing was queued
    quantity: float | None


def list_recommendations(
    session: Session,
    *,
    kind: str | None = None,
    subject_prefix: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[RecommendationView]:
    """Newest first, optionally one kind and subjects starting with ``subject_prefix``."""
    from sqlalchemy import select

    from governance.store.tables import QueueItemRow

    query = (
        select(RecommendationRow, QueueItemRow)
        .outerjoin(QueueItemRow, QueueItemRow.recommendation_id == RecommendationRow.id)
        .order_by(RecommendationRow.created_at.desc(), RecommendationRow.id)
    )
    if kind is not None:
        query = query.where(RecommendationRow.kind == kind)
    if subject_prefix is not None:
        escaped = subject_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(RecommendationRow.subject.like(escaped + "%", escape="\\"))
    rows = session.execute(query.limit(min(limit, 1000)).offset(offset))
    return [
        RecommendationView(
            rec.id,
            rec.kind,
            rec.subject,
            rec.model_name,
            rec.model_version,
            rec.score,
            rec.action,
            rec.queue,
            rec.policy_version,
            rec.created_at,
            rec.created_by,
            item.id if item else None,
            item.status if item else None,
            item.quantity if item else None,
        )
        for rec, item in rows
    ]
