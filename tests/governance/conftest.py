"""Governance fixtures: a migrated store on SQLite and, where configured, on PostgreSQL.

Each test gets a fresh store. SQLite: a copy of a database migrated once per session.
PostgreSQL: each xdist worker creates its own database (dropped at the end) and each test
its own schema inside it, migrated by the real Alembic scripts. When
``STOCKPILOT_REQUIRE_POSTGRES=1`` an unset or unreachable server fails the PostgreSQL tests
instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from governance.access import Principal, Role
from governance.policy import Policy, default_policy_text
from governance.policy_versions import apply_policy
from governance.recommendations import ModelOutput, Recorded, record
from governance.routing import OrderRisk, Recommendation, Replenishment, route
from governance.store.engine import Database
from governance.store.migrate import upgrade
from tests.conftest import postgres_url, require_postgres
from tests.governance.support import ADMIN, principal

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "governance.store.engine"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()  # the last connection to close checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def pg_database(worker_id: str) -> Iterator[str]:
    """URL of a database owned by this test session/worker."""
    url = postgres_url()
    if url is None:
        if require_postgres():
            pytest.fail("STOCKPILOT_REQUIRE_POSTGRES=1 but STOCKPILOT_TEST_POSTGRES_URL is unset")
        pytest.skip("STOCKPILOT_TEST_POSTGRES_URL is not set")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"stockpilot_gov_{worker_id}_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as err:
        admin.dispose()
        if require_postgres():
            pytest.fail(f"PostgreSQL required but unreachable at {url}: {err}")
        pytest.skip(f"PostgreSQL unreachable at {url}")
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def pg_schema(base: str, *, migrate: bool = True) -> Iterator[str]:
    """A URL whose search_path is a new schema of ``base``; the schema is dropped after."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    url_text = url.render_as_string(hide_password=False)
    if migrate:
        db = Database(url_text)
        upgrade(db)
        db.dispose()
    try:
        yield url_text
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty governance store."""
    if request.param == "sqlite":
        path = tmp_path / "governance.store.engine"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    with pg_schema(request.getfixturevalue("pg_database")) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated store (for `stockpilot db upgrade`)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'stockpilot.db'}"
        return
    with pg_schema(request.getfixturevalue("pg_database"), migrate=False) as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def policy(db: Database) -> Policy:
    """The shipped default policy, applied to the store."""
    with db.write() as session:
        return apply_policy(session, default_policy_text(), actor=ADMIN).policy


@pytest.fixture
def open_item(db: Database, policy: Policy) -> Callable[..., Recorded]:
    """Score-and-route helper: records a recommendation and returns it with its queue item."""

    def make(
        recommendation: Recommendation | None = None,
        *,
        requester: Principal | None = None,
        quantity: float | None = None,
        unit_value: float | None = None,
        now: datetime | None = None,
        **extra: Any,
    ) -> Recorded:
        recommendation = recommendation or OrderRisk(probability=0.5)
        requester = requester or principal("erp", Role.order_system)
        if isinstance(recommendation, Replenishment):
            quantity = quantity if quantity is not None else 100.0
            unit_value = recommendation.value / quantity
        decision = route(recommendation, policy)
        output = ModelOutput(
            subject=extra.pop("subject", f"order:{uuid.uuid4().hex[:8]}"),
            model_name="order-risk",
            model_version="3",
            score=getattr(recommendation, "probability", None),
            features={"qty": 12, "lead_time_days": 4.5, "missing": float("nan")},
            contributions={"qty": 0.1, "lead_time_days": 0.3},
            quantity=quantity,
            unit_value=unit_value,
        )
        with db.write() as session:
            return record(
                session, output, decision, principal=requester, now=now or datetime.now(UTC)
            )

    return make
