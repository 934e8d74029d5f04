"""API keys: created, listed, revoked (all audited) and resolved to a principal per request.

Only the sha256 of a key is stored. Authentication is one probe of the unique index on that
hash, then a constant-time comparison; serving may cache principals for a few seconds, at
the price of that much delay before a revocation bites.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import audit
from governance.access import TOKEN_PREFIX, Principal, Role, hash_token, new_token, parse_role
from governance.tables import ApiKeyRow
from stockpilot.errors import Conflict, InvalidInput, NotFound, Unauthorized


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

    @property
    def active(self) -> bool:
        return self.revoked_at is None

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
        )


def create_key(
    session: Session, *, role: Role | str, name: str, actor: Principal
) -> tuple[ApiKey, str]:
    """Create a key bound to ``role``; returns it with the token, which is never stored."""
    role = parse_role(role) if isinstance(role, str) else role
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name: must be 1 to 200 characters", name=name)
    token = new_token()
    now = datetime.now(UTC)
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
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        kind="key.created",
        actor=actor,
        subject_type="api_key",
        subject_id=row.id,
        payload={"key_id": row.id, "name": name, "role": role.value, "prefix": row.prefix},
        at=now,
    )
    return ApiKey.from_row(row), token


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


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
    if not include_revoked:
        query = query.where(ApiKeyRow.revoked_at.is_(None))
    return [ApiKey.from_row(row) for row in session.scalars(query)]


def authenticate(session: Session, token: str | None) -> Principal:
    """The principal holding ``token``; :class:`Unauthorized` (401) if missing/unknown/revoked."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("a valid API key is required")
    digest = hash_token(token)
    row = session.execute(
        select(ApiKeyRow.id, ApiKeyRow.name, ApiKeyRow.role, ApiKeyRow.token_hash).where(
            ApiKeyRow.token_hash == digest, ApiKeyRow.revoked_at.is_(None)
        )
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("a valid API key is required")
    return Principal(name=row.name, role=Role(row.role), key_id=row.id)
