"""Shapes shared by several endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Request bodies refuse unknown fields: a typo is a 422, not a silent default."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ModelRef(BaseModel):
    name: str
    version: str


class DecisionOut(BaseModel):
    """How the active policy routed a recommendation."""

    action: str = Field(description="release / review / hold, auto_offer, auto_approve")
    queue: str | None = Field(description="Review queue, when a person must decide.")
    queue_item_id: str | None = None
    threshold_name: str
    threshold: float | None
    policy_version: int
    required_approvals: int
    reason: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or unknown API key."},
    403: {"model": ErrorResponse, "description": "The key's role lacks the permission."},
    422: {"model": ErrorResponse, "description": "Invalid input; the message names the field."},
}
