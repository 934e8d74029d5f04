"""`stockpilot run` and `stockpilot serve` on a minimal export: they start or say why.

One dataset with only the required tables and columns (no substitutions, so only order
risk can be trained on it): `run --no-serve` trains order risk, then stops at
substitution with one message; `serve` on the unmigrated store it leaves says how to
migrate; once migrated, `serve` (a real process) starts on the one model it has,
reports the missing ones on /health/ready and scores an order.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from stockpilot.cli import EXIT_USER_ERROR, app
from stockpilot.settings import get_settings
from tests.robustness.contract_data import OPTIONAL_COLUMNS, Recipe, write

MINIMAL = Recipe(
    days=75,
    lines_per_day=3,
    tables=frozenset(),
    dropped=frozenset(OPTIONAL_COLUMNS),
    x_columns=frozenset(),
    fmt="csv",
)
START_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(env: dict[str, str], port: int) -> subprocess.Popen:
    command = Path(sys.executable).with_name("stockpilot")
    return subprocess.Popen(
        [str(command), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_live(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"serve exited with {server.returncode}: {server.stdout.read()}")
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code in (200, 503):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"serve did not answer within {START_SECONDS} s")


@pytest.mark.slow
def test_run_and_serve_on_a_minimal_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = write(MINIMAL, tmp_path / "export")
    env = {
        "STOCKPILOT_HOME": str(tmp_path / "var"),
        "STOCKPILOT_DATA_DIR": str(data),
        "STOCKPILOT_TRAIN_THREADS": "1",
    }
    for key in ("STOCKPILOT_DATABASE_URL", "STOCKPILOT_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    runner = CliRunner()

    result = runner.invoke(app, ["run", "--no-serve"])
    assert result.exit_code == EXIT_USER_ERROR, result.output
    assert isinstance(result.exception, SystemExit)
    assert "model order-risk: training on" in result.stderr
    assert "✗ the dataset has no substitutions table" in result.stderr
    assert (tmp_path / "var" / "reports" / "order-risk.json").exists()

    # Refused before uvicorn starts, so this runs in-process.
    result = runner.invoke(app, ["serve", "--port", str(_free_port())])
    assert result.exit_code == EXIT_USER_ERROR, result.output
    assert "✗ database schema is at nothing" in result.stderr
    assert "stockpilot db upgrade" in result.stderr

    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    created = runner.invoke(app, ["keys", "create", "--role", "order_system", "--name", "t"])
    token = created.stdout.strip().splitlines()[-1]
    server_env = {**os.environ, **env}
    server_env.pop("MLFLOW_TRACKING_URI", None)
    port = _free_port()
    server = _serve(server_env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_live(base, server)
        ready = httpx.get(f"{base}/health/ready", timeout=10)
        assert ready.status_code == 503  # substitution and demand were never trained
        assert ready.json()["status"] == "not_ready"
        line = pd.read_csv(data / "orders.csv").iloc[-1]
        order = {
            "order_id": "NEW-1",
            "customer_id": str(line["customer_id"]),
            "location_id": str(line["location_id"]),
            "order_ts": "2024-03-16T10:00:00Z",
            "promised_date": "2024-03-19",
            "lines": [
                {
                    "line_no": 1,
                    "item_id": str(line["item_id"]),
                    "qty": 3,
                    "unit_price": float(line["unit_price"]),
                }
            ],
        }
        scored = httpx.post(
            f"{base}/v1/orders/risk",
            json={"orders": [order]},
            headers={"X-API-Key": token},
            timeout=30,
        )
        assert scored.status_code == 201, scored.text
        result = scored.json()["results"][0]
        assert 0 <= result["lines"][0]["probability"] <= 1
        assert result["model"] == {"name": "order-risk", "version": "1"}
    finally:
        server.terminate()
        server.communicate(timeout=30)
    get_settings.cache_clear()
