"""The table TreeSHAP explainer equals shap.TreeExplainer and adds up to the margin."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
import shap

from models.order_risk_scorer import OrderRiskScorer
from models.treeshap import MISSING_NAN, MISSING_NONE, MISSING_ZERO, compile_booster
from training.order_risk import Prepared

TOL = 1e-6


def synthetic(seed: int = 0, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Missing values, exact zeros and interactions, so every split rule is exercised."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    X[rng.random((n, 8)) < 0.1] = np.nan
    X[:, 5] = rng.normal(size=n)  # no missing values in training: missing_type "None"
    X[:, 3] = np.round(X[:, 3])  # many exact zeros
    logit = np.nan_to_num(X[:, 0]) * np.nan_to_num(X[:, 1]) + np.nan_to_num(X[:, 2]) - X[:, 3] ** 2
    y = (rng.random(n) < 1 / (1 + np.exp(-np.nan_to_num(logit)))).astype(float)
    return X, y


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_equals_shap_tree_explainer_and_lightgbm(zero_as_missing: bool):
    X, y = synthetic()
    params = {
        "objective": "binary",
        "num_leaves": 15,
        "max_depth": 6,
        "min_child_samples": 5,
        "zero_as_missing": zero_as_missing,
        "num_threads": 1,
        "verbose": -1,
    }
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=25)
    tables = compile_booster(booster)
    missing_types = {MISSING_ZERO} if zero_as_missing else {MISSING_NONE, MISSING_NAN}
    assert set(tables.node_missing.tolist()) == missing_types
    X = X[:400].copy()
    X[::7, 5] = np.nan  # unseen in training: LightGBM reads it as 0
    phi, margin = tables.shap_values(X)
    reference = shap.TreeExplainer(booster)
    expected = np.asarray(reference.shap_values(X))
    raw = booster.predict(X, raw_score=True)
    assert np.abs(phi - expected).max() <= TOL
    assert abs(tables.expected_value - float(np.ravel(reference.expected_value)[0])) <= TOL
    assert np.abs(margin - raw).max() <= TOL
    assert np.abs(phi.sum(axis=1) + tables.expected_value - raw).max() <= TOL
    assert np.abs(tables.margin(X) - raw).max() <= TOL


def test_parallel_batch_equals_serial():
    X, y = synthetic(1, 2000)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1},
        lgb.Dataset(X, y),
        num_boost_round=10,
    )
    tables = compile_booster(booster)
    serial, m1 = tables.shap_values(X)
    parallel, m2 = tables.shap_values(X, parallel=True)
    assert np.array_equal(serial, parallel) and np.array_equal(m1, m2)


def test_order_risk_model_explanations_are_exact(
    tiny_scorer: OrderRiskScorer, prepared: Prepared, masks: dict[str, np.ndarray]
):
    scores = tiny_scorer.explain_arrays(*prepared.take(masks["test"]))
    booster = tiny_scorer.classifier.booster_
    expected = np.asarray(shap.TreeExplainer(booster).shap_values(scores.features))
    raw = booster.predict(scores.features, raw_score=True)
    assert np.abs(scores.contributions - expected).max() <= TOL
    additivity = scores.contributions.sum(axis=1) + tiny_scorer.expected_value - raw
    assert np.abs(additivity).max() <= TOL
    # Families partition the features: their sums are the same additive explanation.
    assert np.allclose(scores.families.sum(axis=1), scores.contributions.sum(axis=1))
    # The calibrated probability is the Platt map of that margin.
    clf = tiny_scorer.classifier
    z = clf.calibration_slope_ * raw + clf.calibration_intercept_
    assert np.allclose(scores.probability, 1 / (1 + np.exp(-z)))


def test_categorical_splits_are_refused():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(500, 2)).astype(float)
    y = (X[:, 0] == 3).astype(float)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_per_group": 1, "num_threads": 1},
        lgb.Dataset(X, y, categorical_feature=[0]),
        num_boost_round=3,
    )
    with pytest.raises(ValueError, match="numerical splits"):
        compile_booster(booster)


def test_wrong_width_is_refused(tiny_scorer: OrderRiskScorer):
    with pytest.raises(ValueError, match="shape"):
        tiny_scorer.classifier.trees_.shap_values(np.zeros((2, 3)))
