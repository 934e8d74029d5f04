"""Idempotency keys with Stripe's semantics, scoped per caller (API key).

* The first request with a key claims it and stores its response (status and body) in the
  same transaction as its effect: the claim is only ever visible together with the effect.
* A retry with the same key and the same request gets the stored response, not a second
  effect. The same key with a different request is refused (:class:`InvalidInput`, 422).
* Concurrent requests with one key run the effect once. On SQLite the second request waits
  for the write lock and then finds the stored response. On PostgreSQL its ``INSERT … ON
  CONFLICT DO NOTHING`` waits on the first transaction's unique-index entry; when that
  commits it finds the stored response, when that rolls back it claims the key itself.
  A claim that is visible but has no response (a caller committed a claim without
  completing it) answers :class:`Conflict` (409).
* A request whose effect fails is rolled back with its claim, so retrying it runs again.
* Records expire after ``Settings.idempotency_retention_hours``; an expired key is reusable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from governance.chain import canonical_payload
from governance.store.engine import Database
from governance.store.tables import IdempotencyRow
from stockpilot.errors import Conflict, InvalidInput
from stockpilot.jsonable import canonical_json

MAX_KEY_CHARS = 255
# What an HTTP header carries safely (the IETF draft makes the key a structured-field string).
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")

# Built once: claim and complete run on every POST that creates something.
_CLAIM = {
    name: dialect.insert(IdempotencyRow.__table__)
    .on_conflict_do_nothing(index_elements=["caller", "key"])
    .returning(IdempotencyRow.__table__.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_COMPLETE = (
    update(IdempotencyRow.__table__)
    .where(IdempotencyRow.__table__.c.id == bindparam("record_id"))
    .values(
        status_code=bindparam("new_status"),
        response=bindparam("new_response"),
        completed_at=bindparam("new_completed_at"),
    )
)


@dataclass(frozen=True, slots=True)
class Claim:
    """This request owns the key: run the effect, then :func:`complete` in the same session."""

    record_id: int
    caller: str
    key: str


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: Any
    replayed: bool = True


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """sha256 of the request as parsed JSON, so formatting and key order do not matter."""
    return hashlib.sha256(
        canonical_json({"method": method.upper(), "path": path, "body": body}).encode("utf-8")
    ).hexdigest()


def claim(
    session: Session,
    *,
    caller: str,
    key: str,
    fingerprint: str,
    retention: timedelta,
    now: datetime | None = None,
) -> Claim | StoredResponse:
    """Claim ``key`` for ``caller`` or return the response stored for it."""
    if not key or len(key) > MAX_KEY_CHARS or not _PRINTABLE_ASCII.fullmatch(key):
        raise InvalidInput(
            f"Idempotency-Key: must be 1 to {MAX_KEY_CHARS} printable ASCII characters",
            field="Idempotency-Key",
        )
    now = now or datetime.now(UTC)
    values = {
        "caller": caller,
        "key": key,
        "fingerprint": fingerprint,
        "created_at": now,
        "expires_at": now + retention,
    }
    dialect = "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
    inserted = session.connection().execute(_CLAIM[dialect], values).scalar()
    if inserted is not None:
        return Claim(inserted, caller, key)
    existing = _existing(session, caller, key)
    if existing.expires_at <= now:
        # Retention is over: the key starts a new life. Compare-and-set on expires_at so two
        # concurrent re-claims cannot both win.
        taken = session.execute(
            update(IdempotencyRow)
            .where(
                IdempotencyRow.id == existing.id, IdempotencyRow.expires_at == existing.expires_at
            )
            .values(status_code=None, response=None, completed_at=None, **values)
        )
        if taken.rowcount == 1:
            return Claim(existing.id, caller, key)
        existing = _existing(session, caller, key)
    if existing.fingerprint != fingerprint:
        raise InvalidInput(
            "Idempotency-Key was already used with a different request; use a new key",
            field="Idempotency-Key",
        )
    if existing.status_code is None:
        raise Conflict(
            "a request with this Idempotency-Key is still in progress; retry later",
            field="Idempotency-Key",
        )
    return StoredResponse(existing.status_code, orjson.loads(existing.response or "null"))


def complete(
    session: Session, claimed: Claim, *, status_code: int, body: Any, now: datetime | None = None
) -> StoredResponse:
    """Store the response of a claimed request; commit it with the effect."""
    session.connection().execute(
        _COMPLETE,
        {
            "record_id": claimed.record_id,
            "new_status": status_code,
            "new_response": canonical_payload(body),
            "new_completed_at": now or datetime.now(UTC),
        },
    )
    return StoredResponse(status_code, body, replayed=False)


def run_once(
    db: Database,
    *,
    caller: str,
    key: str,
    fingerprint: str,
    retention: timedelta,
    effect: Callable[[Session], tuple[int, Any]],
) -> StoredResponse:
    """Claim, run ``effect(session)`` → (status, body), store the response: one transaction.

    Serving runs :func:`idempotent` inside a group-commit unit instead (:mod:`governance.commands`).
    """
    with db.write() as session:
        return idempotent(
            session,
            caller=caller,
            key=key,
            fingerprint=fingerprint,
            retention=retention,
            effect=effect,
        )


def idempotent(
    session: Session,
    *,
    caller: str,
    key: str,
    fingerprint: str,
    retention: timedelta,
    effect: Callable[[Session], tuple[int, Any]],
) -> StoredResponse:
    """:func:`run_once` inside the caller's transaction (e.g. a group-commit unit)."""
    outcome = claim(session, caller=caller, key=key, fingerprint=fingerprint, retention=retention)
    if isinstance(outcome, StoredResponse):
        return outcome
    status_code, body = effect(session)
    return complete(session, outcome, status_code=status_code, body=body)


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete records past their retention; returns how many."""
    result = session.execute(
        delete(IdempotencyRow).where(IdempotencyRow.expires_at <= (now or datetime.now(UTC)))
    )
    return result.rowcount


@dataclass(frozen=True, slots=True)
class _Existing:
    id: int
    fingerprint: str
    status_code: int | None
    response: str | None
    expires_at: datetime


def _existing(session: Session, caller: str, key: str) -> _Existing:
    row = session.execute(
        select(
            IdempotencyRow.id,
            IdempotencyRow.fingerprint,
            IdempotencyRow.status_code,
            IdempotencyRow.response,
            IdempotencyRow.expires_at,
        ).where(IdempotencyRow.caller == caller, IdempotencyRow.key == key)
    ).one()
    return _Existing(*row)
