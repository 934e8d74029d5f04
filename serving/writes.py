"""The write path of creating POSTs: idempotency claim, effect and response in one unit.

The unit runs on the group committer (one commit per batch of requests, in its writer
process), so a 2xx is sent only after the effect, its audit events and the stored
idempotent response are committed together. A retry with the same ``Idempotency-Key``
and body gets the stored response (``Idempotent-Replayed: true``), nothing is created
twice. Effects are the picklable functions of :mod:`serving.effects`.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from governance.access import Principal
from governance.idempotency import request_fingerprint
from serving import effects
from serving.effects import Effect
from serving.services import Services


async def create(
    services: Services,
    principal: Principal,
    *,
    request: Request,
    body: Any,
    idempotency_key: str | None,
    effect: Effect,
) -> tuple[Response, bool]:
    """Run ``effect`` durably; returns the response and whether it was replayed."""
    if idempotency_key is None:
        unit = partial(effects.respond, effect=effect)
    else:
        unit = partial(
            effects.respond_once,
            effect=effect,
            caller=principal.key_id or principal.actor,
            key=idempotency_key,
            fingerprint=request_fingerprint("POST", request.url.path, body.model_dump(mode="json")),
            retention=timedelta(hours=services.settings.idempotency_retention_hours),
        )
    rendered = await services.committer.run_async(unit)
    headers = {"Idempotent-Replayed": "true"} if rendered.replayed else None
    response = Response(
        rendered.content,
        status_code=rendered.status_code,
        media_type="application/json",
        headers=headers,
    )
    return response, rendered.replayed


async def run(services: Services, effect: Effect) -> Any:
    """Run ``effect`` durably without an idempotency key (the workbench's forms, whose
    CSRF token and compare-and-set versions make a double submit harmless); its JSON body."""
    rendered = await services.committer.run_async(partial(effects.respond, effect=effect))
    return orjson.loads(rendered.content)
