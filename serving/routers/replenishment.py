"""Replenishment runs: forecast from the served demand model + live stock → suggestions,
each routed by value (auto-approve, one or two planner approvals) and audited."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.background import BackgroundTask

from features.inventory import InventoryPositions
from governance.access import Permission, Principal
from governance.command_units import plain
from governance.recommendations import ModelOutput
from models import replenishment_run
from models.replenishment import ReplenishmentPolicy
from serving import writes
from serving.deps import IdempotencyKey, ReadsDep, ServicesDep, allow, secured
from serving.schemas.common import WITH_BODY, queue_item_links
from serving.schemas.replenishment import (
    ReplenishmentRunIn,
    ReplenishmentRunOut,
    SuggestionListItem,
    SuggestionListOut,
)
from serving.shadow_demand import decide, number
from stockpilot.errors import ContractViolation, InvalidInput, NotReady

router = APIRouter(prefix="/v1/replenishment", tags=["replenishment"])
MODEL = "demand"
AUDITED = (
    "available",
    "inbound",
    "projected_available",
    "lead_time_days",
    "lead_time_source",
    "protection_days",
    "service_level",
    "lead_time_demand",
    "reorder_point",
    "safety_stock",
    "order_up_to",
    "suggested_qty",
    "moq",
    "order_multiple",
    "unit_cost",
    "value",
    "daily_forecast",
    "days_of_cover",
    "days_of_cover_after",
)


@router.post(
    "/run",
    summary="Plan replenishment as of a day; route every suggestion into the planner queue",
    response_model=ReplenishmentRunOut,
    status_code=201,
    **secured(
        Permission.replenishment_run,
        *WITH_BODY,
        409,
        links={201: queue_item_links("$response.body#/suggestions/0/decision/queue_item_id")},
    ),
)
async def run(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(allow(Permission.replenishment_run))],
    body: ReplenishmentRunIn,
    idempotency_key: IdempotencyKey = None,
):
    model = services.models.get(MODEL)
    policy = services.policy.get()
    try:
        data, demand = await services.planning.forecast(
            model.version, model.impl.forecaster, body.as_of
        )
    except ContractViolation as err:
        raise NotReady(f"the planning dataset breaks the contract: {err.message[:500]}") from None
    except (ValueError, KeyError) as err:
        raise InvalidInput(f"replenishment run: {err}") from None
    # A snapshot of the live stock taken on the loop; the rule itself runs in a thread.
    positions = InventoryPositions(services.live.inventory.frame())
    planning = ReplenishmentPolicy(
        **({"service_level": body.service_level} if body.service_level else {})
    )
    try:
        suggestions = await asyncio.to_thread(
            replenishment_run.suggestions, data, demand, planning, positions
        )
    except (ValueError, KeyError) as err:
        raise InvalidInput(f"replenishment run: {err}") from None
    as_of = suggestions["as_of"].iloc[0].date() if len(suggestions) else demand.planning.date()
    rows = suggestions.to_dict("records")
    routed = [decide(row, policy) for row in rows]
    # The challenger's sample: what these suggestions were computed from (serving/shadow.py).
    shadow = services.shadows.get(MODEL)
    snap = None
    if shadow is not None and shadow.active:
        share = policy.promotion.shadow_share
        snap = shadow.snapshot(
            data, positions, planning, demand.planning, rows, routed, share=share
        )

    suggestions_out = []
    for row, decision in zip(rows, routed, strict=True):
        suggestions_out.append(
            (
                ModelOutput(
                    subject=f"replenishment:{row['item_id']}@{row['location_id']}:{as_of}",
                    model_name=MODEL,
                    model_version=model.version,
                    score=None,
                    features=plain({k: row.get(k) for k in AUDITED}),  # no NumPy to the writer
                    explanation={"reason": row.get("reason"), "as_of": str(as_of)},
                    quantity=float(row["suggested_qty"]),
                    unit_value=number(row.get("unit_cost")),
                ),
                decision,
                {
                    "item_id": row["item_id"],
                    "location_id": row["location_id"],
                    "suggested_qty": float(row["suggested_qty"]),
                    "value": number(row["value"]),
                    "reason": row.get("reason"),
                    "locations": [row["location_id"]],
                },
                {
                    "item_id": row["item_id"],
                    "location_id": row["location_id"],
                    "suggested_qty": float(row["suggested_qty"]),
                    "value": number(row.get("value")),
                    "available": float(row["available"]),
                    "projected_available": float(row["projected_available"]),
                    "reorder_point": float(row["reorder_point"]),
                    "lead_time_days": float(row["lead_time_days"]),
                    "days_of_cover": number(row.get("days_of_cover")),
                    "reason": str(row.get("reason", "")),
                },
            )
        )
    committed = await services.commands.record_suggestions(
        suggestions=suggestions_out,
        principal=principal,
        response={
            "as_of": as_of,
            "model": {"name": MODEL, "version": model.version},
            "auto_approved": sum(d.action.value == "auto_approve" for d in routed),
            "queued": sum(d.queue is not None for d in routed),
            "total_value": sum(number(r.get("value")) or 0.0 for r in rows),
        },
        retry=writes.retry_key(request, principal, idempotency_key, body),
    )
    if not committed.replayed:
        for decision in routed:
            services.metrics.decisions.labels("replenishment", decision.action.value).inc()
    response = writes.response(committed)
    if snap is not None and shadow is not None and not committed.replayed:
        # After the response is sent, in a worker thread: the challenger's forecast too.
        response.background = BackgroundTask(shadow.score, [snap], policy)
    return response


@router.get(
    "/suggestions",
    summary="Recent replenishment suggestions with their approval state",
    **secured(Permission.replenishment_read),
)
def suggestions(
    reads: ReadsDep,
    principal: Annotated[Principal, Depends(allow(Permission.replenishment_read))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    item_id: Annotated[str | None, Query(max_length=200)] = None,
) -> SuggestionListOut:
    prefix = f"replenishment:{item_id}@" if item_id else None
    views = reads.recommendations(kind="replenishment", subject_prefix=prefix, limit=limit)
    return SuggestionListOut(
        suggestions=[
            SuggestionListItem(
                recommendation_id=v.id,
                subject=v.subject,
                model_version=v.model_version,
                action=v.action,
                queue=v.queue,
                queue_item_id=v.queue_item_id,
                status=v.status,
                quantity=v.quantity,
                created_at=v.created_at,
                created_by=v.created_by,
            )
            for v in views
        ]
    )
