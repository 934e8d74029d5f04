"""End to end on a real MLflow SQLite store: train → register → plain pyfunc → batch score."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from stockpilot import tracking
from stockpilot.cli import app
from stockpilot.data import load_dataset
from stockpilot.settings import Settings

runner = CliRunner()


@pytest.mark.slow
def test_train_register_load_with_plain_mlflow_then_score(
    settings: Settings, small_data_dir: Path, tmp_path: Path
):
    report = tmp_path / "evaluation.json"
    trained = runner.invoke(
        app,
        ["train", "order-risk", "--data", str(small_data_dir), "--report", str(report)],
    )
    assert trained.exit_code == 0, trained.output
    evaluation = json.loads(report.read_text())
    assert evaluation["model"] == "order-risk"
    assert {"auc", "pr_auc", "brier", "ece", "base_rate", "n"} <= set(evaluation["test"])
    assert set(evaluation["baselines"]) == {"tabular", "logistic", "rule"}
    assert set(evaluation["gate"]["baselines"]) == {"tabular", "logistic", "rule"}
    calibration = evaluation["calibration"]
    assert calibration["method"] in {"platt", "shift"} and calibration["slope"] > 0
    assert calibration["fallback"] == (calibration["reason"] is not None)
    assert {"auc", "brier"} <= set(evaluation["oracle"])
    assert {"precision", "recall"} <= set(evaluation["margin_erosion"])
    assert evaluation["explain"]["additivity_max_err"] <= 1e-6
    assert 0.5 < evaluation["test"]["auc"] <= 1 and evaluation["test"]["n"] > 1000

    version = tracking.resolve("order-risk", "champion")
    assert {"dataset_fingerprint", "feature_set_version", "code_version"} <= set(version.tags)
    run_eval = tracking.run_artifact(version.run_id, "evaluation.json")
    assert run_eval["test"]["auc"] == pytest.approx(evaluation["test"]["auc"])

    mlflow.set_tracking_uri(settings.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/order-risk@champion")
    lines = load_dataset(small_data_dir).orders.tail(40).reset_index(drop=True)
    p = np.asarray(model.predict(lines))
    assert p.shape == (40,) and ((p >= 0) & (p <= 1)).all() and len(np.unique(p)) > 5
    # A raw export as read (integer quantities, text dates) is coerced like the contract does.
    raw = pd.read_parquet(small_data_dir / "orders.parquet").tail(40).reset_index(drop=True)
    raw["qty"] = raw["qty"].astype("int64")
    raw["order_ts"] = raw["order_ts"].astype(str)
    raw["promised_date"] = raw["promised_date"].dt.strftime("%Y-%m-%d")
    assert np.allclose(np.asarray(model.predict(raw)), p)
    with pytest.raises(Exception, match="qty"):
        model.predict(raw.assign(qty=-1))

    inner = model.unwrap_python_model()
    order = lines[lines["order_id"] == lines["order_id"].iloc[-1]].to_dict("records")
    risk = inner.scorer.score_order(order, inner.state)
    assert risk.lines[0].probability == pytest.approx(p[lines.index[-len(order)]], abs=1e-12)

    out = tmp_path / "scores.parquet"
    scored = runner.invoke(
        app, ["score", "order-risk", "--data", str(small_data_dir), "--out", str(out)]
    )
    assert scored.exit_code == 0, scored.output
    frame = pd.read_parquet(out)
    ds = load_dataset(small_data_dir)
    keys = ds.fulfillments[["order_id", "line_no"]].astype({"line_no": int})
    open_lines = ds.orders.merge(keys, how="left", on=["order_id", "line_no"], indicator=True)
    assert len(frame) == int((open_lines["_merge"] == "left_only").sum()) > 0
    assert {"p_miss", "order_score", "top_family", "reasons", "margin_erosion"} <= set(
        frame.columns
    )
    assert frame["p_miss"].between(0, 1).all()
    assert (frame["order_score"] >= frame["p_miss"] - 1e-12).all()
