"""The acceptance model's linear base: segment slopes, exact contributions, when it is used."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import models.substitution as acceptance
from models.substitution import AcceptanceModel
from models.substitution_linear import LinearBase


def _segment_data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Acceptance falls with price in segment 0 and rises with it in segment 1; ``size``
    matters in either direction (|size|); ``grade`` is missing for a fifth of the rows."""
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, 2, n).astype(float)
    price = rng.normal(size=n)
    size = rng.normal(size=n)
    grade = np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n))
    slope = np.where(segment == 0, -2.0, 2.0)
    u = -0.3 + slope * price - 1.2 * np.abs(size) + 0.8 * np.nan_to_num(grade)
    y = rng.random(n) < 1 / (1 + np.exp(-u))
    X = pd.DataFrame({"price": price, "size": size, "grade": grade, "segment": segment})
    return X, y


def test_the_linear_base_learns_each_segments_own_slope():
    X, y = _segment_data(6000, 0)
    base = LinearBase().fit(X.to_numpy(), y, list(X.columns), ["segment"])
    Xt, _ = _segment_data(4000, 1)
    score = base.decision_function(Xt.to_numpy())
    for segment, sign in ((0.0, -1.0), (1.0, 1.0)):
        rows = (Xt["segment"] == segment).to_numpy()
        corr = np.corrcoef(score[rows], Xt.loc[rows, "price"])[0, 1]
        assert sign * corr > 0.5, (segment, corr)  # a pooled slope would be ~0 in both


def test_linear_contributions_are_exact_and_belong_to_their_features():
    X, y = _segment_data(3000, 2)
    base = LinearBase().fit(X.to_numpy(), y, list(X.columns), ["segment"])
    Xt, _ = _segment_data(500, 3)
    A = Xt.to_numpy()
    contrib = base.contributions(A)
    assert contrib.shape == (500, 5)
    np.testing.assert_allclose(contrib.sum(axis=1), base.decision_function(A), atol=1e-10)
    # Changing one feature moves only its own contribution and the segment's (interaction).
    B = A.copy()
    B[:, 2] = np.where(np.isnan(B[:, 2]), 1.0, B[:, 2] + 1.0)  # grade
    delta = base.contributions(B) - contrib
    np.testing.assert_allclose(delta[:, [0, 1, 4]], 0.0, atol=1e-12)
    assert np.abs(delta[:, 2]).max() > 0
    # The segment × grade terms are shared half and half by the two features.
    shared = (base.owners_[:, 0] == 3) & (base.owners_[:, 1] == 2)
    assert shared.any()
    moved = (base._design(B) - base._design(A))[:, shared] @ base.coef_[shared]
    assert np.abs(moved).max() > 0
    np.testing.assert_allclose(delta[:, 3], 0.5 * moved, atol=1e-10)
    np.testing.assert_allclose(
        delta[:, 2] + delta[:, 3],
        base.decision_function(B) - base.decision_function(A),
        atol=1e-10,
    )


def test_the_model_margin_is_linear_plus_trees_and_shap_stays_exact():
    X, y = _segment_data(6000, 4)
    Xv, yv = _segment_data(2000, 5)
    model = AcceptanceModel(n_estimators=60, early_stopping_rounds=20, linear_base=True).fit(
        X, y, X_valid=Xv, y_valid=yv, categorical_features=["segment"]
    )
    assert model.linear_ is not None
    Xt, yt = _segment_data(1000, 6)
    margin = model.decision_function(Xt)
    trees = model.booster_.predict(Xt.to_numpy(), raw_score=True)
    np.testing.assert_allclose(margin, trees + model.linear_.decision_function(Xt.to_numpy()))
    contrib = model.contributions(Xt)
    np.testing.assert_allclose(contrib.sum(axis=1), margin, atol=1e-9)
    # Out of sample it beats the trees alone fitted on the same 6 000 offers (log loss).
    alone = AcceptanceModel(n_estimators=60, early_stopping_rounds=20, linear_base=False).fit(
        X, y, X_valid=Xv, y_valid=yv, categorical_features=["segment"]
    )
    assert alone.linear_ is None

    def log_loss(m: AcceptanceModel) -> float:
        p = np.clip(m.predict_proba(Xt)[:, 1], 1e-9, 1 - 1e-9)
        return float(-np.mean(yt * np.log(p) + (1 - yt) * np.log(1 - p)))

    assert log_loss(model) < log_loss(alone)
    # A model pickled before the linear base (no ``linear_``) is served by its trees.
    old = pickle.loads(pickle.dumps(alone))
    del old.linear_
    np.testing.assert_allclose(old.decision_function(Xt), alone.decision_function(Xt))


def test_auto_uses_the_linear_base_only_with_few_training_offers(monkeypatch):
    X, y = _segment_data(3000, 7)
    Xv, yv = _segment_data(1000, 8)
    kw = {"X_valid": Xv, "y_valid": yv, "categorical_features": ["segment"]}
    few = AcceptanceModel(n_estimators=20, early_stopping_rounds=10).fit(X, y, **kw)
    assert few.linear_ is not None  # 3 000 < LINEAR_BASE_MAX_OFFERS
    monkeypatch.setattr(acceptance, "LINEAR_BASE_MAX_OFFERS", 2000)
    many = AcceptanceModel(n_estimators=20, early_stopping_rounds=10).fit(X, y, **kw)
    assert many.linear_ is None
    with pytest.raises(ValueError, match="linear_base"):
        AcceptanceModel(linear_base="sometimes").fit(X, y, **kw)
