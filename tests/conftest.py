"""Shared fixtures: isolated settings per test, database URLs, small datasets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockpilot.settings import Settings, get_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings whose runtime state lives in a fresh temporary ``var/``."""
    home = tmp_path / "var"
    monkeypatch.setenv("STOCKPILOT_HOME", str(home))
    monkeypatch.delenv("STOCKPILOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("STOCKPILOT_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("STOCKPILOT_LGBM_THREADS", "1")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def postgres_url() -> str | None:
    """The PostgreSQL URL for storage tests; CI sets it and requires it to work."""
    return os.environ.get("STOCKPILOT_TEST_POSTGRES_URL")


def require_postgres() -> bool:
    return os.environ.get("STOCKPILOT_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated dataset on disk (seed 1), shared by the whole session. Read-only."""
    from training.simulator import simulate, write

    out = tmp_path_factory.mktemp("small") / "data"
    write(simulate("small", seed=1), out)
    return out


@pytest.fixture(scope="session")
def medium_simulation():
    """The medium simulated dataset of the issues' acceptance checks (seed 7), in memory."""
    from training.simulator import simulate

    return simulate("medium", seed=7)
