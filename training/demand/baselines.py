"""Statistical baselines (statsforecast) on exactly the backtest's windows and series.

- ``seasonal_naive``: SeasonalNaive(7), the bar any model must clear;
- ``auto_ets``: AutoETS(season_length=7) without trend components (``model="ZNZ"``):
  on 28-day daily horizons trended ETS only adds variance, and leaving it out makes
  the baseline three times cheaper to fit; fitted on the last ``input_size`` days;
- ``intermittent``: ADIDA (aggregate–disaggregate), built for intermittent demand,
  and CrostonOptimized alongside it.

Each window's baselines see the same history as the model of that window (days up
to the cutoff, same series), so the comparison is like for like.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

INPUT_SIZE = 365


def run_baselines(
    daily: pd.DataFrame,
    cutoffs: dict[int, pd.Timestamp],
    horizon: int,
    series: dict[int, list[str]],
    n_jobs: int = 1,
    input_size: int = INPUT_SIZE,
    on_step: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Forecasts per window: window, unique_id, date, <baseline>[, <baseline>_lo/_hi]."""
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, AutoETS, CrostonOptimized, Naive, SeasonalNaive

    frames = []
    for w, cutoff in cutoffs.items():
        if on_step:
            on_step(f"baselines window {w}: history up to {cutoff.date()}")
        start = cutoff - pd.Timedelta(days=input_size)
        part = daily[(daily["date"] <= cutoff) & (daily["date"] > start)]
        part = part[part["unique_id"].isin(series[w])]
        train = pd.DataFrame(
            {
                "unique_id": part["unique_id"].to_numpy(),
                "ds": part["date"].to_numpy(),
                "y": part["qty"].to_numpy(dtype=float),
            }
        )
        with_intervals = StatsForecast(
            models=[SeasonalNaive(season_length=7), AutoETS(season_length=7, model="ZNZ")],
            freq="D",
            n_jobs=n_jobs,
            fallback_model=Naive(),
        ).forecast(df=train, h=horizon, level=[80])
        intermittent = StatsForecast(
            models=[ADIDA(), CrostonOptimized()], freq="D", n_jobs=n_jobs, fallback_model=Naive()
        ).forecast(df=train, h=horizon)
        merged = with_intervals.merge(intermittent, on=["unique_id", "ds"], how="outer")
        out = pd.DataFrame(
            {
                "window": w,
                "unique_id": merged["unique_id"].astype(str).to_numpy(),
                "date": pd.to_datetime(merged["ds"]).to_numpy(),
                "seasonal_naive": merged["SeasonalNaive"].to_numpy(),
                "seasonal_naive_lo": merged["SeasonalNaive-lo-80"].to_numpy(),
                "seasonal_naive_hi": merged["SeasonalNaive-hi-80"].to_numpy(),
                "auto_ets": merged["AutoETS"].to_numpy(),
                "auto_ets_lo": merged["AutoETS-lo-80"].to_numpy(),
                "auto_ets_hi": merged["AutoETS-hi-80"].to_numpy(),
                "intermittent": merged["ADIDA"].to_numpy(),
                "croston_optimized": merged["CrostonOptimized"].to_numpy(),
            }
        )
        point = ["seasonal_naive", "auto_ets", "intermittent", "croston_optimized"]
        out[point] = out[point].clip(lower=0.0)  # demand is never negative
        frames.append(out)
    return pd.concat(frames, ignore_index=True)
