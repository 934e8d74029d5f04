"""Forecast combination: our LightGBM mean blended with a per-series AutoETS forecast.

Why: a global LightGBM pools every series, which is what the long tail needs, but on a
small export (36 series) or where levels move per series it has little to pool, and a
per-series exponential smoothing level is hard to beat. Combining forecasts is the most
robust result in forecasting (Bates & Granger 1969; the M4 and M5 competitions): a
convex blend of two different mean forecasts is rarely worse than the better of them and
often better than both.

- :class:`SeriesETS`: statsforecast's ``AutoETS(season_length=7, model="ZNZ")`` (the
  report's AutoETS baseline) fitted per series at train time on the last
  ``input_size`` days. Its state follows new actuals without refitting (``update``:
  AutoETS ``forward`` re-runs the fitted model, parameters and initial state unchanged,
  over the longer series), and the next ``horizon`` days' forecasts are cached, so
  serving only looks them up.
- :class:`Combination`: the LightGBM weight per segment (fast/slow/intermittent), in
  [0, 1]; ``1 − w`` goes to AutoETS. Fitted by :func:`fit_combination` on forecasts
  whose days are all **before** the window they are used for (the backtest's earlier
  windows), never on the days they are scored on. A segment with too few rows takes the
  weight fitted on all segments; no rows at all means the LightGBM alone (w = 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

SEGMENTS = ("fast", "slow", "intermittent")
GRID = np.round(np.linspace(0.0, 1.0, 21), 2)  # weights tried, 0.05 apart
MIN_ROWS = 500  # fewer rows in a segment: use the weight fitted on all rows
INPUT_SIZE = 365  # days of history AutoETS is fitted on (as the baseline)
SEASON = 7


@dataclass(frozen=True)
class Combination:
    """LightGBM weight per segment; an unknown segment takes ``default``."""

    weights: dict[str, float] = field(default_factory=dict)
    default: float = 1.0
    n_rows: int = 0  # rows the weights were fitted on (0: not fitted, LightGBM alone)

    def weight(self, segment: np.ndarray | pd.Series) -> np.ndarray:
        seg = np.asarray(segment, dtype=object)
        return np.array([self.weights.get(s, self.default) for s in seg], dtype=float)

    def apply(self, lgbm: np.ndarray, ets: np.ndarray, segment: np.ndarray) -> np.ndarray:
        w = self.weight(segment)
        return w * np.asarray(lgbm, dtype=float) + (1.0 - w) * np.asarray(ets, dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lightgbm_weight": dict(self.weights),
            "default": self.default,
            "n_rows": self.n_rows,
        }


def _best_weight(y: np.ndarray, lgbm: np.ndarray, ets: np.ndarray) -> float:
    """The grid weight with the smallest absolute error (WAPE's numerator); ties → LightGBM."""
    errors = [np.abs(y - (w * lgbm + (1 - w) * ets)).sum() for w in GRID]
    best = min(errors)
    return float(max(w for w, e in zip(GRID, errors, strict=True) if e <= best * (1 + 1e-9)))


def fit_combination(past: pd.DataFrame, min_rows: int = MIN_ROWS) -> Combination:
    """Weights from earlier forecasts: ``segment, y, mean_lgbm, mean_ets`` rows.

    The caller decides which rows are "earlier" (the backtest passes only windows that
    end by the cutoff of the window the weights are for).
    """
    part = past.dropna(subset=["y", "mean_lgbm", "mean_ets"])
    if "calendar_factor" in part.columns:  # closed days: neither part knew the calendar
        part = part[part["calendar_factor"] == 1.0]
    if part.empty:
        return Combination()
    cols = [part[c].to_numpy(dtype=float) for c in ("y", "mean_lgbm", "mean_ets")]
    default = _best_weight(*cols)
    weights = {}
    for seg, g in part.groupby("segment", sort=True):
        if len(g) >= min_rows:
            weights[str(seg)] = _best_weight(
                *(g[c].to_numpy(dtype=float) for c in ("y", "mean_lgbm", "mean_ets"))
            )
    return Combination(weights=weights, default=default, n_rows=len(part))


def _ets_model() -> Any:
    from statsforecast.models import AutoETS

    return AutoETS(season_length=SEASON, model="ZNZ")


def _slim(model_: dict[str, Any]) -> dict[str, Any]:
    """What ``forward`` needs of a fitted ETS (not its in-sample arrays)."""
    keys = ("m", "components", "par", "fit", "n_params")
    return {k: model_[k] for k in keys}


class SeriesETS:
    """Per-series AutoETS, fitted once, followed with new actuals, forecasts cached."""

    def __init__(self, horizon: int, input_size: int = INPUT_SIZE) -> None:
        self.horizon = horizon
        self.input_size = input_size

    def fit(self, history: pd.DataFrame, n_jobs: int = 1) -> SeriesETS:
        """``history``: unique_id, ds, y, zero-filled and sorted, every series to the same day.

        A series too short for a weekly season or never sold in the window forecasts its
        mean (0 when never sold); statsforecast fits the others (``n_jobs`` processes).
        """
        from statsforecast import StatsForecast

        self.models_: dict[str, dict[str, Any] | None] = {}
        self.y_: dict[str, np.ndarray] = {}
        self.forecast_: dict[str, np.ndarray] = {}
        last = history["ds"].max()
        recent = history[history["ds"] > last - pd.Timedelta(days=self.input_size)]
        recent = recent.assign(unique_id=recent["unique_id"].astype(str))
        fit_ids = []
        for uid, g in recent.groupby("unique_id", sort=True):
            y = g["y"].to_numpy(dtype=float)
            self.y_[uid] = y
            if len(y) < 2 * SEASON or not np.any(y):
                self.models_[uid] = None
                self.forecast_[uid] = np.full(self.horizon, float(np.mean(y)) if len(y) else 0.0)
            else:
                fit_ids.append(uid)
        if not fit_ids:
            return self
        try:
            sf = StatsForecast(models=[_ets_model()], freq="D", n_jobs=n_jobs)
            sf.fit(df=recent[recent["unique_id"].isin(set(fit_ids))][["unique_id", "ds", "y"]])
            fitted = dict(zip(map(str, sf.uids), sf.fitted_[:, 0], strict=True))
        except Exception:  # a degenerate series failed the batch: fit one by one
            fitted = {}
        for uid in fit_ids:
            if uid in fitted:
                self.models_[uid] = _slim(fitted[uid].model_)
                mean = np.asarray(fitted[uid].predict(self.horizon)["mean"], dtype=float)
                self.forecast_[uid] = np.clip(mean, 0.0, None)
            else:
                self.models_[uid], self.forecast_[uid] = self._fit_one(self.y_[uid])
        return self

    def _forward(self, uid: str) -> np.ndarray:
        fitted, y = self.models_.get(uid), self.y_[uid]
        if fitted is None:
            return np.full(self.horizon, float(np.mean(y[-self.input_size :])))
        model = _ets_model()
        model.model_ = fitted
        mean = model.forward(y=y, h=self.horizon)["mean"]
        return np.clip(np.asarray(mean, dtype=float), 0.0, None)

    def update(self, new: pd.DataFrame) -> SeriesETS:
        """Append new days (unique_id, ds, y, after the fit's last day) and re-forecast."""
        for uid, g in new.sort_values("ds").groupby("unique_id", sort=False):
            uid = str(uid)
            if uid not in self.y_:
                continue
            self.y_[uid] = np.concatenate([self.y_[uid], g["y"].to_numpy(dtype=float)])
            self.forecast_[uid] = self._forward(uid)
        return self

    def forecast(self, ids: list[str], h: int) -> np.ndarray:
        """Horizons 1..h for each id, id-major (``len(ids) * h`` values)."""
        zero = np.zeros(self.horizon)
        parts = [self.forecast_.get(str(uid), zero)[:h] for uid in ids]
        return np.concatenate(parts) if parts else np.zeros(0)
