"""Substitutes for a short line, from live stock, routed by policy; and their feedback."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.encoders import jsonable_encoder
from starlette.background import BackgroundTask

from governance.access import Permission, Principal
from governance.command_units import Committed, plain
from governance.commands import RetryKey
from governance.policy import Policy
from governance.reads import Reads
from governance.recommendations import ModelOutput
from governance.routing import Action, Decision, in_audit_slice
from models.substitution_feedback import feedback_rows, result_from
from models.substitution_recommender import Substitute
from serving import writes
from serving.deps import IdempotencyKey, ReadsDep, ServicesDep, allow, secured
from serving.schemas.common import SUBSTITUTE_FEEDBACK, WITH_BODY, queue_item_links
from serving.schemas.substitutes import FeedbackIn, FeedbackOut, SubstitutesIn, SubstitutesOut
from serving.services import Services
from serving.shadow_substitution import decide, search
from stockpilot.errors import InvalidInput, NotFound

router = APIRouter(prefix="/v1/substitutes", tags=["substitutes"])
MODEL = "substitution"


@router.post(
    "",
    summary="Ranked substitutes this customer will accept, from stock that is there",
    response_model=SubstitutesOut,
    status_code=201,
    **secured(
        Permission.substitutes_request,
        *WITH_BODY,
        404,  # an item or location the catalogue does not know
        409,
        links={
            201: {
                **queue_item_links("$response.body#/decision/queue_item_id"),
                "Feedback": {
                    "operationId": SUBSTITUTE_FEEDBACK,
                    "parameters": {"recommendation_id": "$response.body#/recommendation_id"},
                },
            }
        },
    ),
)
async def substitutes(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(allow(Permission.substitutes_request))],
    body: SubstitutesIn,
    idempotency_key: IdempotencyKey = None,
):
    committed, top, shadowed = await search_substitutes(
        services, principal, body, writes.retry_key(request, principal, idempotency_key, body)
    )
    if not committed.replayed:
        services.metrics.decisions.labels("substitution", top.action.value).inc()
    response = writes.response(committed)
    response.background = shadowed
    return response


async def search_substitutes(
    services: Services, principal: Principal, body: SubstitutesIn, retry: RetryKey | None = None
) -> tuple[Committed, Decision, BackgroundTask | None]:
    """The substitute search (API and workbench): rank from live stock, route the best
    substitute by policy, record it; the committed answer, that decision and, when the
    request is in the challenger's shadow sample, the task that scores it after the
    response (``serving/shadow.py``)."""
    model = services.models.get(MODEL)
    policy = services.policy.get()
    result = search(model.impl.recommender, body, services.live.inventory)
    decisions, top = decide(result, policy)
    subject = f"substitution:{body.customer_id}:{body.item_id}@{body.location_id}"
    # The challenger's sample: the stock it will look at, copied before anything changes.
    shadow = services.shadows.get(MODEL)
    snap = None
    if shadow is not None and shadow.active:
        snap = shadow.snapshot(
            body, subject, result, top, services.live.inventory, share=policy.promotion.shadow_share
        )
    payload = plain(jsonable_encoder(result.to_dict()))  # naive datetimes as ISO text

    committed = await services.commands.record_substitutes(
        output=ModelOutput(
            subject=subject,
            model_name=MODEL,
            model_version=model.version,
            score=float(result.substitutes[0].p_accept) if result.substitutes else 0.0,
            features={"request": body.model_dump(mode="json")},
            contributions=plain(
                {
                    s.item_id: {r.feature: r.contribution for r in s.reasons}
                    for s in result.substitutes
                }
            ),
            explanation={
                "result": payload,
                "order_id": body.order_id,
                # tracked like a reviewed one: realised figures weigh it by 1 / share
                "audit_slice": audit_slice(top, subject, body.order_id, policy),
            },
        ),
        decision=top,
        principal=principal,
        summary={
            "customer_id": body.customer_id,
            "item_id": body.item_id,
            "top": [s.item_id for s in result.substitutes[:3]],
            # What the workbench ranks and filters the queue by.
            "order_id": body.order_id,
            "qty": body.qty,
            "locations": [body.location_id],
            "value": body.qty * body.unit_price if body.unit_price is not None else None,
            "promised_date": body.need_by.isoformat() if body.need_by else None,
        },
        response={
            "customer_id": body.customer_id,
            "item_id": body.item_id,
            "qty": body.qty,
            "location_id": body.location_id,
            "substitutes": plain(
                [
                    {**_substitute(s), "offer": d.action.value}
                    for s, d in zip(result.substitutes, decisions, strict=True)
                ]
            ),
            "model": {"name": MODEL, "version": model.version},
        },
        retry=retry,
    )
    if snap is None or shadow is None or committed.replayed:
        return committed, top, None
    # After the response is sent, in a worker thread: off the request's critical path.
    return committed, top, BackgroundTask(shadow.score, [snap], policy)


def audit_slice(decision: Decision, subject: str, order_id: str | None, policy: Policy) -> bool:
    """An auto-offered substitute in the random audit slice (docs/monitoring.md): the same
    hash rule as orders, over the request's subject and order."""
    share = policy.monitoring.audit_slice_share
    key = f"{subject}|{order_id or ''}"
    return decision.action is Action.auto_offer and in_audit_slice(key, share)


def _substitute(s: Substitute) -> dict[str, Any]:
    data = asdict(s)
    data["reasons"] = [asdict(r) for r in s.reasons]
    return data


@router.post(
    "/{recommendation_id}/feedback",
    summary="What the customer accepted: appended to the training data, audited",
    response_model=FeedbackOut,
    status_code=201,
    operation_id=SUBSTITUTE_FEEDBACK,
    **secured(Permission.substitutes_feedback, *WITH_BODY, 404, 409),
)
async def feedback(
    request: Request,
    services: ServicesDep,
    reads: ReadsDep,
    principal: Annotated[Principal, Depends(allow(Permission.substitutes_feedback))],
    recommendation_id: Annotated[
        str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    ],
    body: FeedbackIn,
    idempotency_key: IdempotencyKey = None,
):
    committed = await record_feedback(
        services,
        reads,
        principal,
        recommendation_id,
        body,
        writes.retry_key(request, principal, idempotency_key, body),
    )
    return writes.response(committed)


async def record_feedback(
    services: Services,
    reads: Reads,
    principal: Principal,
    recommendation_id: str,
    body: FeedbackIn,
    retry: RetryKey | None = None,
) -> Committed:
    """What the customer accepted (API and workbench): rows appended to the dataset's
    substitutions, audited."""
    created = await asyncio.to_thread(reads.recommendation_created, recommendation_id)
    if created is None or created.payload.get("kind") != "substitution":
        raise NotFound(
            f"substitution recommendation {recommendation_id!r} does not exist",
            recommendation_id=recommendation_id,
        )
    explanation = created.payload["explanation"]
    result = result_from(explanation["result"])
    try:
        rows = feedback_rows(
            result,
            body.accepted_item_ids,
            offered=body.offered_item_ids,
            order_id=explanation.get("order_id"),
        )
    except ValueError as err:
        raise InvalidInput(str(err), field="accepted_item_ids") from None
    committed = await services.commands.record_substitution_feedback(
        recommendation_id=recommendation_id,
        rows=rows,
        accepted=body.accepted_item_ids,
        data_dir=services.settings.data_dir,
        principal=principal,
        retry=retry,
    )
    return committed
