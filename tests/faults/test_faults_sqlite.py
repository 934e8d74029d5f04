"""The fault suite at small scale against SQLite (``benchmarks/faults.py`` at full scale):
the real server and writer processes on a filesystem that fills up, with 8 connections
scoring orders under idempotency keys while the writer and the server are SIGKILLed, the
disk fills and the registry is gone. Every acknowledged response replays identically,
nothing is recorded twice, no 500, every 503 carries Retry-After, audit verify and
integrity_check are ok. One file per backend, so that xdist runs the two side by side.

Never skipped: a machine that may not mount a tmpfs fills the disk by a file-size limit.
"""

from __future__ import annotations

import pytest

from benchmarks.faults import SCALES, Store
from tests.faults.support import assert_books_balance

pytestmark = pytest.mark.faults


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
    assert_books_balance([writer, disk, server, registry])
    assert disk.audit.unavailable >= 1, disk  # the full disk was seen, as 503s
    assert "degraded, models from cache" in server.detail, server.detail
    assert "reload: 200, 3 models report the registry unreachable" in registry.detail
    assert registry.non_2xx == 0, registry.audit.statuses  # no request fails meanwhile
