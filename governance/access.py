"""Roles, permissions and the principal making a request. Pure: no database here.

Serving declares one permission per endpoint and calls :func:`require`; the queue
module refines ``queues:decide`` with the roles the policy allows on each queue. API keys
themselves are stored by :mod:`governance.keys`; this module only knows how a token is
minted and hashed, so the hashing can be reused without a session.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import StrEnum
from operator import attrgetter
from types import MappingProxyType

from stockpilot.errors import Forbidden, InvalidInput

TOKEN_PREFIX = "spk_"


class Role(StrEnum):
    order_system = "order_system"
    sales = "sales"
    planner = "planner"
    supervisor = "supervisor"
    data_scientist = "data_scientist"
    admin = "admin"


class Permission(StrEnum):
    orders_score = "orders:score"
    inventory_write = "inventory:write"
    outcomes_write = "outcomes:write"
    substitutes_request = "substitutes:request"
    substitutes_feedback = "substitutes:feedback"
    replenishment_run = "replenishment:run"
    replenishment_read = "replenishment:read"
    queues_read = "queues:read"
    queues_decide = "queues:decide"
    audit_read = "audit:read"
    audit_verify = "audit:verify"
    models_read = "models:read"
    models_reload = "models:reload"
    policy_read = "policy:read"
    policy_apply = "policy:apply"
    keys_manage = "keys:manage"
    kpis_read = "kpis:read"
    monitoring_read = "monitoring:read"


P = Permission
_EVERYONE = frozenset({P.policy_read, P.models_read})

PERMISSIONS: MappingProxyType[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.order_system: _EVERYONE
        | {P.orders_score, P.inventory_write, P.outcomes_write, P.substitutes_request},
        Role.sales: _EVERYONE
        | {P.substitutes_request, P.substitutes_feedback, P.queues_read, P.queues_decide},
        Role.planner: _EVERYONE
        | {
            P.replenishment_run,
            P.replenishment_read,
            P.queues_read,
            P.queues_decide,
            P.kpis_read,
        },
        Role.supervisor: _EVERYONE
        | {
            P.replenishment_read,
            P.queues_read,
            P.queues_decide,
            P.audit_read,
            P.audit_verify,
            P.kpis_read,
        },
        Role.data_scientist: _EVERYONE
        | {
            P.audit_read,
            P.models_reload,
            P.kpis_read,
            P.queues_read,  # the policy's queues that list data_scientist (model-monitoring)
            P.queues_decide,
            P.monitoring_read,
        },
        Role.admin: _EVERYONE
        | {
            P.queues_read,
            P.audit_read,
            P.audit_verify,
            P.models_reload,
            P.policy_apply,
            P.keys_manage,
            P.kpis_read,
            P.monitoring_read,
        },
    }
)
"""Who may do what. Serving enforces one permission per endpoint; the policy's per-queue
roles narrow ``queues:decide`` further."""


KEY_ACTOR = "key:"  # an API key holder's actor is this prefix and the key's id


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: an API key's holder, or an operator/system for CLI and sweeps."""

    name: str
    role: Role
    key_id: str | None = None

    def __reduce__(self) -> tuple:
        # Pickled into the writer on every request; the dataclass default is ~10x slower.
        return (Principal, _PRINCIPAL_FIELDS(self))

    @property
    def actor(self) -> str:
        """The identity written to the audit log and compared by four-eyes checks."""
        return f"{KEY_ACTOR}{self.key_id}" if self.key_id else self.name

    @property
    def permissions(self) -> frozenset[Permission]:
        return PERMISSIONS[self.role]

    def can(self, permission: Permission | str) -> bool:
        return Permission(permission) in PERMISSIONS[self.role]


_PRINCIPAL_FIELDS = attrgetter(*(f.name for f in fields(Principal)))


def require(principal: Principal, permission: Permission | str) -> None:
    """Raise :class:`Forbidden` (403) unless ``principal``'s role grants ``permission``."""
    if not principal.can(permission):
        raise Forbidden(
            f"role {principal.role.value!r} lacks permission {Permission(permission).value!r}",
            role=principal.role.value,
            permission=Permission(permission).value,
        )


QUEUE_OVERSEERS = frozenset({Role.admin})
"""Roles that may read every queue besides the roles the policy lets decide there."""


def require_queue_reader(principal: Principal, queue: str, deciders: Iterable[Role]) -> None:
    """Object-level check (OWASP API1) after ``queues:read``: a queue's items are read by the
    roles that decide there (the policy's ``queues.<name>.roles``) and by the overseers.

    A sales key holds ``queues:read`` but has no business in the replenishment queue: the
    permission says what kind of object a role may read, this says which ones.
    """
    readers = QUEUE_OVERSEERS | frozenset(deciders)
    if principal.role not in readers:
        allowed = ", ".join(sorted(r.value for r in readers))
        raise Forbidden(
            f"role {principal.role.value!r} may not read queue {queue!r} (readers: {allowed})",
            role=principal.role.value,
            queue=queue,
        )


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput(f"role: {value!r} is not one of {allowed}", role=value) from None


def new_token() -> str:
    """A fresh API key: 256 bits from the OS CSPRNG, recognisable by its prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """sha256 hex of a token. The token has 256 bits of entropy, so no salt or slow hash is
    needed: nothing about it can be guessed from the digest, and lookups stay one index probe.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
