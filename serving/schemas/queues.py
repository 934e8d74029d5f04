from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas.common import Strict


class QueueItemOut(BaseModel):
    id: str
    queue: str
    kind: str
    subject: str
    recommendation_id: str
    action: str = Field(description="What the policy recommended (review, hold, ...).")
    status: str
    version: int = Field(description="Send it back as expected_version to decide safely.")
    requested_by: str
    required_approvals: int
    approvers: list[str]
    quantity: float | None
    policy_version: int
    details: dict[str, Any]
    created_at: datetime
    due_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None


class QueueItemsOut(BaseModel):
    queue: str
    items: list[QueueItemOut]


class QueueItemDetailOut(QueueItemOut):
    explanation: dict[str, Any] = Field(
        description="The full recommendation as audited: model, features, SHAP contributions, "
        "reasons, decision."
    )
    history: list[dict[str, Any]] = Field(description="Audit events of this item, oldest first.")


class DecisionAction(StrEnum):
    approve = "approve"
    reject = "reject"
    override = "override"


class QueueDecisionIn(Strict):
    action: DecisionAction
    reason: str | None = Field(None, max_length=2000, description="Required to reject/override.")
    edited_qty: float | None = Field(
        None, gt=0, le=1e9, description="Approve with another quantity (replenishment)."
    )
    expected_version: int | None = Field(
        None,
        ge=0,
        description="The version you saw: a stale decision is a 409, not a silent overwrite.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "approve", "reason": "stock confirmed by the DC", "expected_version": 1}
            ]
        },
    )
