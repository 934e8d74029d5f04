"""Demand segments from history only: fast, slow and intermittent series.

The segment decides how a series is evaluated and how wide its forecast distribution
is, so it must be computable at forecast time from the past alone. It follows the
Syntetos–Boylan idea: the average inter-demand interval (ADI, days per day with
demand) separates series that sell most days from the rest; CV² of the non-zero
quantities (lumpiness) is kept as a descriptor. On distributor data nearly every
series has ADI ≥ 1.32 (Syntetos–Boylan's "intermittent" cut), so the rest is split
once more at ADI 4 (demand on fewer than one day in four):

- ``fast``: ADI < 1.32 — demand on most days;
- ``slow``: 1.32 ≤ ADI < 4 — regular but not daily demand;
- ``intermittent``: ADI ≥ 4, or no demand at all in the window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FAST_ADI = 1.32
SLOW_ADI = 4.0
SEGMENTS = ("fast", "slow", "intermittent")
WINDOW_DAYS = 365


def classify(
    history: pd.DataFrame,
    window_days: int = WINDOW_DAYS,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
) -> pd.DataFrame:
    """ADI, CV², mean and segment per series over its last ``window_days`` of history.

    ``history`` is long format (one row per series and day, zero-filled). Each series
    is judged on its own last ``window_days`` so that a series that started recently
    is not called intermittent for the days before it existed.
    """
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    if history.empty:
        return pd.DataFrame(
            columns=[id_col, "days", "nonzero_days", "mean", "adi", "cv2", "segment"]
        )
    last = history.groupby(id_col, observed=True)[time_col].transform("max")
    recent = history[history[time_col] > last - pd.Timedelta(days=window_days)]
    y = recent[target_col].astype(float)
    grouped = recent.assign(_y=y, _nz=y > 0, _ynz=y.where(y > 0)).groupby(id_col, observed=True)
    stats = grouped.agg(
        days=("_y", "size"),
        nonzero_days=("_nz", "sum"),
        mean=("_y", "mean"),
        nz_mean=("_ynz", "mean"),
        nz_std=("_ynz", "std"),
    )
    nonzero = stats["nonzero_days"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        adi = np.where(nonzero > 0, stats["days"].to_numpy(dtype=float) / nonzero, np.inf)
        cv2 = (stats["nz_std"] / stats["nz_mean"]).fillna(0.0).to_numpy() ** 2
    segment = np.where(adi < FAST_ADI, "fast", np.where(adi < SLOW_ADI, "slow", "intermittent"))
    out = pd.DataFrame(
        {
            id_col: stats.index.to_numpy(),
            "days": stats["days"].to_numpy(dtype=int),
            "nonzero_days": nonzero.astype(int),
            "mean": stats["mean"].to_numpy(dtype=float),
            "adi": adi,
            "cv2": cv2,
            "segment": segment,
        }
    )
    return out.reset_index(drop=True)
