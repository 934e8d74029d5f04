"""The one settings object. Every knob is an environment variable prefixed ``STOCKPILOT_``.

Runtime state (data, MLflow store, SQLite database, model cache) lives under ``home``
(``var/`` by default); each path can be overridden on its own. Nothing is created here:
directories are made by the code that writes into them.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.open_lines import MAX_OPEN_LINES, OPEN_DAYS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOCKPILOT_", extra="forbid")

    home: Path = Field(Path("var"), description="Root of runtime state.")
    data_dir: Path | None = Field(
        None, description="Dataset used by `make run` (default home/data)."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the governance store (default SQLite under home)."
    )
    mlflow_tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; falls back to MLFLOW_TRACKING_URI, "
        "then sqlite:///<home>/mlflow.db.",
    )
    model_cache_dir: Path | None = Field(None, description="Local copies of served model versions.")
    audit_anchor_file: Path | None = Field(
        None,
        description="Where the audit chain's head is recorded after each commit, outside the "
        "database, so that `audit verify` finds a deleted tail (default: beside a SQLite "
        "database, `<file>.anchor`; for another store home/audit-anchor-<hash of its URL>).",
    )
    policy_file: Path | None = Field(None, description="Policy YAML applied at first start-up.")
    lgbm_threads: int = Field(
        1, ge=1, description="LightGBM threads per serving process (one per request worker)."
    )
    train_threads: int = Field(
        2, ge=1, description="Threads for training and batch scoring (LightGBM, explainers)."
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Larger request bodies get 413.")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="SQLite fsync policy. FULL: a committed request survives power loss "
        "(one fsync per write, the throughput limit on slow disks). NORMAL (WAL): survives "
        "a process crash, may lose the last commits on power loss; several times faster.",
    )
    rate_limit_per_second: float = Field(
        1000.0,
        gt=0,
        description="Requests per second one API key may sustain; beyond it 429 + Retry-After.",
    )
    rate_limit_burst: float = Field(
        2000.0, ge=1, description="Requests one API key may make in a row above its rate."
    )
    idempotency_retention_hours: float = Field(24.0, gt=0)
    expire_interval_seconds: float = Field(60.0, gt=0, description="Queue SLA sweep period.")
    max_open_lines: int = Field(
        MAX_OPEN_LINES,
        ge=1,
        description="Order lines the live state keeps open while waiting for their outcome; "
        f"past it the oldest are forgotten (features/open_lines.py; a line is also forgotten "
        f"{OPEN_DAYS} days past its promise).",
    )
    ui_session_hours: float = Field(
        8.0,
        gt=0,
        le=24 * 30,
        description="A workbench sign-in lasts this long (never past its key).",
    )
    ui_poll_seconds: float = Field(
        10.0, ge=1, le=3600, description="How often a queue page looks for new items."
    )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        home = self.home
        if self.data_dir is None:
            self.data_dir = home / "data"
        if self.database_url is None:
            self.database_url = f"sqlite:///{home / 'stockpilot.db'}"
        if self.model_cache_dir is None:
            self.model_cache_dir = home / "model-cache"
        if self.audit_anchor_file is None:
            # One anchor per store: another database under the same home has its own chain.
            url = self.database_url
            if url.startswith("sqlite:///") and "?" not in url:
                self.audit_anchor_file = Path(url.removeprefix("sqlite:///") + ".anchor")
            else:
                digest = hashlib.sha256(url.encode()).hexdigest()[:12]
                self.audit_anchor_file = home / f"audit-anchor-{digest}"
        return self

    @property
    def tracking_uri(self) -> str:
        import os

        return (
            self.mlflow_tracking_uri
            or os.environ.get("MLFLOW_TRACKING_URI")
            or f"sqlite:///{self.home / 'mlflow.db'}"
        )

    @property
    def artifact_root(self) -> Path:
        """Where runs of a SQLite-backed local store keep their artifacts."""
        return self.home / "mlartifacts"


@lru_cache
def get_settings() -> Settings:
    return Settings()
