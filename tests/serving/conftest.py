"""Serving fixtures: three real models trained once on small data, a fresh store per test.

Demand is trained with :func:`tests.quick_models.demand` (one backtest window, LightGBM
alone): serving needs a registered champion, not the best forecast. Training happens once
per test run (:func:`tests.conftest.built_once`: the first xdist worker trains while the
others wait, then all share the MLflow store read-only). Each test gets its own SQLite
database, model cache, live state and app, built by the real lifespan code.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from governance.access import Principal, Role
from governance.keys import create_key
from governance.store.engine import Database
from governance.store.migrate import upgrade
from serving.app import create_app
from serving.model_store import ModelStore
from serving.services import Services
from stockpilot.settings import Settings, get_settings
from tests.conftest import built_once

ADMIN = Principal("cli:test", Role.admin)


def _train_all(home: Path, empty_mlflow_store: Path) -> None:
    from training.simulator import simulate, write

    shutil.copyfile(empty_mlflow_store, home / "mlflow.db")
    env = {"STOCKPILOT_HOME": str(home), "STOCKPILOT_TRAIN_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    get_settings.cache_clear()
    try:
        write(simulate("small", seed=1), home / "data")
        from stockpilot.bootstrap import trainers
        from tests import quick_models

        options = {"demand": {"config": quick_models.demand()}}
        for name, train in trainers().items():
            report = home / "reports" / f"{name}.json"
            evaluation = train(
                home / "data", report=report, alias="champion", **options.get(name, {})
            )
            registered = evaluation["registered"]
            assert registered["alias"] == "champion", f"{name}: gate refused {evaluation['gate']}"
        # Each test's model cache starts as a copy of this one: the registry still resolves
        # every champion, and MLflow's file-by-file download (~3 s a test) happens once.
        cached = ModelStore(home / "model-cache").load()
        assert not cached.errors, cached.errors
        db = Database(f"sqlite:///{home / 'template.db'}")
        upgrade(db)
        db.dispose()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory, empty_mlflow_store: Path) -> Path:
    """A runtime home with a small dataset and three champion models (shared, read-only)."""
    return built_once(
        tmp_path_factory, "serving-home", lambda home: _train_all(home, empty_mlflow_store)
    )


@pytest.fixture
def serving_settings(trained_home: Path, tmp_path: Path, monkeypatch) -> Iterator[Settings]:
    """Settings on the shared models, with this test's own database, model cache (a copy
    of the shared home's, filled once) and data copy."""
    db_path = tmp_path / "stockpilot.db"
    shutil.copyfile(trained_home / "template.db", db_path)
    data = tmp_path / "data"
    shutil.copytree(trained_home / "data", data)
    shutil.copytree(trained_home / "model-cache", tmp_path / "model-cache")
    env = {
        "STOCKPILOT_HOME": str(tmp_path),
        "STOCKPILOT_MLFLOW_TRACKING_URI": f"sqlite:///{trained_home / 'mlflow.db'}",
        "STOCKPILOT_DATABASE_URL": f"sqlite:///{db_path}",
        "STOCKPILOT_DATA_DIR": str(data),
        "STOCKPILOT_MODEL_CACHE_DIR": str(tmp_path / "model-cache"),
        "STOCKPILOT_LGBM_THREADS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def services(serving_settings: Settings) -> Iterator[Services]:
    opened = Services.open(serving_settings)
    yield opened
    opened.close()


@pytest.fixture
def keys(services: Services) -> dict[str, str]:
    """One API key per role (plus a second supervisor), created in this test's store."""
    tokens = {}
    with services.db.write() as session:
        for role in Role:
            _, tokens[role.value] = create_key(session, role=role, name=f"t-{role}", actor=ADMIN)
        _, tokens["supervisor2"] = create_key(
            session, role=Role.supervisor, name="t-sup2", actor=ADMIN
        )
    return tokens


@pytest.fixture
def client(serving_settings: Settings, services: Services) -> Iterator[TestClient]:
    app = create_app(serving_settings, services=services)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def live_url(serving_settings: Settings, services: Services) -> Iterator[str]:
    """The app behind real HTTP: uvicorn on a loopback port, in a thread of this process."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(serving_settings, services=services), log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"X-API-Key": token, **headers}


def dataset_orders(settings: Settings, n: int = 3) -> list[dict]:
    """Orders from the test dataset as the order system would send them."""
    import pandas as pd

    orders = pd.read_parquet(settings.data_dir / "orders.parquet").tail(400)
    out = []
    for order_id, lines in list(orders.groupby("order_id", sort=False))[:n]:
        first = lines.iloc[0]
        out.append(
            {
                "order_id": f"T-{order_id}",
                "customer_id": str(first["customer_id"]),
                "order_ts": pd.Timestamp(first["order_ts"]).isoformat(),
                "promised_date": pd.Timestamp(first["promised_date"]).date().isoformat(),
                "carrier_id": str(first["carrier_id"]),
                "lines": [
                    {
                        "line_no": int(r.line_no),
                        "item_id": str(r.item_id),
                        "location_id": str(r.location_id),
                        "qty": float(r.qty),
                        "unit_price": float(r.unit_price),
                    }
                    for r in lines.itertuples()
                ],
            }
        )
    return json.loads(json.dumps(out))
