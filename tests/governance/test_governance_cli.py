"""The governance commands through the real `stockpilot` CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from governance.keys import authenticate
from governance.policy import default_policy_text
from governance.policy_versions import active_policy
from governance.recommendations import ModelOutput, record
from governance.routing import OrderRisk, route
from governance.store.engine import Database
from governance.store.migrate import head_revision
from stockpilot.cli import app
from stockpilot.settings import get_settings
from tests.governance.support import principal

runner = CliRunner()


@pytest.fixture
def store(settings, blank_db_url, monkeypatch) -> str:
    """The CLI's settings (home isolated under tmp_path) pointed at an empty store."""
    monkeypatch.setenv("STOCKPILOT_DATABASE_URL", blank_db_url)
    get_settings.cache_clear()
    assert get_settings().database_url == blank_db_url
    return blank_db_url


def run(*args: str):
    return runner.invoke(app, list(args))


def _policy_file(tmp_path, edit=None, name="policy.yaml"):
    data = yaml.safe_load(default_policy_text())
    if edit:
        edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _upgraded_with_policy(tmp_path):
    assert run("db", "upgrade").exit_code == 0
    assert run("policy", "apply", str(_policy_file(tmp_path))).exit_code == 0


def test_db_upgrade_creates_the_schema_and_is_repeatable(store):
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"at revision {head_revision()}" in result.stderr
    assert run("db", "upgrade").exit_code == 0


def test_commands_refuse_an_unmigrated_store(store):
    result = run("keys", "list")
    assert result.exit_code == 1
    assert "stockpilot db upgrade" in result.stderr


def test_policy_validate(store, tmp_path):
    good = _policy_file(tmp_path)
    result = run("policy", "validate", str(good))
    assert result.exit_code == 0 and "valid policy (version 1" in result.stderr
    typo = _policy_file(tmp_path, lambda d: d["substitution"].update(auto_ofer_at=0.5), "bad.yaml")
    result = run("policy", "validate", str(typo))
    assert result.exit_code == 1
    assert "substitution.auto_ofer_at: unknown key (did you mean 'auto_offer_at'?)" in (
        result.stderr.replace("\n", " ")
    )


def test_policy_apply_activates_and_audits(store, tmp_path):
    assert run("db", "upgrade").exit_code == 0
    path = _policy_file(tmp_path)
    result = run("policy", "apply", str(path))
    assert result.exit_code == 0, result.output
    assert "applied policy version 1" in result.stderr
    assert "already active" in run("policy", "apply", str(path)).stderr

    def invert(d):
        d["order_risk"]["review_at"], d["version"] = 0.9, 2

    inverted = _policy_file(tmp_path, invert, "inverted.yaml")
    result = run("policy", "apply", str(inverted))
    assert result.exit_code == 1 and "order_risk.review_at" in result.stderr
    shown = run("policy", "show", "--json")
    assert shown.exit_code == 0 and '"version": 1' in shown.stdout
    db = Database(store)
    with db.read() as session:
        assert active_policy(session).applied_by.startswith("cli:")
    db.dispose()
    assert "intact: 1 events" in run("audit", "verify").stdout


def test_keys_create_list_revoke(store, tmp_path):
    assert run("db", "upgrade").exit_code == 0
    created = run("keys", "create", "--role", "supervisor", "--name", "Sam")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("spk_") and "\n" not in token
    db = Database(store)
    with db.read() as session:
        who = authenticate(session, token)
    assert who.role.value == "supervisor"
    listed = run("keys", "list")
    assert who.key_id in listed.stdout and token not in listed.stdout
    assert run("keys", "create", "--role", "god", "--name", "x").exit_code == 1
    assert run("keys", "revoke", who.key_id).exit_code == 0
    again = run("keys", "revoke", who.key_id)
    assert again.exit_code == 1 and "already revoked" in again.stderr
    assert "revoked" in run("keys", "list").stdout
    db.dispose()


def test_keys_rotate_prints_the_successor_once(store, tmp_path):
    assert run("db", "upgrade").exit_code == 0
    token = run("keys", "create", "--role", "planner", "--name", "Pat").stdout.strip()
    db = Database(store)
    with db.read() as session:
        old = authenticate(session, token)
    rotated = run("keys", "rotate", old.key_id, "--grace-hours", "1")
    assert rotated.exit_code == 0, rotated.output
    successor = rotated.stdout.strip()
    assert successor.startswith("spk_") and successor != token
    assert token not in rotated.stderr and successor not in rotated.stderr
    with db.read() as session:
        assert authenticate(session, token).key_id == old.key_id  # within its grace hour
        new = authenticate(session, successor)
    assert (new.role.value, new.name) == ("planner", "Pat") and new.key_id in rotated.stderr
    listed = run("keys", "list").stdout
    assert listed.count("Pat") == 2 and token not in listed and successor not in listed
    assert run("keys", "rotate", "k_missing").exit_code == 1
    db.dispose()


def test_audit_verify_names_the_first_broken_row(store, tmp_path):
    _upgraded_with_policy(tmp_path)
    for name in ("a", "b", "c"):
        assert run("keys", "create", "--role", "sales", "--name", name).exit_code == 0
    ok = run("audit", "verify")
    assert (ok.exit_code, ok.stdout.strip()) == (
        0,
        "audit chain intact: 4 events, anchored head at seq 4",
    )
    db = Database(store)
    with db.write() as session:
        if db.dialect == "postgresql":
            session.execute(text("DROP TRIGGER audit_events_no_update_delete ON audit_events"))
        else:
            session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
    db.dispose()
    broken = run("audit", "verify")
    assert broken.exit_code == 1
    assert "broken at seq 3" in broken.stdout


def test_audit_verify_finds_a_deleted_tail(store, tmp_path):
    _upgraded_with_policy(tmp_path)
    for name in ("a", "b"):
        assert run("keys", "create", "--role", "sales", "--name", name).exit_code == 0
    db = Database(store)  # no anchor of its own: a SQL prompt, not the service
    with db.write() as session:
        if db.dialect == "postgresql":
            session.execute(text("DROP TRIGGER audit_events_no_update_delete ON audit_events"))
        else:
            session.execute(text("DROP TRIGGER audit_events_no_delete"))
        session.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    db.dispose()
    broken = run("audit", "verify")
    assert broken.exit_code == 1
    assert broken.stdout.strip() == (
        "audit chain broken at seq 3: the chain ends at seq 2 but its anchored head is "
        "seq 3: events 3..3 were deleted"
    )


def test_queues_expire_sweeps_overdue_items(store, tmp_path):
    _upgraded_with_policy(tmp_path)
    db = Database(store)
    with db.write() as session:
        policy = active_policy(session).policy
        for hours_ago in (1, 30):  # order-review SLA is 4 h: only the older one is overdue
            record(
                session,
                ModelOutput(f"order:{hours_ago}", "order-risk", "3", 0.5),
                route(OrderRisk(0.5), policy),
                principal=principal("erp", "order_system"),
                now=datetime.now(UTC) - timedelta(hours=hours_ago),
            )
    db.dispose()
    result = run("queues", "expire")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1"
    assert run("queues", "expire").stdout.strip() == "0"
    assert "order:1" in run("queues", "list").stdout
    expired = run("queues", "list", "--status", "expired").stdout
    assert "order:30" in expired and 'order:1"' not in expired
