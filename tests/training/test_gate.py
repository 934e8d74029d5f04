"""The champion gate: the beats-baseline rule, and a losing model kept off ``champion``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import typer

from stockpilot import tracking
from stockpilot.settings import Settings
from training import gate
from training.cli import _print_evaluation


def test_a_model_must_win_by_the_required_margin_where_the_oracle_leaves_room() -> None:
    roomy = gate.verdict("order-risk", 0.805, {"tabular": 0.80, "rule": 0.6}, 0.86, 0.005)
    assert roomy["best_baseline"] == "tabular"
    assert roomy["margin"] == pytest.approx(0.005)
    assert roomy["room_above_baseline"] == pytest.approx(0.06)
    assert not roomy["beats_best_baseline"]  # needs +0.01 where the oracle allows it
    assert roomy["passed"]  # but the champion gate forgives 0.005

    tight = gate.verdict("order-risk", 0.797, {"tabular": 0.80}, 0.805, 0.005)
    assert tight["beats_best_baseline"]  # no room to win by 0.01: within tolerance is enough
    assert tight["gap_to_oracle"] == pytest.approx(0.008) and tight["near_oracle"]

    losing = gate.verdict("order-risk", 0.78, {"tabular": 0.80}, None, 0.005)
    assert not losing["beats_best_baseline"] and not losing["passed"]
    assert losing["oracle"] is None and losing["near_oracle"] is None


def test_wape_margins_are_relative_and_lower_is_better() -> None:
    out = gate.verdict(
        "demand", 0.90, {"seasonal_naive": 1.2, "auto_ets": 1.0, "broken": math.nan}, 0.85, 0.01
    )
    assert out["best_baseline"] == "auto_ets" and "broken" not in out["baselines"]
    assert out["margin"] == pytest.approx(0.10)
    assert out["room_above_baseline"] == pytest.approx(0.15)
    assert out["beats_best_baseline"] and out["passed"]
    assert out["gap_to_oracle"] == pytest.approx(0.05 / 0.90)
    worse = gate.verdict("demand", 1.02, {"auto_ets": 1.0}, None, 0.01)
    assert worse["margin"] == pytest.approx(-0.02) and not worse["passed"]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="model_name"):
        gate.verdict("churn", 0.5, {"a": 0.5}, None, 0.0)
    with pytest.raises(ValueError, match="no baseline"):
        gate.verdict("order-risk", 0.5, {"a": math.nan}, None, 0.0)


def test_tolerances_come_from_the_policy(tmp_path: Path) -> None:
    assert gate.tolerance_for("order-risk") == 0.005
    assert gate.tolerance_for("substitution") == 0.01
    assert gate.tolerance_for("demand") == 0.01
    from governance.policy import default_policy_text

    text = default_policy_text().replace("order_risk_auc: 0.005", "order_risk_auc: 0.02")
    (tmp_path / "policy.yaml").write_text(text)
    assert gate.tolerance_for("order-risk", tmp_path / "policy.yaml") == 0.02


@pytest.mark.slow
def test_a_model_that_loses_is_registered_without_champion_unless_forced(
    settings: Settings, small_data_dir: Path
) -> None:
    from training.order_risk import train

    # One shallow tree with a tiny learning rate: the baselines (a LightGBM on the raw
    # order columns, the rule) rank the test slice better, by more than the tolerance.
    crippled = {"n_estimators": 1, "num_leaves": 2, "max_depth": 1, "learning_rate": 0.01}
    evaluation = train(small_data_dir, alias="champion", params=crippled)
    verdict = evaluation["gate"]
    assert not verdict["passed"], verdict
    assert evaluation["registered"]["gate_refused"]
    assert evaluation["registered"]["alias"] is None
    assert not tracking.has_alias("order-risk", "champion")
    version = evaluation["registered"]["version"]
    tags = tracking.client().get_model_version("order-risk", version).tags
    assert tags["gate_passed"] == "false" and tags["best_baseline"] == verdict["best_baseline"]
    with pytest.raises(typer.Exit) as exit_:
        _print_evaluation(evaluation)
    assert exit_.value.exit_code == gate.EXIT_GATE_REFUSED

    forced = train(small_data_dir, alias="champion", params=crippled, force=True)
    assert not forced["registered"]["gate_refused"]
    champion = tracking.resolve("order-risk", "champion")
    assert champion.version == forced["registered"]["version"]
    assert champion.tags["gate_forced"] == "true"
