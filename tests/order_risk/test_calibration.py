"""Monotone calibration: whatever the calibration slice says, the ranking never inverts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from models.calibration import fit_calibration
from models.order_risk import OrderRiskClassifier


def separable(n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two informative columns; the label follows them (base rate moved by ``shift``)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    p = 1 / (1 + np.exp(-(1.5 * X[:, 0] - X[:, 1] - 1.5 + shift)))
    return X, (rng.uniform(size=n) < p).astype(float)


def test_a_reversed_calibration_slice_cannot_invert_the_test_ranking():
    X, y = separable(4000, 0)
    X_cal, y_cal = separable(2000, 1)
    X_test, y_test = separable(2000, 2)
    reversed_ = OrderRiskClassifier(n_estimators=20, min_child_samples=20).fit(
        X, y, X_calib=X_cal, y_calib=1.0 - y_cal
    )
    cal = reversed_.calibration_
    assert cal.platt_slope < 0, "the reversed slice must ask for an inverting map"
    assert cal.fallback and cal.reason == "slope_not_positive"
    assert cal.method == "shift" and cal.slope == 1.0
    margin = reversed_.decision_function(X_test)
    p = reversed_.predict_proba(X_test)[:, 1]
    assert roc_auc_score(y_test, p) == pytest.approx(roc_auc_score(y_test, margin), abs=1e-12)
    assert roc_auc_score(y_test, p) > 0.75
    order = np.argsort(margin, kind="stable")
    assert (np.diff(p[order]) >= 0).all()


def test_an_agreeing_slice_keeps_platt_and_follows_a_drifted_base_rate():
    X, y = separable(4000, 0)
    X_cal, y_cal = separable(4000, 1, shift=0.8)  # later: more misses
    clf = OrderRiskClassifier(n_estimators=20, min_child_samples=20).fit(
        X, y, X_calib=X_cal, y_calib=y_cal
    )
    cal = clf.calibration_
    assert cal.method == "platt" and not cal.fallback and cal.slope > 0
    assert set(cal.held_out) == {"platt", "shift", "identity"}
    assert cal.held_out["platt"] <= cal.held_out["shift"]
    X_test, y_test = separable(4000, 2, shift=0.8)
    assert abs(clf.predict_proba(X_test)[:, 1].mean() - y_test.mean()) < 0.02


def test_platt_worse_than_the_shift_out_of_sample_falls_back():
    """An early half that asks for a steep map and a later half where the margin is noise."""
    rng = np.random.default_rng(3)
    margin = rng.normal(size=4000)
    y = np.where(
        np.arange(4000) < 2000,
        rng.uniform(size=4000) < 1 / (1 + np.exp(-4 * margin)),
        rng.uniform(size=4000) < 0.5,
    ).astype(float)
    cal = fit_calibration(margin, y)
    assert cal.platt_slope > 0
    assert cal.held_out["platt"] > cal.held_out["shift"]
    assert cal.fallback and cal.reason == "worse_log_loss" and cal.slope == 1.0
    # ``order`` sorts the rows by time: the same rows shuffled give the same verdict.
    perm = rng.permutation(4000)
    shuffled = fit_calibration(margin[perm], y[perm], order=np.arange(4000)[perm])
    assert shuffled.reason == cal.reason
    assert shuffled.held_out == pytest.approx(cal.held_out, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.booleans(), min_size=2, max_size=400),
    scale=st.floats(0.01, 20.0),
    seed=st.integers(0, 2**16),
)
def test_the_map_is_non_decreasing_for_any_calibration_labels(
    labels: list[bool], scale: float, seed: int
):
    y = np.array(labels, dtype=float)
    if len(np.unique(y)) < 2:
        y[0] = 1.0 - y[0]
    margin = np.random.default_rng(seed).normal(scale=scale, size=len(y))
    cal = fit_calibration(margin, y)
    assert cal.slope > 0
    grid = np.linspace(-30, 30, 201)
    assert (np.diff(cal.apply(grid)) >= 0).all()


def test_calibration_refuses_bad_slices():
    with pytest.raises(ValueError, match="both classes"):
        fit_calibration(np.zeros(10), np.ones(10))
    with pytest.raises(ValueError, match="one length"):
        fit_calibration(np.zeros(10), np.ones(9))
