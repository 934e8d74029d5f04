"""Monotone calibration of a classifier's margin: a map that can never reorder scores.

The map is ``p = σ(slope · margin + intercept)`` with ``slope > 0``, fitted on a slice
of data *later* than the one the trees learned from, so that the probability follows
drift in the base rate. A positive slope keeps the ranking (and the monotone
constraints of the trees) and keeps SHAP exact: ``slope · contribution`` is each
feature's share of the calibrated log-odds.

The later slice can disagree with the training fit: on real exports the relation
between margin and outcome weakens, and an unconstrained Platt fit then gets a
negative slope and inverts the ranking. :func:`fit_calibration` therefore fits Platt
scaling and a safe map — the margin shifted by one intercept, slope 1 (the trees'
own scale, only the base rate moves) — and falls back to the safe map when

- the Platt slope is not positive (``slope_not_positive``), or
- Platt does worse than the safe map out of sample (``worse_log_loss``): both are
  fitted on the earlier part of the calibration slice and scored by log loss on its
  later part, the way the map is used (fitted earlier, applied later).

The result says which map was chosen and why (``evaluation.json`` → ``calibration``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import expit

HOLDOUT_SHARE = 0.5  # later share of the calibration slice that scores the two maps
MIN_HOLDOUT = 200  # fewer rows than this on either side: no out-of-sample check


@dataclass(frozen=True)
class Calibration:
    """The chosen map and the evidence for it."""

    method: str  # "platt" or "shift"
    slope: float
    intercept: float
    fallback: bool
    reason: str | None  # why the safe map was chosen; None when Platt was kept
    platt_slope: float
    platt_intercept: float
    held_out: dict[str, float] | None  # log loss on the later part: platt, shift, identity

    def apply(self, margin: np.ndarray) -> np.ndarray:
        return expit(self.slope * np.asarray(margin, dtype=float) + self.intercept)

    def report(self) -> dict[str, Any]:
        return asdict(self)


def _log_loss(y: np.ndarray, z: np.ndarray) -> float:
    """Mean log loss of log-odds ``z`` (stable for large |z|)."""
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=1e6, max_iter=1000).fit(margin[:, None], y)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def _shift(margin: np.ndarray, y: np.ndarray) -> float:
    """Maximum-likelihood intercept of ``σ(margin + b)`` (Newton steps; concave in b)."""
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    b = math.log(rate / (1 - rate)) - float(np.mean(margin))
    for _ in range(50):
        p = expit(margin + b)
        step = float(np.sum(y - p) / max(np.sum(p * (1 - p)), 1e-12))
        b += step
        if abs(step) < 1e-10:
            break
    return b


def fit_calibration(
    margin: np.ndarray, y: np.ndarray, order: np.ndarray | None = None
) -> Calibration:
    """Choose and fit the monotone map on a calibration slice (see the module doc).

    ``order`` (e.g. order times) sorts the slice in time for the out-of-sample check;
    without it the rows are taken to be in time order already.
    """
    margin = np.asarray(margin, dtype=float)
    y = np.asarray(y, dtype=float)
    if margin.ndim != 1 or len(margin) != len(y):
        raise ValueError(f"margin and y must be 1-d of one length, got {margin.shape}, {y.shape}")
    if len(np.unique(y)) < 2:
        raise ValueError("the calibration slice needs both classes")
    slope, intercept = _platt(margin, y)
    shift = _shift(margin, y)
    held_out = _held_out(margin, y, order)
    reason = None
    if not slope > 0:
        reason = "slope_not_positive"
    elif held_out is not None and held_out["platt"] > held_out["shift"]:
        reason = "worse_log_loss"
    if reason is None:
        return Calibration("platt", slope, intercept, False, None, slope, intercept, held_out)
    return Calibration("shift", 1.0, shift, True, reason, slope, intercept, held_out)


def _held_out(
    margin: np.ndarray, y: np.ndarray, order: np.ndarray | None
) -> dict[str, float] | None:
    """Log loss on the later part of the slice of each map fitted on its earlier part."""
    ranks = np.arange(len(y)) if order is None else np.argsort(np.argsort(order, kind="stable"))
    later = ranks >= round(len(y) * (1 - HOLDOUT_SHARE))
    early = ~later
    if min(early.sum(), later.sum()) < MIN_HOLDOUT:
        return None
    if len(np.unique(y[early])) < 2:
        return None
    slope, intercept = _platt(margin[early], y[early])
    shift = _shift(margin[early], y[early])
    m, t = margin[later], y[later]
    return {
        "platt": _log_loss(t, slope * m + intercept),
        "shift": _log_loss(t, m + shift),
        "identity": _log_loss(t, m),
    }
