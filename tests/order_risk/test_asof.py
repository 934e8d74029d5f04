"""The as-of engine behind every history statistic, against brute force."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from features.asof import NO_KEY, EventSums, LatestRow, epoch_day, epoch_seconds, key_codes


def test_event_sums_equal_brute_force_sums_and_windows():
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 6, 300)
    keys[:7] = NO_KEY
    times = rng.integers(-5, 40, 300)
    values = rng.normal(size=(300, 2))
    sums = EventSums(keys, times, values)
    q_keys, q_times = rng.integers(-1, 7, 200), rng.integers(-10, 50, 200)
    got = sums.at(q_keys, q_times)
    window = sums.window(q_keys, q_times, 7)
    for k in range(200):
        hit = (keys == q_keys[k]) & (keys != NO_KEY) & (times <= q_times[k])
        recent = hit & (times > q_times[k] - 7)
        assert np.allclose(got[k], values[hit].sum(axis=0))
        assert np.allclose(window[k], values[recent].sum(axis=0))


def test_latest_row_finds_the_last_row_at_or_before_the_time():
    keys = np.array([1, 1, 1, 2, 2, NO_KEY])
    times = np.array([5, 1, 9, 3, 3, 0])
    latest = LatestRow(keys, times)
    got = latest.at(np.array([1, 1, 1, 1, 2, 3, NO_KEY]), np.array([0, 1, 6, 99, 3, 9, 9]))
    assert got.tolist() == [-1, 1, 0, 2, 4, -1, -1]


def test_key_codes_share_codes_across_frames_and_never_match_missing_parts():
    a, b = key_codes(
        [pd.Series(["x", "y", None]), pd.Series([1, 2, 3])],
        [pd.Series(["y", "x", "x"]), pd.Series([2, 1, 3])],
    )
    assert a[0] == b[1] and a[1] == b[0]
    assert a[2] == NO_KEY
    assert b[2] not in (a[0], a[1])


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 3, 5, 13, 30, 15),
        pd.Timestamp("2024-03-05 13:30:15"),
        "2024-03-05T13:30:15",
        "2024-03-05T14:30:15+01:00",
        datetime(2024, 3, 5, 15, 30, 15, tzinfo=timezone(timedelta(hours=2))),
        np.datetime64("2024-03-05T13:30:15"),
    ],
)
def test_epoch_seconds_agree_with_numpy_for_every_accepted_type(value):
    expected = np.datetime64("2024-03-05T13:30:15", "s").astype(np.int64)
    assert epoch_seconds(value) == pytest.approx(float(expected))
    assert epoch_day(value) == int(np.datetime64("2024-03-05", "D").astype(np.int64))


def test_epoch_helpers_accept_dates_and_refuse_garbage():
    assert epoch_day(date(1969, 12, 31)) == -1
    assert epoch_seconds(datetime(1970, 1, 1, tzinfo=UTC)) == 0.0
    with pytest.raises(ValueError, match="promised_date"):
        epoch_day("not a date", "promised_date")
    with pytest.raises(ValueError):
        epoch_day(None)
