"""API keys: created, rotated, listed, revoked (all audited) and resolved to a principal.

Only the sha256 of a key is stored. Authentication is one probe of the unique index on that
hash, then a constant-time comparison; serving may cache principals for a few seconds, at
the price of that much delay before a revocation bites.

Keys expire (``DEFAULT_LIFETIME`` unless told otherwise), so a key that leaked unnoticed
stops working on its own. Rotation issues the successor and cuts the old key down to a
grace period: both work while the client switches over, then only the new one.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import audit
from governance.access import (
    KEY_ACTOR,
    TOKEN_PREFIX,
    Principal,
    Role,
    hash_token,
    new_token,
    parse_role,
)
from governance.store.tables import ApiKeyRow
from stockpilot.errors import Conflict, InvalidInput, NotFound, Unauthorized

DEFAULT_LIFETIME = timedelta(days=90)
DEFAULT_GRACE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What may be shown about a key: never the token or its hash."""

    id: str
    name: str
    role: Role
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    expires_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and not self.expired

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= datetime.now(UTC)

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKey:
        return cls(
            row.id,
            row.name,
            Role(row.role),
            row.prefix,
            row.created_at,
            row.created_by,
            row.revoked_at,
            row.expires_at,
        )


def create_key(
    session: Session,
    *,
    role: Role | str,
    name: str,
    actor: Principal,
    lifetime: timedelta | None = DEFAULT_LIFETIME,
) -> tuple[ApiKey, str]:
    """Create a key bound to ``role``; returns it with the token, which is never stored.

    ``lifetime``: how long the key works (``None``: until revoked).
    """
    now = datetime.now(UTC)
    row, token = _insert(session, role=role, name=name, actor=actor, now=now, lifetime=lifetime)
    _audit_created(session, row, actor, now)
    return ApiKey.from_row(row), token


def rotate_key(
    session: Session,
    key_id: str,
    *,
    actor: Principal,
    grace: timedelta = DEFAULT_GRACE,
    lifetime: timedelta | None = DEFAULT_LIFETIME,
) -> tuple[ApiKey, ApiKey, str]:
    """Issue the successor of ``key_id`` (same name and role) and let the old key expire
    after ``grace``. Returns (old, new, new token)."""
    if grace < timedelta(0):
        raise InvalidInput("grace: must not be negative", grace=str(grace))
    now = datetime.now(UTC)
    old = _live_row(session, key_id, now)
    new, token = _insert(
        session, role=old.role, name=old.name, actor=actor, now=now, lifetime=lifetime
    )
    cut = now + grace
    old.expires_at = cut if old.expires_at is None else min(old.expires_at, cut)
    session.flush()
    # The audit appends come last (the chain's lock is the last a transaction takes).
    _audit_created(session, new, actor, now)
    audit.append(
        session,
        kind="key.rotated",
        actor=actor,
        subject_type="api_key",
        subject_id=old.id,
        payload={
            "key_id": old.id,
            "successor": new.id,
            "name": old.name,
            "role": old.role,
            "expires_at": old.expires_at,
        },
        at=now,
    )
    return ApiKey.from_row(old), ApiKey.from_row(new), token


def _insert(
    session: Session,
    *,
    role: Role | str,
    name: str,
    actor: Principal,
    now: datetime,
    lifetime: timedelta | None,
) -> tuple[ApiKeyRow, str]:
    role = parse_role(role) if isinstance(role, str) else role
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name: must be 1 to 200 characters", name=name)
    if lifetime is not None and lifetime <= timedelta(0):
        raise InvalidInput("lifetime: must be positive (or none: until revoked)")
    token = new_token()
    row = ApiKeyRow(
        id="k_" + secrets.token_hex(6),
        name=name,
        role=role.value,
        token_hash=hash_token(token),
        prefix=token[: len(TOKEN_PREFIX) + 6],
        created_at=now,
        created_by=actor.actor,
        revoked_at=None,
        revoked_by=None,
        expires_at=None if lifetime is None else now + lifetime,
    )
    session.add(row)
    session.flush()
    return row, token


def _audit_created(session: Session, row: ApiKeyRow, actor: Principal, now: datetime) -> None:
    audit.append(
        session,
        kind="key.created",
        actor=actor,
        subject_type="api_key",
        subject_id=row.id,
        payload={
            "key_id": row.id,
            "name": row.name,
            "role": row.role,
            "prefix": row.prefix,
            "expires_at": row.expires_at,
        },
        at=now,
    )


def _live_row(session: Session, key_id: str, now: datetime) -> ApiKeyRow:
    row = session.get(ApiKeyRow, key_id, with_for_update=True)
    if row is None:
        raise NotFound(f"API key {key_id!r} does not exist", key_id=key_id)
    if row.revoked_at is not None:
        raise Conflict(f"API key {key_id!r} is already revoked", key_id=key_id)
    if row.expires_at is not None and row.expires_at <= now:
        raise Conflict(f"API key {key_id!r} has expired", key_id=key_id)
    return row


def revoke_key(session: Session, key_id: str, *, actor: Principal) -> ApiKey:
    row = session.get(ApiKeyRow, key_id, with_for_update=True)
    if row is None:
        raise NotFound(f"API key {key_id!r} does not exist", key_id=key_id)
    if row.revoked_at is not None:
        raise Conflict(f"API key {key_id!r} is already revoked", key_id=key_id)
    now = datetime.now(UTC)
    row.revoked_at, row.revoked_by = now, actor.actor
    session.flush()
    audit.append(
        session,
        kind="key.revoked",
        actor=actor,
        subject_type="api_key",
        subject_id=row.id,
        payload={"key_id": row.id, "name": row.name, "role": row.role},
        at=now,
    )
    return ApiKey.from_row(row)


def names_of(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """The key holder's name of each ``key:<id>`` actor among ``actors`` (revoked keys
    included: who decided stays readable); other actors (operators, the system) and
    unknown keys are left out."""
    ids = {a.removeprefix(KEY_ACTOR) for a in actors if a and a.startswith(KEY_ACTOR)}
    if not ids:
        return {}
    rows = session.execute(select(ApiKeyRow.id, ApiKeyRow.name).where(ApiKeyRow.id.in_(ids)))
    return {f"{KEY_ACTOR}{key_id}": name for key_id, name in rows}


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
    if not include_revoked:
        query = query.where(ApiKeyRow.revoked_at.is_(None))
    return [ApiKey.from_row(row) for row in session.scalars(query)]


def authenticate(session: Session, token: str | None) -> Principal:
    """The principal holding ``token``; :class:`Unauthorized` (401) if missing/unknown/revoked
    or expired."""
    return authenticate_until(session, token)[0]


def authenticate_until(session: Session, token: str | None) -> tuple[Principal, datetime | None]:
    """:func:`authenticate`, with when the key expires (so a cache never outlives it)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("a valid API key is required")
    digest = hash_token(token)
    row = session.execute(
        select(
            ApiKeyRow.id, ApiKeyRow.name, ApiKeyRow.role, ApiKeyRow.token_hash, ApiKeyRow.expires_at
        ).where(ApiKeyRow.token_hash == digest, ApiKeyRow.revoked_at.is_(None))
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("a valid API key is required")
    if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
        # Only the key's holder can get this far, so naming the expiry tells nobody else.
        raise Unauthorized(
            f"this API key expired at {row.expires_at:%Y-%m-%d %H:%M} UTC; ask an admin for "
            "its successor (`stockpilot keys rotate`)"
        )
    return Principal(name=row.name, role=Role(row.role), key_id=row.id), row.expires_at
