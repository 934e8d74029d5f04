"""Substitution's lifecycle through the real store, MLflow registry and CLI, at small scale.

A champion trained on the first months of the small world; the next export lacks its last
offer sets, which reached the store instead as served recommendations with the customers'
answers (``substitution.feedback``) — plus two reviewed ones: a rejection with
``customer_declined`` (a label) and one with ``not_needed`` (none). ``retrain`` puts the
answers back into the training set, trains a challenger and gates it; ``models gate`` →
four-eyes ``approve`` → ``history`` → ``rollback`` work as for order risk.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from governance import command_units
from governance.access import Principal, Role
from governance.policy_versions import active_policy
from governance.queues import decide
from governance.recommendations import ModelOutput, record
from governance.routing import Substitution, route
from governance.store.engine import Database
from stockpilot import tracking
from stockpilot.settings import Settings
from tests.training.lifecycle_cli import data_scientist_key, run
from training.promotion_gate import report_sha256
from training.retrain import history_as_of, retrain

CUTOFF = "2024-03-15"
LIVE_SETS = 40
QUICK = {"n_estimators": 40}


def _policy(tmp_path: Path) -> Path:
    """The default policy with the holdout the challenger's whole test slice (the last 20 %
    of offer sets): the small world has few offer sets, and 15 % of them leave the CI wide."""
    import yaml

    from governance.policy import default_policy_text

    data = yaml.safe_load(default_policy_text())
    data["promotion"]["holdout_share"] = 0.2
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _served(offers: pd.DataFrame, request_id: str) -> dict:
    """One offer set as the recommendation serving would have audited for it."""
    first = offers.iloc[0]
    return {
        "request_id": request_id,
        "ts": pd.Timestamp(first["ts"]).isoformat(),
        "customer_id": str(first["customer_id"]),
        "item_id": str(first["original_item_id"]),
        "qty": 1.0,
        "location_id": str(first["location_id"]),
        "need_by": None,
        "unit_price": float(first["original_unit_price"]),
        "context": {"x_display": float(first["x_display"])},
        "n_candidates": len(offers),
        "substitutes": [
            {
                "item_id": str(o.offered_item_id),
                "rank": int(o.position),
                "p_accept": 0.3,
                "location_id": str(o.location_id),
                "other_location": False,
                "available": 5.0,
                "unit_price": float(o.offered_unit_price),
                "price_delta": 0.0,
                "margin_delta": None,
                "reasons": [],
            }
            for o in offers.sort_values("position").itertuples()
        ],
    }


def _export_and_store(full: Path, out: Path, db: Database) -> dict[str, int]:
    """``full`` without its last offer sets, which are put in the store as served and
    answered (all but two), declined in review (one) or rejected as not needed (one)."""
    import shutil

    shutil.copytree(full, out)
    subs = pd.read_parquet(full / "substitutions.parquet")
    sets = subs.groupby(["order_id", "original_item_id"], sort=False)
    keys = sorted(sets.groups, key=lambda k: subs.loc[sets.groups[k], "ts"].min())[-LIVE_SETS:]
    live = pd.concat([sets.get_group(k) for k in keys])
    subs.drop(index=live.index).to_parquet(out / "substitutions.parquet", index=False)
    erp = Principal("erp", Role.order_system, "erp")
    sue = Principal("sue", Role.supervisor, "sue")
    answered = 0
    with db.write() as session:
        policy = active_policy(session).policy
        review = route(Substitution(0.3, 0.0), policy)
        recorded = []
        for k, key in enumerate(keys):
            offers = sets.get_group(key)
            result = _served(offers, f"R{k:03d}")
            recorded.append(
                record(
                    session,
                    ModelOutput(
                        f"substitution:{result['customer_id']}:{result['item_id']}",
                        "substitution",
                        "1",
                        0.3,
                        explanation={"result": result, "order_id": str(key[0])},
                    ),
                    review,
                    principal=erp,
                )
            )
            if k >= 2:
                accepted = offers.loc[offers["accepted"], "offered_item_id"].astype(str).tolist()
                command_units.record_feedback(
                    session,
                    recommendation_id=recorded[-1].recommendation_id,
                    principal=erp,
                    payload={"accepted": accepted, "offered": None, "rows_written": 0},
                    response={},
                    at=datetime.now(UTC),
                )
                answered += len(offers)
    for item, reason in ((recorded[0].item, "customer_declined"), (recorded[1].item, "not_needed")):
        with db.write() as session:
            decide(session, item.id, principal=sue, action="reject", reason=reason, policy=policy)
    return {
        "answered_rows": answered,
        "unanswered_rows": sum(len(sets.get_group(k)) for k in keys[:2]),
    }


@pytest.mark.slow
def test_substitution_retrain_gate_promote_history_rollback(
    settings: Settings, small_data_dir: Path, tmp_path: Path
) -> None:
    from training import substitution

    old = history_as_of(small_data_dir, CUTOFF, tmp_path / "old")
    assert run("db", "upgrade").exit_code == 0
    assert run("policy", "apply", str(_policy(tmp_path))).exit_code == 0
    alice, bob = data_scientist_key("alice"), data_scientist_key("bob")
    db = Database.from_settings(settings)
    export = tmp_path / "export"
    stored = _export_and_store(small_data_dir, export, db)

    # Trained on ten weeks, it may not beat its baselines: champion by force (recorded).
    champion = substitution.train(old, alias="champion", settings=settings, force=True, **QUICK)
    assert champion["registered"]["version"] == "1"

    result = retrain("substitution", export, settings=settings, params=QUICK)
    evidence = result["evidence"]
    assert evidence["feedback_events"] == LIVE_SETS - 2
    assert evidence["rows_added"] == stored["answered_rows"] + 1  # + the review's decline
    assert evidence["declined_by_review"] == 1 and evidence["decided_without_label"] == 1
    merged = pd.read_parquet(Path(result["data"]) / "substitutions.parquet")
    original = pd.read_parquet(small_data_dir / "substitutions.parquet")
    assert len(merged) == len(original) - stored["unanswered_rows"] + 1
    declined = merged[merged["event_id"] == "R000-1"]
    assert len(declined) == 1 and not declined["accepted"].iloc[0]
    assert not merged["event_id"].str.startswith("R001-").any()  # not needed: no label
    assert result["challenger"]["version"] == "2"
    written = json.loads(Path(result["gate_report"]).read_text())
    assert written["sha256"] == report_sha256(written)
    assert written["improvement"]["resampled"] == "offer_sets"
    assert written["cost_metric"] == "log_loss" and written["holdout"]["unit"] == "offers"
    assert {r["segment"] for r in written["segments"]["rows"]} == {"location_id", "category"}
    assert set(written["hit@1_switch"]) == {"champion", "challenger"}

    gated = run("models", "gate", "substitution", "--key", alice)
    report = json.loads(gated.stdout)
    assert report["passed"], report["failures"]  # ten weeks of history vs eight months
    assert report["improvement"]["ci95"][0] > 0
    assert gated.exit_code == 0, gated.output
    refused = run("models", "approve", "substitution", "--key", alice)
    assert refused.exit_code == 1 and "four-eyes" in refused.stderr
    approved = run("models", "approve", "substitution", "--key", bob, "--reason", "feedback")
    assert approved.exit_code == 0, approved.output
    assert tracking.alias_version("substitution", "champion") == "2"
    moves = json.loads(run("models", "history", "substitution", "--json").stdout)["moves"]
    assert (moves[-1]["how"], moves[-1]["to_version"]) == ("promotion", "2")
    rolled = run("models", "rollback", "substitution", "--key", bob, "--reason", "drill")
    assert rolled.exit_code == 0, rolled.output
    assert tracking.alias_version("substitution", "champion") == "1"
    assert "intact" in run("audit", "verify").stdout
    db.dispose()
