"""Facts from other systems: inventory positions and order-line outcomes.

Both are stored first (so a restart replays them) and then applied to the live state,
so the next order score or substitute search sees the new stock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from features import outcome_quality
from features.outcome_quality import OutcomeRow
from governance import events as event_store
from governance.access import Permission, Principal, Role
from governance.events import InventoryEvent, LineOutcome
from serving import writes
from serving.deps import IdempotencyKey, ServicesDep, allow, secured
from serving.schemas.common import WITH_BODY
from serving.schemas.events import Accepted, InventoryEventsIn, OutcomesIn
from stockpilot.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["events"])
MONITOR = Principal(name="system:monitor", role=Role.data_scientist)


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
        await _unknown_items_alert(services, events, today)
    return writes.response(committed)


async def _unknown_items_alert(services: Any, events: list[InventoryEvent], today: date) -> None:
    """A batch naming items the served model's master data does not know is a data-quality
    alert in the model-monitoring queue (one per day at most: docs/monitoring.md)."""
    risk = services.live.risk
    if risk is None:
        return
    known = risk.master.known.get("item", frozenset())
    unknown = sorted({e.item_id for e in events if e.item_id not in known})
    if not unknown:
        return
    model = next((m for m in services.models.served() if m.name == "order-risk"), None)
    await services.commands.open_monitoring_alerts(
        [
            {
                "model": "order-risk",
                "model_version": model.version if model else "-",
                "kind": "data_quality",
                "feature": "inventory_events.item_id: not in the item master",
                "days": [today.isoformat()],
                "evidence": {"items": unknown[:20], "n_items": len(unknown)},
            }
        ],
        policy=services.policy.get(),
        principal=MONITOR,
    )


@router.post(
    "/outcomes",
    summary="Record shipped/delivered outcomes (monitoring, history, retraining)",
    response_model=Accepted,
    status_code=202,
    **secured(Permission.outcomes_write, *WITH_BODY, 409),
    description="A batch with a delivery before its shipment or an unknown status is "
    "refused (422, naming each row and field; nothing is stored). Lines the served model "
    "does not hold open, ship dates before the order, more shipped than ordered and dates "
    "in the future are accepted and open a data-quality alert (queue model-monitoring).",
)
async def outcomes(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(allow(Permission.outcomes_write))],
    body: OutcomesIn,
    idempotency_key: IdempotencyKey = None,
):
    rows = [
        OutcomeRow(o.order_id, o.line_no, o.shipped_qty, o.ship_date, o.delivered_date, o.status)
        for o in body.outcomes
    ]
    broken = outcome_quality.errors(rows)
    if broken:
        raise InvalidInput(
            "; ".join(f.message for f in broken[:5]) + " (nothing of the batch was stored)",
            fields=[
                {"field": f"outcomes[{f.row}].{f.field}", "message": f.message} for f in broken
            ],
        )
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
    today = datetime.now(UTC).date()
    # Checked before the outcomes are applied: a final outcome closes its open line.
    found = outcome_quality.findings(
        rows, services.live.open_line if services.live.risk is not None else None, today
    )
    committed = await services.commands.accept_outcomes(
        outcomes,
        actor=principal.actor,
        retry=writes.retry_key(request, principal, idempotency_key, body),
    )
    if not committed.replayed:
        for outcome in outcomes:
            services.live.apply_outcome(outcome)
        if found:
            await _outcome_findings_alert(services, rows, found, today)
    return writes.response(committed)


async def _outcome_findings_alert(
    services: Any, rows: list[OutcomeRow], found: list[Any], today: date
) -> None:
    """Accepted but suspicious outcomes: one data-quality alert per kind of finding and day
    in the model-monitoring queue, like unknown items in inventory events."""
    model = next((m for m in services.models.served() if m.name == "order-risk"), None)
    await services.commands.open_monitoring_alerts(
        outcome_quality.alerts(
            rows, found, model_version=model.version if model else "-", today=today
        ),
        policy=services.policy.get(),
        principal=MONITOR,
    )
