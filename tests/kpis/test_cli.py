"""`stockpilot kpis` through Typer's runner on the hand-made distributor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.kpis.definitions import CATALOG
from stockpilot.cli import app
from stockpilot.data import write_tables
from stockpilot.settings import get_settings
from tests.kpis import tiny


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tables(tiny.dataset().tables(), tmp_path / "data")
    monkeypatch.setenv("STOCKPILOT_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_json_prints_every_kpi_with_its_version(home):
    result = CliRunner().invoke(
        app, ["kpis", "--json", "--from", "2025-01-01", "--to", "2025-01-31"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [k["id"] for k in body["kpis"]] == [d.id for d in CATALOG]
    assert {k["id"]: k["version"] for k in body["kpis"]} == {d.id: d.version for d in CATALOG}
    fill = next(k for k in body["kpis"] if k["id"] == "fill_rate_line")
    assert (fill["numerator"], fill["denominator"]) == (6, 8)  # tests/kpis/tiny.py
    assert body["sources"]["governance"] is False  # no store under this home
    assert list((home / "cache").glob("kpis-*.npz"))  # the facts are kept for the next run


def test_table_with_groups(home):
    result = CliRunner().invoke(app, ["kpis", "--by", "location", "--kpi", "fill_rate_line"])
    assert result.exit_code == 0, result.output
    assert "fill_rate_line" in result.stdout and "L1" in result.stdout and "L2" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--location", "MARS"], "location: 'MARS' does not occur"),
        (["--kpi", "fill_rate"], "unknown KPI 'fill_rate'"),
        (["--from", "2025-02-01", "--to", "2025-01-01"], "before from"),
        (["--data", "/nonexistent/dir"], "does not exist"),
    ],
)
def test_mistakes_are_one_line_and_exit_1(home, args, message):
    result = CliRunner().invoke(app, ["kpis", *args])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_replay_refuses_data_without_truth(home):
    result = CliRunner().invoke(app, ["kpis", "replay", "--data", str(home / "data")])
    assert result.exit_code == 1 and "needs a simulated dataset" in result.output
