"""The store itself: SQLite transaction modes, migrations, the active policy in the DB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert, text

from governance import audit
from governance.policy import PolicyError, default_policy_text
from governance.policy_versions import active_policy, active_version, apply_policy, ensure_policy
from governance.store.engine import Database
from governance.store.fast_inserts import RowInsert
from governance.store.migrate import current_revision, head_revision, require_current, upgrade
from governance.store.tables import QueueItemRow, RecommendationRow
from stockpilot.errors import Conflict, NotReady, Unavailable
from stockpilot.settings import get_settings
from tests.governance.support import ADMIN


def test_sqlite_write_transactions_take_the_write_lock_at_begin(tmp_path):
    """``BEGIN IMMEDIATE`` is really issued: a write transaction that has only read so far
    already blocks other writers, while read transactions block nobody."""
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    holder, other = Database(url), Database(url, busy_timeout=0.1)
    statements: list[str] = []
    event.listen(holder.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with other.write() as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    with holder.read() as session:
        session.execute(text("SELECT count(*) FROM t")).scalar()
        with other.write() as writer:  # a reader does not stop a writer
            writer.execute(text("INSERT INTO t VALUES (1)"))
    assert "BEGIN DEFERRED" in statements
    with holder.write() as session:
        session.execute(text("SELECT count(*) FROM t")).scalar()  # no write yet
        with pytest.raises(Unavailable, match="database locked"), other.write() as writer:
            writer.execute(text("INSERT INTO t VALUES (2)"))
    assert "BEGIN IMMEDIATE" in statements
    with holder.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    holder.dispose()
    other.dispose()


def test_store_from_settings_lives_under_home(settings, monkeypatch):
    monkeypatch.setenv("STOCKPILOT_SQLITE_SYNCHRONOUS", "NORMAL")
    get_settings.cache_clear()
    db = Database.from_settings(get_settings())
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert (settings.home / "stockpilot.db").exists()
    db.dispose()


def test_in_memory_sqlite_is_refused():
    with pytest.raises(ValueError, match="in-memory"):
        Database("sqlite://")


def test_migrations_are_idempotent_and_checked(db):
    assert current_revision(db) == head_revision()
    require_current(db)
    assert upgrade(db) == head_revision()  # a second upgrade is a no-op


def test_an_unmigrated_database_is_not_ready(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(NotReady, match="stockpilot db upgrade"):
        require_current(db)
    db.dispose()


def test_policy_apply_is_audited_and_versions_only_go_up(db):
    with db.read() as session, pytest.raises(NotReady):
        active_policy(session)
    text_v1 = default_policy_text()
    with db.write() as session:
        first = apply_policy(session, text_v1, actor=ADMIN)
    with db.write() as session:
        again = apply_policy(session, text_v1, actor=ADMIN)
    assert first.changed and not again.changed  # re-applying the active document: no-op
    changed_v1 = text_v1.replace("hold_at: 0.7", "hold_at: 0.8")
    with db.write() as session, pytest.raises(Conflict, match="not newer"):
        apply_policy(session, changed_v1, actor=ADMIN)
    with db.write() as session, pytest.raises(PolicyError):
        apply_policy(session, changed_v1.replace("review_at: 0.35", "reviewat: 0.35"), actor=ADMIN)
    v2 = changed_v1.replace("version: 1", "version: 2")
    with db.write() as session:
        second = apply_policy(session, v2, actor=ADMIN, origin="v2.yaml")
    with db.read() as session:
        active = active_policy(session)
        events = audit.list_events(session, kind="policy.applied")
        assert active_version(session) == 2
    assert (second.version, active.policy.order_risk.hold_at) == (2, 0.8)
    assert [e.payload["version"] for e in events] == [1, 2]
    assert events[1].payload["previous_version"] == 1
    assert events[1].payload["policy"]["order_risk"]["hold_at"] == 0.8
    assert events[1].actor == ADMIN.actor


def test_ensure_policy_applies_the_configured_file_only_once(db, tmp_path):
    custom = tmp_path / "policy.yaml"
    custom.write_text(default_policy_text().replace("version: 1", "version: 5"))
    with db.write() as session:
        assert ensure_policy(session, actor=ADMIN, policy_file=custom).version == 5
    with db.write() as session:
        kept = ensure_policy(session, actor=ADMIN, policy_file=None)
    assert (kept.version, kept.changed) == (5, False)


def test_row_inserts_store_exactly_what_core_stores(db):
    """The hot-path inserts bind through the columns' own types: the same stored values
    as a Core INSERT (aware datetimes, JSON, NULLs), read back the same by the ORM."""
    at = datetime(2026, 3, 4, 5, 6, 7, 0, tzinfo=UTC)  # no microseconds: the formats differ there
    rec = {
        "kind": "order_risk",
        "subject": "order:x",
        "model_name": "order-risk",
        "model_version": "1",
        "score": 0.25,
        "action": "review",
        "queue": "order-review",
        "threshold_name": "order_risk.review_at",
        "threshold": None,
        "policy_version": 1,
        "created_at": at,
        "created_by": "key:k1",
    }
    item = {
        "queue": "order-review",
        "kind": "order_risk",
        "subject": "order:x",
        "action": "review",
        "status": "pending",
        "version": 1,
        "requested_by": "key:k1",
        "requested_role": None,
        "required_approvals": 1,
        "approvals": 0,
        "approval_round": 0,
        "quantity": None,
        "unit_value": 2.5,
        "policy_version": 1,
        "details": {"reason": "é", "n": [1, 2.5, None]},
        "created_at": at,
        "due_at": at + timedelta(hours=4),
        "decided_at": None,
        "decided_by": None,
        "reason": None,
    }
    tables = RecommendationRow.__table__, QueueItemRow.__table__
    with db.write() as session:
        for suffix, write in (
            ("core", lambda t, row: session.execute(insert(t), row)),
            ("fast", lambda t, row: RowInsert(t)(session, row)),
        ):
            write(tables[0], {**rec, "id": f"r-{suffix}"})
            write(tables[1], {**item, "id": f"q-{suffix}", "recommendation_id": f"r-{suffix}"})
    with db.engine.connect() as conn:
        for table, key in ((tables[0], "id"), (tables[1], "id")):
            rows = conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY {key}").fetchall()
            core, fast = (
                tuple(v for k, v in r._mapping.items() if k not in ("id", "recommendation_id"))
                for r in rows
            )
            assert core == fast, table.name  # the driver's own values, unconverted
    with db.read() as session:
        core, fast = session.get(QueueItemRow, "q-core"), session.get(QueueItemRow, "q-fast")
        assert fast.details == item["details"] and fast.due_at == core.due_at == item["due_at"]
