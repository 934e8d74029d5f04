"""How the pipelines cut their history by time into train, calibration/validation and test.

Two strategies, each named for what it cuts; both keep later data out of what trains:

- :func:`rows_by_time_quantile` — rows (order lines) at quantiles of their time, with an
  embargo before each cut so that a slice's labels were known before the next begins
  (order risk: 70 % / 15 % / 15 % of labelled lines, a week apart).
- :func:`groups_by_time_count` — whole groups (offer sets: the offers made for one short
  line) by count, in order of their first row's time, so that no group is split
  (substitution: 70 / 10 / 20 % of offer sets).

What each model requires of its history (how many lines or sets at least) is checked by
its pipeline, which names what is missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def rows_by_time_quantile(
    ts: pd.Series, mask: np.ndarray, cuts: tuple[float, ...], *, embargo: np.timedelta64
) -> list[np.ndarray]:
    """One boolean mask per slice (``len(cuts) + 1``) of the rows in ``mask``.

    The cuts are quantiles of the masked rows' times; a row belongs to the slice whose
    cut it is at or after, and to none when it falls in the ``embargo`` before a cut.
    """
    if not len(cuts) > 0 or any(not 0 < c < 1 for c in cuts) or list(cuts) != sorted(cuts):
        raise ValueError(f"cuts: increasing quantiles strictly between 0 and 1, got {cuts}")
    if not mask.any():
        raise ValueError("mask: no row to split")
    times = ts.to_numpy(dtype="datetime64[ns]")
    edges = np.quantile(times[mask].astype(np.int64), cuts).astype("datetime64[ns]")
    lower = [None, *edges]
    upper = [*edges, None]
    slices = []
    for start, end in zip(lower, upper, strict=True):
        keep = mask.copy()
        if start is not None:
            keep &= times >= start
        if end is not None:
            keep &= times < end - embargo
        slices.append(keep)
    return slices


def groups_by_time_count(
    ts: pd.Series, groups: np.ndarray, shares: tuple[float, ...]
) -> np.ndarray:
    """The slice (0 … ``len(shares) - 1``) of every row: groups ordered by their first
    row's time and cut by count at the cumulative ``shares``; a group never straddles a cut.

    Groups that start at the same moment as a cut's group go with it (to the later slice).
    """
    if len(shares) < 2 or any(s <= 0 for s in shares) or abs(sum(shares) - 1.0) > 1e-9:
        raise ValueError(f"shares: two or more positive shares summing to 1, got {shares}")
    start = pd.Series(ts.to_numpy()).groupby(groups).min().sort_values(kind="stable")
    if len(start) < len(shares):
        raise ValueError(f"groups: {len(start)} group(s) cannot fill {len(shares)} slices")
    cuts = np.cumsum(shares)[:-1]
    edges = [start.iloc[int(c * len(start))] for c in cuts]
    set_ts = start.reindex(groups).to_numpy()
    return np.searchsorted(np.array(edges, dtype=set_ts.dtype), set_ts, side="right").astype(int)
