"""The client that keeps books on the parts the fault suite breaks, and the audit after.

* :class:`Load` — 8 connections scoring orders, each with its own ``Idempotency-Key``,
  retrying what was not acknowledged the way a careful client does (same key, same body,
  after ``Retry-After``), and recording every answer;
* :func:`audit_books` — after the faults: every acknowledged response replays identically
  under its key, nothing was recorded twice, ``stockpilot audit verify`` and SQLite's
  ``integrity_check`` are ok.

The parts themselves (:class:`Server`, :class:`PrivateCluster`, :class:`SmallDisk`) are
:mod:`benchmarks.fault_parts`, imported here too: ``benchmarks/faults.py`` (full scale)
and ``tests/faults`` (small scale) take everything from this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sqlalchemy import func, select

from benchmarks.fault_parts import (  # noqa: F401  (faults.py takes them from here)
    BIN,
    PrivateCluster,
    Server,
    SmallDisk,
    free_port,
    prepare_store,
)

RETRY_CAP_SECONDS = 1.0  # a retry waits Retry-After, at most this long (tests stay short)


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
        """Nothing lost or doubled, no 500, every 503 with Retry-After, the books verify —
        and the service took work in the scenario (503s alone are not a recovery)."""
        return (
            self.acknowledged > 0
            and self.lost == 0
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
