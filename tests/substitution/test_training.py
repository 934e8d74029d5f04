"""train → MLflow run → registered `substitution` → plain pyfunc load, on a real store."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from features.inventory import InventoryPositions
from stockpilot import tracking
from stockpilot.cli import app
from training.cli import _print_evaluation

pytestmark = pytest.mark.slow


def test_cli_trains_registers_and_plain_pyfunc_returns_probabilities(
    settings, small_data_dir, small_dataset, tmp_path
):
    report = tmp_path / "evaluation.json"
    out = CliRunner().invoke(
        app,
        ["train", "substitution", "--data", str(small_data_dir), "--report", str(report)],
    )
    assert out.exit_code == 0, out.output
    evaluation = json.loads(report.read_text())
    assert evaluation["model"] == "substitution"
    blocks = [evaluation["test"], evaluation["oracle"], *evaluation["baselines"].values()]
    assert set(evaluation["baselines"]) == {
        "popularity",
        "habit",
        "conditional_logit",
        "attribute_similarity",
    }
    for block in blocks:
        assert set(block) >= {"ndcg@5", "hit@1_switch", "hit@3", "n_events"}
    assert 0 <= evaluation["calibration"]["ece"] <= 1

    tracking.configure(settings)
    version = tracking.resolve("substitution", "champion")
    assert version.version == evaluation["registered"]["version"]
    assert {"dataset_fingerprint", "feature_set_version", "code_version"} <= set(version.tags)
    logged = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/evaluation.json")
    assert logged["test"] == evaluation["test"]

    model = mlflow.pyfunc.load_model("models:/substitution@champion")
    inputs = model.metadata.get_input_schema()
    assert inputs.required_input_names() == [
        "customer_id",
        "original_item_id",
        "offered_item_id",
        "ts",
    ]
    subs = small_dataset.substitutions.tail(12)
    pairs = subs[["customer_id", "original_item_id", "offered_item_id", "ts"]]
    p = model.predict(pairs)["p_accept"].to_numpy()
    assert p.shape == (12,) and ((p > 0) & (p < 1)).all()
    assert not np.isin(p, [0.0, 1.0]).any()  # probabilities, not class labels
    with_context = model.predict(subs[[*pairs.columns, "location_id", "x_display"]])
    assert len(with_context) == 12

    recommender = model.unwrap_python_model().recommender
    inventory = InventoryPositions.from_inventory(small_dataset.inventory)
    line = small_dataset.orders.iloc[-1]
    result = recommender.recommend(
        str(line["customer_id"]),
        str(line["item_id"]),
        1.0,
        str(line["location_id"]),
        pd.Timestamp(line["promised_date"]),
        inventory=inventory,
    )
    assert result.substitutes and result.substitutes[0].reasons


def test_a_model_that_loses_to_its_best_baseline_is_not_made_champion(settings, small_data_dir):
    """The gate on hit@1_switch: a crippled model is registered without the alias, exit 3."""
    from training import gate
    from training.substitution import train

    # No split allowed: a constant score, the logged order. (One stump is no longer crippled:
    # its split on the customer choice margin alone beats the baselines.)
    crippled = {"min_data_in_leaf": 1_000_000, "min_sum_hessian_in_leaf": 1e9}
    report = small_data_dir.parent / "crippled.json"
    out = CliRunner().invoke(
        app,
        ["train", "substitution", "--data", str(small_data_dir), "--report", str(report)],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output  # the real model passes
    evaluation = train(
        small_data_dir, alias="champion", model_params=crippled, n_estimators=1, linear_base=False
    )
    verdict = evaluation["gate"]
    assert verdict["metric"] == "hit@1_switch" and not verdict["passed"], verdict
    assert verdict["model"] == evaluation["test"]["hit@1_switch"]
    best = verdict["best_baseline"]
    assert verdict["best_baseline_value"] == evaluation["baselines"][best]["hit@1_switch"]
    assert evaluation["registered"]["gate_refused"] and evaluation["registered"]["alias"] is None
    champion = tracking.resolve("substitution", "champion")
    assert champion.version != evaluation["registered"]["version"]  # the old one stays
    assert gate.refusal_message("substitution", verdict).startswith("substitution: not made")
    with pytest.raises(typer.Exit) as exit_:
        _print_evaluation(evaluation)
    assert exit_.value.exit_code == gate.EXIT_GATE_REFUSED
