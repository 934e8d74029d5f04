"""Realised and estimated performance: CBPE equals realised in expectation when the
scores are calibrated, and the fast formulas equal their definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models import performance


def _brute_expected_auc(p: np.ndarray) -> float:
    num = den = 0.0
    for i in range(len(p)):
        for j in range(len(p)):
            if i == j:
                continue
            w = p[i] * (1 - p[j])
            den += w
            num += w * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    return num / den


def test_expected_auc_equals_its_pairwise_definition_with_ties():
    rng = np.random.default_rng(3)
    p = np.round(rng.beta(1, 4, 120), 2)  # rounded: many ties
    assert abs(performance.expected_auc(p) - _brute_expected_auc(p)) < 1e-12


def test_cbpe_equals_realised_in_expectation_on_calibrated_scores():
    rng = np.random.default_rng(8)
    realised_auc, realised_brier, expected_auc, expected_brier = [], [], [], []
    for _ in range(300):
        p = rng.beta(1.2, 6.0, 800)
        y = (rng.random(800) < p).astype(float)  # calibrated by construction
        m = performance.metrics(p, y)
        realised_auc.append(m["auc"])
        realised_brier.append(m["brier"])
        expected_auc.append(m["expected_auc"])
        expected_brier.append(m["expected_brier"])
    assert abs(np.mean(realised_auc) - np.mean(expected_auc)) < 0.003
    assert abs(np.mean(realised_brier) - np.mean(expected_brier)) < 0.0005


def test_cbpe_is_wrong_when_calibration_breaks():
    """Concept drift: the same scores, outcomes twice as likely — the estimate cannot see it."""
    rng = np.random.default_rng(9)
    p = rng.beta(1.2, 6.0, 20000)
    y = (rng.random(len(p)) < np.minimum(1, 2 * p)).astype(float)
    m = performance.metrics(p, y)
    assert m["brier"] - m["expected_brier"] > 0.01
    assert m["ece"] > 0.05


def test_weighted_auc_equals_scikit_learn_with_sample_weights():
    rng = np.random.default_rng(4)
    y = (rng.random(500) < 0.3).astype(float)
    s = np.round(rng.random(500) + 0.3 * y, 2)
    w = rng.choice([1.0, 50.0], 500)  # e.g. audit-slice lines weighted by 1 / share
    assert abs(performance.weighted_auc(y, s, w) - roc_auc_score(y, s, sample_weight=w)) < 1e-12
    assert abs(performance.weighted_auc(y, s) - roc_auc_score(y, s)) < 1e-12


def test_table_groups_and_leaves_unlabelled_lines_to_the_estimate():
    frame = pd.DataFrame(
        {
            "week": ["2025-W01"] * 4 + ["2025-W02"] * 3,
            "p_miss": [0.1, 0.8, 0.3, 0.6, 0.2, 0.5, 0.9],
            "miss": [0, 1, 0, np.nan, np.nan, np.nan, np.nan],
        }
    )
    table = performance.table(frame, by=["week"])
    assert table["week"].tolist() == ["2025-W01", "2025-W02"]
    assert table["labelled"].tolist() == [3, 0]
    assert table.loc[0, "auc"] == 1.0
    assert np.isnan(table.loc[1, "auc"]) and not np.isnan(table.loc[1, "expected_auc"])


def test_the_audit_slice_is_a_deterministic_random_share_of_orders():
    from governance.routing import in_audit_slice

    ids = [f"SO-{k}" for k in range(20000)]
    tagged = [in_audit_slice(i, 0.02) for i in ids]
    assert abs(np.mean(tagged) - 0.02) < 0.004  # binomial sd ≈ 0.001
    assert tagged == [in_audit_slice(i, 0.02) for i in ids]  # a retry tags the same orders
    assert not any(in_audit_slice(i, 0.0) for i in ids[:100])
    assert all(in_audit_slice(i, 1.0) for i in ids[:100])
    # weighted by 1 / share, the slice estimates the released orders' miss rate unbiasedly
    rng = np.random.default_rng(2)
    miss = rng.random(len(ids)) < 0.1
    slice_rate = miss[np.array(tagged)].mean()
    assert abs(slice_rate - miss.mean()) < 0.03


def test_served_ece_weighs_each_line_like_auc_and_brier():
    """Two bins. Reviewed lines weigh 1, audit-slice lines 1 / share = 4, other auto-released
    lines 0 (the 0.35 line would fill a third bin if its weight were ignored)."""
    p = np.array([0.1, 0.1, 0.8, 0.8, 0.35])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    w = np.array([1.0, 4.0, 1.0, 4.0, 0.0])
    m = performance.metrics(p, y, w)
    # bin 0.1: observed (0·1 + 1·4) / 5 = 0.8, |0.1 − 0.8| = 0.7, weight 5 of 10;
    # bin 0.8: observed (1·1 + 0·4) / 5 = 0.2, |0.8 − 0.2| = 0.6, weight 5 of 10.
    assert m["ece"] == pytest.approx(0.5 * 0.7 + 0.5 * 0.6)
    # Unweighted, the same five lines: bins 0.1 and 0.8 observe 0.5, bin 0.35 observes 1.
    assert performance.metrics(p, y)["ece"] == pytest.approx((2 * 0.4 + 2 * 0.3 + 0.65) / 5)


def test_the_weighted_reliability_table_refuses_what_it_cannot_weigh():
    from models.reliability import reliability

    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0"):
        reliability(np.array([0.0, 1.0]), np.array([0.2, 0.4]), sample_weight=np.array([1, -1]))
    with pytest.raises(ValueError, match="differ in length"):
        reliability(np.array([0.0, 1.0]), np.array([0.2, 0.4]), sample_weight=np.array([1.0]))
    with pytest.raises(ValueError, match="y_true must hold 0/1"):
        reliability(np.array([0.0, 2.0]), np.array([0.2, 0.4]))
