"""Rolling-origin backtest of the demand model: time-ordered windows, no future leakage.

Window arithmetic (``cutoffs``): the last cutoff is the last date − ``horizon``, earlier
cutoffs are ``step`` days apart (default ``step = horizon``: adjacent windows), and window
k covers the ``horizon`` days after cutoff k. For each window the model is refitted on
the days up to its cutoff only and forecasts ``horizon`` days from it, with the
known-future columns (``price``, ``promo``, ``x_*``) of those days passed in.

Which forecast a day is scored on:

- by default the one issued **at the cutoff** (h = 1..``horizon`` days ahead);
- with ``refresh_days`` R, the one issued at the latest *refresh origin* before the
  day: origins are the cutoff, cutoff + R, cutoff + 2R, … inside the window; at each,
  the window's model (not refitted) is given the actuals up to the origin
  (:meth:`DemandForecaster.update`) and forecasts again, so a day is scored on a
  forecast at most R days old. That is what a planner who re-forecasts every R days
  between retrains would have seen.

``replay_refresh_days`` adds origins every that many days for the policy replay
(``train`` only: its simulated planner orders from the newest forecast); they are never
scored unless they are also refresh origins.

The first ``calibration_windows`` windows are not scored: they only provide the
out-of-sample errors that calibrate the forecast distribution of later windows, so
the interval coverage reported is honest (calibrated on the past, judged on the future).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from models.combination import Combination, fit_combination
from models.demand import DemandForecaster
from models.distribution import Calibration, fit_calibration
from stockpilot.errors import InvalidInput


@dataclass(frozen=True)
class BacktestConfig:
    horizon: int = 28
    n_windows: int = 3
    step: int | None = None  # days between cutoffs; None: the horizon
    calibration_windows: int = 1
    refresh_days: int | None = None  # scored forecasts refreshed every R days
    replay_refresh_days: int | None = None  # extra origins for the policy replay
    next_day: bool = True  # also issue next-day forecasts every day (level-shift report)

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if self.n_windows < 1:
            raise ValueError(f"n_windows must be >= 1, got {self.n_windows}")
        if self.step is not None and self.step < 1:
            raise ValueError(f"step must be >= 1 day, got {self.step}")
        if self.calibration_windows < 1:
            raise ValueError(
                f"calibration_windows must be >= 1 (intervals need past errors), "
                f"got {self.calibration_windows}"
            )
        # A window can only calibrate a later one whose cutoff it ends by.
        if self.calibration_windows < self.lag_windows:
            raise ValueError(
                f"calibration_windows must be >= {self.lag_windows} when windows of "
                f"{self.horizon} days are {self.window_step} days apart (a window calibrates "
                f"only windows that start after it ends), got {self.calibration_windows}"
            )
        for name in ("refresh_days", "replay_refresh_days"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= self.horizon:
                raise ValueError(
                    f"{name} must be between 1 and horizon ({self.horizon}), got {value}"
                )

    @property
    def window_step(self) -> int:
        return self.horizon if self.step is None else self.step

    @property
    def lag_windows(self) -> int:
        """How many windows back the nearest window lies that ends by a cutoff."""
        return math.ceil(self.horizon / self.window_step)

    @property
    def total_windows(self) -> int:
        return self.calibration_windows + self.n_windows

    def days_needed(self, train_days: int) -> int:
        """Days of history the backtest needs: ``train_days`` before the first cutoff + windows."""
        return train_days + (self.total_windows - 1) * self.window_step + self.horizon

    def origins(self, cutoff: pd.Timestamp) -> list[pd.Timestamp]:
        """Forecast origins of the window at ``cutoff`` (the cutoff first)."""
        end = cutoff + pd.Timedelta(days=self.horizon - 1)
        found = {cutoff}
        for every in (self.refresh_days, self.replay_refresh_days):
            if every is not None:
                found.update(pd.date_range(cutoff, end, freq=f"{every}D"))
        return sorted(found)

    def scoring_origins(self, cutoff: pd.Timestamp) -> list[tuple[pd.Timestamp, int]]:
        """Each origin scored in the window at ``cutoff`` with the days it is scored on."""
        every = self.horizon if self.refresh_days is None else self.refresh_days
        starts = range(0, self.horizon, every)
        return [(cutoff + pd.Timedelta(days=k), min(every, self.horizon - k)) for k in starts]

    def scored_origin(self, cutoff: pd.Timestamp, dates: pd.Series) -> pd.Series:
        """The origin whose forecast each date of the window at ``cutoff`` is scored on."""
        if self.refresh_days is None:
            return pd.Series(cutoff, index=dates.index)
        ahead = (dates - cutoff).dt.days - 1
        return cutoff + pd.to_timedelta(ahead // self.refresh_days * self.refresh_days, "D")


def cutoffs(last_date: pd.Timestamp, config: BacktestConfig) -> list[pd.Timestamp]:
    """Window cutoffs in time order: the last at ``last_date − horizon``, ``step`` days apart.

    Window k covers (cutoff_k, cutoff_k + horizon].
    """
    n = config.total_windows
    last_cutoff = pd.Timestamp(last_date) - pd.Timedelta(days=config.horizon)
    step = pd.Timedelta(days=config.window_step)
    return [last_cutoff - step * (n - 1 - k) for k in range(n)]


def check_history(
    first_date: pd.Timestamp, last_date: pd.Timestamp, config: BacktestConfig, train_days: int
):
    """Raise :class:`InvalidInput` naming the numbers when the data is too short.

    ``train_days`` is the history the first window's model needs before its cutoff (the
    feature set's ``min_history_days``: its longest lag window plus days to learn from).
    """
    have = int((pd.Timestamp(last_date) - pd.Timestamp(first_date)).days) + 1
    need = config.days_needed(train_days)
    if have < need:
        raise InvalidInput(
            f"not enough history for the demand backtest: {config.n_windows} scored "
            f"window(s) + {config.calibration_windows} calibration window(s) of "
            f"{config.horizon} days, {config.window_step} days apart, after at least "
            f"{train_days} days of training history need {need} days; the data spans "
            f"{have} days ({pd.Timestamp(first_date).date()}..{pd.Timestamp(last_date).date()}). "
            "Use fewer windows, a shorter horizon or step.",
            days_needed=need,
            days_available=have,
        )


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
    combinations: dict[int, Combination] = field(default_factory=dict)

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

    def scored_forecasts(self, windows: list[int] | None = None) -> pd.DataFrame:
        """The forecast each window day is scored on (:meth:`BacktestConfig.scored_origin`)."""
        if self.config.refresh_days is None:
            return self.window_forecasts(windows)
        f = self.forecasts[self.forecasts["y"].notna()]
        if windows is not None:
            f = f[f["window"].isin(windows)]
        end = f["cutoff"] + pd.Timedelta(days=self.config.horizon)
        f = f[f["date"] <= end]
        parts = [
            g[g["origin"] == self.config.scored_origin(cutoff, g["date"])]
            for cutoff, g in f.groupby("cutoff", sort=True)
        ]
        f = pd.concat(parts) if parts else f.iloc[:0]
        return f.merge(self.series, on=["window", "unique_id"], how="left")

    def calibrating_windows(self, window: int) -> list[int]:
        """Windows whose days all lie before ``window``'s cutoff (what it may learn from)."""
        h = pd.Timedelta(days=self.config.horizon)
        return [w for w in range(window) if self.cutoffs[w] + h <= self.cutoffs[window]]

    def _combination_rows(self, windows: list[int]) -> pd.DataFrame:
        f = self.forecasts
        f = f[(f["origin"] == f["cutoff"]) & f["y"].notna() & f["window"].isin(windows)]
        return f.merge(self.series[["window", "unique_id", "segment"]], on=["window", "unique_id"])

    def combination_for(self, window: int) -> Combination:
        """LightGBM/AutoETS weights from the windows that end by ``window``'s cutoff.

        Only days before the cutoff: the weights never see the days they are scored on.
        The first window has no earlier window and forecasts with the LightGBM alone.
        """
        if window not in self.combinations:
            past = self._combination_rows(self.calibrating_windows(window))
            self.combinations[window] = (
                fit_combination(past) if "mean_ets" in past.columns else Combination()
            )
        return self.combinations[window]

    def final_combination(self) -> Combination:
        """Weights from every window: what the production model ships with."""
        rows = self._combination_rows(list(range(self.config.total_windows)))
        return fit_combination(rows) if "mean_ets" in rows.columns else Combination()

    def combine(self) -> BacktestResult:
        """Set each window's ``mean`` to its combination of ``mean_lgbm`` and ``mean_ets``."""
        f = self.forecasts
        if "mean_ets" not in f.columns:
            return self
        segment = f[["window", "unique_id"]].merge(
            self.series[["window", "unique_id", "segment"]], on=["window", "unique_id"], how="left"
        )["segment"]
        mean = f["mean_lgbm"].to_numpy(dtype=float).copy()
        for w in range(self.config.total_windows):
            rows = (f["window"] == w).to_numpy()
            mean[rows] = self.combination_for(w).apply(
                f["mean_lgbm"].to_numpy()[rows],
                f["mean_ets"].to_numpy()[rows],
                segment.to_numpy()[rows],
            )
        if "calendar_factor" in f.columns:  # closing holidays (DemandForecaster.predict_mean)
            mean *= f["calendar_factor"].to_numpy(dtype=float)
        self.forecasts = f.assign(mean=mean)
        return self

    def calibration_for(self, window: int) -> Calibration:
        """Distribution calibration from the windows that end by ``window``'s cutoff."""
        if window not in self.calibrations:
            past = self.window_forecasts(self.calibrating_windows(window))
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
    check_history(daily["date"].min(), last, config, make_model().feature_set.min_history_days)
    cuts = cutoffs(last, config)
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
        if config.next_day:
            window_days = daily[daily["date"] <= cutoff + pd.Timedelta(days=h)]
            nd = model.predict_next_day(window_days, cutoff + pd.Timedelta(days=1))
            next_day.append(nd.assign(window=w))
        for origin in config.origins(cutoff):
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
    cols += [c for c in ("mean_lgbm", "mean_ets", "calendar_factor") if c in forecasts.columns]
    nd_cols = ["unique_id", "date", "mean", "window"]
    next_frame = (
        pd.concat(next_day, ignore_index=True) if next_day else pd.DataFrame(columns=nd_cols)
    )
    return BacktestResult(
        config=config,
        cutoffs=cuts,
        forecasts=forecasts[cols],
        series=pd.concat(series, ignore_index=True),
        next_day=next_frame.merge(actual, on=["unique_id", "date"], how="left"),
    ).combine()
