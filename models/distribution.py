"""The predictive distribution of demand: a negative binomial with a calibrated variance.

Daily demand of a distributor is a count with many zeros, lumpy order sizes and
days that are busier than the forecast knows. We describe it by its mean (the
LightGBM forecast) and a variance ``V = c · φ · μ``:

- ``φ`` (dispersion index) is per series, from its own history: how lumpy its demand
  is around a weekday profile. A series that sells in cartons of 24 has φ ≈ 24 even
  when its mean is 0.3 a day;
- ``c`` is a calibration factor per segment, estimated on earlier backtest windows
  (time-ordered, out of sample) as the ratio of observed squared errors to ``φ · μ``.
  For sums over the next L days there is one ``c`` per L, because forecast errors on
  consecutive days are correlated (a missed level shift errs every day in the same
  direction), so the variance of a sum grows faster than the sum of variances.

Given mean and variance, the distribution is the negative binomial with those two
moments (Poisson when the variance does not exceed the mean). Quantiles of it give
the daily 80 % interval and the reorder point at any service level.

Coverage of count forecasts is judged with the non-randomised PIT (Czado, Gneiting &
Held 2009): an observation ``y`` covers the probability range ``[F(y−1), F(y)]``, and
the share of that range inside ``[0.1, 0.9]`` is its contribution to 80 % coverage.
Counting ``lo ≤ y ≤ hi`` instead would credit every zero of a slow series to an
interval ``[0, 0]`` and report ~95 % however good the distribution is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

DEFAULT_SEGMENT = "intermittent"


def _moments(mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.maximum(np.asarray(mean, dtype=float), 0.0)
    var = np.asarray(var, dtype=float)
    var = np.where(np.isfinite(var), var, mean)
    over = var > mean * (1 + 1e-9)
    safe_var = np.where(over, var, mean + 1.0)
    n = np.where(over, mean**2 / np.maximum(safe_var - mean, 1e-12), np.inf)
    p = np.where(over, mean / safe_var, 1.0)
    return mean, n, p


def quantile(mean: np.ndarray, var: np.ndarray, q: float | np.ndarray) -> np.ndarray:
    """The ``q`` quantile of the count distribution with this mean and variance."""
    mean, n, p = _moments(mean, var)
    q = np.broadcast_to(np.asarray(q, dtype=float), mean.shape)
    if np.any((q <= 0) | (q >= 1)):
        raise ValueError("q must be strictly between 0 and 1")
    nb = np.isfinite(n) & (mean > 0)
    out = np.zeros(mean.shape)
    pois = ~nb & (mean > 0)
    out[pois] = stats.poisson.ppf(q[pois], mean[pois])
    out[nb] = stats.nbinom.ppf(q[nb], n[nb], p[nb])
    return out


def cdf(k: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """P(Y ≤ k); P(Y ≤ −1) = 0."""
    mean, n, p = _moments(mean, var)
    k = np.broadcast_to(np.asarray(k, dtype=float), mean.shape)
    out = np.where(k >= 0, 1.0, 0.0)
    nb = np.isfinite(n) & (mean > 0)
    pois = ~nb & (mean > 0)
    out[pois] = stats.poisson.cdf(k[pois], mean[pois])
    out[nb] = stats.nbinom.cdf(k[nb], n[nb], p[nb])
    return out


def pit_coverage(
    y: np.ndarray, mean: np.ndarray, var: np.ndarray, level: float = 0.8
) -> np.ndarray:
    """Per observation, the share of its PIT range inside the central ``level`` interval."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    y = np.floor(np.asarray(y, dtype=float))
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    upper = cdf(y, mean, var)
    lower = cdf(y - 1, mean, var)
    width = upper - lower
    inside = np.clip(np.minimum(upper, hi_q) - np.maximum(lower, lo_q), 0.0, None)
    return np.where(width > 1e-12, inside / np.maximum(width, 1e-12), 0.0)


def dispersion_index(
    history: pd.DataFrame, segments: pd.Series | None = None, window_days: int = 182
) -> pd.Series:
    """φ per series: variance around its weekday profile over its mean, at least 1.

    Series with few selling days borrow strength from their segment's median (or the
    overall median), weighted by their number of days with demand.
    """
    last = history.groupby("unique_id", observed=True)["ds"].transform("max")
    recent = history[history["ds"] > last - pd.Timedelta(days=window_days)]
    y = recent["y"].astype(float)
    dow = recent["ds"].dt.dayofweek
    profile = y.groupby([recent["unique_id"], dow], observed=True).transform("mean")
    resid2 = (y - profile) ** 2
    frame = pd.DataFrame({"uid": recent["unique_id"].to_numpy(), "y": y, "r2": resid2})
    frame["nz"] = frame["y"] > 0
    g = frame.groupby("uid", observed=True)
    n = g["y"].size()
    mean = g["y"].mean()
    var = g["r2"].sum() / (n - 1).clip(lower=1)
    raw = (var / mean.where(mean > 0)).clip(lower=1.0)
    nonzero = g["nz"].sum().astype(float)
    if segments is not None:
        seg = segments.reindex(raw.index).fillna(DEFAULT_SEGMENT)
        prior = raw.groupby(seg).transform("median")
        prior = prior.fillna(raw.median())
    else:
        prior = pd.Series(raw.median(), index=raw.index)
    prior = prior.fillna(1.0)
    weight = nonzero / (nonzero + 5.0)
    phi = (weight * raw.fillna(prior) + (1 - weight) * prior).clip(lower=1.0)
    phi.index.name = "unique_id"
    return phi.rename("phi")


@dataclass
class Calibration:
    """Variance factors per segment: ``daily`` for one day, ``cumulative[L-1]`` for L-day sums."""

    daily: dict[str, float] = field(default_factory=dict)
    cumulative: dict[str, list[float]] = field(default_factory=dict)
    n_rows: int = 0

    def daily_factor(self, segment: np.ndarray) -> np.ndarray:
        default = self.daily.get("all", 1.0)
        return np.array([self.daily.get(s, default) for s in segment], dtype=float)

    def cumulative_factor(self, segment: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Factor for an L-day sum; beyond the calibrated horizon the last factor holds."""
        segment = np.asarray(segment)
        length = np.asarray(length, dtype=int)
        out = np.ones(len(segment))
        default = self.cumulative.get("all")
        for seg in np.unique(segment):
            table = self.cumulative.get(str(seg), default)
            if not table:
                continue
            rows = segment == seg
            idx = np.clip(length[rows], 1, len(table)) - 1
            out[rows] = np.asarray(table, dtype=float)[idx]
        return out

    def to_dict(self) -> dict[str, object]:
        return {"daily": self.daily, "cumulative": self.cumulative, "n_rows": self.n_rows}


def _ratio(err2: np.ndarray, base: np.ndarray) -> float:
    denom = float(base.sum())
    return float(err2.sum() / denom) if denom > 0 else 1.0


def fit_calibration(residuals: pd.DataFrame, horizon: int) -> Calibration:
    """Method-of-moments variance factors from out-of-sample forecasts.

    ``residuals`` has one row per series × window × horizon step with columns
    ``window, unique_id, horizon (1..), y, mean, phi, segment``; every window must
    cover horizons 1..``horizon`` for each series (a rolling-origin backtest does).
    """
    need = {"window", "unique_id", "horizon", "y", "mean", "phi", "segment"}
    missing = need - set(residuals.columns)
    if missing:
        raise ValueError(f"residuals lack column(s) {sorted(missing)}")
    r = residuals.sort_values(["window", "unique_id", "horizon"])
    r = r[r["horizon"] <= horizon]
    err2 = (r["y"] - r["mean"]).to_numpy() ** 2
    base = (r["phi"] * r["mean"]).to_numpy()
    seg = r["segment"].astype(str).to_numpy()
    daily = {"all": _ratio(err2, base)}
    for s in np.unique(seg):
        daily[str(s)] = _ratio(err2[seg == s], base[seg == s])

    grp = [r["window"], r["unique_id"]]
    cum_y = r["y"].groupby(grp).cumsum().to_numpy()
    cum_m = r["mean"].groupby(grp).cumsum().to_numpy()
    h = r["horizon"].to_numpy()
    phi = r["phi"].to_numpy()
    cerr2 = (cum_y - cum_m) ** 2
    cbase = phi * cum_m
    cumulative: dict[str, list[float]] = {}
    for name, mask in [("all", np.ones(len(r), bool))] + [
        (str(s), seg == s) for s in np.unique(seg)
    ]:
        table = []
        for length in range(1, horizon + 1):
            at = mask & (h == length)
            table.append(_ratio(cerr2[at], cbase[at]) if at.any() else np.nan)
        arr = pd.Series(table).ffill().bfill().fillna(1.0).to_numpy()
        cumulative[name] = [float(v) for v in arr]
    return Calibration(daily=daily, cumulative=cumulative, n_rows=len(r))
