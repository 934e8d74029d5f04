"""Calibration quality of any binary classifier: the reliability table and its ECE.

One helper for every model, with scikit-learn's argument order ``(y_true, y_prob)``: the
table is :func:`sklearn.calibration.calibration_curve` (equal-width bins) with each bin's
count beside it, which the expected calibration error weighs the bins by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve

ECE_BINS = 10


def reliability(y_true: np.ndarray, y_prob: np.ndarray, bins: int = ECE_BINS) -> pd.DataFrame:
    """Per non-empty equal-width bin: its index, mean predicted probability, observed rate
    and number of rows (``bin``, ``predicted``, ``observed``, ``n``)."""
    y_true = np.asarray(y_true, dtype=float)
    y_prob = np.asarray(y_prob, dtype=float)
    if y_prob.size == 0:
        return pd.DataFrame({"bin": [], "predicted": [], "observed": [], "n": []})
    observed, predicted = calibration_curve(y_true, y_prob, n_bins=bins, strategy="uniform")
    # The bins calibration_curve uses, to count rows per bin (it returns rates only).
    which = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], y_prob)
    counts = np.bincount(which, minlength=bins)
    filled = np.flatnonzero(counts)
    return pd.DataFrame(
        {"bin": filled, "predicted": predicted, "observed": observed, "n": counts[filled]}
    )


def expected_calibration_error(
    y_true: np.ndarray, y_prob: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Σ_bins (n_bin / n) · |mean predicted − observed rate| (NaN without rows)."""
    table = reliability(y_true, y_prob, bins)
    if table.empty:
        return float("nan")
    weights = table["n"] / table["n"].sum()
    return float((weights * (table["predicted"] - table["observed"]).abs()).sum())
