"""Commands that load a champion find it in the configured store, whatever MLflow pointed at."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from typer.testing import CliRunner

from stockpilot.cli import app
from stockpilot.settings import Settings


def test_replenish_and_score_load_the_champions_of_the_configured_store(
    serving_settings: Settings, tmp_path: Path
) -> None:
    elsewhere = f"sqlite:///{tmp_path / 'some-other-store.db'}"
    mlflow.set_tracking_uri(elsewhere)  # what MLflow falls back to in a fresh process
    mlflow.set_registry_uri(elsewhere)
    runner = CliRunner()
    suggestions = tmp_path / "suggestions.csv"
    result = runner.invoke(
        app, ["replenish", "--data", str(serving_settings.data_dir), "--out", str(suggestions)]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(suggestions)
    assert {"item_id", "location_id", "suggested_qty", "reason"} <= set(frame.columns)
    assert (frame["suggested_qty"] > 0).all()

    scored = tmp_path / "scored.parquet"
    result = runner.invoke(
        app, ["score", "order-risk", "--data", str(serving_settings.data_dir), "--out", str(scored)]
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(scored)) > 0
