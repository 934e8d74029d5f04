"""The served recommendations as monitoring joins them to what happened: each stored
recommendation of a kind with its model version, its ``recommendation.created`` payload
(the per-line probabilities, the promised date, the audit-slice tag), whether a person
reviewed it, and the substitution feedback recorded about it (``substitution.feedback``).

Read through :meth:`governance.reads.Reads.served`; the outcomes of order lines through
:meth:`governance.reads.Reads.line_outcomes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import audit
from governance.store.tables import QueueItemRow, RecommendationRow

CREATED, FEEDBACK = "recommendation.created", "substitution.feedback"


@dataclass(frozen=True, slots=True)
class Served:
    """One stored recommendation as monitoring needs it."""

    recommendation_id: str
    kind: str
    subject: str
    model_name: str
    model_version: str
    score: float | None
    action: str
    created_at: datetime
    reviewed: bool  # a queue item was opened for it (a person decided, or will)
    review_status: str | None
    payload: dict[str, Any]  # the recommendation.created event's payload
    feedback: list[dict[str, Any]]  # substitution.feedback payloads, oldest first


def served(session: Session, kind: str, *, model_name: str | None = None) -> list[Served]:
    """Every recommendation of ``kind`` (optionally of one model), oldest first."""
    query = (
        select(RecommendationRow, QueueItemRow.status)
        .outerjoin(QueueItemRow, QueueItemRow.recommendation_id == RecommendationRow.id)
        .where(RecommendationRow.kind == kind)
        .order_by(RecommendationRow.created_at, RecommendationRow.id)
    )
    if model_name is not None:
        query = query.where(RecommendationRow.model_name == model_name)
    rows = session.execute(query).all()
    events = audit.subject_events(
        session, "recommendation", (rec.id for rec, _ in rows), (CREATED, FEEDBACK)
    )
    out = []
    for rec, status in rows:
        trail = events.get(rec.id, [])
        created = next((p for k, p in trail if k == CREATED), {})
        out.append(
            Served(
                rec.id,
                rec.kind,
                rec.subject,
                rec.model_name,
                rec.model_version,
                rec.score,
                rec.action,
                rec.created_at,
                status is not None,
                status,
                created,
                [p for k, p in trail if k == FEEDBACK],
            )
        )
    return out
