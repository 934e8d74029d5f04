"""The time splits cut exactly where they always did: every figure of every model rests on
where the train / calibration (validation) / test edges fall.

The two strategies as they were written before they shared a module (``time_split`` of
``training/order_risk.py`` and of ``training/substitution.py`` at bdfa387) are kept here
verbatim as the reference; :mod:`training.splits`, and the pipelines' calls of it, must
give the same masks and parts — hence the same edges — on the small simulated dataset and
on seeded frames full of ties.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.substitution_context import offer_set_ids
from stockpilot.data import load_dataset
from training import order_risk as order_risk_training
from training import substitution as substitution_training
from training.splits import groups_by_time_count, rows_by_time_quantile


def reference_order_risk_split(
    order_ts: pd.Series, labelled: np.ndarray, cuts=(0.70, 0.85), embargo_days: int = 7
) -> dict[str, np.ndarray]:
    """Rows by quantile of labelled order time, a week's embargo before each cut."""
    ts = order_ts.to_numpy(dtype="datetime64[ns]")
    t1, t2 = np.quantile(ts[labelled].astype(np.int64), cuts).astype("datetime64[ns]")
    gap = np.timedelta64(embargo_days, "D")
    return {
        "train": labelled & (ts < t1 - gap),
        "calibration": labelled & (ts >= t1) & (ts < t2 - gap),
        "test": labelled & (ts >= t2),
    }


def reference_substitution_split(
    ts: pd.Series, groups: np.ndarray, shares=(0.7, 0.1, 0.2)
) -> np.ndarray:
    """Whole offer sets by count, in order of their first offer's time."""
    start = pd.Series(ts.to_numpy()).groupby(groups).min().sort_values(kind="stable")
    cuts = np.cumsum(shares)[:-1]
    edges = [start.iloc[int(c * len(start))] for c in cuts]
    set_ts = start.reindex(groups).to_numpy()
    return np.searchsorted(np.array(edges, dtype=set_ts.dtype), set_ts, side="right").astype(int)


def order_risk_split(order_ts: pd.Series, labelled: np.ndarray) -> dict[str, np.ndarray]:
    return order_risk_training.split_lines(order_ts, labelled)


def substitution_split(ts: pd.Series, groups: np.ndarray) -> np.ndarray:
    return substitution_training.split_offer_sets(ts, groups)


@pytest.fixture(scope="module")
def small(small_data_dir: Path):
    return load_dataset(small_data_dir)


def test_order_lines_are_cut_where_they_were(small):
    prepared = order_risk_training.prepare(small)
    labelled = ~np.isnan(prepared.outcomes["miss"].to_numpy(float))
    ts = prepared.orders["order_ts"]
    got, want = order_risk_split(ts, labelled), reference_order_risk_split(ts, labelled)
    assert list(got) == list(want) == ["train", "calibration", "test"]
    for name in want:
        assert want[name].any(), name  # a cut that keeps nothing would prove little
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    # The edges themselves: the first test line is the same, the embargo is a week.
    times = ts.to_numpy(dtype="datetime64[ns]")
    assert times[got["test"]].min() == times[want["test"]].min()
    assert times[got["calibration"]].min() - times[got["train"]].max() >= np.timedelta64(7, "D")


def test_offer_sets_are_cut_where_they_were(small):
    offers = substitution_training.offer_rows(small, labelled_only=True)
    groups = offer_set_ids(offers)
    got = substitution_split(offers["ts"], groups)
    want = reference_substitution_split(offers["ts"], groups)
    np.testing.assert_array_equal(got, want)
    assert set(np.unique(want)) == {0, 1, 2}
    for part in (0, 1, 2):  # no offer set is split across parts
        sets = set(groups[got == part])
        assert not sets & set(groups[got != part])


@pytest.mark.parametrize("seed", range(8))
def test_seeded_frames_with_ties_are_cut_alike(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(150, 900))
    days = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 200, n), unit="D")
    hours = pd.to_timedelta(rng.integers(0, 3, n) * 8, unit="h")  # many equal times
    ts = pd.Series(days + hours)
    labelled = rng.random(n) < 0.8
    got, want = order_risk_split(ts, labelled), reference_order_risk_split(ts, labelled)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=f"{seed} {name}")
    groups = rng.integers(0, max(10, n // 3), n)
    np.testing.assert_array_equal(
        substitution_split(ts, groups), reference_substitution_split(ts, groups)
    )


@pytest.mark.parametrize("seed", range(4))
def test_the_strategies_with_other_cuts_match_the_reference(seed):
    """Other cut points than the pipelines' (the reference takes them as arguments too)."""
    rng = np.random.default_rng(100 + seed)
    n = 400
    ts = pd.Series(pd.Timestamp("2025-03-01") + pd.to_timedelta(rng.integers(0, 90, n), "D"))
    mask = rng.random(n) < 0.9
    cuts = (0.5, 0.8)
    got = rows_by_time_quantile(ts, mask, cuts, embargo=np.timedelta64(3, "D"))
    want = reference_order_risk_split(ts, mask, cuts, embargo_days=3)
    for mine, theirs in zip(got, want.values(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    groups = rng.integers(0, 60, n)
    shares = (0.6, 0.25, 0.15)
    np.testing.assert_array_equal(
        groups_by_time_count(ts, groups, shares), reference_substitution_split(ts, groups, shares)
    )


def test_bad_cuts_and_shares_are_named():
    ts = pd.Series(pd.date_range("2025-01-01", periods=20, freq="D"))
    with pytest.raises(ValueError, match="cuts"):
        rows_by_time_quantile(ts, np.ones(20, bool), (0.8, 0.5), embargo=np.timedelta64(0, "D"))
    with pytest.raises(ValueError, match="shares"):
        groups_by_time_count(ts, np.arange(20), (0.7, 0.7))
    with pytest.raises(ValueError, match="groups"):
        groups_by_time_count(ts.iloc[:2], np.arange(2), (0.5, 0.3, 0.2))


def test_too_few_offer_sets_is_refused_by_name():
    from stockpilot.errors import InvalidInput

    ts = pd.Series(pd.date_range("2025-01-01", periods=18, freq="h"))
    with pytest.raises(InvalidInput, match=r"at least 10 offer sets .* got 9"):
        substitution_training.split_offer_sets(ts, np.arange(18) // 2)
