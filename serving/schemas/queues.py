from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import Strict as StrictMode

from serving.schemas.common import Integer, Strict


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
    action: Annotated[DecisionAction, StrictMode(False)]  # its value, as JSON text
    reason: str | None = Field(None, max_length=2000, description="Required to reject/override.")
    edited_qty: float | None = Field(
        None, gt=0, le=1e9, description="Approve with another quantity (replenishment)."
    )
    expected_version: Integer | None = Field(
        None,
        ge=0,
        description="The version you saw: a stale decision is a 409, not a silent overwrite.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "approve", "reason": "stock confirmed by the DC", "expected_version": 1}
            ],
            # The rules of the workflow's input check, told to clients in the schema.
            "allOf": [
                {  # a rejection or override says why
                    "if": {"properties": {"action": {"enum": ["reject", "override"]}}},
                    "then": {
                        "required": ["reason"],
                        "properties": {"reason": {"type": "string", "pattern": "\\S"}},
                    },
                },
                {  # only an approval edits the quantity
                    "if": {"properties": {"action": {"enum": ["reject", "override"]}}},
                    "then": {"properties": {"edited_qty": {"type": "null"}}},
                },
            ],
        },
    )
