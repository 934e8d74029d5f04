"""Train → register → plain pyfunc load, and the replenish CLI, on the small simulated data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from stockpilot.cli import app
from stockpilot.settings import Settings
from training.demand import TrainConfig, train
from training.demand.backtest import BacktestConfig

QUICK = TrainConfig(
    backtest=BacktestConfig(horizon=14, n_windows=3, refresh_days=14),
    model={"n_estimators": 40, "learning_rate": 0.15, "min_child_samples": 20},
)


@pytest.mark.slow
def test_train_registers_a_model_that_plain_pyfunc_loads(
    settings: Settings, small_data_dir: Path, tmp_path: Path
) -> None:
    import mlflow

    report = tmp_path / "evaluation.json"
    one_thread = settings.model_copy(update={"train_threads": 1})  # tiny data: no thread overhead
    evaluation = train(
        small_data_dir, report=report, alias="champion", config=QUICK, settings=one_thread
    )

    saved = json.loads(report.read_text())
    assert saved["model"] == "demand"
    backtest = saved["backtest"]
    for key in ("wape", "mase", "bias", "coverage80"):
        assert isinstance(backtest[key], float)
    assert backtest["n_windows"] == 3
    assert set(backtest["by_segment"]) <= {"fast", "slow", "intermittent"}
    assert set(saved["baselines"]) == {
        "seasonal_naive",
        "auto_ets",
        "intermittent",
        "croston_optimized",
        "plain_lightgbm",
    }
    # The gate weighs the model against every baseline of the report, on the same rows.
    verdict = saved["gate"]
    assert verdict["metric"] == "wape" and verdict["model"] == backtest["wape"]
    assert verdict["baselines"] == {k: b["wape"] for k, b in saved["baselines"].items()}
    assert verdict["best_baseline_value"] == min(verdict["baselines"].values())
    assert isinstance(verdict["beats_best_baseline"], bool)
    assert verdict["passed"] == (verdict["margin"] >= -verdict["tolerance"])
    assert len(backtest["windows"]) == 3
    # The served mean combines LightGBM and AutoETS with weights in [0, 1] from earlier
    # windows; the report keeps what the LightGBM alone would have scored.
    combination = backtest["combination"]
    assert len(combination["lightgbm_weight_by_window"]) == 3
    served = combination["served"]
    assert all(0.0 <= w <= 1.0 for w in [served["default"], *served["lightgbm_weight"].values()])
    assert combination["lightgbm_alone_wape"] > 0
    assert saved["oracle"]["wape"] > 0  # small data is simulated: truth is there
    assert saved["level_shift"]["n_shifts"] >= 0
    rep = saved["replenishment"]
    assert 0 < rep["fill_rate"] <= 1 and rep["avg_inventory"] > 0
    assert 0 < rep["baseline"]["fill_rate"] <= 1
    levels = {(p["policy"], p["service_level"]) for p in rep["trade_off"]}
    assert ("ours", 0.95) in levels and ("baseline", 0.95) in levels
    assert "matched_fill" in rep
    assert evaluation["registered"]["version"] == "1"

    mlflow.set_tracking_uri(settings.tracking_uri)
    version = mlflow.MlflowClient().get_model_version_by_alias("demand", "champion")
    assert {"dataset_fingerprint", "feature_set", "code_version"} <= set(version.tags)

    model = mlflow.pyfunc.load_model("models:/demand@champion")
    assert model.metadata.signature is not None
    pairs = pd.read_parquet(small_data_dir / "demand.parquet", columns=["item_id", "location_id"])
    request = pairs.astype(str).drop_duplicates().head(2).assign(horizon=[1, 14])
    out = model.predict(request)
    assert len(out) == 2
    assert {"forecast", "lo_80", "hi_80", "cum_forecast", "cum_variance"} <= set(out.columns)
    assert (out["forecast"] >= 0).all() and (out["lo_80"] <= out["hi_80"]).all()
    assert out["item_id"].tolist() == request["item_id"].tolist()

    # The replenish command uses the registered champion and writes the suggestions.
    target = tmp_path / "suggestions.csv"
    result = CliRunner().invoke(
        app, ["replenish", "--data", str(small_data_dir), "--out", str(target)]
    )
    assert result.exit_code == 0, result.output
    suggestions = pd.read_csv(target)
    assert len(suggestions) > 0
    assert suggestions["reason"].str.contains("reorder point").all()
    assert (suggestions["suggested_qty"] > 0).all()


@pytest.mark.slow
def test_train_and_backtest_on_the_minimal_sparse_export(
    settings: Settings, tmp_path: Path
) -> None:
    """Issue 14: CSV, no demand table (from orders), no purchase orders, constant stock."""
    from training.simulator import simulate, write

    data = tmp_path / "sparse"
    write(simulate("small", seed=7, regime="sparse"), data)
    assert not any(data.glob("demand.*")) and not any(data.glob("purchase_orders.*"))
    assert any(data.glob("orders.csv"))
    one_thread = settings.model_copy(update={"train_threads": 1})
    evaluation = train(data, alias=None, config=QUICK, settings=one_thread)
    assert evaluation["data"]["demand_source"] == "orders"
    assert evaluation["data"]["exogenous"] == []  # order-line x_* are not known-future
    assert 0 < evaluation["replenishment"]["fill_rate"] <= 1
    assert "plain_lightgbm" in evaluation["gate"]["baselines"]
    assert evaluation["registered"]["alias"] is None

    args = ["backtest", "demand", "--data", str(data), "--horizon", "14", "--windows", "4"]
    result = CliRunner().invoke(app, [*args, "--step", "14"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for label in ("LightGBM (ours)", "SeasonalNaive", "AutoETS", "plain LightGBM"):
        # One row per scored window and one overall, each with WAPE, MASE and bias.
        rows = [line for line in lines if label in line]
        assert len(rows) == 5, (label, rows)
        assert all(len(re.findall(r"-?\d+\.\d{3}", row)) == 3 for row in rows), rows
    assert len([line for line in lines if "oracle" in line]) == 5
