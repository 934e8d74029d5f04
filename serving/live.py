"""The live state a serving process keeps: one inventory truth and the order-risk history.

It starts from the order-risk model's state snapshot (taken when the model was trained:
latest inventory positions, carrier/customer/lane statistics), falls back to the
dataset under ``data_dir`` for stock alone, and then replays the inventory events and
line outcomes stored since. Every model reads stock from the same
:class:`~features.inventory.InventoryPositions`, so an inventory event is seen by the
next order score, substitute search and replenishment run alike.

All mutation happens on the event loop thread (async handlers), after the event's
write has committed, so the state never runs ahead of what is durable.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from features.inventory import InventoryPositions
from features.open_lines import MAX_OPEN_LINES
from governance.events import InventoryEvent, LineOutcome
from serving.model_store import ModelStore
from stockpilot.settings import Settings

log = logging.getLogger(__name__)

EMPTY_POSITIONS = pd.DataFrame(
    {
        "item_id": pd.Series(dtype=object),
        "location_id": pd.Series(dtype=object),
        "on_hand": pd.Series(dtype=float),
    }
)


class LiveState:
    def __init__(
        self,
        inventory: InventoryPositions,
        risk: Any | None = None,
        *,
        source: str = "empty",
        max_open_lines: int = MAX_OPEN_LINES,
    ) -> None:
        self.inventory = inventory
        self.max_open_lines = max_open_lines
        self.risk = risk  # features.risk_state.RiskState when an order-risk model is served
        if risk is not None:
            risk.bound_open_lines(max_open_lines)
        self.source = source
        self.replayed = {"inventory": 0, "outcomes": 0}

    @classmethod
    def build(cls, models: ModelStore, settings: Settings) -> LiveState:
        bound = settings.max_open_lines
        risk = _risk_state(models)
        if risk is not None:
            return cls(
                risk.positions, risk, source="order-risk model snapshot", max_open_lines=bound
            )
        inventory = _dataset_positions(settings)
        if inventory is not None:
            return cls(inventory, None, source=f"dataset {settings.data_dir}", max_open_lines=bound)
        return cls(InventoryPositions(EMPTY_POSITIONS), None, max_open_lines=bound)

    @property
    def open_lines(self) -> int:
        """Order lines waiting for their outcome (0 without an order-risk state)."""
        return self.risk.open_lines if self.risk is not None else 0

    @property
    def aged_out(self) -> int:
        """Lines forgotten without an outcome (:mod:`features.open_lines`)."""
        return self.risk.aged_out if self.risk is not None else 0

    @property
    def aged_out_over_cap(self) -> int:
        return self.risk.aged_out_over_cap if self.risk is not None else 0

    @property
    def ready(self) -> bool:
        return self.risk is not None

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "positions": len(self.inventory),
            "open_lines": self.open_lines,
            "aged_out": self.aged_out,
            "replayed": dict(self.replayed),
        }

    def on_models_loaded(self, models: ModelStore) -> None:
        """A first order-risk model brings the history the live state lacked."""
        if self.risk is None:
            risk = _risk_state(models)
            if risk is not None:
                risk.bound_open_lines(self.max_open_lines)
                self.inventory, self.risk = risk.positions, risk
                self.source = "order-risk model snapshot"

    # --- events -----------------------------------------------------------------------

    def replay(self, inventory: Iterable[InventoryEvent], outcomes: Iterable[LineOutcome]) -> None:
        """What the store recorded, applied in order (at start, before serving)."""
        for event in inventory:
            self.apply_inventory(event)
            self.replayed["inventory"] += 1
        for outcome in outcomes:
            self.apply_outcome(outcome)
            self.replayed["outcomes"] += 1

    def apply_inventory(self, event: InventoryEvent) -> None:
        fields = dict(event.fields)
        if fields.get("in_transit_eta") is not None:
            fields["in_transit_eta"] = pd.Timestamp(fields["in_transit_eta"])
        snapshot = _naive(event.snapshot_date)
        if self.risk is not None:
            self.risk.update_inventory(event.item_id, event.location_id, snapshot, **fields)
        else:
            self.inventory.update(event.item_id, event.location_id, **fields)

    def open_line(self, order_id: str, line_no: int) -> dict[str, float] | None:
        """Order day and quantity of a line waiting for its outcome (None: not open)."""
        return None if self.risk is None else self.risk.open_line(order_id, line_no)

    def apply_outcome(self, outcome: LineOutcome) -> bool:
        if self.risk is None:
            return False
        return self.risk.record_outcome(
            outcome.order_id,
            outcome.line_no,
            outcome.shipped_qty,
            ship_date=_naive(outcome.ship_date),
            delivered_date=_naive(outcome.delivered_date),
        )


def _naive(value: datetime | None) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_convert(None) if ts.tzinfo is not None else ts


def _risk_state(models: ModelStore) -> Any | None:
    try:
        model = models.get("order-risk")
    except Exception:
        return None
    state = getattr(model.impl, "state", None)
    # A copy: the model's snapshot stays as trained, the live one moves on.
    return copy.deepcopy(state) if state is not None else None


def _dataset_positions(settings: Settings) -> InventoryPositions | None:
    directory = settings.data_dir
    for suffix in ("parquet", "csv"):
        path = directory / f"inventory.{suffix}"
        if path.exists():
            from features.contract import validate_table
            from stockpilot.data import read_tables

            tables, _ = read_tables(directory)
            typed, violations = validate_table("inventory", tables["inventory"])
            if typed is None:
                log.warning("inventory of %s breaks the contract: %s", directory, violations[:3])
                return None
            return InventoryPositions.from_inventory(typed)
    return None
