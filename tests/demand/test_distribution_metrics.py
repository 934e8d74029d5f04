"""The count distribution, its calibration, coverage and the accuracy metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.distribution import fit_calibration, pit_coverage, quantile
from training.demand import metrics


def test_quantiles_match_poisson_and_negative_binomial():
    mean = np.array([0.0, 4.0, 4.0])
    var = np.array([0.0, 4.0, 12.0])  # degenerate, Poisson, over-dispersed
    q90 = quantile(mean, var, 0.9)
    assert q90[0] == 0
    assert q90[1] == 7  # Poisson(4): P(Y <= 6) = 0.889, P(Y <= 7) = 0.949
    assert q90[2] > q90[1]  # more variance, wider interval
    with pytest.raises(ValueError):
        quantile(mean, var, 1.0)


def test_pit_coverage_is_nominal_for_a_calibrated_count_forecast():
    rng = np.random.default_rng(0)
    mean = rng.uniform(0.05, 5.0, 40_000)
    k = 1.5
    y = rng.negative_binomial(k, k / (k + mean))
    var = mean + mean**2 / k
    calibrated = pit_coverage(y, mean, var).mean()
    too_narrow = pit_coverage(y, mean, mean).mean()  # Poisson: ignores the over-dispersion
    assert calibrated == pytest.approx(0.8, abs=0.01)
    assert too_narrow < 0.75
    # Counting lo <= y <= hi credits every zero of a slow series: far above 80 %.
    lo, hi = quantile(mean, var, 0.1), quantile(mean, var, 0.9)
    assert ((y >= lo) & (y <= hi)).mean() > 0.85


def test_calibration_recovers_the_variance_factor_per_segment():
    rng = np.random.default_rng(1)
    rows = []
    for w in range(2):
        for s in range(300):
            seg = "fast" if s < 150 else "intermittent"
            factor = 0.5 if seg == "fast" else 2.0
            phi, mu = 4.0, rng.uniform(1.0, 6.0)
            var = factor * phi * mu
            y = rng.negative_binomial(mu**2 / (var - mu), mu / var, size=7)
            rows.append(
                pd.DataFrame(
                    {
                        "window": w,
                        "unique_id": f"s{s}",
                        "horizon": np.arange(1, 8),
                        "y": y,
                        "mean": mu,
                        "phi": phi,
                        "segment": seg,
                    }
                )
            )
    cal = fit_calibration(pd.concat(rows), horizon=7)
    assert cal.daily["fast"] == pytest.approx(0.5, rel=0.15)
    assert cal.daily["intermittent"] == pytest.approx(2.0, rel=0.15)
    # Independent days: the variance of an L-day sum is L times a day's, same factor.
    assert cal.cumulative["intermittent"][6] == pytest.approx(2.0, rel=0.25)
    factors = cal.cumulative_factor(np.array(["fast", "unknown"]), np.array([3, 99]))
    assert factors[0] == cal.cumulative["fast"][2]
    assert factors[1] == cal.cumulative["all"][-1]  # beyond the horizon: last factor


def test_wape_bias_and_mase():
    y = np.array([2.0, 0.0, 4.0])
    f = np.array([1.0, 1.0, 4.0])
    assert metrics.wape(y, f) == pytest.approx(2 / 6)
    assert metrics.bias(y, f) == pytest.approx(0.0)
    assert np.isnan(metrics.wape(np.zeros(3), f))
    history = pd.DataFrame(
        {
            "unique_id": "s",
            "date": pd.date_range("2024-01-01", periods=14),
            "qty": [1.0] * 7 + [3.0] * 7,  # seasonal naive errs by 2 every day
        }
    )
    scale = metrics.seasonal_scale(history)
    assert scale["s"] == pytest.approx(2.0)
    frame = pd.DataFrame({"unique_id": "s", "window": 0, "y": [3.0, 3.0], "f": [2.0, 4.0]})
    scale.index = pd.MultiIndex.from_tuples([(0, "s")])
    assert metrics.mase(frame, "f", scale) == pytest.approx(0.5)


def test_days_to_adapt_reads_the_closure_curves():
    dates = pd.date_range("2024-03-01", periods=40)
    shift_day = dates[10]
    expected = pd.DataFrame(
        {"unique_id": "s", "date": dates, "expected_qty": np.where(dates >= shift_day, 2.0, 1.0)}
    )
    # A forecast that jumps to the new level 5 days after the shift.
    caught = np.where(dates >= shift_day + pd.Timedelta(days=5), 2.0, 1.0)
    forecasts = pd.DataFrame({"unique_id": "s", "date": dates, "mean": caught})
    shifts = pd.DataFrame({"unique_id": ["s"], "date": [shift_day], "factor": [2.0]})
    curves = metrics.adaptation_curves(forecasts, expected, shifts, smooth_days=1)
    out = metrics.days_to_adapt(curves, threshold=0.8)
    assert out["median"] == 5
    assert out["adapted_share"] == 1.0
    assert out["absorbed_after_days"]["7"] == pytest.approx(1.0)
    # Touching the new level for a day and falling back is not catching up.
    blip = forecasts.assign(mean=np.where(dates == shift_day + pd.Timedelta(days=2), 2.0, caught))
    out = metrics.days_to_adapt(
        metrics.adaptation_curves(blip, expected, shifts, smooth_days=1), 0.8
    )
    assert out["median"] == 5
    never = forecasts.assign(mean=1.0)
    out = metrics.days_to_adapt(metrics.adaptation_curves(never, expected, shifts), 0.8)
    assert out["adapted_share"] == 0.0 and np.isnan(out["median"])


def test_no_shift_to_follow_reports_the_same_keys_as_a_shift_followed():
    # A shift with no forecasts around it (e.g. in a series the window does not score).
    dates = pd.date_range("2024-03-01", periods=40)
    expected = pd.DataFrame({"unique_id": "s", "date": dates, "expected_qty": 1.0})
    forecasts = pd.DataFrame({"unique_id": "s", "date": dates, "mean": 1.0})
    shifts = pd.DataFrame({"unique_id": ["other"], "date": [dates[10]], "factor": [2.0]})
    curves = metrics.adaptation_curves(forecasts, expected, shifts)
    assert curves.empty
    out = metrics.days_to_adapt(curves, threshold=0.8)
    followed = pd.DataFrame({"unique_id": ["s"], "date": [dates[10]], "factor": [2.0]})
    assert set(out) == set(
        metrics.days_to_adapt(
            metrics.adaptation_curves(
                forecasts,
                expected.assign(expected_qty=np.where(dates >= dates[10], 2.0, 1.0)),
                followed,
            ),
            0.8,
        )
    )
    assert out["n_shifts"] == 0 and np.isnan(out["absorbed_after_days"]["28"])
