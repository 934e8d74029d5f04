"""The demand forecaster and its backtest on small seeded series with tiny models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.demand import daily_demand, zero_fill
from models.demand import OUTPUT_COLUMNS, DemandForecaster
from stockpilot.errors import InvalidInput
from tests.demand.conftest import synthetic_demand, synthetic_items
from training.demand.backtest import BacktestConfig, cutoffs, run_backtest

TINY = {"n_estimators": 30, "learning_rate": 0.2, "min_child_samples": 10, "horizon": 14}


def tiny(**kw: object) -> DemandForecaster:
    return DemandForecaster(**{**TINY, **kw})


def test_fit_predict_returns_mean_interval_and_cumulative(daily: pd.DataFrame):
    model = tiny().fit(daily, synthetic_items())
    out = model.predict(7)
    assert len(out) == daily["unique_id"].nunique() * 7
    assert (out["forecast"] >= 0).all()
    assert (out["lo_80"] <= out["hi_80"]).all()
    first = out.groupby("unique_id")["cum_forecast"].first()
    assert np.allclose(first, out[out["horizon"] == 1].set_index("unique_id")["forecast"])
    assert (out.groupby("unique_id")["cum_forecast"].diff().dropna() >= -1e-12).all()
    # The busiest series gets the largest forecast: the model learned the scale.
    busiest = daily.groupby("unique_id")["qty"].mean().idxmax()
    assert out.groupby("unique_id")["forecast"].mean().idxmax() == busiest
    with pytest.raises(ValueError, match="h must be"):
        model.predict(15)


def test_missing_optional_columns_still_fit(daily: pd.DataFrame):
    plain = zero_fill(synthetic_demand(exog=False))
    model = tiny().fit(plain, items=None)
    assert model.exog_.features == []
    assert set(model.series_["category"]) == {"(unknown)"}
    assert len(model.predict(3)) == plain["unique_id"].nunique() * 3


def test_demand_derived_from_orders_trains():
    table = synthetic_demand(n_items=4, n_days=120, exog=False)
    lines = table[table["qty"] > 0].reset_index(drop=True)
    orders = pd.DataFrame(
        {
            "order_id": [f"o{k}" for k in range(len(lines))],
            "line_no": 1,
            "order_ts": lines["date"] + pd.Timedelta(hours=10),
            "item_id": lines["item_id"],
            "location_id": lines["location_id"],
            "qty": lines["qty"],
        }
    )
    daily = daily_demand(None, orders)
    model = tiny(horizon=7).fit(daily)
    assert model.predict(7)["forecast"].notna().all()


def test_next_day_forecasts_match_recursive_forecasts(daily: pd.DataFrame):
    cut = daily["date"].max() - pd.Timedelta(days=10)
    model = tiny().fit(daily[daily["date"] <= cut], synthetic_items())
    future = daily[daily["date"] > cut]
    recursive = model.predict_mean(1, future=future)
    batch = model.predict_next_day(daily, cut + pd.Timedelta(days=1))
    both = recursive.merge(batch, on=["unique_id", "date"])
    assert len(both) == len(recursive)
    assert np.allclose(both["mean_x"], both["mean_y"], atol=1e-6)


def test_update_feeds_recent_actuals_into_the_forecast():
    """Demand sensing: after a jump in demand, the next forecast is higher, without refit.

    The jump stays within levels other series have shown (a global tree model reads
    lags in units and does not extrapolate beyond what it has seen).
    """
    table = synthetic_demand(n_items=4, n_days=150, exog=False, rates=[20.0, 5.0, 5.0, 1.0])
    daily = zero_fill(table)
    cut = daily["date"].max() - pd.Timedelta(days=14)
    model = tiny().fit(daily[daily["date"] <= cut])
    before = model.predict_mean(7).groupby("unique_id")["mean"].mean()
    later = daily[daily["date"] > cut].copy()
    later.loc[later["unique_id"] == "I1|L2", "qty"] *= 3  # a level shift up
    model.update(later)
    after = model.predict_mean(7).groupby("unique_id")["mean"].mean()
    assert after["I1|L2"] > 1.5 * before["I1|L2"]
    assert after["I2|L1"] < 1.3 * before["I2|L1"]  # an unshifted series stays put
    assert model.last_date_ == daily["date"].max()


def test_forecast_requests_by_horizon_or_date_and_clear_errors(daily: pd.DataFrame):
    model = tiny().fit(daily, synthetic_items())
    first = model.last_date_ + pd.Timedelta(days=1)
    request = pd.DataFrame(
        {
            "item_id": ["I1", "I0", "I0"],
            "location_id": ["L2", "L1", "L1"],
            "horizon": [3, np.nan, 1],
            "date": [pd.NaT, first + pd.Timedelta(days=4), pd.NaT],
            "promo": [True, False, False],
        }
    )
    out = model.forecast_requests(request)
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert out["horizon"].tolist() == [3, 5, 1]
    assert out["item_id"].tolist() == ["I1", "I0", "I0"]
    assert out["date"].iloc[1] == first + pd.Timedelta(days=4)
    with pytest.raises(ValueError, match="unknown item"):
        model.forecast_requests(
            pd.DataFrame({"item_id": ["Z"], "location_id": ["L1"], "horizon": [1]})
        )
    with pytest.raises(ValueError, match="horizon between 1 and 14"):
        model.forecast_requests(
            pd.DataFrame({"item_id": ["I0"], "location_id": ["L1"], "horizon": [30]})
        )


class Spy:
    """A forecaster factory that records the last day each fitted model was shown."""

    def __init__(self) -> None:
        self.seen: list[pd.Timestamp] = []

    def __call__(self) -> DemandForecaster:
        spy = self

        class Recording(DemandForecaster):
            def fit(self, daily, items=None):  # type: ignore[override]
                spy.seen.append(pd.Timestamp(daily["date"].max()))
                return super().fit(daily, items)

        return Recording(**TINY)


def test_backtest_windows_are_time_ordered_and_never_see_the_future(daily: pd.DataFrame):
    config = BacktestConfig(horizon=14, n_windows=3, calibration_windows=1, refresh_days=7)
    spy = Spy()
    bt = run_backtest(daily, synthetic_items(), spy, config)
    assert bt.cutoffs == sorted(bt.cutoffs) and len(bt.cutoffs) == 4
    assert bt.cutoffs == cutoffs(daily["date"].max(), config)
    assert spy.seen == bt.cutoffs  # each window's model saw data up to its cutoff only
    f = bt.forecasts
    assert (f["date"] > f["origin"]).all() and (f["origin"] >= f["cutoff"]).all()
    assert (bt.next_day["date"] > bt.next_day["window"].map(dict(enumerate(bt.cutoffs)))).all()
    # Changing what happens after a window's cutoff cannot change its cutoff forecast.
    future = daily.copy()
    late = future["date"] > bt.cutoffs[1]
    future.loc[late, "qty"] = future.loc[late, "qty"] * 10 + 5
    again = run_backtest(future, synthetic_items(), lambda: tiny(), config)

    def w1(r):
        return r.forecasts[(r.forecasts["window"] == 1) & (r.forecasts["origin"] == r.cutoffs[1])]

    assert np.allclose(w1(bt)["mean"].to_numpy(), w1(again)["mean"].to_numpy())
    assert not np.allclose(
        bt.forecasts[bt.forecasts["window"] == 3]["mean"],
        again.forecasts[again.forecasts["window"] == 3]["mean"],
    )
    # Each evaluated window is calibrated on earlier windows only.
    assert bt.calibration_for(1).n_rows == len(bt.window_forecasts([0]))


def test_backtest_needs_enough_history(daily: pd.DataFrame):
    with pytest.raises(InvalidInput, match=r"not enough history.*20 scored window"):
        run_backtest(daily, None, tiny, BacktestConfig(horizon=14, n_windows=20))
    # 200 days, 8 windows of 14: the first window would learn from 88 days, fewer than the
    # 98 the lag features need (LightGBM used to fail on an empty training frame).
    with pytest.raises(InvalidInput, match=r"after at least 98 days.*need 210 days"):
        run_backtest(daily, None, tiny, BacktestConfig(horizon=14, n_windows=7))
    with pytest.raises(ValueError, match="refresh_days"):
        BacktestConfig(horizon=7, refresh_days=8)
