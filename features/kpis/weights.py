"""Per-line weights of the fulfilment KPIs: one float64 matrix, one column per quantity.

Every fulfilment ratio is Σ one column / Σ another over the lines of a period and slice
(orders first aggregate their lines' columns). Computing the columns once per facts and
summing them in one pass per request keeps a two-year dashboard to a few milliseconds;
when live outcomes change a few lines, only those rows are recomputed
(:func:`patched_weights`). The column definitions below are the inclusion rules of
:mod:`features.kpis.definitions` in code.
"""

from __future__ import annotations

import numpy as np

from features.kpis.lines import LineFacts

COLUMNS = (
    "fulfilled",  # first shipment known (shipped or cancelled)
    "in_full",
    "filled_after_substitution",
    "qty",  # ordered units of fulfilled lines
    "units",  # min(shipped, qty) of fulfilled lines
    "units_after_substitution",
    "on_time_known",  # lateness known and something shipped
    "on_time",
    "perfect_known",
    "perfect",
    "damage_known",
    "undamaged",
    "documents_known",
    "documents_ok",
    "short",
    "short_unsubstituted",
    "perfect_bad",  # known imperfect
)
C = {name: k for k, name in enumerate(COLUMNS)}


def line_weights(lines: LineFacts, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """The weights of ``rows`` (all lines by default), shape (len(COLUMNS), n): one
    contiguous row per column, so sums over runs of lines stream through memory."""

    def col(name: str) -> np.ndarray:
        return getattr(lines, name)[rows]

    fulfilled, qty, late = col("fulfilled"), col("qty"), col("late")
    shipped = np.nan_to_num(col("shipped"))
    short = fulfilled & (shipped < qty)
    in_full = fulfilled & (shipped >= qty)
    substituted = short & col("sub_accepted")
    cancelled = fulfilled & (shipped <= 0)
    damaged, documents = col("damaged"), col("documents_ok")
    bad = short | (late == 1.0) | (damaged == 1.0) | (documents == 0.0)
    known = bad | (fulfilled & ~np.isnan(late))
    on_time_known = ~np.isnan(late) & ~cancelled
    units = np.where(fulfilled, np.minimum(shipped, qty), 0.0)
    damage_known = fulfilled & ~np.isnan(damaged)
    documents_known = fulfilled & ~np.isnan(documents)
    out = np.empty((len(COLUMNS), len(qty)))
    for name, values in (
        ("fulfilled", fulfilled),
        ("in_full", in_full),
        ("filled_after_substitution", in_full | substituted),
        ("qty", np.where(fulfilled, qty, 0.0)),
        ("units", units),
        ("units_after_substitution", np.where(substituted, qty, units)),
        ("on_time_known", on_time_known),
        ("on_time", on_time_known & (late == 0.0)),
        ("perfect_known", known),
        ("perfect", known & ~bad),
        ("damage_known", damage_known),
        ("undamaged", damage_known & (damaged == 0.0)),
        ("documents_known", documents_known),
        ("documents_ok", documents_known & (documents == 1.0)),
        ("short", short),
        ("short_unsubstituted", short & ~substituted),
        ("perfect_bad", bad),
    ):
        out[C[name]] = values
    return out


def weights(lines: LineFacts) -> np.ndarray:
    return lines.cached("weights", lambda: line_weights(lines))


def patched_weights(old: LineFacts, new: LineFacts, rows: np.ndarray) -> None:
    """Give ``new`` (``old`` with ``rows`` changed) its weights without a full pass."""
    cached = old.__dict__.get("_cached_weights")
    if cached is None or len(old) != len(new):
        return
    matrix = cached.copy()
    matrix[:, rows] = line_weights(new, rows)
    new.__dict__["_cached_weights"] = matrix
