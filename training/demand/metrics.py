"""Forecast accuracy metrics, by segment, and how fast forecasts adapt to level shifts.

- **WAPE** = Σ|y − ŷ| / Σy over every series-day: volume-weighted, so it is the
  error planners feel in units.
- **MASE** (season 7): per series and window, MAE over the in-sample MAE of the
  weekly seasonal naive on the training history; averaged over series whose scale
  is positive (a series that never changed has no scale).
- **bias** = Σ(ŷ − y) / Σy: positive means over-forecasting.
- **coverage80**: share of actuals inside the 80 % interval; for our count
  distribution the non-randomised PIT version (:func:`models.distribution.pit_coverage`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.segments import SEGMENTS


def wape(y: np.ndarray, f: np.ndarray) -> float:
    y, f = np.asarray(y, dtype=float), np.asarray(f, dtype=float)
    total = y.sum()
    return float(np.abs(y - f).sum() / total) if total > 0 else float("nan")


def bias(y: np.ndarray, f: np.ndarray) -> float:
    y, f = np.asarray(y, dtype=float), np.asarray(f, dtype=float)
    total = y.sum()
    return float((f - y).sum() / total) if total > 0 else float("nan")


def seasonal_scale(history: pd.DataFrame, season: int = 7) -> pd.Series:
    """In-sample MAE of the seasonal naive per series (``unique_id, date, qty``)."""
    h = history.sort_values(["unique_id", "date"])
    prev = h.groupby("unique_id", sort=False)["qty"].shift(season)
    err = (h["qty"] - prev).abs()
    return err.groupby(h["unique_id"], sort=False).mean().rename("scale")


def mase(frame: pd.DataFrame, forecast: str, scale: pd.Series) -> float:
    """Mean over series × window of MAE / scale; ``frame`` has unique_id, window, y, forecast."""
    mae = (
        (frame["y"] - frame[forecast])
        .abs()
        .groupby([frame["window"], frame["unique_id"]], sort=False)
        .mean()
    )
    s = scale.reindex(mae.index)
    ok = (s > 0) & s.notna()
    return float((mae[ok] / s[ok]).mean()) if ok.any() else float("nan")


def summarize(
    frame: pd.DataFrame,
    forecast: str,
    scale: pd.Series,
    coverage: str | None = None,
) -> dict[str, float]:
    """WAPE, MASE, bias (and coverage) of one forecast column over ``frame``."""
    out = {
        "wape": wape(frame["y"], frame[forecast]),
        "mase": mase(frame, forecast, scale),
        "bias": bias(frame["y"], frame[forecast]),
    }
    if coverage is not None:
        out["coverage80"] = float(frame[coverage].mean()) if len(frame) else float("nan")
    return out


def by_segment(
    frame: pd.DataFrame,
    forecast: str,
    scale: pd.Series,
    coverage: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, dict[str, float]]:
    """:func:`summarize` per segment, with the segment's share of series and volume."""
    total = float(frame["y"].sum())
    out: dict[str, dict[str, float]] = {}
    for seg in SEGMENTS:
        part = frame[frame["segment"] == seg]
        if part.empty:
            continue
        stats = summarize(part, forecast, scale, coverage)
        for name, col in (extra or {}).items():
            stats[name] = float(part[col].mean())
        stats["n_series"] = int(part["unique_id"].nunique())
        stats["volume_share"] = float(part["y"].sum() / total) if total > 0 else float("nan")
        out[seg] = stats
    return out


# --- level shifts ---------------------------------------------------------------


def adaptation_curves(
    forecasts: pd.DataFrame,
    expected: pd.DataFrame,
    shifts: pd.DataFrame,
    forecast: str = "mean",
    smooth_days: int = 7,
    max_days: int = 56,
) -> pd.DataFrame:
    """How much of each level shift the next-day forecast has absorbed, day by day.

    For a shift by factor ``f`` on day ``s``, compare trailing ``smooth_days`` sums
    (from ``s`` on) of the forecast and of the true expected demand. In log space the
    ratio starts near ``−log f`` away from its pre-shift value and closes to it as the
    forecast adapts; ``closure`` = 1 − remaining gap / initial gap (1 = fully caught up).
    The pre-shift ratio (when at least 7 days of forecasts precede the shift) removes
    the series' usual bias. ``forecasts``: unique_id, date, <forecast>; ``expected``:
    unique_id, date, expected_qty; ``shifts``: unique_id, date, factor.
    """
    rows = []
    f = forecasts[["unique_id", "date", forecast]].merge(
        expected[["unique_id", "date", "expected_qty"]], on=["unique_id", "date"], how="inner"
    )
    by_series = dict(tuple(f.groupby("unique_id", sort=False)))
    for k, shift in enumerate(shifts.itertuples(index=False)):
        series = by_series.get(shift.unique_id)
        factor = float(shift.factor)
        if series is None or factor <= 0 or abs(np.log(factor)) < 1e-6:
            continue
        series = series.sort_values("date")
        start = pd.Timestamp(shift.date)
        before = series[
            (series["date"] < start) & (series["date"] >= start - pd.Timedelta(28, "D"))
        ]
        pre = 0.0
        if len(before) >= 7 and before["expected_qty"].sum() > 0 and before[forecast].sum() > 0:
            pre = float(np.log(before[forecast].sum() / before["expected_qty"].sum()))
        after = series[series["date"] >= start].head(max_days)
        if after.empty:
            continue
        fc = after[forecast].rolling(smooth_days, min_periods=1).sum().to_numpy()
        ex = after["expected_qty"].rolling(smooth_days, min_periods=1).sum().to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.log(np.maximum(fc, 1e-9) / np.maximum(ex, 1e-9)) - pre
        closure = 1.0 + gap / np.log(factor)
        day = (after["date"] - start).dt.days.to_numpy()
        rows.append(
            pd.DataFrame(
                {
                    "shift": k,
                    "unique_id": shift.unique_id,
                    "factor": factor,
                    "day": day,
                    "closure": closure,
                }
            )
        )
    if not rows:
        return pd.DataFrame(columns=["shift", "unique_id", "factor", "day", "closure"])
    return pd.concat(rows, ignore_index=True)


def days_to_adapt(
    curves: pd.DataFrame, threshold: float = 0.8, sustain_days: int = 7
) -> dict[str, float]:
    """Days after a shift until the forecast has absorbed ``threshold`` of it, for good.

    "For good" means the closure stays at or above ``threshold`` for ``sustain_days``
    days in a row: a noisy forecast that touches the new level once by chance has not
    caught up. Shifts not absorbed within the observed days count as not adapted
    (censored); the median treats them as slower than every adapted one. Also reports
    the median share absorbed after one, two and four weeks.
    """
    if curves.empty:  # no shift in the scored days had forecasts on both sides of it
        return {
            "median": float("nan"),
            "mean": float("nan"),
            "n_shifts": 0,
            "adapted_share": 0.0,
            "threshold": threshold,
            "absorbed_after_days": {str(d): float("nan") for d in (7, 14, 28)},
        }
    days = []
    for _, c in curves.groupby("shift", sort=False):
        c = c.sort_values("day")
        ok = (c["closure"] >= threshold).to_numpy()
        run = pd.Series(ok).rolling(sustain_days).sum().to_numpy() >= sustain_days
        hit = np.nonzero(run)[0]
        days.append(float(c["day"].iloc[hit[0] - sustain_days + 1]) if len(hit) else np.inf)
    arr = np.array(days)
    adapted = np.isfinite(arr)
    absorbed = curves.groupby("day")["closure"].median()
    return {
        "median": float(np.median(arr)) if adapted.mean() >= 0.5 else float("nan"),
        "mean": float(arr[adapted].mean()) if adapted.any() else float("nan"),
        "n_shifts": len(arr),
        "adapted_share": float(adapted.mean()),
        "threshold": threshold,
        "absorbed_after_days": {str(d): float(absorbed.get(d, np.nan)) for d in (7, 14, 28)},
    }
