"""Served-model performance: realised once outcomes arrive, estimated before they do.

Realised: AUC, Brier and ECE (:mod:`models.reliability`) of the lines whose outcome is
known, optionally weighted (inverse inclusion probability of the audit slice, see
``docs/monitoring.md``). Estimated (confidence-based performance estimation, CBPE): if
the scores are calibrated, line ``i`` misses with probability ``p_i``, so

- expected Brier = mean of ``p_i (1 − p_i)``;
- expected AUC = Σ_{i≠j} p_i (1 − p_j) [s_i > s_j] / Σ_{i≠j} p_i (1 − p_j) (ties count
  half), the chance a missed line outranks a fulfilled one, computed after one sort in
  O(n log n).

The estimate needs no label, and it is only as good as the calibration: when the world
changes so that the same score means another miss rate (concept drift), the estimate is
wrong and only realised labels show it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.reliability import expected_calibration_error


def expected_auc(p: np.ndarray, score: np.ndarray | None = None) -> float:
    """Expected AUC of ``score`` (default ``p``) if ``p`` is each line's true miss chance."""
    p = np.asarray(p, dtype=float)
    s = p if score is None else np.asarray(score, dtype=float)
    if len(p) < 2:
        return float("nan")
    order = np.argsort(s, kind="stable")
    p, s = p[order], s[order]
    neg = 1.0 - p
    # For each distinct score: negatives strictly below, and within the tie group.
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    group = np.cumsum(np.r_[True, s[1:] != s[:-1]]) - 1
    neg_before = np.r_[0.0, np.cumsum(neg)][starts][group]
    neg_tie = np.add.reduceat(neg, starts)[group] - neg  # ties other than the line itself
    numerator = float(np.sum(p * (neg_before + 0.5 * neg_tie)))
    denominator = float(p.sum() * neg.sum() - np.sum(p * neg))
    return numerator / denominator if denominator > 0 else float("nan")


def expected_brier(p: np.ndarray) -> float:
    p = np.asarray(p, dtype=float)
    return float(np.mean(p * (1.0 - p))) if len(p) else float("nan")


def weighted_auc(y: np.ndarray, score: np.ndarray, weight: np.ndarray | None = None) -> float:
    """AUC with per-line weights (ties half), NaN without both outcomes."""
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if weight is None else np.asarray(weight, dtype=float)
    pos, neg = w * y, w * (1.0 - y)
    if pos.sum() <= 0 or neg.sum() <= 0:
        return float("nan")
    # expected_auc with p = y is exactly the realised AUC; weights scale both sides.
    order = np.argsort(score, kind="stable")
    s, pos, neg = np.asarray(score, dtype=float)[order], pos[order], neg[order]
    new = np.r_[True, s[1:] != s[:-1]]
    starts, group = np.flatnonzero(new), np.cumsum(new) - 1
    neg_before = np.r_[0.0, np.cumsum(neg)][starts][group]
    neg_tie = np.add.reduceat(neg, starts)[group]
    return float(np.sum(pos * (neg_before + 0.5 * neg_tie)) / (pos.sum() * neg.sum()))


def metrics(
    p: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None
) -> dict[str, float | int]:
    """Realised (labelled lines) and estimated (all lines) metrics of one group."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(p) if weight is None else np.asarray(weight, dtype=float)
    known = ~np.isnan(y)
    pk, yk, wk = p[known], y[known], w[known]
    realised_brier = float(np.sum(wk * (pk - yk) ** 2) / wk.sum()) if known.any() else float("nan")
    return {
        "n": len(p),
        "labelled": int(known.sum()),
        "miss_rate": float(np.sum(wk * yk) / wk.sum()) if known.any() else float("nan"),
        "mean_p": float(p.mean()) if len(p) else float("nan"),
        "auc": weighted_auc(yk, pk, wk),
        "brier": realised_brier,
        "ece": expected_calibration_error(yk, pk, sample_weight=wk)
        if known.any()
        else float("nan"),
        "expected_auc": expected_auc(p),
        "expected_brier": expected_brier(p),
    }


def table(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """:func:`metrics` per group of ``frame`` (columns ``p_miss``, ``miss``, optional
    ``weight``), one row per group in group order."""
    missing = [c for c in ("p_miss", "miss", *by) if c not in frame]
    if missing:
        raise ValueError(f"frame lacks column(s) {', '.join(missing)}")
    rows = []
    for key, group in frame.groupby(list(by), sort=True, dropna=True):
        key = key if isinstance(key, tuple) else (key,)
        weight = group["weight"].to_numpy(float) if "weight" in group else None
        rows.append(
            {
                **dict(zip(by, key, strict=True)),
                **metrics(group["p_miss"].to_numpy(float), group["miss"].to_numpy(float), weight),
            }
        )
    return pd.DataFrame(rows)
