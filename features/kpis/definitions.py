"""Operational KPIs as data: each one a versioned, readable definition.

A supervisor trusts a number when they can read what it counts. So every KPI is a
:class:`Definition` — formula, grain, inclusion rules, unit, target and owner written out
— and its version is a hash of exactly that text: change a rule or a target and the
version changes with it, so two dashboards showing the same version count the same thing.
The computation of each id lives in :mod:`features.kpis.compute`; the tests pin both on
tiny hand-made frames.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Grain = Literal["line", "order", "unit", "queue_item", "item_location_day", "item_location"]
Unit = Literal["ratio", "lines", "items", "hours", "days", "turns_per_year"]
Owner = Literal["supervisor", "planner", "data_scientist"]
Dimension = Literal["location", "segment", "category", "carrier"]

DIMENSIONS: tuple[Dimension, ...] = ("location", "segment", "category", "carrier")
ALL_SLICES: tuple[Dimension, ...] = DIMENSIONS
STOCK_SLICES: tuple[Dimension, ...] = ("location", "category")


@dataclass(frozen=True)
class Target:
    """What good looks like: ``value op target`` (or within ``[low, high]``).

    ``component`` names the figure the target applies to when it is not the headline
    value (e.g. backorders older than 30 days).
    """

    op: Literal[">=", "<=", "between"]
    value: float | tuple[float, float]
    component: str | None = None

    def met(self, figure: float | None) -> bool | None:
        if figure is None:
            return None
        if self.op == ">=":
            return figure >= self.value  # type: ignore[operator]
        if self.op == "<=":
            return figure <= self.value  # type: ignore[operator]
        low, high = self.value  # type: ignore[misc]
        return low <= figure <= high


@dataclass(frozen=True)
class Definition:
    id: str
    title: str
    formula: str
    grain: Grain
    anchor: str  # which date puts a record into a period
    inclusion: tuple[str, ...]
    unit: Unit
    target: Target
    owner: Owner
    sources: tuple[str, ...]  # dataset tables and governance records it reads
    slices: tuple[Dimension, ...] = ALL_SLICES
    family: str = field(default="fulfilment")

    @property
    def version(self) -> str:
        """sha256 of the canonical JSON of every field above (first 12 hex digits)."""
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


DUE = "the order's due date (latest promised_date of its lines)"
LINE_KNOWN = (
    "lines of the dataset's orders, updated by outcomes reported to POST /v1/outcomes",
    "a line counts once its first shipment is known (a fulfillment row or a live outcome); "
    "lines not shipped yet have no outcome and are left out",
    "cancelled lines (shipped_qty 0) count as not filled: the contract cannot tell a "
    "customer's cancellation from a line given up for lack of stock, and SPEC §3 labels "
    "them short",
    "partial shipments count as not in full; their shipped units count in unit fill",
)
AFTER_SUB = (
    "a short line counts as filled after substitution when the customer accepted a "
    "substitute offered for it (substitutions linked by order_id and original_item_id); "
    "the accepted substitute is taken to cover the missing quantity",
    "without a substitutions table, or without its order_id column, offers cannot be "
    "linked to lines and the value equals the first-time fill rate (noted)",
)
ON_TIME = (
    "on time: delivered on or before promised_date; a line shipped and still in transit "
    "after its promised date, or not shipped by it, is already late",
    "cancelled lines (nothing shipped) are short, not late: they are left out",
    "without delivered_date the ship date stands in; with neither, lateness is unknown "
    "and the KPI has no value",
)
ORDER_SOURCES = ("orders", "fulfillments", "live outcomes")
QUEUE_SOURCES = ("queue_items", "recommendations", "orders", "fulfillments", "live outcomes")

CATALOG: tuple[Definition, ...] = (
    Definition(
        id="perfect_order_rate",
        title="Perfect order rate",
        formula="orders whose every line is perfect / orders with a known outcome",
        grain="order",
        anchor=DUE,
        inclusion=(
            "SCOR perfect order: every line on time, in full, undamaged where known and "
            "with correct documents where known",
            "an order is known once every line is, or as soon as one line is known imperfect",
            "with a slice, only the order's lines inside the slice count",
            *ON_TIME[:2],
        ),
        unit="ratio",
        target=Target(">=", 0.90),
        owner="supervisor",
        sources=(*ORDER_SOURCES, "fulfillments.damaged", "fulfillments.documents_ok"),
    ),
    Definition(
        id="perfect_order_line",
        title="Perfect order (line level)",
        formula="lines on time ∧ in full ∧ not damaged ∧ documents correct / lines with a "
        "known outcome",
        grain="line",
        anchor=DUE,
        inclusion=(
            "damaged and documents_ok (optional fulfillments columns) count where known; "
            "a line with no such information is not held against",
            "a line is known once it is delivered, cancelled, or late (in transit or not "
            "shipped past its promised date)",
            *LINE_KNOWN[2:],
        ),
        unit="ratio",
        target=Target(">=", 0.92),
        owner="supervisor",
        sources=(*ORDER_SOURCES, "fulfillments.damaged", "fulfillments.documents_ok"),
    ),
    Definition(
        id="perfect_order_product",
        title="Perfect order (product of rates)",
        formula="on-time rate × in-full rate × undamaged rate × documents rate, each over "
        "the lines where it is known",
        grain="line",
        anchor=DUE,
        inclusion=(
            "the SCOR variant that multiplies component rates; a component with no data "
            "(e.g. no damaged column) is left out of the product and named in the result",
            *ON_TIME[:2],
            *LINE_KNOWN[1:3],
        ),
        unit="ratio",
        target=Target(">=", 0.90),
        owner="supervisor",
        sources=(*ORDER_SOURCES, "fulfillments.damaged", "fulfillments.documents_ok"),
    ),
    Definition(
        id="fill_rate_line",
        title="Line fill rate (first time)",
        formula="lines shipped in full at first shipment / lines shipped or cancelled",
        grain="line",
        anchor=DUE,
        inclusion=LINE_KNOWN,
        unit="ratio",
        target=Target(">=", 0.95),
        owner="supervisor",
        sources=ORDER_SOURCES,
    ),
    Definition(
        id="fill_rate_order",
        title="Order fill rate (first time)",
        formula="orders whose every line shipped in full / orders with a known outcome (every "
        "line shipped or cancelled, or one already short)",
        grain="order",
        anchor=DUE,
        inclusion=(*LINE_KNOWN, "with a slice, only the order's lines inside the slice count"),
        unit="ratio",
        target=Target(">=", 0.90),
        owner="supervisor",
        sources=ORDER_SOURCES,
    ),
    Definition(
        id="fill_rate_unit",
        title="Unit fill rate (first time)",
        formula="Σ min(shipped_qty, qty) / Σ qty over lines shipped or cancelled",
        grain="unit",
        anchor=DUE,
        inclusion=LINE_KNOWN,
        unit="ratio",
        target=Target(">=", 0.97),
        owner="supervisor",
        sources=ORDER_SOURCES,
    ),
    Definition(
        id="fill_rate_line_after_substitution",
        title="Line fill rate after substitution",
        formula="lines in full, or short with an accepted substitute / lines shipped or cancelled",
        grain="line",
        anchor=DUE,
        inclusion=(*LINE_KNOWN, *AFTER_SUB),
        unit="ratio",
        target=Target(">=", 0.97),
        owner="supervisor",
        sources=(*ORDER_SOURCES, "substitutions"),
    ),
    Definition(
        id="fill_rate_order_after_substitution",
        title="Order fill rate after substitution",
        formula="orders whose every line is filled after substitution / orders with a known "
        "outcome (every line shipped or cancelled, or one already short)",
        grain="order",
        anchor=DUE,
        inclusion=(*LINE_KNOWN, *AFTER_SUB),
        unit="ratio",
        target=Target(">=", 0.93),
        owner="supervisor",
        sources=(*ORDER_SOURCES, "substitutions"),
    ),
    Definition(
        id="fill_rate_unit_after_substitution",
        title="Unit fill rate after substitution",
        formula="Σ (shipped units + the missing units of lines with an accepted substitute) "
        "/ Σ qty over lines shipped or cancelled",
        grain="unit",
        anchor=DUE,
        inclusion=(*LINE_KNOWN, *AFTER_SUB),
        unit="ratio",
        target=Target(">=", 0.98),
        owner="supervisor",
        sources=(*ORDER_SOURCES, "substitutions"),
    ),
    Definition(
        id="promise_accuracy",
        title="Order promise accuracy",
        formula="lines delivered by their promised date / lines whose delivery against the "
        "promise is known",
        grain="line",
        anchor=DUE,
        inclusion=(*ON_TIME, "a partial shipment counts by the date its shipped part arrived"),
        unit="ratio",
        target=Target(">=", 0.95),
        owner="supervisor",
        sources=ORDER_SOURCES,
    ),
    Definition(
        id="backorder_aging",
        title="Backorder aging",
        formula="open lines past their promised date at the end of the period, by days "
        "past due: 0–7, 8–14, 15–30, > 30",
        grain="line",
        anchor="the end of the period (a snapshot; trend: the end of each bucket)",
        inclusion=(
            "open: not shipped by then, or shipped short with a status that keeps the "
            "rest open (open, backorder, backordered, partial, partially_shipped, pending)",
            "a line shipped short with any other status, or cancelled, is closed",
            "units: ordered minus shipped by then",
        ),
        unit="lines",
        target=Target("<=", 0, component="over_30_days"),
        owner="supervisor",
        sources=ORDER_SOURCES,
    ),
    Definition(
        id="exception_volume",
        title="Order exception volume",
        formula="order-risk queue items opened in the period, by queue and driver family; "
        "share = items / order-risk recommendations",
        grain="queue_item",
        anchor="the item's creation time (UTC day)",
        inclusion=(
            "queue items of kind order_risk (review, hold and driver/flag queues)",
            "driver family: the dominant family recorded with the item (top_family)",
            "slices read the order in the dataset; an order not in it is sliced by its "
            "customer's segment only, and left out of location, category and carrier slices",
        ),
        unit="items",
        target=Target("<=", 0.20, component="share_of_recommendations"),
        owner="supervisor",
        sources=QUEUE_SOURCES,
        family="governance",
    ),
    Definition(
        id="manual_override_rate",
        title="Manual override rate",
        formula="items decided by override / items decided by a person (approved, rejected "
        "or overridden); overrides split by whether they proved right",
        grain="queue_item",
        anchor="the decision time (UTC day)",
        inclusion=(
            "expired items were not decided by a person and are left out",
            "only operational items count (order risk, substitution, replenishment): model "
            "promotions and monitoring alerts are left out",
            "an override of an order-risk item proved right when every line of the order "
            "then met its commitment, wrong when a line missed, pending while an outcome "
            "is missing; overrides of other kinds have no outcome to judge (not_assessable)",
        ),
        unit="ratio",
        target=Target("<=", 0.10),
        owner="supervisor",
        sources=QUEUE_SOURCES,
        family="governance",
    ),
    Definition(
        id="approval_turnaround",
        title="Approval turnaround",
        formula="items decided within their queue's SLA / items decided or expired; "
        "p50 and p90 of decided_at − created_at (hours), per queue against its SLA",
        grain="queue_item",
        anchor="the decision or expiry time (UTC day)",
        inclusion=(
            "the SLA is the one the item was created under (due_at − created_at)",
            "only operational items count (order risk, substitution, replenishment): model "
            "promotions and monitoring alerts are left out",
            "an expired item breached its SLA; its turnaround is the time to expiry",
            "the queue refuses decisions after the SLA (409), so items breach it by expiring",
        ),
        unit="ratio",
        target=Target(">=", 0.90),
        owner="supervisor",
        sources=("queue_items",),
        family="governance",
    ),
    Definition(
        id="stockout_frequency",
        title="Stockout frequency",
        formula="item × location days with nothing available / item × location days with "
        "a snapshot",
        grain="item_location_day",
        anchor="the snapshot date",
        inclusion=(
            "available = on_hand − allocated − reserved − quarantined, never below zero "
            "(the single inventory truth)",
            "item × locations that were ever ordered or held stock; items the master marks "
            "inactive are left out",
            "inventory positions reported to POST /v1/events/inventory replace the "
            "snapshot of their day",
        ),
        unit="ratio",
        target=Target("<=", 0.02),
        owner="planner",
        sources=("inventory", "items", "orders", "live inventory events"),
        slices=STOCK_SLICES,
        family="inventory",
    ),
    Definition(
        id="inventory_turns",
        title="Inventory turns",
        formula="cost of goods shipped in the period / average daily inventory at cost, "
        "annualised (× 365 / days)",
        grain="item_location",
        anchor="the ship date (goods) and the snapshot date (inventory)",
        inclusion=(
            "cost: items.unit_cost; items without a cost are left out of both sides",
            "goods: lines of item × locations that have inventory snapshots (others have no "
            "stock to turn), over the days the snapshots cover",
            "inventory at cost: on_hand × unit_cost of the item × locations with a snapshot",
            "shipped goods without a ship date count on their order's due date",
        ),
        unit="turns_per_year",
        target=Target(">=", 8.0),
        owner="planner",
        sources=("inventory", "items", "orders", "fulfillments", "live outcomes"),
        slices=STOCK_SLICES,
        family="inventory",
    ),
    Definition(
        id="days_of_cover",
        title="Days of cover",
        formula="available stock at cost at the end of the period / average daily cost of "
        "goods shipped over the 28 days up to it",
        grain="item_location",
        anchor="the end of the period (a snapshot; trend: the end of each bucket)",
        inclusion=(
            "available is the single inventory truth; the latest snapshot on or before the "
            "end of the period",
            "items without a cost are left out; goods as for inventory turns",
        ),
        unit="days",
        target=Target("between", (10.0, 45.0)),
        owner="planner",
        sources=("inventory", "items", "orders", "fulfillments", "live outcomes"),
        slices=STOCK_SLICES,
        family="inventory",
    ),
)

BY_ID: dict[str, Definition] = {d.id: d for d in CATALOG}


def definition(kpi_id: str) -> Definition:
    """The definition of ``kpi_id``; the error names the ids that exist."""
    try:
        return BY_ID[kpi_id]
    except KeyError:
        raise KeyError(f"unknown KPI {kpi_id!r}; known: {', '.join(BY_ID)}") from None
