from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ServedModelOut(BaseModel):
    name: str
    version: str
    run_id: str | None
    source: str
    loaded_at: datetime
    evaluation: dict[str, Any]


class ModelsOut(BaseModel):
    models: list[ServedModelOut]
    degraded: bool
    errors: dict[str, str]


class ReloadOut(BaseModel):
    loaded: dict[str, str]
    unchanged: dict[str, str]
    errors: dict[str, str]


class ServedVersionOut(BaseModel):
    version: str
    source: str


class LiveStateOut(BaseModel):
    source: str | None
    positions: int
    replayed: dict[str, int]
    open_lines: int = Field(description="Accepted order lines waiting for their outcome.")
    aged_out: int = Field(
        description="Lines forgotten without an outcome: past promise + 182 days, or the "
        "oldest beyond STOCKPILOT_MAX_OPEN_LINES."
    )


class WriterOut(BaseModel):
    ready: bool
    restarts: int


class ReadinessOut(BaseModel):
    """``/health/ready``: 200 when ready (``status`` ready or degraded), 503 until then."""

    status: Literal["ready", "degraded", "not_ready"]
    ready: bool
    degraded: bool
    models: dict[str, ServedVersionOut]
    missing: list[str]
    errors: dict[str, str]
    policy_version: int | None
    live_state: LiveStateOut
    writer: WriterOut
