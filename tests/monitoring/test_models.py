"""`stockpilot monitor substitution|demand` end to end on a real MLflow store and
governance database: both models trained (once) on the early part of a small drift world
monitor the rest; the figures add up to the dataset's; alerts open model-monitoring items
once; bad input is one clear line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from stockpilot.cli import app
from stockpilot.settings import get_settings

runner = CliRunner()
UNTIL = "2024-05-01"


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, empty_mlflow_store: Path
) -> Iterator[dict[str, Path]]:
    """A small drift world; substitution and demand trained on it before UNTIL (into a
    copy of the empty MLflow store)."""
    from stockpilot.data import write_until
    from tests import quick_models
    from training.demand import train as demand_train
    from training.simulator import simulate, write

    root = tmp_path_factory.mktemp("monitor-models")
    data, early, home = root / "data", root / "early", root / "var"
    write(simulate("small", seed=3, regime="drift"), data)
    write_until(data, pd.Timestamp(UNTIL), early, keep_all=True)
    home.mkdir()
    shutil.copyfile(empty_mlflow_store, home / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STOCKPILOT_HOME", str(home))
        for name in ("STOCKPILOT_DATABASE_URL", "STOCKPILOT_MLFLOW_TRACKING_URI"):
            mp.delenv(name, raising=False)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("STOCKPILOT_TRAIN_THREADS", "1")
        mp.setenv("STOCKPILOT_LGBM_THREADS", "1")
        get_settings.cache_clear()
        trained = runner.invoke(app, ["train", "substitution", "--data", str(early), "--force"])
        assert trained.exit_code == 0, trained.output
        # The monitor reads the served forecasts, whatever their quality: a quick demand
        # model (tests/quick_models.py) through the same pipeline as `train demand`.
        demand_train(
            early,
            config=quick_models.demand(horizon=7, n_windows=2),
            show_progress=False,
            force=True,
        )
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        reports = {}
        for model in ("substitution", "demand"):
            result = runner.invoke(
                app, ["monitor", model, "--data", str(data), "--no-alerts", "--json"]
            )
            assert result.exit_code == 0, result.output
            reports[model] = json.loads(result.stdout)
        yield {"data": data, "home": home, "root": root, **reports}
        get_settings.cache_clear()


def test_substitution_weeks_count_every_offer_after_the_reference(world):
    from stockpilot.data import load_dataset

    report = world["substitution"]
    assert report["since"] == UNTIL
    assert report["reference"]["period"][1] == "2024-04-30"
    assert report["drift"]["feature_days"] > 50 * 10  # tested every day, seven days each
    subs = load_dataset(world["data"]).substitutions
    after = subs[pd.to_datetime(subs["ts"]) >= pd.Timestamp(UNTIL)]
    weeks = pd.DataFrame(report["substitution"]["weeks"])
    assert weeks["week"].is_monotonic_increasing
    assert weeks["offers"].sum() == len(after)
    assert weeks["labelled"].sum() == after["accepted"].notna().sum()
    rate = after["accepted"].astype(float).mean()
    pooled = (weeks["accept_rate"] * weeks["labelled"]).sum() / weeks["labelled"].sum()
    assert pooled == pytest.approx(rate)
    assert weeks["expected_accept_rate"].between(0.05, 0.95).all()
    assert weeks["expected_hit1"].between(0.2, 1.0).all()
    by_location = pd.DataFrame(report["substitution"]["segments"]["location_id"])
    assert by_location.groupby("week")["offers"].sum().to_dict() == dict(
        zip(weeks["week"], weeks["offers"], strict=True)
    )
    assert "category" in report["substitution"]["segments"]
    written = json.loads((world["home"] / "monitoring" / "substitution.json").read_text())
    assert written["substitution"]["weeks"] == report["substitution"]["weeks"]


def test_demand_weeks_hold_the_actuals_after_the_training_day(world):
    from features.demand import daily_demand
    from stockpilot.data import load_dataset

    report = world["demand"]
    block = report["demand"]
    assert block["trained_until"] == "2024-04-30" and report["since"] == UNTIL
    ds = load_dataset(world["data"])
    daily = daily_demand(ds.demand, ds.orders)
    after = daily[daily["date"] >= pd.Timestamp(UNTIL)]
    weeks = pd.DataFrame(block["weeks"])
    assert weeks["actual"].sum() == pytest.approx(after["qty"].sum())
    assert block["overall"]["actual"] == pytest.approx(after["qty"].sum())
    assert weeks["coverage80"].between(0, 1).all()
    assert set(pd.DataFrame(block["segments"]["segment"])["segment"]) <= {
        "fast",
        "slow",
        "intermittent",
    }
    by_segment = pd.DataFrame(block["segment_weeks"])
    assert by_segment["actual"].sum() == pytest.approx(weeks["actual"].sum())
    assert block["backtest"]["wape"] is not None


def test_demand_alerts_follow_the_policy_bands(world, tmp_path, monkeypatch):
    from governance.policy import default_policy_text

    report = world["demand"]
    weeks = pd.DataFrame(report["demand"]["weeks"])
    biased = weeks[weeks["bias"].abs() > 0.1]["week"].tolist()
    alerts = {a["feature"]: a for a in report["alerts"]}
    assert sorted(alerts.get("bias", {"days": []})["days"]) == sorted(biased)
    lenient = (
        default_policy_text()
        .replace("demand_bias_band: 0.1", "demand_bias_band: 5.0")
        .replace("demand_coverage_band: [0.7, 0.9]", "demand_coverage_band: [0.0, 1.0]")
        .replace("demand_wape_tolerance: 0.15", "demand_wape_tolerance: 100")
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(lenient)
    monkeypatch.setenv("STOCKPILOT_POLICY_FILE", str(policy))
    get_settings.cache_clear()
    result = runner.invoke(
        app, ["monitor", "demand", "--data", str(world["data"]), "--no-alerts", "--json"]
    )
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["alerts"] == []


def test_substitution_alerts_open_queue_items_once(world):
    first = runner.invoke(app, ["monitor", "substitution", "--data", str(world["data"]), "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["alerts"], "the drift world's first weeks after training are miscalibrated"
    assert {a["kind"] for a in report["alerts"]} <= {"drift", "calibration", "performance"}
    assert len(report["queue"]["opened"]) == len(report["alerts"])
    again = json.loads(
        runner.invoke(
            app, ["monitor", "substitution", "--data", str(world["data"]), "--json"]
        ).stdout
    )
    assert again["queue"]["opened"] == []
    assert len(again["queue"]["already_open"]) == len(report["alerts"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demand", "--since", "2024-04-01"], "was fitted on demand through 2024-04-30"),
        (["substitution", "--since", "2031-01-01"], "no offers from that day on"),
    ],
)
def test_bad_input_is_one_clear_line(world, args, message):
    result = runner.invoke(
        app, ["monitor", args[0], "--data", str(world["data"]), "--no-alerts", *args[1:]]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_home_joins_the_stores_served_substitutes(world):
    result = runner.invoke(
        app,
        ["monitor", "substitution", "--data", str(world["data"]), "--no-alerts", "--json",
         "--home", str(world["home"])],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    served = json.loads(result.stdout)["served"]
    assert served["store"] == str(world["home"])
    assert served == {**served, "recommendations": 0, "offers": 0, "weeks": []}
    refused = runner.invoke(
        app,
        ["monitor", "demand", "--data", str(world["data"]), "--home", str(world["home"])],
    )
    assert refused.exit_code == 1
    assert "demand forecasts are not stored as recommendations" in refused.output
    missing = runner.invoke(
        app, ["monitor", "substitution", "--data", str(world["data"]), "--home", "/no/such"]
    )
    assert missing.exit_code == 1 and "is not a directory" in missing.output


# --- the estimates on hand-made offers ------------------------------------------------


def _offers(p: np.ndarray, sets: np.ndarray, substitute: np.ndarray, y=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "set": sets,
            "p_accept": p,
            "substitute": substitute,
            "accepted": np.full(len(p), np.nan) if y is None else y,
            "week": "2024-W01",
        }
    )


def test_expected_hit1_of_one_offer_set():
    from training.monitor_substitution import expected_hit1

    frame = _offers(np.array([0.5, 0.2]), np.array([0, 0]), np.array([True, True]))
    estimate, events = expected_hit1(frame)
    assert events == pytest.approx(1 - 0.5 * 0.8)
    assert estimate == pytest.approx(0.5 / 0.6)
    # The original item itself on top: its acceptance is no switch, the top is no hit.
    frame = _offers(np.array([0.5, 0.2]), np.array([0, 0]), np.array([False, True]))
    estimate, events = expected_hit1(frame)
    assert events == pytest.approx(0.2) and estimate == 0.0


def test_cbpe_matches_realised_figures_when_the_scores_are_calibrated():
    from training.monitor_substitution import metrics

    rng = np.random.default_rng(0)
    sets = np.repeat(np.arange(4000), 3)
    p = rng.beta(2, 5, len(sets))
    y = (rng.random(len(sets)) < p).astype(float)
    calibrated = metrics(_offers(p, sets, np.ones(len(p), dtype=bool), y))
    assert calibrated["expected_accept_rate"] == pytest.approx(calibrated["accept_rate"], abs=0.01)
    assert calibrated["expected_hit1"] == pytest.approx(calibrated["hit1"], abs=0.03)
    assert calibrated["calibration_p"] > 0.01
    # A world where offers are accepted half as often as the model says: the test sees it.
    y_low = (rng.random(len(sets)) < p / 2).astype(float)
    shifted = metrics(_offers(p, sets, np.ones(len(p), dtype=bool), y_low))
    assert shifted["calibration_p"] < 1e-6 and shifted["calibration_gap"] < -0.1


def test_demand_checks_on_hand_made_weeks():
    from governance.policy import MonitoringPolicy
    from training.monitor_demand import alerts_of, summary

    frame = pd.DataFrame(
        {
            "unique_id": ["a", "a", "b", "b"],
            "date": pd.to_datetime(["2024-01-01", "2024-01-02"] * 2),
            "y": [10.0, 0.0, 5.0, 5.0],
            "mean": [8.0, 1.0, 5.0, 7.0],
            "pit80": [1.0, 1.0, 0.0, 1.0],
        }
    )
    figures = summary(frame)
    assert figures["wape"] == pytest.approx((2 + 1 + 0 + 2) / 20)
    assert figures["bias"] == pytest.approx((21 - 20) / 20)
    assert figures["coverage80"] == pytest.approx(0.75)
    weeks = pd.DataFrame(
        [
            {"week": "2024-W01", "wape": 0.30, "bias": 0.02, "coverage80": 0.80},
            {"week": "2024-W02", "wape": 0.50, "bias": -0.20, "coverage80": 0.60},
        ]
    )
    found = alerts_of(
        weeks, model="demand", version="1", backtest={"wape": 0.4}, rules=MonitoringPolicy()
    )
    assert {a["feature"]: a["days"] for a in found} == {
        "wape": ["2024-W02"],  # 0.5 > 0.4 × 1.15; 0.3 is not
        "bias": ["2024-W02"],
        "coverage80": ["2024-W02"],
    }


def test_the_terminal_summary_of_a_substitution_run_without_a_reference():
    from training.monitoring import summary

    week = {"week": "2024-W18", "offers": 107, "labelled": 107, "accept_rate": 0.364,
            "expected_accept_rate": 0.227, "hit1": 0.786, "expected_hit1": 0.526,
            "switch_occasions": 14, "ece": 0.158}  # fmt: skip
    report = {
        "model": "substitution", "model_version": "2", "days": 7, "lines": 107,
        "since": "2024-04-29", "reference": None, "drift": {"alarms": 0, "feature_days": 0},
        "substitution": {"training_hit1": 0.526, "weeks": [week]},
        "alerts": [{"kind": "calibration", "feature": "accept_rate", "days": ["2024-W18"]}],
    }  # fmt: skip
    text = summary(report)
    assert "no reference stored with this model version (retrain to get one)" in text
    assert "2024-W18     107       107  0.364   0.227     0.786  0.526" in text
    assert "alert calibration accept_rate: 1 week(s) from 2024-W18" in text
