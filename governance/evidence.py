"""What happened after training, as a retrain reads it: live outcomes and review decisions.

``stockpilot retrain`` (``training/retrain.py``) joins these to the dataset. Outcomes
(``POST /v1/outcomes``) are facts and become ``fulfillments`` rows; decisions are what
reviewers did to order-risk items, returned per order so that the retrain can tell which
labels the review itself produced (a held order a supervisor cancelled ships nothing:
its "short" label is the decision's doing, not the model's miss).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select

from governance.events import fulfillments_frame, outcomes_since
from governance.routing import Kind
from governance.store.engine import Database
from governance.store.tables import QueueItemRow
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
