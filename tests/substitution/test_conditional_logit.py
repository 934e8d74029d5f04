"""The conditional logit baseline: statsmodels' likelihood, vectorised."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.discrete.conditional_models import ConditionalLogit as Reference

from models.conditional_logit import ConditionalLogit


def _choices(n_sets: int = 300, size: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_sets), size)
    X = rng.normal(size=(n_sets * size, 3))
    utility = X @ np.array([1.0, -0.5, 0.0]) + rng.gumbel(size=len(groups))
    chosen = np.zeros(len(groups))
    best = utility.reshape(n_sets, size).argmax(axis=1) + np.arange(n_sets) * size
    chosen[best] = 1.0
    return X, chosen, groups


def test_one_choice_per_set_matches_statsmodels():
    X, chosen, groups = _choices()
    ours = ConditionalLogit(alpha=0.0).fit(X, chosen, groups)
    reference = Reference(chosen, X, groups=groups).fit(disp=0)
    np.testing.assert_allclose(ours.coef_, reference.params, atol=1e-3)
    assert ours.converged_ and ours.coef_[0] > 0.5 and ours.coef_[1] < -0.2


def test_constants_within_a_set_cancel_and_sets_without_a_choice_are_ignored():
    X, chosen, groups = _choices(seed=1)
    base = ConditionalLogit().fit(X, chosen, groups)
    shifted = X.copy()
    shifted[:, 2] += np.repeat(np.arange(300.0), 5)  # a set-level constant on one column
    moved = ConditionalLogit().fit(shifted, chosen, groups)
    np.testing.assert_allclose(moved.coef_[:2], base.coef_[:2], atol=0.05)
    empty = np.r_[chosen, np.zeros(5)]
    padded = ConditionalLogit().fit(
        np.r_[X, np.ones((5, 3))], empty, np.r_[groups, np.full(5, 999)]
    )
    np.testing.assert_allclose(padded.coef_, base.coef_, rtol=1e-4, atol=1e-6)
    p = base.predict_proba(X, groups)
    np.testing.assert_allclose(np.bincount(groups, weights=p), 1.0)


def test_bad_input_names_the_problem():
    X, chosen, groups = _choices(20)
    with pytest.raises(ValueError, match="finite"):
        ConditionalLogit().fit(np.where(X > 1, np.nan, X), chosen, groups)
    with pytest.raises(ValueError, match="must agree"):
        ConditionalLogit().fit(X, chosen[:-1], groups)
    with pytest.raises(ValueError, match="alpha"):
        ConditionalLogit(alpha=-1).fit(X, chosen, groups)
    with pytest.raises(ValueError, match="3 columns"):
        ConditionalLogit().fit(X, chosen, groups).decision_function(X[:, :2])
