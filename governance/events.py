"""Operational events serving receives: inventory positions and order-line outcomes.

They are facts reported by other systems, not decisions, so they are stored plainly
(not in the audit chain). Serving replays them into its live state at start-up;
``export_fulfillments`` turns outcomes into contract ``fulfillments`` rows for retraining.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from governance.store.tables import InventoryEventRow, LineOutcomeRow

if TYPE_CHECKING:  # pandas only where outcomes are exported: the writer process, which
    import pandas as pd  # unpickles this module's facts, stays without it (~85 MiB)

INVENTORY_FIELDS = (
    "on_hand",
    "allocated",
    "reserved",
    "quarantined",
    "in_transit",
    "in_transit_eta",
)


@dataclass(frozen=True, slots=True)
class InventoryEvent:
    snapshot_date: datetime
    item_id: str
    location_id: str
    fields: Mapping[str, Any]  # a subset of INVENTORY_FIELDS; in_transit_eta as ISO date


@dataclass(frozen=True, slots=True)
class LineOutcome:
    order_id: str
    line_no: int
    shipped_qty: float
    ship_date: datetime | None = None
    delivered_date: datetime | None = None
    status: str | None = None


def record_inventory(
    session: Session, events: Iterable[InventoryEvent], *, actor: str, now: datetime | None = None
) -> int:
    now = now or datetime.now(UTC)
    rows = [
        {
            "received_at": now,
            "snapshot_date": e.snapshot_date,
            "item_id": e.item_id,
            "location_id": e.location_id,
            "fields": dict(e.fields),
            "actor": actor,
        }
        for e in events
    ]
    if rows:
        session.execute(insert(InventoryEventRow), rows)
    return len(rows)


def record_outcomes(
    session: Session, outcomes: Iterable[LineOutcome], *, actor: str, now: datetime | None = None
) -> int:
    now = now or datetime.now(UTC)
    rows = [
        {
            "received_at": now,
            "order_id": o.order_id,
            "line_no": o.line_no,
            "shipped_qty": o.shipped_qty,
            "ship_date": o.ship_date,
            "delivered_date": o.delivered_date,
            "status": o.status,
            "actor": actor,
        }
        for o in outcomes
    ]
    if rows:
        session.execute(insert(LineOutcomeRow), rows)
    return len(rows)


def inventory_since(session: Session, since: datetime | None = None) -> list[InventoryEvent]:
    """Inventory events in arrival order (all of them when ``since`` is None)."""
    query = select(InventoryEventRow).order_by(InventoryEventRow.id)
    if since is not None:
        query = query.where(InventoryEventRow.received_at >= since)
    return [
        InventoryEvent(r.snapshot_date, r.item_id, r.location_id, r.fields)
        for r in session.scalars(query)
    ]


def outcomes_since(session: Session, since: datetime | None = None) -> list[LineOutcome]:
    query = select(LineOutcomeRow).order_by(LineOutcomeRow.id)
    if since is not None:
        query = query.where(LineOutcomeRow.received_at >= since)
    return [
        LineOutcome(r.order_id, r.line_no, r.shipped_qty, r.ship_date, r.delivered_date, r.status)
        for r in session.scalars(query)
    ]


def fulfillments_frame(outcomes: Iterable[LineOutcome]) -> pd.DataFrame:
    """Outcomes as contract ``fulfillments`` rows (the latest report per line wins)."""
    import pandas as pd

    def day(value: datetime | None) -> pd.Timestamp | None:
        return None if value is None else pd.Timestamp(value).tz_convert(None).normalize()

    frame = pd.DataFrame(
        [
            {
                "order_id": o.order_id,
                "line_no": o.line_no,
                "shipped_qty": o.shipped_qty,
                "ship_date": day(o.ship_date),
                "delivered_date": day(o.delivered_date),
                "status": o.status,
            }
            for o in outcomes
        ],
        columns=["order_id", "line_no", "shipped_qty", "ship_date", "delivered_date", "status"],
    )
    return frame.drop_duplicates(["order_id", "line_no"], keep="last").reset_index(drop=True)
