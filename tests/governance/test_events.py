"""Operational events: stored in arrival order, replayable, exportable as fulfillments."""

from __future__ import annotations

from datetime import UTC, datetime

from features.contract import validate_table
from governance.events import (
    InventoryEvent,
    LineOutcome,
    fulfillments_frame,
    inventory_since,
    outcomes_since,
    record_inventory,
    record_outcomes,
)

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def test_inventory_events_round_trip_in_arrival_order(db):
    events = [
        InventoryEvent(DAY, "A", "DAL", {"on_hand": 10.0}),
        InventoryEvent(DAY, "A", "DAL", {"on_hand": 4.0, "in_transit_eta": "2026-03-09"}),
    ]
    with db.write() as session:
        assert record_inventory(session, events, actor="key:erp") == 2
    with db.read() as session:
        back = inventory_since(session)
    assert [e.fields for e in back] == [e.fields for e in events]
    assert back[0].snapshot_date == DAY


def test_outcomes_export_as_contract_fulfillments(db):
    outcomes = [
        LineOutcome("O1", 1, 5.0, DAY, None, "shipped"),
        LineOutcome("O1", 1, 5.0, DAY, datetime(2026, 3, 4, 15, tzinfo=UTC), "delivered"),
        LineOutcome("O1", 2, 0.0, None, None, "cancelled"),
    ]
    with db.write() as session:
        record_outcomes(session, outcomes, actor="key:erp")
    with db.read() as session:
        frame = fulfillments_frame(outcomes_since(session))
    assert frame[["order_id", "line_no", "status"]].values.tolist() == [
        ["O1", 1, "delivered"],
        ["O1", 2, "cancelled"],
    ]
    typed, violations = validate_table("fulfillments", frame)
    assert violations == []
    assert str(typed.loc[0, "delivered_date"].date()) == "2026-03-04"
