"""What happened after training, as a retrain reads it: live outcomes and review decisions.

``stockpilot retrain`` (``training/retrain.py``) joins these to the dataset. Outcomes
(``POST /v1/outcomes``) are facts and become ``fulfillments`` rows; decisions are what
reviewers did to order-risk items, returned per order so that the retrain can tell which
labels the review itself produced (a held order a supervisor cancelled ships nothing:
its "short" label is the decision's doing, not the model's miss).

For substitution, :func:`collect_substitution` returns every recorded customer answer
(``substitution.feedback`` events) and every decided ``substitution`` queue item, each
with the recommendation as it was served (its ``recommendation.created`` payload); for
demand, :func:`collect_orders` returns the order lines scored through the API (the
demand they carry, when the export does not hold those orders yet). Plain frames and
dicts: what they mean as labels is the retrain's business (``training/retrain_evidence.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import select

from governance import audit
from governance.events import fulfillments_frame, outcomes_since
from governance.routing import Kind
from governance.store.engine import Database
from governance.store.tables import AuditEventRow, QueueItemRow, RecommendationRow
from governance.workflow import Status

DECISION_COLUMNS = ["order_id", "queue", "status", "reason", "decided_by", "decided_at"]


@dataclass(frozen=True)
class Evidence:
    outcomes: pd.DataFrame  # contract fulfillments rows, the latest report per line
    decisions: pd.DataFrame  # DECISION_COLUMNS, one row per decided order-risk item


def collect(db: Database) -> Evidence:
    """Every live outcome and every decided order-risk queue item of the store."""
    with db.read() as session:
        outcomes = fulfillments_frame(outcomes_since(session))
        rows = session.execute(
            select(
                QueueItemRow.subject,
                QueueItemRow.queue,
                QueueItemRow.status,
                QueueItemRow.reason,
                QueueItemRow.decided_by,
                QueueItemRow.decided_at,
            ).where(
                QueueItemRow.kind == Kind.order_risk.value,
                QueueItemRow.status != Status.pending.value,
            )
        ).all()
    decisions = pd.DataFrame(
        [(s.removeprefix("order:"), q, st, r, by, at) for s, q, st, r, by, at in rows],
        columns=DECISION_COLUMNS,
    )
    return Evidence(outcomes, decisions)


SUBSTITUTION_DECISION_COLUMNS = [
    "recommendation_id",
    "status",
    "reason",
    "decided_by",
    "decided_at",
    "served",
]
FEEDBACK_COLUMNS = ["recommendation_id", "accepted", "offered", "at", "served"]
ORDER_LINE_COLUMNS = ["order_id", "line_no", "created_at", "item_id", "location_id", "qty"]


@dataclass(frozen=True)
class SubstitutionEvidence:
    feedback: pd.DataFrame  # FEEDBACK_COLUMNS: one row per substitution.feedback event
    decisions: pd.DataFrame  # SUBSTITUTION_DECISION_COLUMNS: decided substitution items
    # ``served``: the recommendation.created payload (its ``explanation`` holds the result).


def _created(session: Any, ids: set[str]) -> dict[str, dict[str, Any]]:
    """``recommendation.created`` payloads by recommendation id."""
    created = ("recommendation.created",)
    trails = audit.subject_events(session, "recommendation", ids, created)
    return {rid: trail[0][1] for rid, trail in trails.items()}


def collect_substitution(db: Database) -> SubstitutionEvidence:
    """Every recorded substitution answer and every decided substitution queue item."""
    with db.read() as session:
        events = session.execute(
            select(AuditEventRow.subject_id, AuditEventRow.at, AuditEventRow.payload)
            .where(AuditEventRow.kind == "substitution.feedback")
            .order_by(AuditEventRow.seq)
        ).all()
        items = session.execute(
            select(
                QueueItemRow.recommendation_id,
                QueueItemRow.status,
                QueueItemRow.reason,
                QueueItemRow.decided_by,
                QueueItemRow.decided_at,
            ).where(
                QueueItemRow.kind == Kind.substitution.value,
                QueueItemRow.status != Status.pending.value,
            )
        ).all()
        served = _created(session, {e[0] for e in events} | {i[0] for i in items})
    feedback = pd.DataFrame(
        [
            (rid, body.get("accepted", []), body.get("offered"), at, served.get(rid))
            for rid, at, body in ((r, a, orjson.loads(p)) for r, a, p in events)
        ],
        columns=FEEDBACK_COLUMNS,
    )
    decisions = pd.DataFrame(
        [(rid, st, r, by, at, served.get(rid)) for rid, st, r, by, at in items],
        columns=SUBSTITUTION_DECISION_COLUMNS,
    )
    return SubstitutionEvidence(feedback, decisions)


def collect_orders(db: Database) -> pd.DataFrame:
    """The order lines scored through ``POST /v1/orders/risk`` (ORDER_LINE_COLUMNS), the
    latest scoring of an order kept; ``created_at`` is when it was scored."""
    with db.read() as session:
        recs = session.execute(
            select(RecommendationRow.id, RecommendationRow.subject, RecommendationRow.created_at)
            .where(RecommendationRow.kind == Kind.order_risk.value)
            .order_by(RecommendationRow.created_at)
        ).all()
        served = _created(session, {r[0] for r in recs})
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for rid, subject, created in recs:
        order = subject.removeprefix("order:")
        lines = (served.get(rid) or {}).get("explanation", {}).get("order_lines") or []
        rows[order] = [
            (
                order,
                int(x["line_no"]),
                created,
                str(x["item_id"]),
                str(x["location_id"]),
                float(x["qty"]),
            )
            for x in lines
        ]
    return pd.DataFrame(
        [row for lines in rows.values() for row in lines], columns=ORDER_LINE_COLUMNS
    )
