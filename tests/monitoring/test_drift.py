"""Drift tests with a known false-alarm rate: unchanged data rarely alarms, a shifted
feature does, BH is the step-up procedure, the reference survives its JSON."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import drift

NAMES = ["gauss", "skewed", "flag", "day_level"]


def _lines(rng: np.random.Generator, days: pd.DatetimeIndex, shift: float = 0.0) -> tuple:
    """Lines per day from an unchanged world: a Gaussian, a skewed and a binary feature,
    and a day-level one (every line of a day shares it, as a warehouse's load today)."""
    X, day = [], []
    for d in days:
        n = int(rng.integers(150, 400))
        level = rng.normal()
        X.append(
            np.column_stack(
                [
                    rng.normal(shift, 1.0, n),
                    rng.gamma(2.0, 1.0, n),
                    rng.random(n) < 0.2,
                    np.full(n, level) + rng.normal(0, 0.05, n),
                ]
            )
        )
        day += [d.date().isoformat()] * n
    return np.vstack(X).astype(float), np.array(day)


def _alarm_share(reference, X, day, **kw) -> tuple[float, pd.DataFrame]:
    rows = []
    for d in np.unique(day):
        rows += [r.as_dict() for r in drift.test_day(reference, X[day == d], NAMES, d, **kw)]
    frame = pd.DataFrame(rows)
    return float(frame["alarm"].mean()), frame


@pytest.fixture(scope="module")
def reference() -> drift.Reference:
    rng = np.random.default_rng(11)
    X, day = _lines(rng, pd.date_range("2024-01-01", periods=180))
    return drift.fit_reference(X, NAMES, day)


def test_unchanged_data_alarms_on_at_most_one_percent_of_feature_days(reference):
    rng = np.random.default_rng(12)
    X, day = _lines(rng, pd.date_range("2024-07-01", periods=150))
    share, frame = _alarm_share(reference, X, day, q=0.01, min_psi=0.02)
    assert share <= 0.01
    # The day-level feature alone breaks a line-level test: the dispersion is what tames it.
    raw = frame[frame["feature"] == "day_level"]["statistic"].to_numpy()
    assert (raw > 50).mean() > 0.5
    assert reference.features["day_level"].dispersion > 10
    assert reference.features["gauss"].dispersion < 2


def test_a_shifted_feature_is_flagged_and_the_others_are_not(reference):
    rng = np.random.default_rng(13)
    X, day = _lines(rng, pd.date_range("2024-07-01", periods=30), shift=0.4)
    _, frame = _alarm_share(reference, X, day, q=0.01, min_psi=0.02)
    by_feature = frame.groupby("feature")["alarm"].mean()
    assert by_feature["gauss"] >= 0.9
    assert by_feature.drop("gauss").max() <= 0.1


def test_a_trivial_shift_in_a_huge_sample_does_not_alarm(reference):
    rng = np.random.default_rng(14)
    X, _ = _lines(rng, pd.date_range("2024-07-01", periods=60), shift=0.08)
    rows = drift.test_day(reference, X, NAMES, "2024-07-01", q=0.01, min_psi=0.02)  # ~16k
    gauss = next(r for r in rows if r.feature == "gauss")
    assert gauss.p_value < 1e-6  # significant: the sample is huge …
    assert not gauss.alarm  # … but the effect is below min_psi


def test_benjamini_hochberg_is_the_step_up_procedure():
    rng = np.random.default_rng(5)
    p = np.r_[rng.random(40), [1e-5, 2e-4, 0.003, np.nan]]
    adjusted = drift.benjamini_hochberg(p)
    ok = ~np.isnan(p)
    m = ok.sum()
    ranked = np.sort(p[ok])
    for q in (0.01, 0.05, 0.2):
        passing = np.flatnonzero(ranked <= q * np.arange(1, m + 1) / m)
        k = passing.max() + 1 if len(passing) else 0
        assert (adjusted[ok] <= q).sum() == k  # the k smallest are rejected, no others
    assert np.isnan(adjusted[-1])
    assert np.all(adjusted[ok] >= p[ok] - 1e-12)


def test_reference_round_trips_through_json(reference):
    import json

    again = drift.Reference.from_dict(json.loads(json.dumps(reference.to_dict())))
    x = np.array([-3.0, 0.0, 0.5, np.nan, 7.0])
    for name, feature in reference.features.items():
        assert np.array_equal(again.features[name].histogram(x), feature.histogram(x))
        assert again.features[name].dispersion == feature.dispersion
    with pytest.raises(ValueError, match="version"):
        drift.Reference.from_dict({**reference.to_dict(), "version": 99})


def test_categorical_features_keep_their_values_and_fold_rare_ones():
    x = np.r_[np.zeros(500), np.ones(480), np.full(2, 7.0), np.full(18, np.nan)]
    feature = drift.fit_feature("tier", x)
    assert feature.values.tolist() == [0.0, 1.0]  # 7 is below MIN_BIN_SHARE: "other"
    assert feature.histogram(np.array([0, 1, 1, 7, 9, np.nan])).tolist() == [1, 2, 2, 1]


def test_a_feature_missing_on_every_training_line_still_bins_served_values():
    feature = drift.fit_feature("x_vendor", np.full(100, np.nan))
    assert feature.histogram(np.array([1.0, 2.0, np.nan])).tolist() == [2, 1]
