"""The `stockpilot` entry point turns StockPilot errors into one message, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from stockpilot.cli import EXIT_USER_ERROR, UserErrors, app
from stockpilot.errors import InvalidInput
from stockpilot.settings import Settings
from tests.robustness.contract_data import Recipe, write


def _app_raising(error: Exception) -> typer.Typer:
    demo = typer.Typer(cls=UserErrors)

    @demo.command()
    def boom() -> None:
        raise error

    @demo.command()
    def fine() -> None:
        typer.echo("ok")

    return demo


def test_a_stockpilot_error_is_a_message_and_an_exit_status():
    message = "orders.x_[region] is [bold]odd[/bold]: need x_* columns"  # not markup
    result = CliRunner().invoke(_app_raising(InvalidInput(message)), ["boom"])
    assert result.exit_code == EXIT_USER_ERROR == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.strip() == f"✗ {message}"
    assert result.stdout == ""


def test_a_programming_error_is_not_swallowed():
    result = CliRunner().invoke(_app_raising(KeyError("bug")), ["boom"])
    assert isinstance(result.exception, KeyError)
    assert CliRunner().invoke(_app_raising(KeyError("bug")), ["fine"]).stdout == "ok\n"


def test_a_model_never_trained_is_named_with_the_command_that_trains_it(
    settings: Settings, tmp_path: Path
):
    data = write(Recipe(days=20), tmp_path / "data")
    result = CliRunner().invoke(
        app, ["score", "order-risk", "--data", str(data), "--out", str(tmp_path / "s.csv")]
    )
    assert result.exit_code == EXIT_USER_ERROR, result.output
    assert "no model models:/order-risk@champion" in result.stderr
    assert "`stockpilot train order-risk`" in result.stderr
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.slow
def test_the_installed_command_prints_no_traceback(tmp_path: Path):
    """A real process (~5 s of imports): what a user sees on the terminal."""
    data = write(Recipe(days=20, tables=frozenset()), tmp_path / "data")
    env = {**os.environ, "STOCKPILOT_HOME": str(tmp_path / "var")}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = Path(sys.executable).with_name("stockpilot")
    done = subprocess.run(
        [str(command), "train", "substitution", "--data", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == EXIT_USER_ERROR
    assert "✗ the dataset has no substitutions table" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_planning_date_that_is_not_a_date_is_a_usage_error(settings: Settings, tmp_path: Path):
    data = write(Recipe(days=3), tmp_path / "data")
    result = CliRunner().invoke(app, ["replenish", "--data", str(data), "--as-of", "30/06/2024"])
    assert result.exit_code == 2  # click's status for a bad option value
    assert isinstance(result.exception, SystemExit)
    assert "--as-of" in result.stderr and "expected a date like 2024-06-30" in result.stderr
