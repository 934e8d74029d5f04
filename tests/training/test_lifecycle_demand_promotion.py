"""A demand challenger that honestly passes the gate, is approved by a second data
scientist and becomes champion; serving's shadow counts of it show in the gate report.

Demand here is driven by promotions, a known-future column (``promo``) that a statistical
baseline cannot follow: on a promoted day a series sells three times its weekday level.
Promotions start only after the champion's history ends, so the champion (fit on those
first months) has never seen one; the challenger is fit on the months with promotions up
to the gate's holdout and is judged on the holdout's promoted days like every other day.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.policy import default_policy_text
from governance.promotion import pending_promotion
from governance.store.engine import Database
from stockpilot import tracking
from stockpilot.settings import Settings
from tests.demand.conftest import write_demand_dataset
from tests.training.lifecycle_cli import data_scientist_key, run
from training.demand import TrainConfig
from training.demand.backtest import BacktestConfig
from training.retrain import history_as_of

START = pd.Timestamp("2024-01-01")
DAYS = 336
PROMOS_FROM = 154  # the first day a promotion can run: the champion is fit on the days before
HOLDOUT = 28  # the policy's demand_holdout_days
QUICK = TrainConfig(
    backtest=BacktestConfig(horizon=28, n_windows=1, refresh_days=28),
    model={"n_estimators": 40, "learning_rate": 0.2, "min_child_samples": 10},
    trade_off_levels=(0.95,),
)


def promoted_dataset(directory: Path, n_items: int = 8, seed: int = 5) -> Path:
    """Eight series of 6 to 24 units a day, three times as many on promoted days."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(START, periods=DAYS, freq="D")
    weekday = np.where(dates.dayofweek < 5, 1.1, 0.75)
    rows = []
    for k, rate in enumerate(np.geomspace(24.0, 6.0, n_items)):
        promo = (np.arange(DAYS) >= PROMOS_FROM) & (rng.random(DAYS) < 0.2)
        lam = rate * weekday * np.where(promo, 3.0, 1.0)
        rows.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "item_id": f"I{k}",
                    "location_id": "L1" if k % 2 == 0 else "L2",
                    "qty": rng.poisson(lam).astype(float),
                    "promo": promo,
                }
            )
        )
    demand = pd.concat(rows, ignore_index=True)
    items = pd.DataFrame(
        {
            "item_id": [f"I{k}" for k in range(n_items)],
            "category": ["a" if k < n_items / 2 else "b" for k in range(n_items)],
            "unit_cost": 2.0,
            "list_price": 5.0,
        }
    )
    return write_demand_dataset(directory, demand, items)


def shadow_one_run(settings: Settings, data: Path, day: pd.Timestamp):
    """What serving does for a sampled replenishment run while v2 is the challenger: the
    champion's suggestions of ``day``, then the challenger's, compared (serving/shadow.py)."""
    import copy

    from features.inventory import InventoryPositions
    from governance.policy import parse_policy
    from models import replenishment_run
    from models.replenishment import ReplenishmentPolicy
    from serving.model_store import ModelStore
    from serving.shadow import Shadow
    from serving.shadow_demand import DemandKind, decide
    from stockpilot.data import load_dataset

    store = ModelStore(settings.model_cache_dir)
    champion = store.load_alias("demand", "champion")
    shadow = Shadow(settings.shadow_dir, DemandKind())
    shadow.load(lambda: store.load_alias("demand", "challenger"), champion.version)
    assert shadow.active and shadow.version == "2"
    plan = replenishment_run.PlanningData.from_dataset(load_dataset(data))
    forecaster = copy.deepcopy(champion.impl.forecaster)
    demand = replenishment_run.forecast_demand(plan, forecaster, day.date())
    positions = InventoryPositions.from_inventory(plan.inventory, day)
    rule = ReplenishmentPolicy()
    rows = replenishment_run.suggestions(plan, demand, rule, positions).to_dict("records")
    policy = parse_policy(default_policy_text())
    decisions = [decide(row, policy) for row in rows]
    snap = shadow.snapshot(plan, positions, rule, demand.planning, rows, decisions, share=1.0)
    shadow.score([snap], policy)
    assert shadow.errors == 0
    return shadow


@pytest.mark.slow
def test_a_demand_challenger_that_follows_promotions_passes_and_is_promoted(
    settings: Settings, tmp_path: Path, monkeypatch
) -> None:
    from training.demand import train

    monkeypatch.setenv("STOCKPILOT_TRAIN_THREADS", "1")
    full = promoted_dataset(tmp_path / "full")
    last = START + pd.Timedelta(days=DAYS - 1)
    cutoff = last - pd.Timedelta(days=HOLDOUT)  # the last day the challenger may have seen
    early = history_as_of(full, START + pd.Timedelta(days=PROMOS_FROM), tmp_path / "early")
    fit = history_as_of(full, cutoff + pd.Timedelta(days=1), tmp_path / "fit")
    assert run("db", "upgrade").exit_code == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text(default_policy_text())
    assert run("policy", "apply", str(policy)).exit_code == 0
    alice, bob = data_scientist_key("alice"), data_scientist_key("bob")

    champion = train(
        early, alias="champion", config=QUICK, settings=settings, force=True, show_progress=False
    )
    assert champion["registered"]["version"] == "1"
    challenger = train(
        fit, alias="challenger", config=QUICK, settings=settings, show_progress=False
    )
    assert challenger["registered"]["version"] == "2"
    assert challenger["gate"]["passed"], challenger["gate"]  # it beats its baselines

    shadowed = shadow_one_run(settings, full, last)
    gated = run("models", "gate", "demand", "--key", alice, "--data", str(full))
    report = json.loads(gated.stdout)
    assert report["passed"], report["failures"]
    # What serving's shadow scoring counted for v2 is in the report (not a check).
    assert report["shadow"]["model"] == "demand" and report["shadow"]["challenger_version"] == "2"
    assert report["shadow"]["scored"] == shadowed.scored > 0
    assert report["shadow"]["flip_rate"] == shadowed.flips / shadowed.scored
    # No promotion is planned after the last day. The champion's level follows the promoted
    # days' spikes as if they were demand to come; the challenger knows them for promotions
    # and orders less.
    assert report["shadow"]["median_relative_qty_change"] < 0
    assert gated.exit_code == 0, gated.output
    assert report["holdout"]["days"] == HOLDOUT and report["holdout"]["series"] == 8
    assert report["improvement"]["ci95"][0] > 0  # over series, champion − challenger WAPE
    assert report["challenger_wape"] < report["champion_wape"]
    assert not any(row["worse"] for row in report["segments"]["rows"])
    assert abs(report["calibration"]["challenger_coverage80"] - 0.8) <= 0.1
    assert report["baseline_gate"]["passed"]
    db = Database.from_settings(settings)
    assert pending_promotion(db, "demand") is not None

    refused = run("models", "approve", "demand", "--key", alice)
    assert refused.exit_code == 1 and "four-eyes" in refused.stderr
    assert tracking.alias_version("demand", "champion") == "1"
    approved = run("models", "approve", "demand", "--key", bob, "--reason", "promotions")
    assert approved.exit_code == 0, approved.output
    assert tracking.alias_version("demand", "champion") == "2"
    assert pending_promotion(db, "demand") is None
    moves = json.loads(run("models", "history", "demand", "--json").stdout)["moves"]
    assert [(m["alias"], m["how"], m["to_version"]) for m in moves] == [
        ("champion", "training", "1"),
        ("challenger", "training", "2"),
        ("champion", "promotion", "2"),
    ]
    db.dispose()
