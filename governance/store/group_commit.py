"""Group commit: many requests' write units share one transaction and one commit.

A scored order is durable only when its recommendation, queue item, audit event and
idempotency record are committed. One commit per request caps throughput at the
store's commit rate: one fsync each on SQLite (``synchronous=FULL``, ~4 ms on this
kind of disk, so ~250 requests/s), and one hold of the audit chain's table lock each
on PostgreSQL. Databases solve this with group commit; :func:`commit_batch` does it for
our units of work: it runs the units one after another inside one write transaction
and commits once.

* A unit that raises (a conflict, a reused idempotency key) must not take the others
  down. Failures are rare, so a batch first runs optimistically, without savepoints
  (a SAVEPOINT and its RELEASE per unit cost as much as the unit's own inserts); when a
  unit raises, the whole transaction rolls back and the batch runs again with each unit
  in its own SAVEPOINT: the failing unit rolls back alone, the others commit, its
  caller gets the exception. Units therefore act only through the session they are
  given (no side effects outside it): a unit may run twice, and only its last run
  counts. A unit alone in its batch needs no savepoint either way.
* If the commit fails, every unit of the batch gets that error: none was durable (or,
  when the store went away during the commit, its outcome is unknown: the error is then
  :class:`~stockpilot.errors.Unavailable`, and a retry with the same idempotency key is safe).
* Units run one after another on one connection, so the audit chain stays linear and
  a unit sees what earlier units of its batch wrote (two retries with one idempotency
  key in the same batch: the second finds the first's stored response).

Serving runs the batches in a writer process of its own (:mod:`governance.store.committer`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from governance.store.engine import Database, unavailable
from stockpilot.errors import Unavailable

log = logging.getLogger(__name__)
Unit = Callable[[Session], Any]
Outcome = tuple[bool, Any]  # (True, value) or (False, exception)


class _UnitFailed(Exception):
    """A unit of an optimistic batch raised: roll back and run the batch unit by unit."""


@dataclass(slots=True)
class BatchResult:
    outcomes: list[Outcome]  # one per unit, in order
    committed: bool  # False: the commit failed and every outcome is that error
    retried: bool  # a unit failed, so the batch ran again unit by unit in savepoints


def commit_batch(db: Database, units: Sequence[Unit]) -> BatchResult:
    """Run ``units`` in one write transaction and commit once (see the module docstring)."""
    if len(units) == 1:
        return _commit_alone(db, units[0])
    values: list[Any] = []
    try:
        with db.write() as session:
            for unit in units:
                try:
                    values.append(unit(session))
                except Exception as exc:
                    raise _UnitFailed from exc  # rolls the whole transaction back
    except _UnitFailed:
        return _commit_isolated(db, units)
    except Exception as exc:  # the commit failed: nothing in the batch is durable
        return _failed(units, exc)
    return BatchResult([(True, v) for v in values], committed=True, retried=False)


def _commit_isolated(db: Database, units: Sequence[Unit]) -> BatchResult:
    """Run the batch again, each unit in a SAVEPOINT: a failure rolls back alone."""
    outcomes: list[Outcome] = []
    try:
        with db.write() as session:
            for unit in units:
                try:
                    with session.begin_nested():
                        outcomes.append((True, unit(session)))
                except Exception as exc:  # this unit only; its savepoint is rolled back
                    outcomes.append((False, unavailable(exc) or exc))
    except Exception as exc:
        return _failed(units, exc)
    return BatchResult(outcomes, committed=True, retried=True)


def _commit_alone(db: Database, unit: Unit) -> BatchResult:
    """A lone unit needs no savepoint: if it raises, its transaction rolls back whole."""
    raised = False
    try:
        with db.write() as session:
            try:
                value = unit(session)
            except Exception:
                raised = True
                raise
    except Exception as exc:
        if not raised and not isinstance(exc, Unavailable):  # the unit succeeded, its commit not
            log.exception("commit of a lone unit failed")
        return BatchResult([(False, exc)], committed=False, retried=False)
    return BatchResult([(True, value)], committed=True, retried=False)


def _failed(units: Sequence[Unit], exc: Exception) -> BatchResult:
    if not isinstance(exc, Unavailable):  # an outage is logged once per second by the store
        log.exception("group commit of %d unit(s) failed", len(units))
    return BatchResult([(False, exc)] * len(units), committed=False, retried=False)
