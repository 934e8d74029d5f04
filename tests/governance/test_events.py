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


def test_recommendations_are_listed_newest_first_with_their_queue_state(db, open_item):
    from governance.recommendations import list_recommendations
    from governance.routing import OrderRisk

    low = open_item(OrderRisk(probability=0.05), subject="order:low")
    high = open_item(OrderRisk(probability=0.95), subject="order:high")
    with db.read() as session:
        views = list_recommendations(session, kind="order_risk")
        prefixed = list_recommendations(session, subject_prefix="order:hi")
    assert [v.id for v in views] == [high.recommendation_id, low.recommendation_id]
    assert views[0].status == "pending" and views[0].queue_item_id == high.item.id
    assert views[1].status is None and views[1].action == "release"
    assert [v.subject for v in prefixed] == ["order:high"]
