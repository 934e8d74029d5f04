"""Evaluation helpers on tiny hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from models.reliability import expected_calibration_error
from training import order_risk_eval as ev


def test_ece_is_the_weighted_gap_between_predicted_and_observed():
    p = np.array([0.05, 0.05, 0.95, 0.95])
    assert expected_calibration_error(np.array([0, 0, 1, 1]), p) == pytest.approx(0.05)
    assert expected_calibration_error(np.array([1, 1, 0, 0]), p) == pytest.approx(0.95)
    rng = np.random.default_rng(0)
    q = rng.uniform(size=200_000)
    assert expected_calibration_error((rng.uniform(size=q.size) < q).astype(float), q) < 0.01


def test_order_level_compares_both_aggregations():
    orders = np.array(["a", "a", "b", "c", "c"])
    y = np.array([0, 1, 0, 0, 0])
    p = np.array([0.2, 0.6, 0.1, 0.3, 0.3])
    out = ev.order_level(orders, y, p)
    assert out["n_orders"]["n"] == 3
    assert out["max"]["mean_score"] == pytest.approx((0.6 + 0.1 + 0.3) / 3)
    noisy = (1 - 0.8 * 0.4 + 0.1 + 1 - 0.7 * 0.7) / 3
    assert out["noisy_or"]["mean_score"] == pytest.approx(noisy)


def test_erosion_metrics():
    m = ev.erosion_metrics(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))
    assert m["precision"] == 0.5 and m["recall"] == 0.5
