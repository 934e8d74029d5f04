"""Every regime: in contract, deterministic for a seed, with its own truth (small scale)."""

from __future__ import annotations

import filecmp

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.contract import REQUIRED_TABLES, TABLES
from stockpilot.cli import app
from training.cli import Regime
from training.simulator import REGIMES, simulate

runner = CliRunner()
OTHERS = [name for name in REGIMES if name != "standard"]
TRUTH = {
    "routes": {"order_lines", "substitutions", "demand", "level_shifts", "late_effects"},
    "loyalty": {"order_lines", "substitutions", "demand", "level_shifts", "customer_taste"},
    "sparse": {"order_lines", "demand", "level_shifts", "short_effects"},
    "drift": {"order_lines", "substitutions", "demand", "level_shifts", "drift_events"},
}


def test_the_cli_offers_exactly_the_registered_regimes():
    assert [r.value for r in Regime] == list(REGIMES)


def test_unknown_regime_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"regime must be one of.*routes"):
        simulate("small", seed=1, regime="moon")
    result = runner.invoke(app, ["simulate", "--regime", "moon", "--out", "x"])
    assert result.exit_code == 2
    assert "moon" in result.output


@pytest.mark.parametrize("regime", OTHERS)
def test_regime_simulates_validates_and_writes_its_truth(tmp_path, regime):
    out = tmp_path / regime
    sim = runner.invoke(
        app, ["simulate", "--regime", regime, "--scale", "small", "--seed", "1", "--out", str(out)]
    )
    assert sim.exit_code == 0, sim.output
    check = runner.invoke(app, ["data", "validate", str(out)])
    assert check.exit_code == 0, check.output
    assert {p.stem for p in (out / "truth").glob("*.parquet")} == TRUTH[regime]
    written = {p.stem for p in out.iterdir() if p.is_file()}
    assert set(REQUIRED_TABLES) <= written <= set(TABLES)


@pytest.mark.parametrize("regime", OTHERS)
def test_same_seed_same_frames_other_seed_differs(regime):
    a, b = simulate("small", seed=3, regime=regime), simulate("small", seed=3, regime=regime)
    assert a.regime == regime
    for part in ("tables", "truth"):
        assert list(getattr(a, part)) == list(getattr(b, part))
        for name, frame in getattr(a, part).items():
            pd.testing.assert_frame_equal(frame, getattr(b, part)[name], check_exact=True)
    c = simulate("small", seed=4, regime=regime)
    assert not a.tables["orders"].equals(c.tables["orders"])


def test_same_seed_gives_identical_files(tmp_path):
    for name in ("a", "b"):
        args = ["simulate", "--regime", "loyalty", "--seed", "5", "--out", str(tmp_path / name)]
        assert runner.invoke(app, args).exit_code == 0
    same = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not same.diff_files and not same.left_only and not same.right_only
    truth = [p.name for p in (tmp_path / "a" / "truth").iterdir()]
    assert filecmp.cmpfiles(tmp_path / "a" / "truth", tmp_path / "b" / "truth", truth, False)[0]


def test_a_sparse_run_over_a_standard_one_leaves_no_stale_tables(tmp_path):
    out = tmp_path / "d"
    for regime in ("standard", "sparse"):
        args = ["simulate", "--regime", regime, "--seed", "1", "--out", str(out)]
        assert runner.invoke(app, args).exit_code == 0
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted(
        f"{name}.csv" for name in REQUIRED_TABLES
    )
    assert sorted(p.stem for p in (out / "truth").iterdir()) == sorted(TRUTH["sparse"])


def test_format_option_overrides_the_regimes_own(tmp_path):
    out = tmp_path / "p"
    args = ["simulate", "--regime", "sparse", "--format", "parquet", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    assert {p.suffix for p in out.iterdir() if p.is_file()} == {".parquet"}


def _digest(result) -> dict[str, int]:
    """One number per frame: a hash over its values, index and column names."""
    frames = {f"tables/{k}": v for k, v in result.tables.items()}
    frames |= {f"truth/{k}": v for k, v in result.truth.items()}
    return {
        name: int(pd.util.hash_pandas_object(frame, index=True).sum()) + hash(tuple(frame.columns))
        for name, frame in frames.items()
    }


@pytest.mark.slow
def test_medium_scale_is_deterministic_for_every_regime():
    for regime in OTHERS:
        first = _digest(simulate("medium", seed=11, regime=regime))
        assert first == _digest(simulate("medium", seed=11, regime=regime)), regime
