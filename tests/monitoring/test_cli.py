"""`stockpilot monitor` end to end on a real MLflow store and governance database: a
model trained on the early part of a small drift world monitors the rest; alerts become
model-monitoring items once; bad input is one clear line, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from stockpilot.cli import app
from stockpilot.settings import get_settings

runner = CliRunner()
UNTIL = "2024-05-01"


UNTIL_MONITORED = "2024-07-15"  # the collapse (05-24) and ten weeks after the reference


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A small drift world, a model trained on it before UNTIL, a migrated store; the
    monitored data ends at UNTIL_MONITORED (fewer days to score: the run is the cost).

    ``empty_mlflow`` is the registry as created, before the model: creating an MLflow
    store runs its migrations (seconds), so the test without a model copies this one."""
    import shutil

    from stockpilot import tracking
    from stockpilot.data import write_until
    from training.simulator import simulate, write

    root = tmp_path_factory.mktemp("monitor")
    full, data, early, home = root / "full", root / "data", root / "early", root / "var"
    write(simulate("small", seed=3, regime="drift"), full)
    write_until(full, pd.Timestamp(UNTIL_MONITORED), data)
    write_until(data, pd.Timestamp(UNTIL), early)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STOCKPILOT_HOME", str(home))
        for name in ("STOCKPILOT_DATABASE_URL", "STOCKPILOT_MLFLOW_TRACKING_URI"):
            mp.delenv(name, raising=False)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("STOCKPILOT_TRAIN_THREADS", "1")
        get_settings.cache_clear()
        assert tracking.alias_version("order-risk", "champion") is None  # creates the store
        empty = root / "empty-mlflow.db"
        shutil.copyfile(home / "mlflow.db", empty)
        trained = runner.invoke(app, ["train", "order-risk", "--data", str(early), "--force"])
        assert trained.exit_code == 0, trained.output
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        yield {"data": data, "home": home, "empty_mlflow": empty}
        get_settings.cache_clear()


def _monitor(*args: str) -> object:
    return runner.invoke(app, ["monitor", *args])


def test_report_only_run_tests_every_day_after_the_reference(world):
    result = _monitor("order-risk", "--data", str(world["data"]), "--no-alerts", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["since"] == UNTIL  # the day after the reference window ends
    assert report["reference"]["period"][1] == "2024-04-30"
    assert "order_weekday" in report["reference"]["not_monitored"]
    assert report["drift"]["feature_days"] > 50 * report["reference"]["features"]
    assert report["queue"] == {"opened": [], "already_open": []}
    assert report["served"] is None  # no --home: the store is not read (an unmigrated one fails)
    weeks = pd.DataFrame(report["performance"]["weeks"])
    assert weeks["week"].is_monotonic_increasing and (weeks["expected_auc"] > 0.5).all()
    assert set(report["performance"]["segments"]) >= {"carrier_id", "location_id"}
    written = json.loads((world["home"] / "monitoring" / "order-risk.json").read_text())
    assert written["drift"] == report["drift"]


def test_alerts_open_queue_items_once(world):
    from governance import queues
    from governance.store.engine import Database

    first = _monitor("order-risk", "--data", str(world["data"]), "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["alerts"], "the drift world's collapse and price step raise alerts"
    opened = report["queue"]["opened"]
    assert len(opened) == len(report["alerts"])
    for alert, item in zip(report["alerts"], opened, strict=True):
        assert item["days"] == alert["days"] and item["feature"] == alert["feature"]
    again = json.loads(_monitor("order-risk", "--data", str(world["data"]), "--json").stdout)
    assert again["queue"]["opened"] == []
    assert len(again["queue"]["already_open"]) == len(report["alerts"])
    db = Database.from_settings(get_settings())
    try:
        with db.read() as session:
            items = queues.list_items(session, queue="model-monitoring", limit=1000)
    finally:
        db.dispose()
    assert sorted(i.id for i in items) == sorted(i["queue_item_id"] for i in opened)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["order-risk", "--since", "2024-13-01"], "--since: '2024-13-01' is not a day"),
        (["order-risk", "--since", "2031-01-01"], "no order lines from that day on"),
        (["bogus"], "monitoring covers order-risk, substitution and demand"),
    ],
)
def test_bad_input_is_one_clear_line(world, args, message):
    result = _monitor(*args[:1], "--data", str(world["data"]), "--no-alerts", *args[1:])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_the_training_data_itself_has_nothing_after_the_reference(world, tmp_path):
    from stockpilot.data import write_until

    early = tmp_path / "early"
    write_until(world["data"], pd.Timestamp(UNTIL), early)
    result = _monitor("order-risk", "--data", str(early), "--no-alerts")
    assert result.exit_code == 1
    assert "already covers it (it ends on 2024-04-30)" in result.output
    assert "--since to look back" in result.output


def test_without_a_registered_model_the_message_says_how_to_get_one(world, tmp_path, monkeypatch):
    import shutil

    (tmp_path / "empty").mkdir()
    shutil.copyfile(world["empty_mlflow"], tmp_path / "empty" / "mlflow.db")
    monkeypatch.setenv("STOCKPILOT_HOME", str(tmp_path / "empty"))
    get_settings.cache_clear()
    result = _monitor("order-risk", "--data", str(world["data"]), "--no-alerts")
    get_settings.cache_clear()
    assert result.exit_code == 1
    assert "stockpilot train order-risk" in result.output
