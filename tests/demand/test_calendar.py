"""Closure days read from the history (features/calendar.py) and what the forecaster does with them.

Two years of seeded series that ship 15 % of a normal day on six US holidays (three fixed
dates, three weekday rules — the simulator's calendar, and a distributor's), and not on
the other US holidays. The calendar must find a country whose rules place those six,
flag a holiday only once an earlier occurrence of it was seen low (point in time), place a
floating holiday by its rule rather than its date, and stay empty on data without drops.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.calendar import ClosureCalendar, judge_days
from features.demand import FEATURES, daily_demand
from models.demand import DemandForecaster

START = pd.Timestamp("2024-01-01")
CLOSED = [  # the six the series close on (Thanksgiving 2025 is 27 Nov, not 28)
    "2024-01-01", "2024-05-27", "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25",
    "2025-01-01", "2025-05-26", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25",
]  # fmt: skip


def closing_series(
    end: str = "2025-12-31", closed: list[str] | None = None, n_items: int = 8, seed: int = 0
) -> pd.DataFrame:
    """Daily demand (contract columns) with a weekly pattern and the CLOSED days at 15 %."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(START, end, freq="D")
    weekday = np.where(dates.dayofweek < 5, 1.2, 0.3)
    shut = dates.isin(pd.to_datetime(CLOSED if closed is None else closed))
    frames = []
    for k in range(n_items):
        lam = (4.0 + 2 * k) * weekday * np.where(shut, 0.15, 1.0)
        frames.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "item_id": f"I{k}",
                    "location_id": "L1",
                    "qty": rng.poisson(lam).astype(float),
                }
            )
        )
    return daily_demand(pd.concat(frames, ignore_index=True), None)


@pytest.fixture(scope="module")
def two_years() -> pd.DataFrame:
    return closing_series()


def test_low_days_are_the_closures(two_years):
    days = judge_days(two_years.groupby("date")["qty"].sum())
    assert [str(d.date()) for d in days.index[days["low"]]] == CLOSED
    assert days.loc["2024-01-15", "judged"]  # MLK day: judged, and not low
    assert not days.loc["2024-01-15", "low"]


def test_calendar_flags_a_holiday_once_it_was_seen_closed(two_years):
    cal = ClosureCalendar.fit(two_years)
    assert cal.country is not None
    assert set(cal.closing) == {
        "New Year's Day", "Memorial Day", "Independence Day", "Labor Day",
        "Thanksgiving Day", "Christmas Day",
    }  # fmt: skip
    # Point in time: the first Thanksgiving is not flagged (nothing earlier was seen),
    # the second is; MLK day never is (it was judged and was not low).
    assert not cal.closes(date(2024, 11, 28))
    assert cal.closes(date(2025, 11, 27))
    assert not cal.closes(date(2025, 11, 28))  # last year's date is not the rule
    assert not cal.closes(date(2025, 1, 20))
    # Beyond the history the rules place the days: Thanksgiving 2026 is 26 November.
    days = pd.date_range("2026-11-20", "2026-12-31")
    flagged = days[cal.flags(days)]
    assert [str(d.date()) for d in flagged] == ["2026-11-26", "2026-12-25"]
    # What a closed day ships: the closures' median share of their usual total (15 %).
    assert 0.08 < cal.depth < 0.25
    assert cal.factor(flagged).tolist() == [cal.depth, cal.depth]


def test_no_drops_no_calendar():
    flat = closing_series(closed=[])
    cal = ClosureCalendar.fit(flat)
    assert cal.country is None and cal.closing == []
    assert not cal.flags(flat["date"].unique()).any()
    assert (cal.factor(flat["date"].unique()) == 1.0).all()


def test_a_holiday_seen_once_is_flagged_the_next_year():
    """A year of history: no day of it is flagged (each is a first occurrence), the next
    New Year's Day is."""
    one = closing_series(end="2024-12-31")
    cal = ClosureCalendar.fit(one)
    assert not cal.flags(one["date"].unique()).any()
    assert cal.closes(date(2025, 1, 1))


def test_forecaster_expects_the_next_closure():
    """Trained to 20 Nov 2025, the forecast of Thanksgiving (27 Nov) is the Thursdays' around
    it times the depth, in the blend with AutoETS and without; the pickle keeps it; without
    the calendar it is a normal Thursday."""
    history = closing_series(end="2025-11-20")
    params = dict(n_estimators=30, learning_rate=0.2, min_child_samples=20)
    dates = pd.to_datetime(["2025-11-27", "2025-12-04", "2025-12-11"])

    def thursdays(m: DemandForecaster) -> np.ndarray:
        return m.predict_mean(21).groupby("date")["mean"].sum().loc[dates].to_numpy()

    for combine_ets in (False, True):
        model = DemandForecaster(**params, combine_ets=combine_ets).fit(history)
        ours = thursdays(model)
        assert ours[0] < 0.3 * ours[1:].mean()
        assert thursdays(pickle.loads(pickle.dumps(model))).tolist() == ours.tolist()
    plain = DemandForecaster(**params, feature_set=replace(FEATURES, closures=False)).fit(history)
    assert plain.calendar_.country is None
    without = thursdays(plain)
    assert without[0] > 0.8 * without[1:].mean()
