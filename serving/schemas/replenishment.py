from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas.common import Day, DecisionOut, ModelRef, Strict


class ReplenishmentRunIn(Strict):
    as_of: Day | None = Field(None, description="Planning day (default: the data's last day).")
    service_level: float | None = Field(
        None, gt=0.5, lt=1.0, description="Target cycle service level (default 0.95)."
    )

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"service_level": 0.95}]}
    )


class SuggestionOut(BaseModel):
    recommendation_id: str
    item_id: str
    location_id: str
    suggested_qty: float
    value: float | None
    available: float
    projected_available: float
    reorder_point: float
    lead_time_days: float
    days_of_cover: float | None
    reason: str
    decision: DecisionOut


class ReplenishmentRunOut(BaseModel):
    as_of: date
    model: ModelRef
    suggestions: list[SuggestionOut]
    auto_approved: int
    queued: int
    total_value: float


class SuggestionListItem(BaseModel):
    recommendation_id: str
    subject: str
    model_version: str
    action: str
    queue: str | None
    queue_item_id: str | None
    status: str | None
    quantity: float | None
    created_at: datetime
    created_by: str


class SuggestionListOut(BaseModel):
    suggestions: list[SuggestionListItem]
