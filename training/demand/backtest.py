"""Rolling-origin backtest of the demand model: time-ordered windows, no future leakage.

The last ``(calibration_windows + n_windows) × horizon`` days are cut into windows.
For each window the model is fitted on the days up to its cutoff only, then asked
for ``horizon`` days ahead from the cutoff and, every ``refresh_days``, again from a
later origin after appending the newly observed days (:meth:`DemandForecaster.update`,
no refit). The forecasts from the cutoff score accuracy; the refreshed ones are what a
planner would have seen day by day — they drive the level-shift and policy replays.

The first ``calibration_windows`` windows are not scored: they only provide the
out-of-sample errors that calibrate the forecast distribution of later windows, so
the interval coverage reported is honest (calibrated on the past, judged on the future).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from models.demand import DemandForecaster
from models.distribution import Calibration, fit_calibration
from stockpilot.errors import InvalidInput


@dataclass(frozen=True)
class BacktestConfig:
    horizon: int = 28
    n_windows: int = 3
    calibration_windows: int = 1
    refresh_days: int = 7

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if self.n_windows < 1:
            raise ValueError(f"n_windows must be >= 1, got {self.n_windows}")
        if self.calibration_windows < 1:
            raise ValueError(
                f"calibration_windows must be >= 1 (intervals need past errors), "
                f"got {self.calibration_windows}"
            )
        if not 1 <= self.refresh_days <= self.horizon:
            raise ValueError(
                f"refresh_days must be between 1 and horizon ({self.horizon}), "
                f"got {self.refresh_days}"
            )

    @property
    def total_windows(self) -> int:
        return self.calibration_windows + self.n_windows


def cutoffs(last_date: pd.Timestamp, config: BacktestConfig) -> list[pd.Timestamp]:
    """Window cutoffs in time order; window k covers (cutoff_k, cutoff_k + horizon]."""
    n = config.total_windows
    step = pd.Timedelta(days=config.horizon)
    return [pd.Timestamp(last_date) - step * (n - k) for k in range(n)]


@dataclass
class BacktestResult:
    config: BacktestConfig
    cutoffs: list[pd.Timestamp]
    # window, cutoff, origin, unique_id, date, horizon, mean, y
    forecasts: pd.DataFrame
    # window, unique_id, segment, phi (what each window's model knew from its history)
    series: pd.DataFrame
    # window, unique_id, date, mean, y: next-day forecasts issued every day
    next_day: pd.DataFrame
    calibrations: dict[int, Calibration] = field(default_factory=dict)

    @property
    def eval_windows(self) -> list[int]:
        return list(range(self.config.calibration_windows, self.config.total_windows))

    def window_forecasts(self, windows: list[int] | None = None) -> pd.DataFrame:
        """Forecasts issued at each window's cutoff for the days of that window."""
        f = self.forecasts
        f = f[(f["origin"] == f["cutoff"]) & f["y"].notna()]
        if windows is not None:
            f = f[f["window"].isin(windows)]
        return f.merge(self.series, on=["window", "unique_id"], how="left")

    def calibration_for(self, window: int) -> Calibration:
        """Distribution calibration from the windows strictly before ``window``."""
        if window not in self.calibrations:
            past = self.window_forecasts([w for w in range(window)])
            if past.empty:
                raise ValueError(f"no window before {window} to calibrate on")
            self.calibrations[window] = fit_calibration(past, self.config.horizon)
        return self.calibrations[window]

    def final_calibration(self) -> Calibration:
        """Calibration from every window: what the production model ships with."""
        return fit_calibration(self.window_forecasts(), self.config.horizon)


def run_backtest(
    daily: pd.DataFrame,
    items: pd.DataFrame | None,
    make_model: Callable[[], DemandForecaster],
    config: BacktestConfig,
    on_step: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Fit one model per window on the past only and forecast from each origin."""
    last = pd.Timestamp(daily["date"].max())
    cuts = cutoffs(last, config)
    first_date = pd.Timestamp(daily["date"].min())
    # The first window's model learns from the days up to its cutoff only.
    need = make_model().feature_set.min_history_days
    if (cuts[0] - first_date).days + 1 < need:
        span = (last - first_date).days + 1
        raise InvalidInput(
            f"too little history for {config.total_windows} backtest windows of "
            f"{config.horizon} days: the demand data spans {first_date.date()}..{last.date()} "
            f"({span} days); the model needs {need} days before the first window, so at "
            f"least {need + config.total_windows * config.horizon} days in all",
            days=span,
            required=need + config.total_windows * config.horizon,
        )
    actual = daily[["unique_id", "date", "qty"]].rename(columns={"qty": "y"})
    frames, series, next_day = [], [], []
    h = config.horizon
    for w, cutoff in enumerate(cuts):
        if on_step:
            on_step(f"window {w + 1}/{len(cuts)}: fit up to {cutoff.date()}")
        model = make_model().fit(daily[daily["date"] <= cutoff], items)
        info = model.series_[["unique_id", "segment"]].assign(
            window=w, phi=model.series_["unique_id"].map(model.dispersion_).fillna(1.0)
        )
        series.append(info)
        window_days = daily[daily["date"] <= cutoff + pd.Timedelta(days=h)]
        nd = model.predict_next_day(window_days, cutoff + pd.Timedelta(days=1))
        next_day.append(nd.assign(window=w))
        for origin in pd.date_range(
            cutoff, cutoff + pd.Timedelta(days=h - 1), freq=f"{config.refresh_days}D"
        ):
            if origin > model.last_date_:
                model.update(daily[(daily["date"] > model.last_date_) & (daily["date"] <= origin)])
            known = daily[
                (daily["date"] > origin) & (daily["date"] <= origin + pd.Timedelta(days=h))
            ]
            pred = model.predict_mean(h, future=known)
            pred["window"], pred["cutoff"], pred["origin"] = w, cutoff, origin
            frames.append(pred)
    forecasts = pd.concat(frames, ignore_index=True).merge(
        actual, on=["unique_id", "date"], how="left"
    )
    cols = ["window", "cutoff", "origin", "unique_id", "date", "horizon", "mean", "y"]
    return BacktestResult(
        config=config,
        cutoffs=cuts,
        forecasts=forecasts[cols],
        series=pd.concat(series, ignore_index=True),
        next_day=pd.concat(next_day, ignore_index=True).merge(
            actual, on=["unique_id", "date"], how="left"
        ),
    )
