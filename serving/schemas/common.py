"""Shapes shared by several endpoints."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import Strict as StrictMode


class Strict(BaseModel):
    """Request bodies refuse unknown fields (a typo is a 422, not a silent default) and
    values of another JSON type than the schema says: ``"12"`` is not a number, ``1`` not a
    boolean, a number not a date. What the OpenAPI promises is what is accepted."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _iso_text(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        raise ValueError("dates and times are ISO 8601 text (e.g. 2026-03-02), not numbers")
    return value


def _iso_day_text(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a day is ISO 8601 text YYYY-MM-DD (e.g. 2026-03-02)")
    return value


def _iso_day(value: Any) -> Any:
    return _iso_day_text(_iso_text(value))


def _a_number(value: Any) -> Any:
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON number, not text or a boolean")
    return value


# JSON has no date type: days and moments come as ISO 8601 text, parsed as pydantic does
# outside strict mode, and a number is refused instead of read as a Unix time. A day is
# exactly YYYY-MM-DD (OpenAPI's `format: date`): pydantic alone reads "0" as 1970-01-01.
Day = Annotated[date, StrictMode(False), BeforeValidator(_iso_day)]
# A day in a query string: text is all a query has, so "0" must not become 1970-01-01.
QueryDay = Annotated[date, BeforeValidator(_iso_day_text)]
Moment = Annotated[datetime, StrictMode(False), BeforeValidator(_iso_text)]
# A JSON Schema integer may be written 3.0; text ("3") is still refused.
Integer = Annotated[int, StrictMode(False), BeforeValidator(_a_number)]
# x_* context columns (SPEC §3): the key rule in the schema, so clients can see it.
CONTEXT_KEYS = {"propertyNames": {"pattern": "^x_", "maxLength": 100}, "maxProperties": 50}


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


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds after which a retry is worth making.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
RESPONSES: dict[int, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "The body cannot be decoded (e.g. not UTF-8): `malformed_body`.",
    },
    401: {"model": ErrorResponse, "description": "Missing, unknown, revoked or expired API key."},
    403: {"model": ErrorResponse, "description": "The key's role lacks the permission."},
    404: {"model": ErrorResponse, "description": "No such object (the message names it)."},
    409: {
        "model": ErrorResponse,
        "description": "A conflicting state: decided by someone else, stale version, or a "
        "request with this Idempotency-Key still in progress.",
    },
    413: {"model": ErrorResponse, "description": "Body above the size limit: `payload_too_large`."},
    422: {"model": ErrorResponse, "description": "Invalid input; the message names the field."},
    429: {
        "model": ErrorResponse,
        "description": "The key's rate limit is used up: `rate_limited`.",
        "headers": RETRY_AFTER,
    },
    503: {
        "model": ErrorResponse,
        "description": "Starting (`not_ready`) or the governance store cannot take work now "
        "(`store_unavailable`); nothing was recorded, or retry with the same Idempotency-Key.",
        "headers": RETRY_AFTER,
    },
}
# What any authenticated operation may answer besides its own success.
SECURED = (401, 403, 422, 429, 503)
# What any operation with a JSON body may answer besides.
WITH_BODY = (400, 413)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses (every status an operation can answer
    is in its entry: the schemathesis run checks it)."""
    return {status: RESPONSES[status] for status in sorted(set(statuses))}


# Operation ids of the operations other operations link to (stable: OpenAPI links name them).
GET_QUEUE_ITEM = "get_queue_item"
DECIDE_QUEUE_ITEM = "decide_queue_item"
SUBSTITUTE_FEEDBACK = "substitute_feedback"
KPI_ROWS = "kpi_rows"


def queue_item_links(item_id: str) -> dict[str, Any]:
    """Links from a response holding a queue item id (a JSON pointer) to reading and
    deciding that item."""
    return {
        "GetQueueItem": {"operationId": GET_QUEUE_ITEM, "parameters": {"item_id": item_id}},
        "DecideQueueItem": {"operationId": DECIDE_QUEUE_ITEM, "parameters": {"item_id": item_id}},
    }
