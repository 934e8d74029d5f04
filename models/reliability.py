"""Calibration quality of any binary classifier: the reliability table and its ECE.

One helper for every model, with scikit-learn's argument order ``(y_true, y_prob)`` and
its equal-width bins (:func:`sklearn.calibration.calibration_curve`). Rows may carry a
``sample_weight``: served figures weigh a reviewed recommendation 1, one of the random
audit slice 1 / share and any other auto-decided one 0 (docs/monitoring.md), so their ECE
estimates the calibration over everything served, not over what reviewers happened to
see. Without weights every row counts 1 and the figures are the unweighted ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ECE_BINS = 10


def reliability(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    bins: int = ECE_BINS,
    sample_weight: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per non-empty equal-width bin: its index, (weighted) mean predicted probability and
    observed rate, its number of rows and their total weight (``bin``, ``predicted``,
    ``observed``, ``n``, ``weight``). Rows of weight 0 are left out."""
    y_true = np.asarray(y_true, dtype=float)
    y_prob = np.asarray(y_prob, dtype=float)
    w = np.ones_like(y_prob) if sample_weight is None else np.asarray(sample_weight, float)
    if not (len(y_true) == len(y_prob) == len(w)):
        raise ValueError(
            f"y_true, y_prob and sample_weight differ in length "
            f"({len(y_true)}, {len(y_prob)}, {len(w)})"
        )
    if np.any((y_true != 0) & (y_true != 1)):
        raise ValueError("y_true must hold 0/1 outcomes only")
    if np.any((y_prob < 0) | (y_prob > 1)):
        raise ValueError("y_prob must lie in [0, 1]")
    if np.any(~np.isfinite(w) | (w < 0)):
        raise ValueError("sample_weight must be finite and >= 0")
    keep = w > 0
    y_true, y_prob, w = y_true[keep], y_prob[keep], w[keep]
    # The bins calibration_curve uses: edges 0, 1/bins, …, 1; a probability of 1 in the last.
    which = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], y_prob)
    total = np.bincount(which, weights=w, minlength=bins)
    counts = np.bincount(which, minlength=bins)
    filled = np.flatnonzero(counts)
    predicted = np.bincount(which, weights=w * y_prob, minlength=bins)[filled] / total[filled]
    observed = np.bincount(which, weights=w * y_true, minlength=bins)[filled] / total[filled]
    return pd.DataFrame(
        {
            "bin": filled,
            "predicted": predicted,
            "observed": observed,
            "n": counts[filled],
            "weight": total[filled],
        }
    )


def expected_calibration_error(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    bins: int = ECE_BINS,
    sample_weight: np.ndarray | None = None,
) -> float:
    """Σ_bins (w_bin / w) · |mean predicted − observed rate|, both weighted by
    ``sample_weight`` (default 1 per row); NaN without rows of positive weight."""
    table = reliability(y_true, y_prob, bins, sample_weight)
    if table.empty:
        return float("nan")
    share = table["weight"] / table["weight"].sum()
    return float((share * (table["predicted"] - table["observed"]).abs()).sum())
