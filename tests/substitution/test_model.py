"""Acceptance model conventions, calibration and the evaluation metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.reliability import expected_calibration_error
from models.substitution import AcceptanceModel
from stockpilot.errors import InvalidInput
from training.substitution_eval import ranking_metrics


def _logistic_data(
    n: int, seed: int, shift: float = 0.0
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "noise": rng.normal(size=n)}
    )
    p = 1 / (1 + np.exp(-(-0.8 + 1.5 * X["a"] - X["b"] + shift)))
    return X, (rng.random(n) < p).astype(bool), p.to_numpy()


@pytest.fixture(scope="module")
def fitted() -> AcceptanceModel:
    X, y, _ = _logistic_data(6000, 0)
    Xv, yv, _ = _logistic_data(2000, 1)
    return AcceptanceModel(n_estimators=200, early_stopping_rounds=20).fit(
        X, y, X_valid=Xv, y_valid=yv
    )


def test_probabilities_are_calibrated_on_fresh_data(fitted):
    X, y, p_true = _logistic_data(20000, 2)
    p = fitted.predict_proba(X)[:, 1]
    assert expected_calibration_error(y, p) < 0.02
    assert np.corrcoef(p, p_true)[0, 1] > 0.95


def test_calibration_corrects_a_shift_between_training_and_recent_data():
    """Fitted on a period with lower acceptance, calibrated on the recent period."""
    X, y, _ = _logistic_data(6000, 0, shift=-1.0)
    Xv, yv, _ = _logistic_data(3000, 1, shift=0.0)
    model = AcceptanceModel(n_estimators=200, early_stopping_rounds=20).fit(
        X, y, X_valid=Xv, y_valid=yv
    )
    Xt, yt, _ = _logistic_data(20000, 3, shift=0.0)
    raw = 1 / (1 + np.exp(-model.decision_function(Xt)))
    calibrated = model.predict_proba(Xt)[:, 1]
    assert expected_calibration_error(yt, calibrated) < 0.03
    assert expected_calibration_error(yt, raw) > 0.1
    # Sigmoid calibration is strictly increasing: it never reorders candidates.
    assert (np.argsort(raw, kind="stable") == np.argsort(calibrated, kind="stable")).all()


def test_contributions_sum_to_the_margin(fitted):
    X, _, _ = _logistic_data(50, 4)
    contrib = fitted.contributions(X)
    assert contrib.shape == (50, 4)
    np.testing.assert_allclose(contrib.sum(axis=1), fitted.decision_function(X), atol=1e-6)
    assert fitted.feature_importance().index[0] in {"a", "b"}


def test_columns_are_checked_at_predict_time(fitted):
    X, _, _ = _logistic_data(5, 5)
    with pytest.raises(ValueError, match="columns"):
        fitted.predict_proba(X[["b", "a", "noise"]])
    with pytest.raises(ValueError, match="columns"):
        fitted.predict_proba(X.to_numpy()[:, :2])


def test_fit_validates_its_arguments():
    X, y, _ = _logistic_data(200, 6)
    with pytest.raises(ValueError, match="n_estimators"):
        AcceptanceModel(n_estimators=0).fit(X, y, X_valid=X, y_valid=y)
    with pytest.raises(InvalidInput, match=r"accepted and rejected.*0 of the 200 training"):
        AcceptanceModel().fit(X, np.zeros(200, bool), X_valid=X, y_valid=y)
    with pytest.raises(ValueError, match="categorical_features"):
        AcceptanceModel().fit(X, y, X_valid=X, y_valid=y, categorical_features=["zz"])


def test_ranking_metrics_by_hand():
    groups = np.array([0, 0, 0, 1, 1, 2, 2])
    accepted = np.array([0, 1, 0, 1, 0, 0, 0])  # set 2 has no acceptance: left out
    score = np.array([0.9, 0.5, 0.1, 0.8, 0.2, 0.5, 0.4])
    m = ranking_metrics(groups, accepted, score)
    assert m["n_events"] == 2
    assert m["ndcg@5"] == pytest.approx((1 / np.log2(3) + 1.0) / 2)
    assert m["hit@1_switch"] == pytest.approx(0.5) and m["hit@3"] == pytest.approx(1.0)


def test_ece_by_hand():
    p = np.array([0.05, 0.05, 0.95, 0.95])
    assert expected_calibration_error(np.array([0, 0, 1, 1]), p) == pytest.approx(0.05)
    assert expected_calibration_error(np.array([1, 1, 0, 0]), p) == pytest.approx(0.95)


def test_a_model_whose_score_falls_with_acceptance_is_refused_as_learning_nothing():
    """Tiny offer histories can teach the opposite of what the next period shows; the
    refusal is a user error naming the offers (it was a bare ValueError, a traceback)."""
    X, y, _ = _logistic_data(400, 3)
    Xv, yv, _ = _logistic_data(200, 4)
    with pytest.raises(InvalidInput, match="learned nothing from 400 training offers"):
        AcceptanceModel(n_estimators=20).fit(X, y, X_valid=Xv, y_valid=~yv)
