"""Typed dependencies: the process's services, the authenticated principal, permissions.

Every endpoint declares exactly one permission with :func:`allow`; the permission is also
written into the route's OpenAPI (``x-permission``) so the role × endpoint test and the
docs read it from the same place the check uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader

from governance.access import Permission, Principal, require
from governance.reads import Reads
from serving.services import Services

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key from `stockpilot keys create`."
)


# Dependencies are `async def` on purpose: a plain `def` would be run in the thread pool,
# a thread hop per dependency per request on the hot path.
async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_reads(request: Request) -> Reads:
    return request.app.state.services.reads


ReadsDep = Annotated[Reads, Depends(get_reads)]


def authenticate(request: Request, api_key: str | None) -> Principal:
    """The principal of a request's key: ``X-API-Key`` or ``Authorization: Bearer``."""
    token = api_key
    if token is None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
    services: Services = request.app.state.services
    return services.keys.authenticate(services.reads, token)


def allow(permission: Permission) -> Callable[..., Principal]:
    """A dependency that authenticates and requires ``permission``.

    One dependency, not a chain of them: FastAPI's cost is per dependency, per request.
    """

    async def dependency(
        request: Request, api_key: Annotated[str | None, Security(API_KEY_HEADER)] = None
    ) -> Principal:
        principal = authenticate(request, api_key)
        # Before the permission: a key hammering what it may not call is limited too.
        request.app.state.services.limiter.take(principal.key_id or principal.actor)
        require(principal, permission)
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def secured(
    permission: Permission, *statuses: int, links: dict[int, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Route keyword arguments that publish the endpoint's permission in its OpenAPI, with
    the error statuses every authenticated operation may answer plus ``statuses``, and the
    OpenAPI ``links`` of its success response (what a client, or a stateful test, can call
    next with what it returned)."""
    from serving.schemas.common import SECURED, errors

    responses = errors(*SECURED, *statuses)
    for status, status_links in (links or {}).items():
        responses[status] = {**responses.get(status, {}), "links": status_links}
    return {"openapi_extra": {"x-permission": permission.value}, "responses": responses}


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7e]+$",
        description="Retry-safe key: the same key and body return the stored response.",
    ),
]
