"""The HTTP side of a write: ``Idempotency-Key`` → :class:`RetryKey`, committed → response.

What a write does is a use case of :class:`governance.commands.Commands`; a router only
turns the request into a :class:`RetryKey` and the committed body into a response (with
``Idempotent-Replayed: true`` when a retry got the stored one).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from governance.access import Principal
from governance.command_units import Committed
from governance.commands import RetryKey
from governance.idempotency import request_fingerprint


def retry_key(
    request: Request, principal: Principal, key: str | None, body: Any
) -> RetryKey | None:
    """The retry key of a request with an ``Idempotency-Key`` (``None`` without one)."""
    if key is None:
        return None
    return RetryKey(
        caller=principal.key_id or principal.actor,
        key=key,
        fingerprint=request_fingerprint("POST", request.url.path, body.model_dump(mode="json")),
    )


def response(committed: Committed) -> Response:
    """The committed body as it was rendered in the writer."""
    headers = {"Idempotent-Replayed": "true"} if committed.replayed else None
    return Response(
        committed.content,
        status_code=committed.status_code,
        media_type="application/json",
        headers=headers,
    )
