"""Schema migrations: ``stockpilot db upgrade`` and the start-up check serving makes.

The Alembic scripts ship inside the package (``governance/store/migrations``) so an installed
StockPilot can migrate its own database; no ``alembic.ini`` is needed.
"""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from governance.store.engine import Database
from stockpilot.errors import NotReady


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("governance") / "store" / "migrations"))
    # Alembic's config is ConfigParser-based: '%' must be doubled.
    url_text = make_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url_text.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> str | None:
    """Migrate ``db`` to ``revision`` in one transaction; returns the new revision."""
    config = alembic_config(db.url)
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return current_revision(db)


def require_current(db: Database) -> None:
    """Refuse to work on a database whose schema is not at the shipped head."""
    current, head = current_revision(db), head_revision()
    if current != head:
        raise NotReady(
            f"database schema is at {current or 'nothing'}, expected {head}: "
            "run `stockpilot db upgrade`",
            current=current,
            head=head,
        )
