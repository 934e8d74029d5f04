"""The parts the fault suite breaks on purpose, and the client that keeps books on them.

* :class:`Server` — ``stockpilot serve`` as its own process (and its writer process), killed
  with SIGKILL and started again on the same port and store;
* :class:`PrivateCluster` — a throwaway PostgreSQL cluster (initdb/pg_ctl in a temp dir on a
  free port), restarted ``-m immediate``; never the shared one other tests use;
* :class:`SmallDisk` — a size-limited filesystem for the SQLite store (tmpfs), filled up and
  emptied again; where mounting is not allowed, a file-size limit on the writer process
  (RLIMIT_FSIZE: the kernel refuses its writes past the limit, as a full disk would);
* :class:`Load` — 8 connections scoring orders, each with its own ``Idempotency-Key``,
  retrying what was not acknowledged the way a careful client does (same key, same body,
  after ``Retry-After``), and recording every answer;
* :func:`audit_books` — after the faults: every acknowledged response replays identically
  under its key, nothing was recorded twice, ``stockpilot audit verify`` and SQLite's
  ``integrity_check`` are ok.

Used by ``benchmarks/faults.py`` (full scale) and ``tests/faults`` (small scale).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sqlalchemy import func, select

BIN = Path(sys.executable).parent
RETRY_CAP_SECONDS = 1.0  # a retry waits Retry-After, at most this long (tests stay short)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the store -------------------------------------------------------------------------


def prepare_store(url: str) -> dict[str, str]:
    """Migrate ``url``, apply the default policy, create the keys the load needs."""
    from governance import keys, policy_versions
    from governance.access import Principal, Role
    from governance.store import migrate
    from governance.store.engine import Database

    db = Database(url)
    try:
        migrate.upgrade(db)
        operator = Principal("faults", Role.admin)
        with db.write() as session:
            policy_versions.ensure_policy(session, actor=operator, policy_file=None)
            made = {}
            for role in (Role.order_system, Role.data_scientist, Role.admin):
                _, made[role.value] = keys.create_key(
                    session, role=role, name=f"faults-{role}", actor=operator
                )
            return made
    finally:
        db.dispose()


# --- the serving process ---------------------------------------------------------------


@dataclass
class Server:
    """``stockpilot serve`` in its own process group, on a fixed port across restarts."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    log: Path | None = None
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240.0, **env: str) -> float:
        """Start and wait for ``/health/ready`` (200); returns the seconds it took."""
        began = time.monotonic()
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(BIN / "stockpilot"), "serve", "--port", str(self.port)],
            env={**self.env, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1
        deadline = began + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"stockpilot serve exited ({code}); see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return time.monotonic() - began
            time.sleep(0.2)
        raise RuntimeError(f"not ready after {timeout:.0f} s; see {self.log}")

    def ready(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/health/ready", timeout=5).json()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def writer_pid(self) -> int:
        """The group committer's writer process (a child of the serving process)."""
        for task in glob(f"/proc/{self.pid}/task/*/children"):
            for child in Path(task).read_text().split():
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                if b"governance.store.writer" in cmdline:
                    return int(child)
        raise RuntimeError("no writer process under the server")

    def kill9(self) -> None:
        """SIGKILL the serving process only; its writer sees the pipe close and exits."""
        assert self.process is not None
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(30)

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of the serving and the writer process."""
        out = {}
        for name, pid in (("server", self.pid), ("writer", self.writer_pid())):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[name] = int(line.split()[1]) / 1024
        return out


# --- PostgreSQL, privately -------------------------------------------------------------


def _pg_bin(name: str) -> str:
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(f"{name} not found (apt-get install postgresql)")
    return found[-1]


class PrivateCluster:
    """A PostgreSQL cluster of our own: restarting it disturbs nobody else's tests."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sp-pg-"))
        self.port = free_port()
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.socket_dir.mkdir()
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to `postgres`
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, cwd=self.root)

    def init(self) -> PrivateCluster:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")  # fmt: skip
        return self.start()

    def start(self) -> PrivateCluster:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "log"), "-w", "start")  # fmt: skip
        return self

    def stop(self, mode: str = "immediate") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# --- a disk that fills up --------------------------------------------------------------


class SmallDisk:
    """Where the SQLite store lives when the disk is to fill up.

    ``tmpfs`` of ``size_mib`` when this machine lets us mount (root, or CAP_SYS_ADMIN): the
    kernel answers ENOSPC and SQLite SQLITE_FULL, exactly as on a full disk. Otherwise a
    plain directory, and :meth:`fill` caps the writer's file size instead (RLIMIT_FSIZE):
    the kernel refuses its writes past the cap with EFBIG, which SQLite reports as an I/O
    error; the service must answer both the same way.
    """

    def __init__(self, size_mib: int = 256) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="sp-disk-"))
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(self.path)],
            capture_output=True,
        )
        self.mounted = mounted.returncode == 0
        self.kind = f"tmpfs {size_mib} MiB" if self.mounted else "writer file-size limit"
        self._filler = self.path / "filler"
        self._capped: int | None = None

    def fill(self, writer_pid: int) -> None:
        """No more room for the store's files (beyond what they hold now)."""
        if self.mounted:
            fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                for size in (1 << 20, 4096, 1):  # down to the last byte
                    with contextlib.suppress(OSError):  # ENOSPC: full at this size
                        while True:
                            os.write(fd, b"\0" * size)
            finally:
                os.close(fd)
            return
        largest = max(p.stat().st_size for p in self.path.iterdir())
        self._capped = writer_pid
        resource.prlimit(writer_pid, resource.RLIMIT_FSIZE, (largest, resource.RLIM_INFINITY))

    def free(self) -> None:
        """Space again."""
        if self.mounted:
            self._filler.unlink(missing_ok=True)
        elif self._capped is not None:
            with contextlib.suppress(ProcessLookupError):
                limit = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
                resource.prlimit(self._capped, resource.RLIMIT_FSIZE, limit)
            self._capped = None

    def destroy(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)


# --- the client ------------------------------------------------------------------------


def order_pool(data: Path, n: int = 200) -> list[dict[str, Any]]:
    """Orders from the dataset as the order system sends them (ids replaced per request)."""
    orders = pd.read_parquet(data / "orders.parquet").tail(20 * n)
    pool = []
    for _, lines in list(orders.groupby("order_id", sort=False))[:n]:
        first = lines.iloc[0]
        carrier = first.get("carrier_id")
        pool.append(
            {
                "customer_id": str(first["customer_id"]),
                "order_ts": pd.Timestamp(first["order_ts"]).isoformat(),
                "promised_date": pd.Timestamp(first["promised_date"]).date().isoformat(),
                "carrier_id": None if pd.isna(carrier) else str(carrier),
                "lines": [
                    {
                        "line_no": int(r.line_no),
                        "item_id": str(r.item_id),
                        "location_id": str(r.location_id),
                        "qty": float(r.qty),
                        "unit_price": float(r.unit_price),
                    }
                    for r in lines.head(5).itertuples()
                ],
            }
        )
    return pool


@dataclass
class Attempted:
    body: dict[str, Any]
    statuses: list[int | str] = field(default_factory=list)
    acknowledged: dict[str, Any] | None = None  # the first 2xx body
    status: int | None = None


@dataclass
class Books:
    """What the client saw: per Idempotency-Key every answer, and the first 2xx body."""

    requests: dict[str, Attempted] = field(default_factory=dict)
    statuses: Counter = field(default_factory=Counter)
    unavailable_without_retry_after: int = 0

    @property
    def sent(self) -> int:
        return len(self.requests)

    @property
    def acknowledged(self) -> dict[str, Attempted]:
        return {k: a for k, a in self.requests.items() if a.acknowledged is not None}

    def count(self, status: int | str) -> int:
        return self.statuses[status]


class Load:
    """``connections`` clients scoring orders with idempotency keys, until stopped.

    A request that is not acknowledged (connection refused or reset, 429, 503) is retried
    with the same key and body, after ``Retry-After``, until acknowledged or ``give_up``
    seconds have passed; any other status is final. Everything lands in :attr:`books`.
    """

    def __init__(
        self, url: str, key: str, pool: list[dict[str, Any]], tag: str, connections: int = 8
    ) -> None:
        self.url = url
        self.key = key
        self.pool = pool
        self.tag = tag
        self.connections = connections
        self.books = Books()
        self._next = 0
        self._loop: asyncio.AbstractEventLoop
        self._stop: asyncio.Event
        self._thread: threading.Thread

    def _new_request(self) -> tuple[str, Attempted]:
        n = self._next
        self._next += 1
        order_id = f"{self.tag}-{n}"
        body = {"orders": [{**self.pool[n % len(self.pool)], "order_id": order_id}]}
        attempt = Attempted(body)
        self.books.requests[order_id] = attempt
        return order_id, attempt

    async def _client(self, http: httpx.AsyncClient, give_up: float) -> None:
        while not self._stop.is_set():
            key, attempt = self._new_request()
            deadline = time.monotonic() + give_up
            while time.monotonic() < deadline:
                wait = await self._send(http, key, attempt)
                if wait is None:
                    break
                await asyncio.sleep(wait)

    async def _send(self, http: httpx.AsyncClient, key: str, attempt: Attempted) -> float | None:
        """One try; the seconds to wait before the next, or None when done."""
        headers = {"X-API-Key": self.key, "Idempotency-Key": key}
        try:
            response = await http.post("/v1/orders/risk", json=attempt.body, headers=headers)
        except httpx.HTTPError as err:  # refused, reset, timed out: the server is away
            attempt.statuses.append(type(err).__name__)
            self.books.statuses[type(err).__name__] += 1
            return 0.2
        status = response.status_code
        attempt.statuses.append(status)
        self.books.statuses[status] += 1
        if status in (429, 503):
            retry_after = response.headers.get("retry-after")
            if status == 503 and retry_after is None:
                self.books.unavailable_without_retry_after += 1
            return min(float(retry_after or 1), RETRY_CAP_SECONDS)
        if 200 <= status < 300:
            attempt.acknowledged, attempt.status = response.json(), status
        return None

    async def _run(self, give_up: float) -> None:
        limits = httpx.Limits(max_connections=self.connections)
        async with httpx.AsyncClient(base_url=self.url, timeout=30, limits=limits) as http:
            await asyncio.gather(*(self._client(http, give_up) for _ in range(self.connections)))

    def start(self, give_up: float = 120.0) -> Load:
        """Run in a thread of its own (with its own event loop) until :meth:`stop`."""
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._run(give_up))

        self._thread = threading.Thread(target=run, name=f"load-{self.tag}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Books:
        """No new requests; wait for those in flight (and their retries) to settle."""
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._loop.close()
        return self.books


# --- the books, audited ----------------------------------------------------------------


@dataclass
class Audit:
    sent: int
    acknowledged: int
    lost: int  # acknowledged, yet not stored or not replayed identically
    duplicated: int  # recorded more than once
    server_errors: int  # 500 (or any 5xx but 503) seen by the client
    unavailable: int  # 503 seen (each with Retry-After unless counted below)
    unavailable_without_retry_after: int
    audit_verify: str
    integrity: str
    statuses: dict[str, int]

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.server_errors == 0
            and self.unavailable_without_retry_after == 0
            and self.audit_verify.startswith("ok")
            and self.integrity in ("ok", "n/a")
        )


def audit_books(books: Books, server: Server, key: str, url: str, env: dict[str, str]) -> Audit:
    """Replay every acknowledged request, count what the store holds, verify it.

    The replays go over 8 connections while ``stockpilot audit verify`` runs beside them (a
    replay records nothing, so it cannot move the chain under the verification)."""
    from governance.store.engine import Database
    from governance.store.tables import RecommendationRow

    verifying = _start_audit_verify(env)
    tagged = {order_id for order_id in books.requests}

    def replayed_differently(http: httpx.Client, order_id: str, attempt: Attempted) -> bool:
        replay = http.post(
            "/v1/orders/risk",
            json=attempt.body,
            headers={"X-API-Key": key, "Idempotency-Key": order_id},
        )
        same = replay.status_code == attempt.status and replay.json() == attempt.acknowledged
        return not same or replay.headers.get("idempotent-replayed") != "true"

    limits = httpx.Limits(max_connections=8)
    with (
        httpx.Client(base_url=server.url, timeout=60, limits=limits) as http,
        ThreadPoolExecutor(8) as pool,
    ):
        acknowledged = books.acknowledged.items()
        lost = sum(pool.map(lambda item: replayed_differently(http, *item), acknowledged))
    db = Database(url)
    try:
        with db.read() as session:
            counts = dict(
                session.execute(
                    select(RecommendationRow.subject, func.count())
                    .where(RecommendationRow.subject.like("order:%"))
                    .group_by(RecommendationRow.subject)
                ).all()
            )
    finally:
        db.dispose()
    for order_id in books.acknowledged:
        if counts.get(f"order:{order_id}", 0) == 0:
            lost += 1
    # Every order id is one request (one key): recorded twice is recorded twice.
    duplicated = sum(n - 1 for s, n in counts.items() if n > 1 and s[6:] in tagged)
    five = sum(n for s, n in books.statuses.items() if isinstance(s, int) and s >= 500 and s != 503)
    return Audit(
        sent=books.sent,
        acknowledged=len(books.acknowledged),
        lost=lost,
        duplicated=duplicated,
        server_errors=five,
        unavailable=books.count(503),
        unavailable_without_retry_after=books.unavailable_without_retry_after,
        audit_verify=_finish_audit_verify(verifying),
        integrity=integrity(url),
        statuses={str(k): v for k, v in sorted(books.statuses.items(), key=str)},
    )


def audit_verify(env: dict[str, str]) -> str:
    """``stockpilot audit verify`` on the store, as an operator runs it."""
    return _finish_audit_verify(_start_audit_verify(env))


def _start_audit_verify(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "stockpilot"), "audit", "verify"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish_audit_verify(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=300)
    line = (stdout or stderr).strip().splitlines()[-1:]
    return ("ok: " if process.returncode == 0 else "FAILED: ") + (line[0] if line else "")


def integrity(url: str) -> str:
    """SQLite's ``PRAGMA integrity_check`` (``n/a`` on PostgreSQL)."""
    if not url.startswith("sqlite:///"):
        return "n/a"
    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
