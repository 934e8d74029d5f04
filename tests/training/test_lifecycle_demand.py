"""Demand's lifecycle through the real store, MLflow registry and CLI, on tiny series.

A champion fit on the first months of six seeded series; the next export lacks its last
ten days of demand, which reached the store instead as orders scored through the API.
``retrain demand`` adds them back as demand, fits the challenger on the days before the
gate's holdout, and gates it: WAPE over the last ``demand_holdout_days``, bootstrap over
series, segments fast/slow/intermittent, the 80 % interval's coverage.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from governance.access import Principal, Role
from governance.policy import default_policy_text
from governance.policy_versions import active_policy
from governance.promotion import pending_promotion
from governance.recommendations import ModelOutput, record
from governance.routing import OrderRisk, route
from governance.store.engine import Database
from stockpilot import tracking
from stockpilot.settings import Settings
from tests.demand.conftest import write_tiny_dataset
from tests.training.lifecycle_cli import data_scientist_key, run
from training.demand import TrainConfig
from training.demand.backtest import BacktestConfig
from training.promotion_gate import report_sha256
from training.retrain import history_as_of, retrain

LIVE_DAYS = 10
QUICK = TrainConfig(
    backtest=BacktestConfig(horizon=28, n_windows=1, refresh_days=28),
    model={"n_estimators": 20, "learning_rate": 0.2, "min_child_samples": 10},
    trade_off_levels=(0.95,),
)


def _export_and_store(full: Path, out: Path, db: Database) -> pd.DataFrame:
    """``full`` without its last LIVE_DAYS of demand; those days' demand as scored orders."""
    shutil.copytree(full, out)
    demand = pd.read_parquet(full / "demand.parquet")
    last = demand["date"].max()
    recent = demand["date"] > last - pd.Timedelta(days=LIVE_DAYS)
    demand.loc[~recent].to_parquet(out / "demand.parquet", index=False)
    live = demand.loc[recent & (demand["qty"] > 0)]
    erp = Principal("erp", Role.order_system, "erp")
    with db.write() as session:
        released = route(OrderRisk(probability=0.05), active_policy(session).policy)
        for k, row in enumerate(live.itertuples()):
            at = datetime(row.date.year, row.date.month, row.date.day, 10, tzinfo=UTC)
            record(
                session,
                ModelOutput(
                    f"order:LIVE{k:05d}",
                    "order-risk",
                    "1",
                    0.05,
                    explanation={
                        "order_lines": [
                            {
                                "line_no": 1,
                                "item_id": row.item_id,
                                "location_id": row.location_id,
                                "qty": row.qty,
                                "unit_price": 5.0,
                            }
                        ]
                    },
                ),
                released,
                principal=erp,
                now=at + timedelta(minutes=k % 50),
            )
    return live


@pytest.mark.slow
def test_demand_retrain_gate_promote_history_rollback(settings: Settings, tmp_path: Path) -> None:
    from training.demand import train

    full = write_tiny_dataset(tmp_path / "full", n_days=300)
    old = history_as_of(full, "2024-08-01", tmp_path / "old")  # ~7 months; full: ~10
    assert run("db", "upgrade").exit_code == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text(default_policy_text())
    assert run("policy", "apply", str(policy)).exit_code == 0
    alice, bob = data_scientist_key("alice"), data_scientist_key("bob")
    db = Database.from_settings(settings)
    export = tmp_path / "export"
    live = _export_and_store(full, export, db)

    champion = train(
        old, alias="champion", config=QUICK, settings=settings, show_progress=False, force=True
    )
    assert champion["registered"]["version"] == "1"

    result = retrain("demand", export, settings=settings, params={"config": QUICK})
    evidence = result["evidence"]
    assert evidence["lines_used"] == len(live) and evidence["days_added"] == LIVE_DAYS
    assert evidence["fit_until"] == "2024-09-28"  # the last day (10-26) − 28 holdout days
    merged = pd.read_parquet(Path(result["data"]) / "demand.parquet")
    original = pd.read_parquet(full / "demand.parquet")
    assert merged["qty"].sum() == pytest.approx(original["qty"].sum())  # the live days are back
    written = json.loads(Path(result["gate_report"]).read_text())
    assert written["sha256"] == report_sha256(written)
    assert written["cost_metric"] == "wape" and written["improvement"]["resampled"] == "series"
    assert written["holdout"]["days"] == 28 and written["holdout"]["series"] == 6
    assert {r["segment"] for r in written["segments"]["rows"]} == {"segment"}
    assert 0 <= written["calibration"]["challenger_coverage80"] <= 1

    gated = run("models", "gate", "demand", "--key", alice)
    report = json.loads(gated.stdout)
    assert report["challenger"]["version"] == "2" and report["champion"]["version"] == "1"
    assert report["improvement"]["series"] == 6
    assert report["champion_wape"] - report["challenger_wape"] == pytest.approx(
        report["improvement"]["mean"]
    )
    # Twenty trees on six series: the interval is too wide and a baseline wins. The gate
    # says so in words, exits 3 and opens no promotion item.
    assert not report["passed"] and gated.exit_code == 3, gated.output
    assert any("interval covers" in f for f in report["failures"])
    assert any("best baseline" in f for f in report["failures"])
    assert pending_promotion(db, "demand") is None
    assert tracking.alias_version("demand", "champion") == "1"
    assert tracking.version_info("demand", "2").tags["promotion_gate_passed"] == "false"
    refused = run("models", "approve", "demand", "--key", bob)
    assert refused.exit_code == 1 and "no pending promotion" in refused.stderr.lower()
    moves = json.loads(run("models", "history", "demand", "--json").stdout)["moves"]
    assert [(m["alias"], m["how"]) for m in moves] == [
        ("champion", "training"),
        ("challenger", "training"),
    ]
    db.dispose()


def test_a_version_fit_on_the_holdout_cannot_be_judged_on_it() -> None:
    """The gate refuses, with the reason, a forecaster that has seen the holdout's days,
    and brings one fit before it up to the holdout's start without refitting."""
    from features.demand import zero_fill
    from models.demand import DemandForecaster
    from tests.demand.conftest import synthetic_demand, synthetic_items
    from training.gate_holdouts import _forecast

    daily = zero_fill(synthetic_demand(n_days=160))
    cutoff = daily["date"].max() - pd.Timedelta(days=28)
    seen = DemandForecaster(horizon=28, n_estimators=5).fit(daily, synthetic_items())
    with pytest.raises(ValueError, match="after the holdout starts"):
        _forecast(seen, "champion v1", daily, cutoff, 28)
    before = daily[daily["date"] <= cutoff - pd.Timedelta(days=10)]
    fit = DemandForecaster(horizon=28, n_estimators=5).fit(before, synthetic_items())
    updated = _forecast(fit, "champion v1", daily[daily["date"] <= cutoff], cutoff, 28)
    assert updated.last_date_ == cutoff and fit.last_date_ < cutoff  # a copy was updated
    with pytest.raises(ValueError, match="fewer than the holdout"):
        _forecast(fit, "champion v1", daily, cutoff, 35)
