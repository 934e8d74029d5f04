"""Facts from other systems: inventory positions and order-line outcomes.

Both are stored first (so a restart replays them) and then applied to the live state,
so the next order score or substitute search sees the new stock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from governance import events as event_store
from governance.access import Permission, Principal
from governance.events import InventoryEvent, LineOutcome
from serving import writes
from serving.deps import IdempotencyKey, ServicesDep, allow, secured
from serving.schemas.common import WITH_BODY
from serving.schemas.events import Accepted, InventoryEventsIn, OutcomesIn

router = APIRouter(prefix="/v1", tags=["events"])


def _utc(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


@router.post(
    "/events/inventory",
    summary="Update inventory positions (the next score sees the new stock)",
    response_model=Accepted,
    status_code=202,
    **secured(Permission.inventory_write, *WITH_BODY, 409),
)
async def inventory_events(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(allow(Permission.inventory_write))],
    body: InventoryEventsIn,
    idempotency_key: IdempotencyKey = None,
):
    today = datetime.now(UTC).date()
    events = [
        InventoryEvent(
            snapshot_date=_utc(e.snapshot_date or today),
            item_id=e.item_id,
            location_id=e.location_id,
            fields={
                k: (v.isoformat() if isinstance(v, date) else v)
                for k, v in e.model_dump(include=e.model_fields_set).items()
                if k in event_store.INVENTORY_FIELDS
            },
        )
        for e in body.events
    ]

    committed = await services.commands.accept_inventory(
        events,
        actor=principal.actor,
        retry=writes.retry_key(request, principal, idempotency_key, body),
    )
    if not committed.replayed:
        for event in events:
            services.live.apply_inventory(event)
    return writes.response(committed)


@router.post(
    "/outcomes",
    summary="Record shipped/delivered outcomes (monitoring, history, retraining)",
    response_model=Accepted,
    status_code=202,
    **secured(Permission.outcomes_write, *WITH_BODY, 409),
)
async def outcomes(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(allow(Permission.outcomes_write))],
    body: OutcomesIn,
    idempotency_key: IdempotencyKey = None,
):
    outcomes = [
        LineOutcome(
            o.order_id,
            o.line_no,
            o.shipped_qty,
            _utc(o.ship_date),
            _utc(o.delivered_date),
            o.status,
        )
        for o in body.outcomes
    ]

    committed = await services.commands.accept_outcomes(
        outcomes,
        actor=principal.actor,
        retry=writes.retry_key(request, principal, idempotency_key, body),
    )
    if not committed.replayed:
        for outcome in outcomes:
            services.live.apply_outcome(outcome)
    return writes.response(committed)
