"""The demand forecaster: a global LightGBM over item × location daily series.

Why this shape:

- **One global model** (mlforecast) learns weekly patterns, promotion and price
  effects and how demand reacts to recent signals from every series at once; the
  long tail of slow series has too little history to learn anything alone.
- **Tweedie objective** (log link, variance power 1.2): daily distributor demand is
  mostly zeros with occasional lumps. A squared-error model would predict negative
  or shrunken values that need clipping; Tweedie models a point mass at zero plus a
  skewed positive part and predicts the *mean*, which is what a reorder point over
  a lead time adds up. The history segment (fast/slow/intermittent) is a feature,
  and the distribution around the mean is segment-aware (:mod:`models.distribution`).
- **Recursive multi-step** forecasts up to ``horizon`` days: one model, and the same
  code answers "tomorrow" and "the next 28 days".
- **Combined with each series' AutoETS** (:mod:`models.combination`): the mean served
  is a convex blend with weights per segment fitted on earlier backtest windows; the
  ETS state is fitted with the model and follows :meth:`DemandForecaster.update`.
  ``predict_next_day`` (the level-shift report) is the LightGBM alone.

Follows scikit-learn conventions: ``__init__`` stores parameters, ``fit`` validates
and learns (state ends in ``_``) and returns ``self``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.calendar import ClosureCalendar
from features.demand import (
    FEATURES,
    STATIC_COLUMNS,
    DemandFeatureSet,
    exog_features,
    fit_exog,
    model_frame,
    static_table,
)
from features.segments import classify
from models.combination import INPUT_SIZE, Combination, SeriesETS
from models.distribution import Calibration, dispersion_index, quantile

INTERVAL_LEVEL = 0.8
OUTPUT_COLUMNS = (
    "item_id",
    "location_id",
    "date",
    "horizon",
    "forecast",
    "lo_80",
    "hi_80",
    "variance",
    "cum_forecast",
    "cum_variance",
)
STD_FLOOR = 1e-6  # float32 noise of incremental window updates


def _snap_tiny_std(features: pd.DataFrame) -> pd.DataFrame:
    """Set rolling means and standard deviations below ``STD_FLOOR`` to exactly 0.

    Training features are computed in one batch (a window of zeros has mean and std 0),
    while recursive prediction updates them incrementally in float32 (the same window
    gives ~1e-8). A tree split at "> 0" sends the two down different branches, so 5 %
    of the forecasts changed by float noise alone; snapping removes that skew. A true
    rolling mean of counts is 0 or at least 1/window, far above the floor.
    """
    for col in features.columns:
        if str(col).startswith(("rolling_", "seasonal_rolling_")):
            values = features[col]
            features[col] = values.where(values.isna() | (values > STD_FLOOR), 0.0)
    return features


class DemandForecaster:
    def __init__(
        self,
        horizon: int = 28,
        n_estimators: int = 150,
        learning_rate: float = 0.1,
        num_leaves: int = 63,
        min_child_samples: int = 100,
        tweedie_variance_power: float = 1.2,
        num_threads: int = 1,
        random_state: int = 0,
        feature_set: DemandFeatureSet = FEATURES,
        combine_ets: bool = True,
        ets_input_size: int = INPUT_SIZE,
    ) -> None:
        self.horizon = horizon
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.tweedie_variance_power = tweedie_variance_power
        self.num_threads = num_threads
        self.random_state = random_state
        self.feature_set = feature_set
        self.combine_ets = combine_ets
        self.ets_input_size = ets_input_size

    # --- fitting -----------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "tweedie_variance_power": self.tweedie_variance_power,
            "num_threads": self.num_threads,
            "random_state": self.random_state,
            "feature_set": self.feature_set.tag,
            "combine_ets": self.combine_ets,
            "ets_input_size": self.ets_input_size,
        }

    def _lgbm(self) -> Any:
        import lightgbm as lgb

        return lgb.LGBMRegressor(
            objective="tweedie",
            tweedie_variance_power=self.tweedie_variance_power,
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            reg_lambda=1.0,
            num_threads=self.num_threads,
            random_state=self.random_state,
            verbose=-1,
        )

    def fit(self, daily: pd.DataFrame, items: pd.DataFrame | None = None) -> DemandForecaster:
        """Learn from zero-filled daily demand (:func:`features.demand.daily_demand`)."""
        from mlforecast import MLForecast

        if not 1 <= self.horizon <= 366:
            raise ValueError(f"horizon must be between 1 and 366, got {self.horizon}")
        missing = {"unique_id", "date", "item_id", "location_id", "qty"} - set(daily.columns)
        if missing:
            raise ValueError(f"daily lacks column(s) {sorted(missing)}")
        if daily.empty:
            raise ValueError("daily demand is empty: nothing to learn from")
        daily = daily.sort_values(["unique_id", "date"]).reset_index(drop=True)
        history = pd.DataFrame(
            {"unique_id": daily["unique_id"], "ds": daily["date"], "y": daily["qty"]}
        )
        self.last_date_ = pd.Timestamp(daily["date"].max())
        self.segments_ = classify(history)
        self.series_ = static_table(daily, items, self.segments_)
        self.categories_ = {
            col: sorted(self.series_[col].astype(str).unique()) for col in STATIC_COLUMNS
        }
        seg = self.segments_.set_index("unique_id")["segment"]
        self.dispersion_ = dispersion_index(history, seg)
        self.exog_ = fit_exog(daily)
        frame = self._frame(daily)
        fs = self.feature_set
        self.calendar_ = ClosureCalendar.fit(daily) if fs.closures else ClosureCalendar()
        self.mlf_ = MLForecast(
            models={"lgbm": self._lgbm()},
            freq="D",
            lags=list(fs.lags),
            lag_transforms=fs.lag_transforms(),
            date_features=list(fs.date_features),
            num_threads=self.num_threads,
        )
        self.mlf_.fit(
            frame,
            static_features=list(self.feature_set.static),
            keep_last_n=fs.keep_last_n,
            validate_data=False,
        )
        self.feature_names_in_ = list(self.mlf_.ts.features_order_)
        self.recent_ = self._tail(frame)
        self.calibration_ = Calibration()
        self.ets_ = (
            SeriesETS(self.horizon, self.ets_input_size).fit(history, n_jobs=self.num_threads)
            if self.combine_ets
            else None
        )
        self.combination_ = Combination()  # LightGBM alone until weights are set
        return self

    def _frame(self, daily: pd.DataFrame) -> pd.DataFrame:
        return model_frame(
            daily, self.exog_, self.series_, self.categories_, self.feature_set.static
        )

    def _tail(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The last ``keep_last_n`` days per series: all the lag features ever look at."""
        start = pd.Timestamp(frame["ds"].max()) - pd.Timedelta(
            days=self.feature_set.keep_last_n - 1
        )
        return frame[frame["ds"] >= start].reset_index(drop=True)

    def set_calibration(self, calibration: Calibration) -> DemandForecaster:
        self.calibration_ = calibration
        return self

    def set_combination(self, combination: Combination) -> DemandForecaster:
        """LightGBM/AutoETS weights per segment, fitted on earlier forecasts (training)."""
        self.combination_ = combination
        return self

    def calendar_factor(self, dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        """What the forecast of each day is multiplied by: the closure depth on a closing
        holiday (features/calendar.py), else 1 (also for a model pickled before it)."""
        calendar = getattr(self, "calendar_", None)
        return calendar.factor(dates) if calendar is not None else np.ones(len(dates))

    def _check_fitted(self) -> None:
        if not hasattr(self, "mlf_"):
            raise ValueError("DemandForecaster is not fitted: call fit() first")

    @property
    def series_ids(self) -> list[str]:
        self._check_fitted()
        return self.series_["unique_id"].tolist()

    # --- new observations ----------------------------------------------------------

    def update(self, daily: pd.DataFrame) -> DemandForecaster:
        """Append observed days (all series, days after the last one seen) without refitting.

        This is demand sensing between retrains: the next forecast starts from the
        newest actuals, the learned response to them stays the same.
        """
        self._check_fitted()
        new = daily[daily["date"] > self.last_date_]
        new = new[new["unique_id"].isin(self.series_["unique_id"])]
        if new.empty:
            return self
        new = new.sort_values(["unique_id", "date"]).reset_index(drop=True)
        added = self._frame(new)
        frame = pd.concat([self.recent_, added], ignore_index=True)
        self.recent_ = self._tail(frame.sort_values(["unique_id", "ds"]))
        self.last_date_ = pd.Timestamp(new["date"].max())
        if getattr(self, "ets_", None) is not None:
            self.ets_.update(
                pd.DataFrame({"unique_id": new["unique_id"], "ds": new["date"], "y": new["qty"]})
            )
        return self

    # --- prediction ----------------------------------------------------------------

    def _future(self, h: int, ids: list[str], future: pd.DataFrame | None) -> pd.DataFrame | None:
        dates = pd.date_range(self.last_date_ + pd.Timedelta(days=1), periods=h, freq="D")
        grid = pd.DataFrame(
            {
                "unique_id": np.repeat(np.asarray(ids, dtype=object), h),
                "date": np.tile(dates.to_numpy(), len(ids)),
            }
        )
        if not self.exog_.features:
            return None
        if future is not None and not future.empty:
            cols = [c for c in self.exog_.inputs if c in future.columns]
            supplied = future[["unique_id", "date", *cols]].drop_duplicates(
                ["unique_id", "date"], keep="last"
            )
            grid = grid.merge(supplied, on=["unique_id", "date"], how="left")
        X = exog_features(grid, self.exog_)
        X.insert(0, "ds", grid["date"].to_numpy())
        X.insert(0, "unique_id", grid["unique_id"].to_numpy())
        return X

    def predict_mean(
        self, h: int, future: pd.DataFrame | None = None, ids: list[str] | None = None
    ) -> pd.DataFrame:
        """Mean forecast for the next ``h`` days: ``unique_id, date, horizon, mean``.

        ``mean`` is the combination (:attr:`combination_`) of the LightGBM forecast
        (``mean_lgbm``) and the series' AutoETS forecast (``mean_ets``, absent when the
        model is fitted without it).

        ``future`` may hold known-future ``price``/``promo``/``x_*`` per ``unique_id``
        and ``date``; absent values take the fit-time defaults (regular price, no promo).
        """
        self._check_fitted()
        if not 1 <= h <= self.horizon:
            raise ValueError(f"h must be between 1 and {self.horizon}, got {h}")
        ids = self.series_ids if ids is None else list(ids)
        unknown = sorted(set(ids) - set(self.series_["unique_id"]))
        if unknown:
            raise ValueError(f"unknown series (not in training data): {unknown[:5]}")
        X = self._future(h, ids, future)
        # Features are rebuilt from the stored recent history (``new_df``) rather than
        # kept incrementally: mlforecast's ``update`` leaves exponentially weighted
        # means stale, and one path for fresh and updated models is simpler anyway.
        pred = self.mlf_.predict(
            h, X_df=X, ids=ids, new_df=self.recent_, before_predict_callback=_snap_tiny_std
        )
        out = pd.DataFrame(
            {
                "unique_id": pred["unique_id"].astype(str).to_numpy(),
                "date": pd.to_datetime(pred["ds"]).to_numpy(),
                "mean_lgbm": np.clip(pred["lgbm"].to_numpy(dtype=float), 0.0, None),
            }
        )
        out["horizon"] = (out["date"] - self.last_date_).dt.days.astype(int)
        out = out.sort_values(["unique_id", "horizon"]).reset_index(drop=True)
        out["calendar_factor"] = self.calendar_factor(out["date"])
        if getattr(self, "ets_", None) is None:  # fitted without AutoETS (or before it existed)
            out["mean"] = out["mean_lgbm"] * out["calendar_factor"]
            return out
        order = list(dict.fromkeys(out["unique_id"]))
        out["mean_ets"] = self.ets_.forecast(order, h)
        segment = out["unique_id"].map(self.series_.set_index("unique_id")["segment"])
        blend = self.combination_.apply(
            out["mean_lgbm"].to_numpy(), out["mean_ets"].to_numpy(), segment.to_numpy()
        )
        out["mean"] = blend * out["calendar_factor"].to_numpy()
        return out

    def predict_next_day(self, daily: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
        """Next-day forecasts for every day from ``start`` on, each from the days before it.

        Equivalent to re-forecasting every morning with yesterday's actuals (daily
        demand sensing) with this fitted model, but computed in one pass: a one-day-ahead
        feature row only uses lags ≥ 1 of the target plus that day's known-future
        columns, so the training feature pipeline builds it exactly. ``daily`` must
        hold the history before ``start`` (for the lags) and the days to score.
        """
        import copy

        self._check_fitted()
        known = daily[daily["unique_id"].isin(self.series_["unique_id"])]
        known = known.sort_values(["unique_id", "date"]).reset_index(drop=True)
        frame = self._frame(known)
        mlf = copy.deepcopy(self.mlf_)  # preprocess refits the feature state; keep ours
        X = mlf.preprocess(
            frame, static_features=list(self.feature_set.static), dropna=False, validate_data=False
        )
        X = X[X["ds"] >= pd.Timestamp(start)]
        mean = self.mlf_.models_["lgbm"].predict(_snap_tiny_std(X[self.feature_names_in_].copy()))
        mean = np.asarray(mean, dtype=float) * self.calendar_factor(X["ds"])
        return pd.DataFrame(
            {
                "unique_id": X["unique_id"].astype(str).to_numpy(),
                "date": pd.to_datetime(X["ds"]).to_numpy(),
                "mean": np.clip(np.asarray(mean, dtype=float), 0.0, None),
            }
        ).reset_index(drop=True)

    def distribution(
        self,
        means: pd.DataFrame,
        calibration: Calibration | None = None,
        level: float = INTERVAL_LEVEL,
    ) -> pd.DataFrame:
        """Add variance, interval and cumulative columns to mean forecasts.

        ``means`` is :meth:`predict_mean`'s output (horizons 1..h per series, in order).
        ``cum_forecast``/``cum_variance`` describe total demand from day 1 to this row's
        day: what a reorder point over a lead time needs.
        """
        self._check_fitted()
        calibration = calibration or self.calibration_
        out = means.sort_values(["unique_id", "horizon"]).reset_index(drop=True)
        info = self.series_.set_index("unique_id")
        out["item_id"] = out["unique_id"].map(info["item_id"]).to_numpy()
        out["location_id"] = out["unique_id"].map(info["location_id"]).to_numpy()
        segment = out["unique_id"].map(info["segment"]).fillna("intermittent").to_numpy()
        phi = out["unique_id"].map(self.dispersion_).fillna(1.0).to_numpy(dtype=float)
        mean = out["mean"].to_numpy(dtype=float)
        out["segment"] = segment
        out["phi"] = phi
        out["variance"] = calibration.daily_factor(segment) * phi * mean
        lo_q = (1 - level) / 2
        out["lo_80"] = quantile(mean, out["variance"].to_numpy(), lo_q)
        out["hi_80"] = quantile(mean, out["variance"].to_numpy(), 1 - lo_q)
        cum = out.groupby("unique_id", sort=False)["mean"].cumsum().to_numpy()
        out["cum_forecast"] = cum
        factor = calibration.cumulative_factor(segment, out["horizon"].to_numpy())
        out["cum_variance"] = factor * phi * cum
        return out

    def predict(
        self, h: int, future: pd.DataFrame | None = None, ids: list[str] | None = None
    ) -> pd.DataFrame:
        """Mean, 80 % interval and cumulative distribution for the next ``h`` days."""
        out = self.distribution(self.predict_mean(h, future=future, ids=ids))
        return out.rename(columns={"mean": "forecast"})

    def forecast_requests(self, request: pd.DataFrame) -> pd.DataFrame:
        """Answer request rows (item_id, location_id, horizon or date, optional exog).

        The serving and pyfunc entry point: one output row per request row, in order,
        with :data:`OUTPUT_COLUMNS`. Raises ``ValueError`` naming the offending rows.
        """
        self._check_fitted()
        missing = {"item_id", "location_id"} - set(request.columns)
        if missing:
            raise ValueError(f"request lacks column(s) {sorted(missing)}")
        if request.empty:
            return pd.DataFrame(columns=list(OUTPUT_COLUMNS))
        req = request.reset_index(drop=True).copy()
        req["item_id"] = req["item_id"].astype(str)
        req["location_id"] = req["location_id"].astype(str)
        horizon = pd.Series(np.nan, index=req.index)
        if "horizon" in req.columns:
            horizon = pd.to_numeric(req["horizon"], errors="coerce")
        if "date" in req.columns:
            dates = pd.to_datetime(req["date"], errors="coerce").dt.normalize()
            horizon = horizon.fillna((dates - self.last_date_).dt.days)
        bad = horizon.isna() | (horizon < 1) | (horizon > self.horizon) | (horizon % 1 != 0)
        if bad.any():
            rows = bad[bad].index[:5].tolist()
            raise ValueError(
                f"each row needs a horizon between 1 and {self.horizon} or a date between "
                f"{(self.last_date_ + pd.Timedelta(days=1)).date()} and "
                f"{(self.last_date_ + pd.Timedelta(days=self.horizon)).date()}; "
                f"bad rows: {rows}"
            )
        req["horizon"] = horizon.astype(int)
        lookup = {
            (i, loc): uid
            for uid, i, loc in self.series_[["unique_id", "item_id", "location_id"]].itertuples(
                index=False
            )
        }
        req["unique_id"] = [
            lookup.get(k) for k in zip(req["item_id"], req["location_id"], strict=True)
        ]
        unknown = req[req["unique_id"].isna()]
        if not unknown.empty:
            pairs = sorted(set(zip(unknown["item_id"], unknown["location_id"], strict=True)))
            raise ValueError(f"unknown item × location (not in training data): {pairs[:5]}")
        req["date"] = self.last_date_ + pd.to_timedelta(req["horizon"], unit="D")
        ids = sorted(req["unique_id"].unique())
        pred = self.predict(int(req["horizon"].max()), future=req, ids=ids)
        out = req[["unique_id", "horizon"]].merge(
            pred.drop(columns=["item_id", "location_id"]), on=["unique_id", "horizon"], how="left"
        )
        out["item_id"] = req["item_id"].to_numpy()
        out["location_id"] = req["location_id"].to_numpy()
        return out[list(OUTPUT_COLUMNS)]
