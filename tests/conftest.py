"""Shared fixtures: isolated settings per test, database URLs, small datasets."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stockpilot.settings import Settings, get_settings


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """The directory ``name``, built by ``build`` once per test run and then read-only.

    The xdist workers of a run have sibling base temps: an exclusive file lock lets the
    first worker build while the others wait, then all share it. A run without xdist keeps
    it to itself (the parent of its base temp holds every run's, of any code).
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if base.name.startswith("popen-gw") else base
    target = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target / "ready").exists():
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir()
                build(target)
                (target / "ready").write_text("ok")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _migrate_mlflow_store(directory: Path) -> None:
    from stockpilot import tracking

    uri = f"sqlite:///{directory / 'mlflow.db'}"
    tracking.client(Settings(home=directory, mlflow_tracking_uri=uri)).search_experiments()


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised, empty MLflow store (read-only: tests copy it). Creating the schema
    costs 4–15 s of migrations; copying the file, milliseconds."""
    return built_once(tmp_path_factory, "empty-mlflow", _migrate_mlflow_store) / "mlflow.db"


@pytest.fixture
def settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_mlflow_store: Path
) -> Iterator[Settings]:
    """Settings whose runtime state lives in a fresh temporary ``var/``, its MLflow store
    a copy of an empty one."""
    home = tmp_path / "var"
    home.mkdir()
    shutil.copyfile(empty_mlflow_store, home / "mlflow.db")
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
