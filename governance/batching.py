"""Group commit: many requests' write units share one transaction and one commit.

A scored order is durable only when its recommendation, queue item, audit event and
idempotency record are committed. One commit per request caps throughput at the
store's commit rate: one fsync each on SQLite (``synchronous=FULL``, ~4 ms on this
kind of disk, so ~250 requests/s), and one hold of the audit chain's table lock each
on PostgreSQL. Databases solve this with group commit; :class:`GroupCommitter` does it
for our units of work: a single writer thread takes every unit waiting, runs them one
after another inside one write transaction, commits once, then answers them all.

* A unit that raises (a conflict, a reused idempotency key) must not take the others
  down. Failures are rare, so a batch first runs optimistically, without savepoints
  (a SAVEPOINT and its RELEASE per unit cost as much as the unit's own inserts); when a
  unit raises, the whole transaction rolls back and the batch runs again with each unit
  in its own SAVEPOINT: the failing unit rolls back alone, the others commit, its
  caller gets the exception. Units therefore act only through the session they are
  given (no side effects outside it): a unit may run twice, and only its last run
  counts. A unit alone in its batch needs no savepoint either way.
* If the commit fails, every unit of the batch gets that error: none was durable.
* Units run one after another on one connection, so the audit chain stays linear and
  a unit sees what earlier units of its batch wrote (two retries with one idempotency
  key in the same batch: the second finds the first's stored response).
* Nothing waits artificially: an idle store commits a lone unit at once; under load
  the batch is whatever arrived while the previous one was committing.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from governance.db import Database
from stockpilot.errors import NotReady

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BATCH = 256


class _UnitFailed(Exception):
    """A unit of an optimistic batch raised: roll back and run the batch unit by unit."""


@dataclass(slots=True)
class _Unit:
    fn: Callable[[Session], Any]
    future: Future


class GroupCommitter:
    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0  # commits made; with ``units`` it gives the mean batch size
        self.units = 0
        self.retried = 0  # batches run again unit by unit because one of their units failed

    def start(self) -> GroupCommitter:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Finish the units already submitted, then stop the writer."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> GroupCommitter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, fn: Callable[[Session], T]) -> Future[T]:
        """Queue ``fn(session)``; the future resolves once its batch is committed."""
        if self._closed or self._thread is None:
            raise NotReady("the governance store is not accepting writes")
        future: Future[T] = Future()
        self._queue.put(_Unit(fn, future))
        return future

    def run(self, fn: Callable[[Session], T]) -> T:
        """Submit and wait (for threads)."""
        return self.submit(fn).result()

    async def run_async(self, fn: Callable[[Session], T]) -> T:
        """Submit and await (for the event loop; no thread is held while waiting)."""
        return await asyncio.wrap_future(self.submit(fn))

    # --- the writer thread ------------------------------------------------------------

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    unit = self._queue.get_nowait()
                except queue.Empty:
                    break
                if unit is None:
                    stop = True
                    break
                batch.append(unit)
            self._commit(batch)

    def _commit(self, batch: list[_Unit]) -> None:
        if len(batch) == 1:
            self._commit_alone(batch[0])
            return
        values: list[Any] = []
        try:
            with self.db.write() as session:
                for unit in batch:
                    try:
                        values.append(unit.fn(session))
                    except Exception as exc:
                        raise _UnitFailed from exc  # rolls the whole transaction back
        except _UnitFailed:
            self.retried += 1
            self._commit_isolated(batch)
            return
        except Exception as exc:  # the commit failed: nothing in the batch is durable
            self._fail(batch, exc)
            return
        self.batches += 1
        self.units += len(batch)
        for unit, value in zip(batch, values, strict=True):
            unit.future.set_result(value)

    def _commit_isolated(self, batch: list[_Unit]) -> None:
        """Run the batch again, each unit in a SAVEPOINT: a failure rolls back alone."""
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.db.write() as session:
                for unit in batch:
                    try:
                        with session.begin_nested():
                            outcomes.append((True, unit.fn(session)))
                    except Exception as exc:  # this unit only; its savepoint is rolled back
                        outcomes.append((False, exc))
        except Exception as exc:  # the commit failed: nothing in the batch is durable
            self._fail(batch, exc)
            return
        self.batches += 1
        self.units += len(batch)
        for unit, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                unit.future.set_result(value)
            else:
                unit.future.set_exception(value)

    @staticmethod
    def _fail(batch: list[_Unit], exc: Exception) -> None:
        log.exception("group commit of %d unit(s) failed", len(batch))
        for unit in batch:
            unit.future.set_exception(exc)

    def _commit_alone(self, unit: _Unit) -> None:
        """A lone unit needs no savepoint: if it raises, its transaction rolls back whole."""
        raised = False
        try:
            with self.db.write() as session:
                try:
                    value = unit.fn(session)
                except Exception:
                    raised = True
                    raise
        except Exception as exc:
            if not raised:  # the unit succeeded; its commit did not
                log.exception("commit of a lone unit failed")
            unit.future.set_exception(exc)
            return
        self.batches += 1
        self.units += 1
        unit.future.set_result(value)
