"""Response shapes of the KPI endpoints: definitions with versions, values, trend, rows."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Figure = float | None
Cell = str | float | int | bool | None


class TargetOut(BaseModel):
    op: Literal[">=", "<=", "between"]
    value: float | None = Field(description="The bound for >= and <=.")
    low: float | None = Field(description="Lower bound for between.")
    high: float | None = Field(description="Upper bound for between.")
    component: str | None = Field(
        description="The component the target applies to, if not the value."
    )


class DefinitionOut(BaseModel):
    id: str
    version: str = Field(description="sha256 of the definition (formula, rules, target, ...).")
    title: str
    family: str
    formula: str
    grain: str
    anchor: str = Field(description="Which date puts a record into a period.")
    inclusion: list[str]
    unit: str
    owner: str
    sources: list[str]
    slices: list[str]
    target: TargetOut
    higher_is_better: bool | None


class TrendOut(BaseModel):
    grain: Literal["day", "week", "month"]
    buckets: list[date] = Field(description="First day of each bucket.")
    values: list[Figure]


class GroupOut(BaseModel):
    key: str
    value: Figure
    numerator: Figure
    denominator: Figure
    status: Literal["met", "missed", "no_data"]
    note: str | None


class KpiOut(BaseModel):
    id: str
    version: str
    title: str
    unit: str
    definition: DefinitionOut
    value: Figure
    numerator: Figure
    denominator: Figure
    components: dict[str, Figure]
    breakdown: dict[str, list[dict[str, Cell]]]
    note: str | None
    status: Literal["met", "missed", "no_data"]
    target_figure: Figure = Field(description="The figure compared with the target.")
    trend: TrendOut
    groups: list[GroupOut]
    rows_url: str = Field(description="The drill-down of this value (same period and slice).")


class PeriodOut(BaseModel):
    from_: date = Field(alias="from")
    to: date
    grain: Literal["day", "week", "month"]

    model_config = ConfigDict(populate_by_name=True)


class HighWaterOut(BaseModel):
    outcome_id: int
    inventory_id: int
    audit_seq: int


class SourcesOut(BaseModel):
    dataset_fingerprint: str
    facts_source: str = Field(description="built, or disk cache")
    facts_seconds: float = Field(description="Time to build or load the dataset's facts.")
    high_water: HighWaterOut = Field(description="Live events and governance records included.")
    stale: bool = Field(description="The dataset changed; new facts are being built.")
    unmatched_outcomes: int = Field(description="Outcomes for lines the dataset does not hold.")
    ignored_inventory_events: int = Field(
        description="Positions dated in the future or over a year before the data."
    )
    governance: bool
    data_from: date
    data_to: date


class KpisOut(BaseModel):
    period: PeriodOut
    filters: dict[str, str]
    by: str | None
    sources: SourcesOut
    kpis: list[KpiOut]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")
    met: bool | None = Field(description="Counts as good for the KPI (None: not judged).")


class LineRowOut(_Row):
    order_id: str
    line_no: int
    customer_id: str
    item_id: str
    location_id: str | None
    carrier_id: str | None
    segment: str | None
    category: str | None
    qty: float
    shipped_qty: float | None
    order_date: date | None
    promised_date: date | None
    ship_date: date | None
    delivered_date: date | None
    status: str | None
    in_full: bool | None
    on_time: bool | None
    damaged: bool | None
    documents_ok: bool | None
    substitute_accepted: bool
    days_past_due: int | None = None
    age_bucket: str | None = None
    open_qty: float | None = None


class OrderRowOut(_Row):
    order_id: str
    customer_id: str
    location_id: str | None
    carrier_id: str | None
    segment: str | None
    order_date: date | None
    due_date: date | None
    lines: int
    lines_known: int
    lines_failing: int


class QueueItemRowOut(_Row):
    item_id: str
    queue: str
    kind: str
    subject: str
    action: str
    status: str
    created_at: str | None
    due_at: str | None
    decided_at: str | None
    decided_by: str | None
    driver_family: str | None
    location_id: str | None
    segment: str | None
    override_outcome: str | None = None
    turnaround_hours: float | None = None
    sla_hours: float | None = None


class StockDayRowOut(_Row):
    item_id: str
    location_id: str
    category: str | None
    date: date
    on_hand: float
    available: float


class ItemLocationRowOut(_Row):
    item_id: str
    location_id: str
    category: str | None
    unit_cost: float
    cost_of_goods_shipped: float
    average_inventory_value: float
    turns_per_year: float | None
    available_value: float
    days_of_cover: float | None


class KpiRowsOut(BaseModel):
    kpi: str
    version: str
    grain: Literal["line", "order", "queue_item", "stock_day", "item_location"]
    period: PeriodOut
    filters: dict[str, str]
    outcome: Literal["all", "met", "missed"]
    total: int
    limit: int
    offset: int
    next_offset: int | None
    rows: (
        list[LineRowOut]
        | list[OrderRowOut]
        | list[QueueItemRowOut]
        | list[StockDayRowOut]
        | list[ItemLocationRowOut]
    )
