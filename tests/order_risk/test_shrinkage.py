"""Empirical-Bayes shrinkage of the miss rates, and rates that can only raise the risk."""

from __future__ import annotations

import numpy as np
import pytest

from features.order_risk_priors import MAX_STRENGTH, eb_strength
from models.order_risk_scorer import OrderRiskScorer
from training.order_risk import Prepared


def levels(rates: np.ndarray, lines: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``lines`` Bernoulli outcomes for each level of ``rates``: (keys, outcomes)."""
    rng = np.random.default_rng(seed)
    keys = np.repeat([f"L{k}" for k in range(len(rates))], lines).astype(object)
    return keys, (rng.random(len(keys)) < np.repeat(rates, lines)).astype(float)


def test_levels_that_differ_a_lot_keep_their_own_rate_and_alike_ones_are_pooled():
    spread = np.random.default_rng(1).choice([0.03, 0.32], 60)  # routes 3 % vs 32 % late
    keys, y = levels(spread, 200)
    strong = eb_strength(keys, y)
    # p(1 − p) / τ² with p ≈ 0.175, τ² ≈ 0.0210: about 7 lines of the parent's rate.
    assert 3 < strong < 15
    keys, y = levels(np.full(60, 0.1), 200, seed=2)  # no effect: noise only
    assert eb_strength(keys, y) > 200
    alike = np.random.default_rng(3).normal(0.1, 0.01, 60)  # a small effect
    keys, y = levels(alike, 2000, seed=4)
    assert 300 < eb_strength(keys, y) < 3000 or eb_strength(keys, y) == MAX_STRENGTH


def test_the_spread_is_measured_around_the_parent_rate():
    """Children that only repeat their parent's rate add nothing: pooled hard."""
    parents = np.repeat([0.03, 0.32], 30)
    keys, y = levels(parents, 200, seed=5)
    parent_rate = np.repeat(parents, 200)
    assert eb_strength(keys, y) < 15  # around the overall rate they differ a lot
    assert eb_strength(keys, y, parent_rate) > 200  # around their parent's, not at all


def test_lines_without_a_key_are_left_out():
    keys, y = levels(np.array([0.05, 0.4]), 300, seed=6)
    keys[::7] = None
    assert eb_strength(keys, y) < 15
    assert eb_strength(np.array([None, None], dtype=object), np.array([0.0, 1.0])) == MAX_STRENGTH


def test_the_fitted_feature_set_records_one_strength_per_identity(tiny_scorer: OrderRiskScorer):
    priors = tiny_scorer.features.priors_
    rates = [n for n in tiny_scorer.feature_names if n.startswith("miss_rate_")]
    assert {n[len("miss_rate_") :] for n in rates} <= set(priors.strengths)
    assert "customer" in priors.strengths
    assert all(2.0 <= k <= MAX_STRENGTH for k in priors.strengths.values())


@pytest.mark.parametrize("scale", [1.5, 3.0])
def test_a_higher_past_miss_rate_never_lowers_the_risk(
    tiny_scorer: OrderRiskScorer, prepared: Prepared, masks: dict[str, np.ndarray], scale: float
):
    """More past misses of the line's route, customer, supplier … (same lines seen)."""
    fields, state = prepared.take(masks["test"])
    keep = np.arange(len(fields["qty"])) < 1500
    fields = {k: v[keep] for k, v in fields.items()}
    state = {k: v[keep] for k, v in state.items()}
    base = tiny_scorer.explain_arrays(fields, state)
    worse = dict(state)
    for name in [n for n in state if n.startswith("ids_") and n.endswith("_m")] + ["cust_misses"]:
        n = state[name[: -len("_m")] + "_n"] if name.startswith("ids_") else state["cust_outcomes"]
        worse[name] = np.minimum(state[name] * scale + 1.0, n)
    riskier = tiny_scorer.explain_arrays(fields, worse)
    assert (riskier.probability >= base.probability - 1e-12).all()
    assert (riskier.probability > base.probability + 1e-6).any(), "the rates must matter"


def test_models_pickled_before_the_priors_moved_still_load():
    """A registered model's features pickle ``features.order_risk.Priors`` by that name."""
    import pickle

    from features.order_risk_priors import Priors

    now = pickle.dumps(Priors(miss=0.2), protocol=0)  # text: module and class by name
    assert b"features.order_risk_priors\n" in now
    old = now.replace(b"features.order_risk_priors\n", b"features.order_risk\n")
    assert pickle.loads(old) == Priors(miss=0.2)
