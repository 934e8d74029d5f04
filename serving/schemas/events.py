from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from serving.schemas.common import Day, Integer, Strict

Qty = Field(None, ge=0, le=1e12, allow_inf_nan=False)
# features.outcome_quality.KNOWN_STATUSES, as the schema tells clients (a test keeps them equal).
OutcomeStatus = Literal[
    "open", "allocated", "picked", "shipped", "in_transit", "delivered", "cancelled", "closed"
]
Id = Field(min_length=1, max_length=200)


class InventoryEventIn(Strict):
    model_config = ConfigDict(
        # What _something_set checks, told to clients in the schema.
        json_schema_extra={
            "anyOf": [
                {"required": [name]}
                for name in (
                    "on_hand",
                    "allocated",
                    "reserved",
                    "quarantined",
                    "in_transit",
                    "in_transit_eta",
                )
            ]
        }
    )

    item_id: str = Id
    location_id: str = Id
    snapshot_date: Day | None = Field(
        None, description="Day the position is valid from (start of day); default today."
    )
    on_hand: float | None = Qty
    allocated: float | None = Qty
    reserved: float | None = Qty
    quarantined: float | None = Qty
    in_transit: float | None = Qty
    in_transit_eta: Day | None = None

    @model_validator(mode="after")
    def _something_set(self) -> InventoryEventIn:
        if not self.model_fields_set & {
            "on_hand",
            "allocated",
            "reserved",
            "quarantined",
            "in_transit",
            "in_transit_eta",
        }:
            raise ValueError(
                "an inventory event must set at least one of on_hand, allocated, "
                "reserved, quarantined, in_transit, in_transit_eta"
            )
        return self


class InventoryEventsIn(Strict):
    events: list[InventoryEventIn] = Field(min_length=1, max_length=1000)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "item_id": "I00042",
                            "location_id": "DAL",
                            "on_hand": 120,
                            "allocated": 30,
                            "quarantined": 0,
                        }
                    ]
                }
            ]
        },
    )


class Accepted(Strict):
    accepted: int = Field(description="Events stored and applied to the live state.")


class OutcomeIn(Strict):
    order_id: str = Id
    line_no: Integer = Field(ge=0, le=10**9)
    shipped_qty: float = Field(ge=0, le=1e12, allow_inf_nan=False)
    ship_date: Day | None = None
    delivered_date: Day | None = None
    status: OutcomeStatus | None = Field(
        None, description="The line's fulfilment state (features/outcome_quality.py)."
    )


class OutcomesIn(Strict):
    outcomes: list[OutcomeIn] = Field(min_length=1, max_length=1000)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcomes": [
                        {
                            "order_id": "O0000017",
                            "line_no": 1,
                            "shipped_qty": 40,
                            "ship_date": "2026-03-02",
                            "delivered_date": "2026-03-04",
                            "status": "delivered",
                        }
                    ]
                }
            ]
        },
    )
