"""The model lifecycle end to end, through the real CLI, MLflow store and SQLite store.

A champion trained on the drift world's history before its carrier collapse; the next
export (the whole history, its last fulfillments reported live through the outcome store
instead) → ``retrain`` → ``models gate`` → a self-approval refused → a second data
scientist approves → ``models history`` shows the move with its audit seq → ``rollback``
restores the old champion → ``audit verify`` is intact.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from governance.access import Principal, Role
from governance.audit import get_event
from governance.events import LineOutcome, record_outcomes
from governance.keys import authenticate
from governance.policy import default_policy_text
from governance.policy_versions import active_policy
from governance.promotion import pending_promotion
from governance.queues import decide
from governance.store.engine import Database
from stockpilot import tracking
from stockpilot.errors import Conflict
from stockpilot.settings import Settings
from tests.training.lifecycle_cli import data_scientist_key, run
from training.promotion_gate import report_sha256
from training.retrain import history_as_of

CUTOFF = "2024-05-20"  # before the carrier collapse of drift seed 3 (2024-05-24)
LIVE_LINES = 300


@pytest.fixture(scope="module")
def drift_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.simulator import simulate, write

    out = tmp_path_factory.mktemp("drift") / "data"
    write(simulate("small", seed=3, regime="drift"), out)
    return out


def _latest_export(full: Path, out: Path) -> list[LineOutcome]:
    """``full`` without the fulfillments of its last delivered lines; those as live outcomes."""
    import shutil

    shutil.copytree(full, out)
    ful = pd.read_parquet(full / "fulfillments.parquet")
    live = ful.dropna(subset=["delivered_date"]).nlargest(LIVE_LINES, "delivered_date")
    ful.drop(index=live.index).to_parquet(out / "fulfillments.parquet", index=False)
    return [
        LineOutcome(
            str(r.order_id),
            int(r.line_no),
            float(r.shipped_qty),
            r.ship_date.tz_localize("UTC").to_pydatetime() if pd.notna(r.ship_date) else None,
            r.delivered_date.tz_localize("UTC").to_pydatetime(),
            "delivered",
        )
        for r in live.itertuples()
    ]


def _policy(tmp_path: Path) -> Path:
    """The default policy with a looser segment tolerance: on this seed the challenger is
    better overall and on the collapsed carrier but worse on another (a real finding the
    default 5 % refuses); the applied version is audited like any policy change."""
    data = yaml.safe_load(default_policy_text())
    data["promotion"]["segment_tolerance"] = 0.25
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _review_two_held_orders(db: Database, export: Path) -> tuple[int, str]:
    """Two of the export's fulfilled orders held and decided by a supervisor: one cancelled
    (rejected), one overridden. Returns the cancelled order's fulfilled lines and the
    overridden order's id."""
    from governance.policy_versions import active_policy
    from governance.queues import decide
    from governance.recommendations import ModelOutput, record
    from governance.routing import OrderRisk, route

    ful = pd.read_parquet(export / "fulfillments.parquet")
    early = ful.dropna(subset=["delivered_date"]).nsmallest(400, "delivered_date")
    first, second = (str(o) for o in early["order_id"].drop_duplicates().iloc[:2])
    erp = Principal("erp", Role.order_system, "erp")
    supervisor = Principal("sue", Role.supervisor, "sue")
    with db.write() as session:
        policy = active_policy(session).policy
        held = route(OrderRisk(probability=0.9), policy)
        items = [
            record(session, ModelOutput(f"order:{o}", "order-risk", "1", 0.9), held, principal=erp)
            for o in (first, second)
        ]
    with db.write() as session:
        decide(
            session,
            items[0].item.id,
            principal=supervisor,
            action="reject",
            reason="customer_declined",
            policy=policy,
        )
    with db.write() as session:
        decide(
            session,
            items[1].item.id,
            principal=supervisor,
            action="override",
            reason="model_wrong",
            policy=policy,
        )
    return int((ful["order_id"].astype(str) == first).sum()), second


@pytest.mark.slow
def test_retrain_gate_promote_history_rollback(
    settings: Settings, drift_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPILOT_TRAIN_THREADS", "2")
    old = history_as_of(drift_data, CUTOFF, tmp_path / "old")
    export = tmp_path / "export"
    outcomes = _latest_export(drift_data, export)
    assert run("db", "upgrade").exit_code == 0
    assert run("policy", "apply", str(_policy(tmp_path))).exit_code == 0
    alice, bob = data_scientist_key("alice"), data_scientist_key("bob")
    db = Database.from_settings(settings)
    with db.write() as session:
        record_outcomes(session, outcomes, actor="test:erp")
    cancelled, overridden = _review_two_held_orders(db, export)

    trained = run("train", "order-risk", "--data", str(old))
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["registered"]["audit_seq"] is not None  # training audited

    retrained = run("retrain", "order-risk", "--data", str(export))
    assert retrained.exit_code == 0, retrained.output
    result = json.loads(retrained.stdout)
    evidence = result["evidence"]
    assert evidence["live_outcomes_used"] == LIVE_LINES
    assert evidence["rejected_orders_unlabelled"] == 1
    assert evidence["rejected_lines_unlabelled"] == cancelled  # the cancelled order's lines
    assert evidence["overridden_orders"] == 1 and evidence["overrides"]["orders_with_outcome"] == 1
    merged = pd.read_parquet(Path(result["data"]) / "fulfillments.parquet")
    assert overridden in set(merged["order_id"].astype(str))
    assert result["challenger"]["version"] == "2"
    written = json.loads(Path(result["gate_report"]).read_text())
    assert written["sha256"] == report_sha256(written)
    assert written["holdout"]["lines"] > 1000 and written["improvement"]["resampled"] == "orders"

    gated = run("models", "gate", "order-risk", "--key", alice)
    assert gated.exit_code == 0, gated.output
    report = json.loads(gated.stdout)
    assert report["passed"] and report["improvement"]["ci95"][0] > 0
    assert report["challenger"]["version"] == "2" and report["champion"]["version"] == "1"
    assert tracking.version_info("order-risk", "2").tags["gate_report_sha256"] == report["sha256"]

    refused = run("models", "approve", "order-risk", "--key", alice)
    assert refused.exit_code == 1
    assert "four-eyes" in refused.stderr and "second data scientist" in refused.stderr
    assert tracking.alias_version("order-risk", "champion") == "1"

    with db.read() as session:  # the generic queue decision cannot approve: no alias move
        bob_principal = authenticate(session, bob)
        policy = active_policy(session).policy
    item = pending_promotion(db, "order-risk")
    assert item is not None and item.queue == "model-promotion"
    with pytest.raises(Conflict, match="stockpilot models approve order-risk"), db.write() as s:
        decide(s, item.id, principal=bob_principal, action="approve", policy=policy)

    approved = run("models", "approve", "order-risk", "--key", bob, "--reason", "carrier drift")
    assert approved.exit_code == 0, approved.output
    assert tracking.alias_version("order-risk", "champion") == "2"
    assert tracking.alias_version("order-risk", "challenger") is None

    shown = run("models", "history", "order-risk", "--json")
    moves = json.loads(shown.stdout)["moves"]
    assert [(m["alias"], m["how"]) for m in moves] == [
        ("champion", "training"),
        ("challenger", "training"),
        ("champion", "promotion"),
    ]
    promotion = moves[-1]
    assert (promotion["from_version"], promotion["to_version"]) == ("1", "2")
    assert promotion["actor_name"] == "bob" and promotion["reason"] == "carrier drift"
    with db.read() as session:
        event = get_event(session, promotion["seq"])
    assert event is not None and event.kind == "model.alias_moved"
    assert event.payload["gate_report_sha256"] == report["sha256"]
    assert event.payload["requested_by"] != event.actor  # four eyes, in the chain

    started = time.perf_counter()
    rolled = run("models", "rollback", "order-risk", "--key", bob, "--reason", "drill")
    assert rolled.exit_code == 0, rolled.output
    assert time.perf_counter() - started < 60
    assert tracking.alias_version("order-risk", "champion") == "1"
    last = json.loads(run("models", "history", "order-risk", "--json").stdout)["moves"][-1]
    assert (last["how"], last["from_version"], last["to_version"]) == ("rollback", "2", "1")

    verified = run("audit", "verify")
    assert verified.exit_code == 0 and "intact" in verified.stdout
    db.dispose()


def test_lifecycle_commands_refuse_clearly(settings: Settings) -> None:
    assert run("db", "upgrade").exit_code == 0
    unknown_model = run("retrain", "churn", "--data", str(settings.home))
    assert unknown_model.exit_code == 1 and "'churn' is not one of" in unknown_model.stderr
    missing = run("retrain", "demand", "--data", str(settings.home / "nowhere"))
    assert missing.exit_code == 1 and "not a directory" in missing.stderr
    unknown = run("models", "history", "churn")
    assert unknown.exit_code == 1 and "churn" in unknown.stderr
    no_key = run("models", "gate", "order-risk", "--key", "spk_nope")
    assert no_key.exit_code == 1 and "API key" in no_key.stderr
