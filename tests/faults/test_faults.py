"""The fault suite at small scale (``benchmarks/faults.py`` at full scale): the real server
and writer processes against SQLite on a filesystem that fills up and against a private
PostgreSQL cluster, with 8 connections scoring orders under idempotency keys while the
writer and the server are SIGKILLed, the disk fills, PostgreSQL restarts and the registry
is gone. Every acknowledged response replays identically, nothing is recorded twice, no
500, every 503 carries Retry-After, audit verify and integrity_check are ok.

Never skipped: a machine without PostgreSQL's server binaries fails here (``.ci/run``
installs them); one that may not mount a tmpfs fills the disk by a file-size limit instead.
"""

from __future__ import annotations

import pytest

from benchmarks.faults import SCALES, Row, Store

pytestmark = pytest.mark.faults


def _assert_books_balance(rows: list[Row]) -> None:
    for row in rows:
        audit = row.audit
        summary = f"{row.backend} {row.scenario}: {audit} ({row.detail})"
        assert audit.acknowledged > 0, summary
        assert audit.lost == 0 and audit.duplicated == 0, summary
        assert audit.server_errors == 0 and audit.unavailable_without_retry_after == 0, summary
        assert audit.audit_verify.startswith("ok: audit chain intact"), summary
        assert "anchored head" in audit.audit_verify, summary
        assert audit.integrity in ("ok", "n/a"), summary


def test_sqlite_kill9_of_writer_and_server_a_full_disk_and_no_registry(trained_home, tmp_path):
    store = Store("sqlite", trained_home, tmp_path, SCALES["small"]).open()
    try:
        store.server.start()
        writer = store.stage("kill -9 writer", store.kill_writer)
        disk = store.stage("disk full", store.fill_disk)
        server = store.stage("kill -9 server", lambda: store.kill_server(registry_down=True))
        registry = store.stage("registry down", store.reload_while_down)
    finally:
        store.close()
    _assert_books_balance([writer, disk, server, registry])
    assert disk.audit.unavailable >= 1, disk  # the full disk was seen, as 503s
    assert "degraded, models from cache" in server.detail, server.detail
    assert "reload: 200, 3 models report the registry unreachable" in registry.detail
    assert registry.non_2xx == 0, registry.audit.statuses  # no request fails meanwhile


def test_postgres_kill9_of_writer_and_server_and_a_restart_of_the_database(trained_home, tmp_path):
    store = Store("postgres", trained_home, tmp_path, SCALES["small"]).open()
    try:
        store.server.start()
        writer = store.stage("kill -9 writer", store.kill_writer)
        restart = store.stage("PostgreSQL restart", store.restart_postgres)
        server = store.stage("kill -9 server", store.kill_server)
    finally:
        store.close()
    _assert_books_balance([writer, restart, server])
    assert restart.audit.unavailable >= 1, restart  # 503 while it was down ...
    assert "same serving process" in restart.detail  # ... and back without a restart
