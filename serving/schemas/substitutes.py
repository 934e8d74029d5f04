from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.schemas.common import CONTEXT_KEYS, Day, DecisionOut, Integer, ModelRef, Strict

Id = Field(min_length=1, max_length=200)


class SubstitutesIn(Strict):
    customer_id: str = Id
    item_id: str = Field(min_length=1, max_length=200, description="The short item.")
    qty: float = Field(gt=0, le=1e9, allow_inf_nan=False, description="Quantity to cover.")
    location_id: str = Id
    need_by: Day | None = Field(None, description="Promised/requested date (urgency).")
    unit_price: float | None = Field(
        None, ge=0, le=1e9, allow_inf_nan=False, description="The line's unit price."
    )
    order_id: str | None = Field(None, max_length=200)
    n: Integer = Field(5, ge=1, le=20, description="Substitutes to return.")
    other_locations: bool = Field(True, description="May offer another location's stock.")
    context: dict[str, float | str | bool] = Field(
        default_factory=dict,
        description='x_* context known now, e.g. {"x_display": 1}.',
        json_schema_extra=CONTEXT_KEYS,
    )

    @field_validator("context")
    @classmethod
    def _x_columns(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in value if not k.startswith("x_") or len(k) > 100]
        if bad:
            raise ValueError(f"context keys must start with 'x_': {bad[:5]}")
        if len(value) > 50:
            raise ValueError("context: at most 50 keys")
        return value

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C00012",
                    "item_id": "I00042",
                    "qty": 12,
                    "location_id": "DAL",
                    "need_by": "2026-03-06",
                    "unit_price": 18.5,
                }
            ]
        },
    )


class ReasonOut(BaseModel):
    feature: str
    value: float | None
    contribution: float = Field(description="SHAP value (log-odds of acceptance).")
    text: str


class SubstituteOut(BaseModel):
    item_id: str
    rank: int
    p_accept: float = Field(description="Calibrated probability that this customer accepts.")
    location_id: str
    other_location: bool = Field(description="Stock from another location (flagged).")
    available: float
    unit_price: float
    price_delta: float
    margin_delta: float | None
    offer: str = Field(description="auto_offer or review, per the active policy.")
    reasons: list[ReasonOut]


class SubstitutesOut(BaseModel):
    recommendation_id: str
    customer_id: str
    item_id: str
    qty: float
    location_id: str
    substitutes: list[SubstituteOut]
    decision: DecisionOut
    model: ModelRef


class FeedbackIn(Strict):
    accepted_item_ids: list[str] = Field(
        default_factory=list, max_length=20, description="Substitutes the customer accepted."
    )
    offered_item_ids: list[str] | None = Field(
        None,
        max_length=20,
        description="Substitutes actually put to the customer (default: all returned).",
    )


class FeedbackOut(BaseModel):
    recommendation_id: str
    rows_written: int = Field(description="New rows in the dataset's substitutions table.")
    accepted: list[str]
    recorded_at: datetime
