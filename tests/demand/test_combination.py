"""The LightGBM + AutoETS combination: weights from earlier windows only, ETS state, serving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.demand import zero_fill
from models.combination import Combination, SeriesETS, fit_combination
from models.demand_pyfunc import load_forecaster, save_forecaster
from tests.demand.conftest import synthetic_demand, synthetic_items
from tests.demand.test_forecaster import TINY, tiny
from training.demand.backtest import BacktestConfig, BacktestResult, run_backtest


def _rows(n: int, segment: str, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "segment": segment,
            "mean_lgbm": rng.uniform(0.5, 5.0, n),
            "mean_ets": rng.uniform(0.5, 5.0, n),
        }
    )


def test_fit_combination_picks_the_better_forecast_within_zero_one():
    fast = _rows(600, "fast").assign(y=lambda d: d["mean_lgbm"])  # LightGBM exact
    slow = _rows(600, "slow", 1).assign(y=lambda d: d["mean_ets"])  # AutoETS exact
    few = _rows(50, "intermittent", 2).assign(y=lambda d: d["mean_ets"])
    both = _rows(600, "fast", 3).assign(y=lambda d: (d["mean_lgbm"] + d["mean_ets"]) / 2)
    c = fit_combination(pd.concat([fast, slow, few], ignore_index=True))
    assert c.weights == {"fast": 1.0, "slow": 0.0}  # 50 rows are too few for a weight
    assert 0.0 <= c.default <= 1.0 and "intermittent" not in c.weights
    assert np.allclose(c.weight(np.array(["intermittent", "new"])), c.default)
    assert fit_combination(both).weights["fast"] == pytest.approx(0.5)
    assert fit_combination(both.iloc[:0]) == Combination()  # nothing earlier: LightGBM alone
    out = c.apply(np.array([2.0, 2.0]), np.array([4.0, 4.0]), np.array(["fast", "slow"]))
    assert out.tolist() == [2.0, 4.0]


def _hand_backtest(config: BacktestConfig, y_of: dict[int, str]) -> BacktestResult:
    """A backtest result without fitting: window w's actuals equal ``y_of[w]``'s forecast."""
    rng = np.random.default_rng(0)
    cuts = [
        pd.Timestamp("2024-06-01") + pd.Timedelta(days=config.window_step * w)
        for w in range(config.total_windows)
    ]
    frames, series = [], []
    for w, cut in enumerate(cuts):
        n = config.horizon * 40
        f = pd.DataFrame(
            {
                "window": w,
                "cutoff": cut,
                "origin": cut,
                "unique_id": np.repeat([f"s{k}" for k in range(40)], config.horizon),
                "date": np.tile(
                    pd.date_range(cut + pd.Timedelta(days=1), periods=config.horizon), 40
                ),
                "horizon": np.tile(np.arange(1, config.horizon + 1), 40),
                "mean_lgbm": rng.uniform(0.5, 5.0, n),
                "mean_ets": rng.uniform(0.5, 5.0, n),
            }
        )
        f["y"] = f[y_of[w]]
        f["mean"] = f["mean_lgbm"]
        frames.append(f)
        series.append(
            pd.DataFrame(
                {
                    "window": w,
                    "unique_id": [f"s{k}" for k in range(40)],
                    "segment": "fast",
                    "phi": 1.0,
                }
            )
        )
    return BacktestResult(
        config=config,
        cutoffs=cuts,
        forecasts=pd.concat(frames, ignore_index=True),
        series=pd.concat(series, ignore_index=True),
        next_day=pd.DataFrame(columns=["unique_id", "date", "mean", "window", "y"]),
    ).combine()


def test_combination_weights_come_only_from_days_before_the_scored_window():
    """Window 0's actuals follow LightGBM, the scored windows' actuals follow AutoETS.

    Weights fitted on a window's own (or any later) days would move towards AutoETS;
    fitted on the past only, window 1 must forecast with LightGBM alone, window 2 only
    from windows 0 and 1, and overlapping windows (step < horizon) never feed each other.
    """
    config = BacktestConfig(horizon=14, n_windows=3)
    bt = _hand_backtest(config, {0: "mean_lgbm", 1: "mean_ets", 2: "mean_ets", 3: "mean_ets"})
    assert bt.combination_for(0) == Combination()  # no window before the first
    assert bt.combination_for(1).weights == {"fast": 1.0}  # window 0 only
    assert bt.combination_for(1).n_rows == 14 * 40
    assert bt.combination_for(2).n_rows == 2 * 14 * 40
    assert bt.combination_for(3).weights["fast"] < 1.0  # windows 1, 2 now count
    w1 = bt.forecasts[bt.forecasts["window"] == 1]
    assert np.allclose(w1["mean"], w1["mean_lgbm"])  # what window 1 is scored on
    # The final model learns from every window, its own evidence included.
    assert bt.final_combination().n_rows == 4 * 14 * 40

    overlapping = BacktestConfig(horizon=14, n_windows=4, step=7, calibration_windows=2)
    bt = _hand_backtest(
        overlapping,
        {0: "mean_lgbm", 1: "mean_ets", 2: "mean_ets", 3: "mean_ets", 4: "mean_ets", 5: "mean_ets"},
    )
    assert bt.calibrating_windows(2) == [0]
    assert bt.combination_for(2).weights == {"fast": 1.0}  # window 1 overlaps window 2


def test_series_ets_matches_the_autoets_baseline_and_follows_new_actuals():
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    daily = zero_fill(synthetic_demand(n_items=3, n_days=160, exog=False))
    history = daily.rename(columns={"date": "ds", "qty": "y"})[["unique_id", "ds", "y"]]
    cut = history["ds"].max() - pd.Timedelta(days=14)
    ets = SeriesETS(horizon=7).fit(history[history["ds"] <= cut])
    baseline = StatsForecast(models=[AutoETS(season_length=7, model="ZNZ")], freq="D").forecast(
        df=history[history["ds"] <= cut], h=7
    )
    ids = sorted(history["unique_id"].unique())
    expected = baseline.sort_values(["unique_id", "ds"])["AutoETS"].clip(lower=0).to_numpy()
    assert np.allclose(ets.forecast(ids, 7), expected, rtol=1e-6)
    # Updating with the actuals equals running the fitted model over the longer series.
    later = history[history["ds"] > cut].copy()
    shifted = later.assign(y=later["y"] * np.where(later["unique_id"] == ids[0], 4, 1))
    before = ets.forecast(ids, 7).reshape(len(ids), 7).mean(axis=1)
    ets.update(shifted)
    after = ets.forecast(ids, 7).reshape(len(ids), 7).mean(axis=1)
    assert after[0] > 1.5 * before[0]  # the shifted series' level followed
    assert len(ets.y_[ids[0]]) == 146 + 14  # all days kept: the state is the fitted run


def test_served_forecast_equals_the_backtest_forecast_for_the_same_cutoff(tmp_path):
    daily = zero_fill(synthetic_demand(n_days=210))
    items = synthetic_items()
    config = BacktestConfig(horizon=14, n_windows=2, next_day=False)
    bt = run_backtest(daily, items, tiny, config)
    last = bt.eval_windows[-1]
    cutoff = bt.cutoffs[last]
    combination = bt.combination_for(last)
    assert combination.n_rows == len(bt.window_forecasts(bt.calibrating_windows(last)))
    model = tiny().fit(daily[daily["date"] <= cutoff], items).set_combination(combination)
    served = load_forecaster(save_forecaster(model, tmp_path / "forecaster.pkl"))
    known = daily[(daily["date"] > cutoff) & (daily["date"] <= cutoff + pd.Timedelta(days=14))]
    request = known.assign(horizon=(known["date"] - cutoff).dt.days)[
        ["item_id", "location_id", "horizon", "price", "promo", "x_holiday"]
    ]
    out = served.forecast_requests(request)
    f = bt.forecasts[(bt.forecasts["window"] == last) & (bt.forecasts["origin"] == cutoff)]
    expected = known.assign(horizon=(known["date"] - cutoff).dt.days).merge(
        f[["unique_id", "horizon", "mean", "mean_lgbm", "mean_ets"]], on=["unique_id", "horizon"]
    )
    assert len(expected) == len(out) == len(request)
    assert np.allclose(out["forecast"].to_numpy(), expected["mean"].to_numpy(), atol=1e-9)
    # The combination is real: the served mean is neither part alone.
    assert not np.allclose(expected["mean"], expected["mean_lgbm"])


def test_fitted_without_ets_forecasts_with_lightgbm_alone(daily: pd.DataFrame):
    model = tiny(combine_ets=False).fit(daily, synthetic_items())
    assert model.ets_ is None
    out = model.predict_mean(7)
    assert np.allclose(out["mean"], out["mean_lgbm"]) and "mean_ets" not in out.columns
    assert TINY["horizon"] == model.horizon
