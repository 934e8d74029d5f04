"""The write path of creating POSTs: idempotency claim, effect and response in one unit.

The unit runs on the group committer (one commit per batch of requests), so a 2xx is
sent only after the effect, its audit events and the stored idempotent response are
committed together. A retry with the same ``Idempotency-Key`` and body gets the stored
response (``Idempotent-Replayed: true``), nothing is created twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from sqlalchemy.orm import Session

from governance.access import Principal
from governance.chain import format_time
from governance.idempotency import StoredResponse, idempotent, request_fingerprint
from governance.recommendations import Recorded
from governance.routing import Decision
from serving.services import Services

Effect = Callable[[Session], tuple[int, Any]]


class FastJSON(Response):
    """orjson-encoded JSON: bodies are plain values (dates and NumPy allowed)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(
            content,
            default=_default,
            option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATETIME,
        )


def _default(value: Any) -> Any:
    # As the idempotency record stores them, so a replay reads exactly like the original.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return format_time(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return jsonable_encoder(value)


def decision_body(decision: Decision, recorded: Recorded) -> dict[str, Any]:
    """How the policy routed a recorded recommendation, as every response shows it."""
    return {
        "action": decision.action.value,
        "queue": decision.queue,
        "queue_item_id": recorded.item.id if recorded.item else None,
        "threshold_name": decision.threshold_name,
        "threshold": decision.threshold,
        "policy_version": decision.policy_version,
        "required_approvals": decision.required_approvals,
        "reason": decision.reason,
    }


async def create(
    services: Services,
    principal: Principal,
    *,
    path: str,
    body: Any,
    idempotency_key: str | None,
    effect: Effect,
) -> tuple[Response, bool]:
    """Run ``effect`` durably; returns the response and whether it was replayed."""
    if idempotency_key is None:

        def unit(session: Session) -> StoredResponse:
            status, content = effect(session)
            return StoredResponse(status, content, replayed=False)

    else:
        fingerprint = request_fingerprint("POST", path, body.model_dump(mode="json"))
        retention = timedelta(hours=services.settings.idempotency_retention_hours)

        def unit(session: Session) -> StoredResponse:
            return idempotent(
                session,
                caller=principal.key_id or principal.actor,
                key=idempotency_key,
                fingerprint=fingerprint,
                retention=retention,
                effect=effect,
            )

    stored = await services.committer.run_async(unit)
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else None
    return FastJSON(stored.body, status_code=stored.status_code, headers=headers), stored.replayed
