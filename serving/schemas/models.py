from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


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
