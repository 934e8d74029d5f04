"""The demand backtest: window arithmetic, refresh origins, baselines, the command."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from stockpilot.cli import app
from stockpilot.errors import InvalidInput
from stockpilot.settings import Settings
from tests.demand.conftest import synthetic_items, write_tiny_dataset
from tests.demand.test_forecaster import tiny
from training.demand.backtest import (
    BacktestConfig,
    check_history,
    cutoffs,
    run_backtest,
)
from training.demand.baselines import run_baselines

LAST = pd.Timestamp("2024-07-18")


def test_last_cutoff_is_last_date_minus_horizon_and_cutoffs_are_step_days_apart():
    config = BacktestConfig(horizon=14, n_windows=4, step=10, calibration_windows=2)
    cuts = cutoffs(LAST, config)
    assert len(cuts) == 6  # 2 calibration + 4 scored
    assert cuts[-1] == LAST - pd.Timedelta(days=14)
    assert all((b - a).days == 10 for a, b in pairwise(cuts))
    # The default step is the horizon: windows side by side, the last ending on LAST.
    adjacent = cutoffs(LAST, BacktestConfig(horizon=28, n_windows=3))
    assert [(LAST - c).days for c in adjacent] == [112, 84, 56, 28]


def test_windows_closer_than_their_horizon_need_enough_calibration_windows():
    # 14-day windows 7 days apart: a window ends by the cutoff two windows later.
    with pytest.raises(ValueError, match="calibration_windows must be >= 2"):
        BacktestConfig(horizon=14, n_windows=2, step=7)
    assert BacktestConfig(horizon=14, n_windows=2, step=7, calibration_windows=2).lag_windows == 2


def test_refresh_origins_and_which_one_scores_each_day():
    cutoff = pd.Timestamp("2024-06-01")
    once = BacktestConfig(horizon=14)
    assert once.origins(cutoff) == [cutoff]
    assert once.scoring_origins(cutoff) == [(cutoff, 14)]
    refresh = BacktestConfig(horizon=14, refresh_days=5, replay_refresh_days=7)
    days = [(o - cutoff).days for o in refresh.origins(cutoff)]
    assert days == [0, 5, 7, 10]  # refresh grid ∪ replay grid
    assert [((o - cutoff).days, n) for o, n in refresh.scoring_origins(cutoff)] == [
        (0, 5),
        (5, 5),
        (10, 4),
    ]
    dates = pd.Series(pd.date_range(cutoff + pd.Timedelta(days=1), periods=14))
    scored = refresh.scored_origin(cutoff, dates)
    assert [(o - cutoff).days for o in scored] == [0] * 5 + [5] * 5 + [10] * 4
    with pytest.raises(ValueError, match="refresh_days must be between 1 and horizon"):
        BacktestConfig(horizon=7, refresh_days=8)


def test_too_little_history_names_the_numbers():
    config = BacktestConfig(horizon=14, n_windows=4, step=14)
    need = 98 + 4 * 14 + 14
    assert config.days_needed(98) == need
    first = LAST - pd.Timedelta(days=need - 2)  # one day short
    with pytest.raises(InvalidInput) as err:
        check_history(first, LAST, config, 98)
    message = str(err.value)
    assert f"need {need} days" in message and f"spans {need - 1} days" in message
    assert "4 scored window(s) + 1 calibration window(s) of 14 days, 14 days apart" in message
    check_history(first - pd.Timedelta(days=1), LAST, config, 98)  # exactly enough


def test_refreshed_forecasts_use_the_actuals_up_to_their_origin(daily: pd.DataFrame):
    config = BacktestConfig(horizon=14, n_windows=1, refresh_days=7, next_day=False)
    bt = run_backtest(daily, synthetic_items(), tiny, config)
    cutoff = bt.cutoffs[1]
    scored = bt.scored_forecasts([1])
    ahead = (scored["date"] - cutoff).dt.days
    assert (scored["horizon"] <= 7).all() and set(ahead) == set(range(1, 15))
    assert (scored.loc[ahead > 7, "origin"] == cutoff + pd.Timedelta(days=7)).all()
    # Raising demand in the first week of the window moves the second week's scored
    # forecast (it saw that week), never the first week's (issued at the cutoff).
    busier = daily.copy()
    first_week = (busier["date"] > cutoff) & (busier["date"] <= cutoff + pd.Timedelta(days=7))
    busier.loc[first_week, "qty"] = busier.loc[first_week, "qty"] * 4 + 3
    again = run_backtest(busier, synthetic_items(), tiny, config).scored_forecasts([1])
    merged = scored.merge(again, on=["unique_id", "date"], suffixes=("", "_busier"))
    early = (merged["date"] - cutoff).dt.days <= 7
    assert np.allclose(merged.loc[early, "mean"], merged.loc[early, "mean_busier"])
    assert merged.loc[~early, "mean_busier"].sum() > merged.loc[~early, "mean"].sum() * 1.2


@pytest.mark.slow
def test_baselines_forecast_from_the_same_origins(daily: pd.DataFrame):
    ids = sorted(daily["unique_id"].unique())
    cutoff = daily["date"].max() - pd.Timedelta(days=14)
    y = daily.set_index(["unique_id", "date"])["qty"]

    def run(refresh: int | None) -> pd.DataFrame:
        config = BacktestConfig(horizon=14, n_windows=1, refresh_days=refresh)
        return run_baselines(daily, {1: cutoff}, config, {1: ids})

    for refresh, lag in ((None, [7] * 7 + [14] * 7), (7, [7] * 14)):
        out = run(refresh).sort_values(["unique_id", "date"])
        assert len(out) == len(ids) * 14
        assert out.groupby("unique_id")["date"].min().eq(cutoff + pd.Timedelta(days=1)).all()
        # SeasonalNaive repeats the last observed week: from the cutoff, days 8-14 repeat
        # the week before the cutoff; refreshed at day 7, they repeat days 1-7.
        back = np.tile(lag, len(ids))
        source = [
            y[(u, d - pd.Timedelta(days=k))]
            for u, d, k in zip(out["unique_id"], out["date"], back, strict=True)
        ]
        assert np.allclose(out["seasonal_naive"], source)
        for col in ("auto_ets", "intermittent", "croston_optimized", "plain_lightgbm"):
            assert out[col].notna().all() and (out[col] >= 0).all(), col


@pytest.mark.slow
def test_backtest_command_prints_and_writes_figures_per_window(
    settings: Settings, tmp_path: Path
) -> None:
    data = write_tiny_dataset(tmp_path / "data")
    report = tmp_path / "backtest.json"
    args = ["backtest", "demand", "--data", str(data), "--horizon", "14", "--windows", "4"]
    result = CliRunner().invoke(app, [*args, "--step", "14", "--report", str(report)])
    assert result.exit_code == 0, result.output
    for label in ("LightGBM (ours)", "SeasonalNaive", "AutoETS", "plain LightGBM", "all"):
        assert label in result.output
    saved = json.loads(report.read_text())
    last = pd.Timestamp("2024-01-01") + pd.Timedelta(days=199)
    expected = [str((last - pd.Timedelta(days=14 * k)).date()) for k in (4, 3, 2, 1)]
    assert saved["backtest"]["cutoffs"] == expected
    models = {"ours": saved["backtest"], **saved["baselines"]}
    assert {"seasonal_naive", "auto_ets", "plain_lightgbm"} <= set(saved["baselines"])
    for name, stats in models.items():
        assert [w["cutoff"] for w in stats["windows"]] == expected, name
        for w in stats["windows"]:
            assert all(isinstance(w[k], float) for k in ("wape", "mase", "bias")), (name, w)
        # The overall WAPE is the volume-weighted mix of the windows' (same rows for all).
        assert min(w["wape"] for w in stats["windows"]) <= stats["wape"]
        assert stats["wape"] <= max(w["wape"] for w in stats["windows"])
    assert saved["oracle"] is None  # not simulated: no truth/


def test_commands_refuse_too_little_history_in_one_paragraph(
    settings: Settings, tmp_path: Path
) -> None:
    data = write_tiny_dataset(tmp_path / "data", n_days=100)
    for command in (["backtest", "demand"], ["train", "demand", "--alias", "none"]):
        args = [*command, "--data", str(data), "--horizon", "14", "--windows", "4"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "not enough history" in result.output and "need 168 days" in result.output
        assert "spans 100 days" in result.output
        assert "Traceback" not in result.output
