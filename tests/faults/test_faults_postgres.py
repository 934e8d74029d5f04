"""The fault suite at small scale against PostgreSQL (``benchmarks/faults.py`` at full
scale): the real server and writer processes on a private cluster (never the shared one),
with 8 connections scoring orders under idempotency keys while the writer and the server
are SIGKILLed and the cluster restarts ``-m immediate``. The same books as on SQLite.

Never skipped: a machine without PostgreSQL's server binaries fails here (``.ci/run``
installs them).
"""

from __future__ import annotations

import pytest

from benchmarks.faults import SCALES, Store
from tests.faults.support import assert_books_balance

pytestmark = pytest.mark.faults


def test_postgres_kill9_of_writer_and_server_and_a_restart_of_the_database(trained_home, tmp_path):
    store = Store("postgres", trained_home, tmp_path, SCALES["small"]).open()
    try:
        store.server.start()
        writer = store.stage("kill -9 writer", store.kill_writer)
        restart = store.stage("PostgreSQL restart", store.restart_postgres)
        server = store.stage("kill -9 server", store.kill_server)
    finally:
        store.close()
    assert_books_balance([writer, restart, server])
    assert restart.audit.unavailable >= 1, restart  # 503 while it was down ...
    assert "same serving process" in restart.detail  # ... and back without a restart
