"""The command line as the lifecycle tests drive it: one runner, and data scientists' keys."""

from __future__ import annotations

from typer.testing import CliRunner

from stockpilot.cli import app

runner = CliRunner()


def run(*args: str):
    """``stockpilot ARGS`` in process (stdout and stderr kept apart)."""
    return runner.invoke(app, list(args))


def data_scientist_key(name: str) -> str:
    """A new data_scientist key held by ``name`` (four-eyes needs two people)."""
    out = run("keys", "create", "--role", "data_scientist", "--name", name)
    assert out.exit_code == 0, out.output
    return out.stdout.strip()
