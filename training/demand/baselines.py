"""Baselines on exactly the backtest's windows, origins and series.

What a strong data scientist would fit in an afternoon on the same export:

- ``seasonal_naive``: SeasonalNaive(7), the bar any model must clear;
- ``auto_ets``: AutoETS(season_length=7) without trend components (``model="ZNZ"``):
  on 28-day daily horizons trended ETS only adds variance, and leaving it out makes
  the baseline three times cheaper to fit; fitted on the last ``input_size`` days;
- ``intermittent``: ADIDA (aggregate–disaggregate), built for intermittent demand,
  and ``croston_optimized`` alongside it;
- ``plain_lightgbm``: a global mlforecast LightGBM with the textbook lags (1–7, 14, 28)
  and the day of week, LightGBM's default parameters (squared error), no exogenous
  columns and no engineering — what our model has to be better than to be worth its
  features.

Each window's baselines see the same history as the model of that window (days up
to the cutoff, same series), and forecast from the same origins: the cutoff, or every
refresh origin when the backtest refreshes (the statsforecast models are fitted again
on the history up to the origin — they have no state to update; the LightGBM baseline,
like our model, keeps its window's fit and reads the newer actuals as lags).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from training.demand.backtest import BacktestConfig

INPUT_SIZE = 365
PLAIN_LAGS = (1, 2, 3, 4, 5, 6, 7, 14, 28)
POINT = ("seasonal_naive", "auto_ets", "intermittent", "croston_optimized", "plain_lightgbm")
NAMES = {
    "seasonal_naive": "SeasonalNaive(7)",
    "auto_ets": "AutoETS(season_length=7, model='ZNZ')",
    "intermittent": "ADIDA",
    "croston_optimized": "CrostonOptimized",
    "plain_lightgbm": "mlforecast LightGBM (lags 1-7, 14, 28, day of week; defaults)",
}
LABELS = {  # for tables
    "seasonal_naive": "SeasonalNaive",
    "auto_ets": "AutoETS",
    "intermittent": "ADIDA",
    "croston_optimized": "Croston",
    "plain_lightgbm": "plain LightGBM",
}


def _long(part: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": part["unique_id"].to_numpy(),
            "ds": part["date"].to_numpy(),
            "y": part["qty"].to_numpy(dtype=float),
        }
    )


def _statistical(train: pd.DataFrame, h: int, n_jobs: int) -> pd.DataFrame:
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, AutoETS, CrostonOptimized, Naive, SeasonalNaive

    with_intervals = StatsForecast(
        models=[SeasonalNaive(season_length=7), AutoETS(season_length=7, model="ZNZ")],
        freq="D",
        n_jobs=n_jobs,
        fallback_model=Naive(),
    ).forecast(df=train, h=h, level=[80])
    intermittent = StatsForecast(
        models=[ADIDA(), CrostonOptimized()], freq="D", n_jobs=n_jobs, fallback_model=Naive()
    ).forecast(df=train, h=h)
    merged = with_intervals.merge(intermittent, on=["unique_id", "ds"], how="outer")
    return pd.DataFrame(
        {
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


def plain_lightgbm(threads: int, random_state: int = 0) -> object:
    """The unfitted mlforecast LightGBM baseline (default LGBMRegressor, textbook lags)."""
    import lightgbm as lgb
    from mlforecast import MLForecast

    model = lgb.LGBMRegressor(num_threads=threads, random_state=random_state, verbose=-1)
    return MLForecast(
        models={"plain_lightgbm": model},
        freq="D",
        lags=list(PLAIN_LAGS),
        date_features=["dayofweek"],
        num_threads=threads,
    )


def run_baselines(
    daily: pd.DataFrame,
    cutoffs: dict[int, pd.Timestamp],
    config: BacktestConfig,
    series: dict[int, list[str]],
    n_jobs: int = 1,
    input_size: int = INPUT_SIZE,
    on_step: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Scored forecasts per window: window, unique_id, date, <baseline>[, _lo/_hi]."""
    frames = []
    tail = pd.Timedelta(days=max(PLAIN_LAGS) + 7)
    for w, cutoff in cutoffs.items():
        if on_step:
            on_step(f"baselines window {w}: history up to {cutoff.date()}")
        mine = daily[daily["unique_id"].isin(series[w])]
        history = mine[mine["date"] <= cutoff]
        lgbm = plain_lightgbm(n_jobs).fit(_long(history), static_features=[])
        for origin, days in config.scoring_origins(cutoff):
            known = mine[mine["date"] <= origin]
            recent = known[known["date"] > origin - pd.Timedelta(days=input_size)]
            out = _statistical(_long(recent), days, n_jobs)
            plain = lgbm.predict(days, new_df=_long(known[known["date"] > origin - tail]))
            out = out.merge(
                plain.assign(
                    unique_id=plain["unique_id"].astype(str), date=pd.to_datetime(plain["ds"])
                )[["unique_id", "date", "plain_lightgbm"]],
                on=["unique_id", "date"],
                how="left",
            )
            frames.append(out.assign(window=w))
    out = pd.concat(frames, ignore_index=True)
    out[list(POINT)] = np.clip(out[list(POINT)].to_numpy(dtype=float), 0.0, None)  # never < 0
    first = ["window", "unique_id", "date"]
    return out[first + [c for c in out.columns if c not in first]]
