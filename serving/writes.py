"""The write path of creating POSTs: idempotency claim, effect and response in one unit.

The unit runs on the group committer (one commit per batch of requests), so a 2xx is
sent only after the effect, its audit events and the stored idempotent response are
committed together. A retry with the same ``Idempotency-Key`` and body gets the stored
response (``Idempotent-Replayed: true``), nothing is created twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from governance.access import Principal
from governance.idempotency import StoredResponse, idempotent, request_fingerprint
from serving.services import Services

Effect = Callable[[Session], tuple[int, Any]]


async def create(
    services: Services,
    principal: Principal,
    *,
    path: str,
    body: Any,
    idempotency_key: str | None,
    effect: Effect,
) -> tuple[JSONResponse, bool]:
    """Run ``effect`` durably; returns the response and whether it was replayed."""
    if idempotency_key is None:

        def unit(session: Session) -> StoredResponse:
            status, content = effect(session)
            return StoredResponse(status, content, replayed=False)

    else:
        fingerprint = request_fingerprint("POST", path, jsonable_encoder(body))
        retention = timedelta(hours=services.settings.idempotency_retention_hours)

        def unit(session: Session) -> StoredResponse:
            return idempotent(
                session,
                caller=principal.key_id or principal.actor,
                key=idempotency_key,
                fingerprint=fingerprint,
                retention=retention,
                effect=lambda s: _encoded(effect(s)),
            )

    stored = await services.committer.run_async(unit)
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else None
    return (
        JSONResponse(
            jsonable_encoder(stored.body), status_code=stored.status_code, headers=headers
        ),
        stored.replayed,
    )


def _encoded(result: tuple[int, Any]) -> tuple[int, Any]:
    status, content = result
    return status, jsonable_encoder(content)
