"""Early stopping: ``n_estimators`` is a cap, the trees are chosen on the latest rows."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from models.order_risk import OrderRiskClassifier


def noisy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One weak signal among noise columns: 300 trees of 31 leaves overfit it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    p = 1 / (1 + np.exp(-(0.8 * X[:, 0] - 2.0)))
    return X, (rng.uniform(size=n) < p).astype(float)


def fitted(share: float, order: np.ndarray | None = None) -> OrderRiskClassifier:
    X, y = noisy(3000, 0)
    X_cal, y_cal = noisy(1000, 1)
    return OrderRiskClassifier(
        n_estimators=300,
        num_leaves=31,
        min_child_samples=5,
        early_stopping_share=share,
    ).fit(X, y, X_calib=X_cal, y_calib=y_cal, train_order=order)


def test_early_stopping_fits_fewer_trees_and_ranks_unseen_rows_better():
    stopped, fixed = fitted(0.2), fitted(0.0)
    assert fixed.n_rounds_ == 300 and fixed.booster_.num_trees() == 300
    assert 1 <= stopped.n_rounds_ < 100
    assert stopped.booster_.num_trees() == stopped.n_rounds_
    X_test, y_test = noisy(4000, 2)
    auc = {
        name: roc_auc_score(y_test, clf.decision_function(X_test))
        for name, clf in (("stopped", stopped), ("fixed", fixed))
    }
    assert auc["stopped"] > auc["fixed"] + 0.01, auc


def test_the_held_out_rows_are_the_latest_by_train_order():
    """Reversing the training rows' times holds out the other end: another stop point."""
    n = 3000
    forward, backward = fitted(0.2, np.arange(n)), fitted(0.2, np.arange(n)[::-1])
    assert forward.n_rounds_ == fitted(0.2).n_rounds_  # no order = rows in time order
    assert backward.n_rounds_ != forward.n_rounds_


def test_a_held_out_part_with_one_class_keeps_the_cap():
    X, y = noisy(2000, 0)
    y[-300:] = 0.0  # the latest 15 % hold no miss: nothing to stop on
    clf = OrderRiskClassifier(n_estimators=40, early_stopping_share=0.15).fit(
        X, y, X_calib=X[:500], y_calib=y[:500]
    )
    assert clf.n_rounds_ == 40
