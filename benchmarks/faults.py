"""Fault suite (issue 20): break the real server, writer and store on purpose, under load.

Against SQLite and against a private PostgreSQL cluster, with 8 connections scoring orders
(each with its own ``Idempotency-Key``, retried after ``Retry-After`` until acknowledged):

* ``kill -9 writer``: the group committer's writer process, SIGKILLed mid-load;
* ``disk full`` (SQLite): the filesystem under the store fills up, then empties again;
* ``PostgreSQL restart``: ``pg_ctl stop -m immediate``, a few seconds down, ``start``;
* ``kill -9 server``: the serving process, SIGKILLed mid-load, started again;
* ``registry down at start``: that restart cannot reach the MLflow registry;
* ``registry down while serving``: an ``mlflow server`` registry SIGKILLed mid-load, and a
  reload asked for while it is gone;
* ``soak``: ``wrk`` at 8 connections for ``--soak-seconds`` (600), minute by minute,
  scoring orders and posting the outcomes of one in four (``benchmarks/soak.py``, which
  says what "stable" means: no error, memory flat over the last two thirds, the WAL bounded).

Per scenario it prints requests sent / acknowledged / lost / duplicated, the 5xx and 503
answers (every 503 must carry ``Retry-After``), ``stockpilot audit verify`` and SQLite's
``integrity_check``. Lost: acknowledged, yet not stored or not replayed identically under its
key; duplicated: one key recorded twice.

    make run     # once, for var/ (a trained home); Ctrl-C once it serves
    .venv/bin/python benchmarks/faults.py [--home var] [--backends sqlite,postgres]
        [--soak-seconds 600] [--soak-backends sqlite[,postgres]] [--scale full|small]
        [--soak-max-open-lines 10000]
    .venv/bin/python benchmarks/faults.py --home H --backends '' --soak-seconds 600  # soak only

Runs as root, or as a user that may mount tmpfs and own a PostgreSQL cluster (initdb).
``tests/faults`` runs the same scenarios at small scale in ``make test``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as a script: the project root, not benchmarks/, first
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.fault_harness import (
    BIN,
    Audit,
    Load,
    PrivateCluster,
    Server,
    SmallDisk,
    audit_books,
    audit_verify,
    free_port,
    integrity,
    order_pool,
    prepare_store,
)
from benchmarks.soak import SOAK_MAX_OPEN_LINES, SOAK_SETTINGS, print_soak, soak, soak_ok


@dataclass(frozen=True)
class Scale:
    before: float  # seconds of load before the fault
    after: float  # ... and after it (recovery included)
    hold: float  # seconds the disk stays full / PostgreSQL stays down


SCALES = {"small": Scale(1.5, 2.5, 1.5), "full": Scale(5.0, 10.0, 5.0)}


@dataclass
class Row:
    backend: str
    scenario: str
    audit: Audit
    detail: str

    @property
    def non_2xx(self) -> int:
        return sum(n for s, n in self.audit.statuses.items() if not s.startswith("2"))


@dataclass
class Store:
    """One store (a SQLite file or a private PostgreSQL cluster) and the server on it."""

    backend: str
    home: Path  # a trained home: data/, mlflow.db
    work: Path
    scale: Scale
    small_disk: bool = True  # SQLite on a filesystem that can fill up (the soak: on disk)
    url: str = ""
    disk: SmallDisk | None = None
    cluster: PrivateCluster | None = None
    keys: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    server: Server | None = None
    pool: list = field(default_factory=list)

    def open(self) -> Store:
        name = f"{self.backend}-{os.urandom(3).hex()}"  # this store's own anchor and log
        if self.backend == "sqlite" and self.small_disk:
            self.disk = SmallDisk()
            self.url = f"sqlite:///{self.disk.path / 'stockpilot.db'}"
        elif self.backend == "sqlite":
            self.url = f"sqlite:///{self.work / 'soak.db'}"
        else:
            self.cluster = PrivateCluster().init()
            self.url = self.cluster.url
        self.keys = prepare_store(self.url)
        self.env = {
            **os.environ,
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "STOCKPILOT_HOME": str(self.work),
            "STOCKPILOT_DATA_DIR": str(self.home / "data"),
            "STOCKPILOT_DATABASE_URL": self.url,
            "STOCKPILOT_AUDIT_ANCHOR_FILE": str(self.work / f"{name}-audit-anchor"),
            "STOCKPILOT_MLFLOW_TRACKING_URI": f"sqlite:///{self.home / 'mlflow.db'}",
            "STOCKPILOT_MODEL_CACHE_DIR": str(self.work / "model-cache"),
            "STOCKPILOT_LGBM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
        }
        self.env.pop("MLFLOW_TRACKING_URI", None)
        self.server = Server(self.env, log=self.work / f"{name}-server.log")
        self.pool = order_pool(self.home / "data")
        return self

    def wal_mib(self) -> float:
        """The write-ahead log's size: SQLite's ``-wal`` file, PostgreSQL's ``pg_wal``."""
        if self.cluster is not None:
            files = (self.cluster.data / "pg_wal").glob("*")
            return sum(f.stat().st_size for f in files if f.is_file()) / 2**20
        wal = Path(f"{self.url.removeprefix('sqlite:///')}-wal")
        return wal.stat().st_size / 2**20 if wal.exists() else 0.0

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.disk is not None:
            self.disk.destroy()
        if self.cluster is not None:
            self.cluster.destroy()

    def stage(self, scenario: str, fault: Callable[[], str]) -> Row:
        """Load, the fault in the middle of it, load on; then the books are audited."""
        assert self.server is not None
        tag = re.sub(r"[^A-Za-z0-9]+", "-", f"{self.backend}-{scenario}")
        load = Load(self.server.url, self.keys["order_system"], self.pool, tag=tag).start()
        time.sleep(self.scale.before)
        detail = fault()
        time.sleep(self.scale.after)
        books = load.stop()
        audit = audit_books(books, self.server, self.keys["order_system"], self.url, self.env)
        return Row(self.backend, scenario, audit, detail)

    # --- the faults --------------------------------------------------------------------

    def kill_writer(self) -> str:
        assert self.server is not None
        old = self.server.writer_pid()
        os.kill(old, signal.SIGKILL)
        began = time.monotonic()
        while time.monotonic() - began < 60:
            try:
                new = self.server.writer_pid()
                if new != old and self.server.ready()["writer"]["ready"]:
                    return f"writer {old} SIGKILLed; its successor took over in {_since(began)}"
            except (RuntimeError, httpx.HTTPError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError("the writer was not replaced within 60 s")

    def kill_server(self, *, registry_down: bool = False) -> str:
        """SIGKILL the serving process and start it again (``registry_down``: the new
        process cannot reach the MLflow registry, and serves what it cached)."""
        assert self.server is not None
        old = self.server.pid
        self.server.kill9()
        took = self.server.start(**(self._dead_registry() if registry_down else {}))
        detail = f"serving process {old} SIGKILLed; started again, ready in {took:.1f} s"
        return detail + (f"; {self._registry_state()}" if registry_down else "")

    def fill_disk(self) -> str:
        assert self.server is not None and self.disk is not None
        self.disk.fill(self.server.writer_pid())
        time.sleep(self.scale.hold)
        self.disk.free()
        return f"{self.disk.kind} full for {self.scale.hold:g} s, then space again"

    def restart_postgres(self) -> str:
        assert self.server is not None and self.cluster is not None
        pid = self.server.pid
        self.cluster.stop("immediate")
        time.sleep(self.scale.hold)
        self.cluster.start()
        same = "same serving process" if self.server.pid == pid else "SERVER RESTARTED"
        return f"stop -m immediate, down {self.scale.hold:g} s, start; {same}"

    def restart_without_registry(self) -> float:
        """Stop the server and start it again where the registry does not answer."""
        assert self.server is not None
        self.server.stop()
        return self.server.start(**self._dead_registry())

    def _dead_registry(self) -> dict[str, str]:
        return {"STOCKPILOT_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}

    def _registry_state(self) -> str:
        assert self.server is not None
        ready = self.server.ready()
        sources = "/".join(sorted({m["source"] for m in ready["models"].values()}))
        status = "degraded" if ready["ready"] and ready["degraded"] else "NOT degraded"
        return f"ready, {status}, models from {sources}"

    def reload_while_down(self) -> str:
        return f"{self._registry_state()}; reload: {self.reload()}"

    def reload(self) -> str:
        assert self.server is not None
        response = httpx.post(
            f"{self.server.url}/v1/models/reload",
            headers={"X-API-Key": self.keys["data_scientist"]},
            timeout=120,
        )
        errors = len(response.json().get("errors", {})) if response.is_success else "?"
        return f"{response.status_code}, {errors} models report the registry unreachable"


def _since(began: float) -> str:
    return f"{time.monotonic() - began:.1f} s"


# --- the scenarios, per backend ------------------------------------------------------


def sqlite_scenarios(store: Store, *, registry_server: bool) -> list[Row]:
    assert store.server is not None
    store.server.start()
    rows = [
        store.stage("kill -9 writer", store.kill_writer),
        store.stage("disk full", store.fill_disk),
        store.stage("kill -9 server", store.kill_server),
    ]
    return rows + registry_scenarios(store, registry_server=registry_server)


def postgres_scenarios(store: Store, *, registry_server: bool) -> list[Row]:
    assert store.server is not None
    store.server.start()
    rows = [
        store.stage("kill -9 writer", store.kill_writer),
        store.stage("PostgreSQL restart", store.restart_postgres),
        store.stage("kill -9 server", store.kill_server),
    ]
    return rows + registry_scenarios(store, registry_server=registry_server)


def registry_scenarios(store: Store, *, registry_server: bool) -> list[Row]:
    """The MLflow registry unreachable when the server starts, then gone while it serves."""
    took = store.restart_without_registry()
    row = store.stage("registry down at start", store.reload_while_down)
    row.detail = f"restarted in {took:.1f} s; {row.detail}"
    rows = [row]
    if registry_server:
        rows.append(registry_down_while_serving(store))
    return rows


def registry_down_while_serving(store: Store) -> Row:
    """A real registry (``mlflow server`` on the trained store) SIGKILLed mid-load."""
    assert store.server is not None
    port = free_port()
    registry = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{store.home / 'mlflow.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=store.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        store.server.stop()
        store.server.start(STOCKPILOT_MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}")
        source = sorted({m["source"] for m in store.server.ready()["models"].values()})

        def kill_registry() -> str:
            os.killpg(registry.pid, signal.SIGKILL)
            registry.wait(30)
            return f"models from {'/'.join(source)}; registry SIGKILLed; reload: {store.reload()}"

        return store.stage("registry down while serving", kill_registry)
    finally:
        if registry.poll() is None:
            os.killpg(registry.pid, signal.SIGKILL)


# --- the report ------------------------------------------------------------------------


def print_rows(rows: list[Row]) -> None:
    header = (
        f"{'backend':<9}{'scenario':<29}{'sent':>6}{'acked':>7}{'lost':>6}{'dup':>5}"
        f"{'5xx':>5}{'503':>6}{'no RA':>6}  {'audit verify':<14}{'integrity':<10} detail"
    )
    print(header)
    for row in rows:
        a = row.audit
        verify = "ok" if a.audit_verify.startswith("ok") else "FAILED"
        print(
            f"{row.backend:<9}{row.scenario:<29}{a.sent:>6}{a.acknowledged:>7}{a.lost:>6}"
            f"{a.duplicated:>5}{a.server_errors:>5}{a.unavailable:>6}"
            f"{a.unavailable_without_retry_after:>6}  {verify:<14}{a.integrity:<10} {row.detail}"
        )
    print("(503: answers 503, each retried with the same key; no RA: 503 without Retry-After)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, default=Path("var"))
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--soak-seconds", type=int, default=600, help="0: no soak")
    parser.add_argument("--soak-backends", default="sqlite", help="sqlite,postgres: both")
    parser.add_argument(
        "--soak-max-open-lines",
        type=int,
        default=SOAK_MAX_OPEN_LINES,
        help="the server's STOCKPILOT_MAX_OPEN_LINES during the soak (benchmarks/soak.py)",
    )
    parser.add_argument(
        "--no-registry-server", action="store_true", help="skip the mlflow-server scenario"
    )
    args = parser.parse_args()
    home = args.home.resolve()
    work = Path(tempfile.mkdtemp(prefix="sp-faults-"))
    rows: list[Row] = []
    soaked = []
    try:
        for backend in filter(None, args.backends.split(",")):
            store = Store(backend, home, work, SCALES[args.scale]).open()
            try:
                if backend == "sqlite":
                    rows += sqlite_scenarios(store, registry_server=not args.no_registry_server)
                else:
                    rows += postgres_scenarios(store, registry_server=not args.no_registry_server)
            finally:
                store.close()
        for backend in filter(None, args.soak_backends.split(",") if args.soak_seconds else ()):
            store = Store(backend, home, work, SCALES[args.scale], small_disk=False).open()
            try:
                assert store.server is not None
                bound = {"STOCKPILOT_MAX_OPEN_LINES": str(args.soak_max_open_lines)}
                store.server.start(**SOAK_SETTINGS, **bound)
                windows = soak(store, args.soak_seconds)
                soaked.append((backend, windows, audit_verify(store.env), integrity(store.url)))
            finally:
                store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_rows(rows)
    for entry in soaked:
        print()
        print_soak(*entry)
    ok = all(r.audit.ok for r in rows) and all(
        soak_ok(windows) and verify.startswith("ok") and check in ("ok", "n/a")
        for _, windows, verify, check in soaked
    )
    print(f"every scenario: 0 lost, 0 duplicated, no 500, audit ok: {'yes' if ok else 'NO'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
