"""Daily demand series: derivation from orders, zero-filling, known-future columns, segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.demand import (
    daily_demand,
    demand_from_orders,
    exog_features,
    fit_exog,
    zero_fill,
)
from features.segments import classify
from stockpilot.errors import InvalidInput
from tests.demand.conftest import synthetic_demand


def orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": ["o1", "o1", "o2", "o3", "o4"],
            "line_no": [1, 2, 1, 1, 1],
            "order_ts": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 09:00",
                    "2024-01-01 17:30",
                    "2024-01-04 08:00",
                    "2024-01-03 10:00",
                ]
            ),
            "item_id": ["A", "B", "A", "A", "B"],
            "location_id": ["X", "X", "X", "X", "Y"],
            "qty": [2.0, 1.0, 3.0, 4.0, 7.0],
            "x_promo": [1.0, 0.0, 0.0, 1.0, 0.0],
        }
    )


def test_demand_is_derived_from_orders_when_the_table_is_absent():
    daily = daily_demand(None, orders())
    a = daily[daily["unique_id"] == "A|X"].set_index("date")["qty"]
    # Two lines on Jan 1 add up; days without orders are zeros; the series runs to the end.
    assert a.to_dict() == {
        pd.Timestamp("2024-01-01"): 5.0,
        pd.Timestamp("2024-01-02"): 0.0,
        pd.Timestamp("2024-01-03"): 0.0,
        pd.Timestamp("2024-01-04"): 4.0,
    }
    # A series starts at its first order, not at the first date of the dataset.
    b_y = daily[daily["unique_id"] == "B|Y"]
    assert b_y["date"].min() == pd.Timestamp("2024-01-03")
    assert b_y["qty"].tolist() == [7.0, 0.0]
    # Order-line context is not known-future: no exogenous columns come along.
    assert set(daily.columns) == {"unique_id", "date", "item_id", "location_id", "qty"}


def test_demand_table_wins_over_orders():
    table = demand_from_orders(orders()).assign(qty=100.0)
    assert (daily_demand(table, orders())["qty"].isin([0.0, 100.0])).all()


def test_without_demand_or_orders_is_an_error():
    with pytest.raises(ValueError, match="demand"):
        daily_demand(None, None)


def test_zero_fill_fills_prices_promos_and_calendar_columns():
    table = synthetic_demand(n_items=2, n_days=10)
    holes = table.drop(index=[3, 4, 15])  # rows missing in a messy export
    filled = zero_fill(holes)
    assert len(filled) == len(table)
    row = filled[(filled["item_id"] == "I0") & (filled["date"] == table.loc[3, "date"])].iloc[0]
    assert row["qty"] == 0.0
    assert row["promo"] == 0.0
    assert row["price"] == table.loc[2, "price"]  # last known price carried forward
    # x_holiday never differs between series on a date: filled from the other series.
    assert filled["x_holiday"].notna().all()


def test_exog_spec_learns_regular_prices_and_defaults():
    daily = zero_fill(synthetic_demand(n_items=2, n_days=60))
    daily["x_channel"] = np.where(daily["date"].dt.dayofweek < 5, "web", "phone")
    spec = fit_exog(daily)
    assert spec.features == ["price_ratio", "promo", "x_holiday", "x_channel"]
    assert spec.reference_price["I0|L1"] == 10.0
    future = pd.DataFrame(
        {"unique_id": ["I0|L1", "I0|L1"], "price": [9.0, np.nan], "x_channel": ["web", "fax"]}
    )
    X = exog_features(future, spec)
    assert X["price_ratio"].tolist() == [0.9, 1.0]  # unknown price: regular price
    assert X["promo"].tolist() == [0.0, 0.0]  # column absent: no promotion
    assert X["x_holiday"].tolist() == [0.0, 0.0]  # most common value
    assert X["x_channel"].astype(object).tolist()[0] == "web"
    assert pd.isna(X["x_channel"].iloc[1])  # unseen category


def test_segments_follow_the_inter_demand_interval():
    dates = pd.date_range("2024-01-01", periods=120, freq="D")
    t = np.arange(120)
    series = {
        "daily": np.full(120, 3.0),
        "every_third_day": np.where(t % 3 == 0, 2.0, 0.0),
        "every_tenth_day": np.where(t % 10 == 0, 5.0, 0.0),
        "never": np.zeros(120),
    }
    history = pd.concat(
        [pd.DataFrame({"unique_id": k, "ds": dates, "y": v}) for k, v in series.items()]
    )
    seg = classify(history).set_index("unique_id")
    assert seg.loc["daily", "segment"] == "fast"
    assert seg.loc["every_third_day", "segment"] == "slow"
    assert seg.loc["every_tenth_day", "segment"] == "intermittent"
    assert seg.loc["never", "segment"] == "intermittent"
    assert seg.loc["every_tenth_day", "adi"] == pytest.approx(10.0)
    assert seg.loc["daily", "cv2"] == pytest.approx(0.0)


def test_segments_use_only_the_recent_window():
    dates = pd.date_range("2023-01-01", periods=500, freq="D")
    y = np.where(np.arange(500) < 300, 0.0, 4.0)  # silent first, then selling daily
    history = pd.DataFrame({"unique_id": "s", "ds": dates, "y": y})
    assert classify(history, window_days=150)["segment"].iloc[0] == "fast"
    assert classify(history, window_days=500)["segment"].iloc[0] == "slow"


def test_min_history_is_where_mlforecast_starts_learning():
    """A series one day shorter than ``min_history_days`` gives no training row."""
    from mlforecast import MLForecast

    from features.demand import FEATURES

    need = FEATURES.min_history_days
    rows = {}
    for n in (need - 1, need):
        series = pd.DataFrame(
            {
                "unique_id": "a",
                "ds": pd.date_range("2024-01-01", periods=n),
                "y": np.arange(n, dtype=float) % 5,
            }
        )
        mlf = MLForecast(
            models=[],
            freq="D",
            lags=list(FEATURES.lags),
            lag_transforms=FEATURES.lag_transforms(),
        )
        rows[n] = len(mlf.preprocess(series, static_features=[]))
    assert rows == {need - 1: 0, need: 1}


def test_no_demand_rows_and_no_order_lines_is_refused_by_name():
    empty_orders = orders().iloc[:0]
    with pytest.raises(InvalidInput, match="no demand rows and no order lines"):
        daily_demand(None, empty_orders)
    with pytest.raises(InvalidInput, match="no demand rows and no order lines"):
        daily_demand(synthetic_demand().iloc[:0], None)
