"""Alembic environment of the governance store.

Migrations normally run through :func:`governance.store.migrate.upgrade`, which hands over an
open connection (``config.attributes["connection"]``) so SQLite gets the same BEGIN
IMMEDIATE handling as the application. Running ``alembic`` by hand also works: it then
builds an engine from ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context

from governance.store.engine import make_engine
from governance.store.tables import Base

config = context.config


def run_migrations(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as conn:
            run_migrations(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: triggers differ per dialect")
run()
