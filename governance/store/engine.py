"""Engine and sessions of the governance store: the only place sessions are opened.

SQLite is the embedded default and PostgreSQL the production store. They differ in how
writers are serialized, so the differences are settled here once:

* SQLite runs in WAL mode (readers never block the writer) with a busy timeout, and every
  write transaction starts with ``BEGIN IMMEDIATE``. Python's ``sqlite3`` driver would
  otherwise begin lazily (``BEGIN DEFERRED`` at the first DML statement), and two deferred
  transactions that both read and then write deadlock into ``database is locked`` instead of
  queueing behind the busy timeout. We use the recipe from SQLAlchemy's SQLite dialect
  documentation: switch the driver's own transaction handling off on connect
  (``isolation_level = None``) and emit ``BEGIN`` ourselves from the ``begin`` event.
* PostgreSQL runs READ COMMITTED; stale writes are caught by compare-and-set updates and
  audit appends are serialized by a table lock (see :mod:`governance.audit`).

Read-only work uses :meth:`Database.read`, which begins a deferred transaction on SQLite so
readers (key authentication, queue listings) do not queue behind writers.

A store that cannot take work right now (PostgreSQL restarting, the connection gone, the
SQLite disk full or the database locked past the busy timeout) is not a bug of the request:
both sessions turn the driver's error into :class:`~stockpilot.errors.Unavailable` (503 with
``Retry-After``), and the pool's pre-ping reconnects once the store is back, without a restart.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from governance.audit import anchor_commits
from governance.store.anchor import Anchor
from stockpilot.errors import Unavailable
from stockpilot.settings import Settings

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
# What the SQLite WAL file may keep once it starts over (``PRAGMA journal_size_limit``),
# and the size at which the group committer's writer catches the WAL up itself.
SQLITE_WAL_LIMIT_BYTES = 64 << 20
SqliteSynchronous = Literal["FULL", "NORMAL"]
_BEGIN_OPTION = "stockpilot_sqlite_begin"
# Driver errors that mean "the store cannot take work now", not "this request is wrong".
# DB-API's OperationalError is that class by definition (connection lost, server shutting
# down or starting, disk full, lock timeout); InterfaceError a connection already closed.
OUTAGES = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
_REASONS = (
    ("full", "disk full"),
    ("no space", "disk full"),
    ("locked", "database locked"),
    ("i/o", "I/O error"),
    ("readonly", "read-only"),
)
_LOGGED_AT: dict[str, float] = {}  # reason -> when it was last logged (one line per second)


def unavailable(exc: BaseException) -> Unavailable | None:
    """The :class:`Unavailable` a driver error stands for, or None if it is not an outage.

    The response names the kind of outage only; the driver's message (which may name hosts
    and ports) goes to the log, once per second and kind at most, without a traceback.
    """
    if isinstance(exc, Unavailable):
        return exc
    invalidated = isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    if not (isinstance(exc, OUTAGES) or invalidated):
        return None
    detail = str(getattr(exc, "orig", None) or exc).strip()
    lowered = detail.lower()
    reason = next((name for key, name in _REASONS if key in lowered), "connection lost")
    now = time.monotonic()
    if now - _LOGGED_AT.get(reason, -1.0) >= 1.0:
        _LOGGED_AT[reason] = now
        log.warning("governance store unavailable (%s): %s", reason, detail.splitlines()[0])
    return Unavailable(
        f"the governance store is unavailable ({reason}); nothing was recorded or its commit "
        "is unknown: retry shortly (with the same Idempotency-Key)",
        reason=reason,
    )


def make_engine(
    url: str,
    *,
    busy_timeout: float = SQLITE_BUSY_TIMEOUT_SECONDS,
    sqlite_synchronous: SqliteSynchronous = "FULL",
    sqlite_autocheckpoint: int | None = None,
    sqlite_wal_limit: int = SQLITE_WAL_LIMIT_BYTES,
) -> Engine:
    """An engine for ``url``; SQLite engines get WAL, a busy timeout and explicit BEGIN.

    ``sqlite_autocheckpoint``: WAL pages after which a commit checkpoints (SQLite's
    default 1000); 0 leaves checkpoints to :meth:`Database.checkpoint`.
    ``sqlite_wal_limit``: bytes the WAL file keeps when it starts over.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise ValueError(
            "database_url: an in-memory SQLite database cannot be shared between "
            "connections; use a file path"
        )
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
        pool_size=8,
        max_overflow=16,
    )
    busy_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; `_on_begin` emits BEGIN instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL (default) keeps a commit durable across power loss, so a 2xx means durable;
        # NORMAL trades that for throughput (see Settings.sqlite_synchronous).
        cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
        # A WAL that grew in a burst is cut back when it starts over, not kept at its peak.
        cursor.execute(f"PRAGMA journal_size_limit={int(sqlite_wal_limit)}")
        if sqlite_autocheckpoint is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(sqlite_autocheckpoint)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _raise_outage(exc: BaseException) -> None:
    """Raise the :class:`Unavailable` that ``exc`` stands for; return if it is no outage."""
    outage = unavailable(exc)
    if outage is not None:
        raise outage from exc


class Database:
    """One engine plus the two kinds of session the governance code uses.

    ``write()`` is a unit of work: it commits when the block ends and rolls back when it
    raises, so a caller that returns a 2xx after the block knows the effect is durable.
    """

    def __init__(
        self,
        url: str,
        *,
        busy_timeout: float = SQLITE_BUSY_TIMEOUT_SECONDS,
        sqlite_synchronous: SqliteSynchronous = "FULL",
        sqlite_autocheckpoint: int | None = None,
        sqlite_wal_limit: int = SQLITE_WAL_LIMIT_BYTES,
        anchor: Path | str | None = None,
    ) -> None:
        self.url = url
        # Kept so another process (the group committer's writer) can open the same store.
        self.options: dict[str, Any] = {
            "busy_timeout": busy_timeout,
            "sqlite_synchronous": sqlite_synchronous,
            "anchor": None if anchor is None else str(anchor),
        }
        self.engine = make_engine(
            url,
            busy_timeout=busy_timeout,
            sqlite_synchronous=sqlite_synchronous,
            sqlite_autocheckpoint=sqlite_autocheckpoint,
            sqlite_wal_limit=sqlite_wal_limit,
        )
        self.dialect = self.engine.dialect.name
        reader = self.engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})
        self._writes = sessionmaker(self.engine, expire_on_commit=False)
        self._reads = sessionmaker(reader, expire_on_commit=False)
        # The audit chain's head, recorded outside the database after each commit.
        self.anchor = None if anchor is None else Anchor(anchor)
        if self.anchor is not None:
            anchor_commits(self._writes, self.anchor)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The store named by ``STOCKPILOT_DATABASE_URL`` (SQLite under ``home`` by default)."""
        url = settings.database_url
        assert url is not None  # Settings fills in the default
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            # SQLite creates the file but not its directory (``var/`` on a fresh checkout).
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return cls(
            url, sqlite_synchronous=settings.sqlite_synchronous, anchor=settings.audit_anchor_file
        )

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        try:
            with self._writes.begin() as session:
                yield session
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            _raise_outage(exc)
            raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction that never takes the SQLite write lock."""
        try:
            with self._reads() as session:
                yield session  # closing the session rolls the read transaction back
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            _raise_outage(exc)
            raise

    def checkpoint(self) -> None:
        """Copy what the SQLite WAL holds into the database file, blocking no one (PASSIVE).

        Without it a commit checkpoints every 1000 pages, and that commit waits for the
        copy (tens of milliseconds); the group committer's writer runs this beside its
        commits instead. Nothing to do on PostgreSQL.
        """
        if self.dialect != "sqlite":
            return
        raw = self.engine.raw_connection()  # no transaction: a checkpoint outside BEGIN
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.close()
        finally:
            raw.close()

    def wal_bytes(self) -> int:
        """The size of the SQLite WAL file (0 on PostgreSQL, or before the first write)."""
        if self.dialect != "sqlite":
            return 0
        try:
            return os.stat(f"{self.engine.url.database}-wal").st_size
        except FileNotFoundError:
            return 0

    def session(self) -> Session:
        """A bare write session for callers that manage the transaction themselves."""
        return self._writes()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.anchor is not None:
            self.anchor.close()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"
