"""Drill-down: the order lines, orders, queue items and stock positions behind a value.

``rows(facts, kpi_id, query)`` returns the records a KPI counted in its denominator (its
population), each marked ``met`` when it counts as good, newest first, one page at a
time. The same weights and masks as the values are used, so the rows always add up to
the number on the tile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.kpis.backorders import age_bucket, backorders_at, candidates, open_units
from features.kpis.base import KpiFacts
from features.kpis.decisions import items_in, override_outcomes, turnaround_hours
from features.kpis.definitions import STOCK_SLICES, definition
from features.kpis.fulfilment import ORDER_PARTS, LineView
from features.kpis.query import Query, day_date
from features.kpis.records import DECIDED
from features.kpis.stock_kpis import COVER_WINDOW_DAYS, day_columns, line_series, series_mask
from features.kpis.weights import C

Outcome = Literal["all", "met", "missed"]

# KPI → (good column, counted column) of the line weights
LINE_POPULATION = {
    "perfect_order_line": ("perfect", "perfect_known"),
    "perfect_order_product": ("perfect", "perfect_known"),
    "fill_rate_line": ("in_full", "fulfilled"),
    "fill_rate_unit": ("in_full", "fulfilled"),
    "fill_rate_line_after_substitution": ("filled_after_substitution", "fulfilled"),
    "fill_rate_unit_after_substitution": ("filled_after_substitution", "fulfilled"),
    "promise_accuracy": ("on_time", "on_time_known"),
}
ORDER_POPULATION = {
    "perfect_order_rate": ("perfect_known", "perfect_bad"),
    "fill_rate_order": ("fulfilled", "short"),
    "fill_rate_order_after_substitution": ("fulfilled", "short_unsubstituted"),
}


@dataclass
class Page:
    grain: str
    total: int
    rows: list[dict[str, Any]]


def rows(
    facts: KpiFacts,
    kpi_id: str,
    query: Query,
    outcome: Outcome = "all",
    limit: int = 100,
    offset: int = 0,
) -> Page:
    definition(kpi_id)
    if outcome not in ("all", "met", "missed"):
        raise ValueError(f"outcome: {outcome!r} is not one of all, met, missed")
    if kpi_id in LINE_POPULATION:
        return _line_rows(facts, kpi_id, query, outcome, limit, offset)
    if kpi_id in ORDER_POPULATION:
        return _order_rows(facts, kpi_id, query, outcome, limit, offset)
    return DRILLS[kpi_id](facts, kpi_id, query, outcome, limit, offset)


def _page(
    grain: str,
    met: np.ndarray,
    outcome: Outcome,
    limit: int,
    offset: int,
    build: Callable[[np.ndarray], list[dict[str, Any]]],
) -> Page:
    """``met`` per population record, newest first; ``build`` makes rows of positions."""
    keep = np.arange(len(met))
    if outcome == "met":
        keep = keep[met == 1]
    elif outcome == "missed":
        keep = keep[met == 0]
    page = keep[offset : offset + limit]
    return Page(grain, len(keep), build(page))


def _date(day: float) -> str | None:
    return None if not np.isfinite(day) else day_date(day).isoformat()


def _num(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _flag(value: float) -> bool | None:
    return None if np.isnan(value) else bool(value)


def line_record(facts: KpiFacts, r: int) -> dict[str, Any]:
    lines, dims = facts.lines, facts.dims
    status = lines.status[r]
    return {
        "order_id": str(lines.order_ids[lines.order[r]]),
        "line_no": int(lines.line_no[r]),
        "customer_id": str(lines.customer_ids[lines.customer[r]]),
        "item_id": str(lines.item_ids[lines.item[r]]),
        "location_id": dims.label("location", lines.location[r]),
        "carrier_id": dims.label("carrier", lines.carrier[r]),
        "segment": dims.label("segment", lines.segment[r]),
        "category": dims.label("category", lines.category[r]),
        "qty": float(lines.qty[r]),
        "shipped_qty": _num(lines.shipped[r]),
        "order_date": _date(lines.order_day[r]),
        "promised_date": _date(lines.promised_day[r]),
        "ship_date": _date(lines.ship_day[r]),
        "delivered_date": _date(lines.delivered_day[r]),
        "status": None if status < 0 else str(lines.status_labels[status]),
        "in_full": bool(lines.fulfilled[r] and lines.shipped[r] >= lines.qty[r])
        if lines.fulfilled[r]
        else None,
        "on_time": None
        if np.isnan(lines.late[r]) or (lines.fulfilled[r] and lines.shipped[r] <= 0)
        else bool(lines.late[r] == 0),
        "damaged": _flag(lines.damaged[r]),
        "documents_ok": _flag(lines.documents_ok[r]),
        "substitute_accepted": bool(lines.sub_accepted[r]),
    }


def _line_rows(facts, kpi_id, query, outcome, limit, offset) -> Page:
    good, counted = LINE_POPULATION[kpi_id]
    view = LineView(facts.lines, query)
    rows_ = view.rows
    chosen = np.flatnonzero(view.block[C[counted]] > 0)[::-1]
    positions = rows_[chosen]
    met = (view.block[C[good], chosen] > 0).astype(int)

    def build(page: np.ndarray) -> list[dict[str, Any]]:
        return [{**line_record(facts, int(positions[k])), "met": bool(met[k])} for k in page]

    return _page("line", met, outcome, limit, offset, build)


def _order_rows(facts, kpi_id, query, outcome, limit, offset) -> Page:
    known, bad = ORDER_POPULATION[kpi_id]
    view = LineView(facts.lines, query)
    n, parts = view.orders()
    k, b = parts[ORDER_PARTS.index(known)], parts[ORDER_PARTS.index(bad)]
    is_known = (b > 0) | (k == n)
    rows_ = view.rows
    order = facts.lines.order[rows_]
    starts = np.flatnonzero(np.r_[True, order[1:] != order[:-1]]) if len(order) else order
    chosen = np.flatnonzero(is_known)[::-1]
    met = (b[chosen] == 0).astype(int)

    def build(page: np.ndarray) -> list[dict[str, Any]]:
        out = []
        for j in page:
            o = int(chosen[j])
            first = int(rows_[starts[o]])
            record = line_record(facts, first)
            out.append(
                {
                    "order_id": record["order_id"],
                    "customer_id": record["customer_id"],
                    "location_id": record["location_id"],
                    "carrier_id": record["carrier_id"],
                    "segment": record["segment"],
                    "order_date": record["order_date"],
                    "due_date": _date(facts.lines.due_day[first]),
                    "lines": int(n[o]),
                    "lines_known": int(k[o]),
                    "lines_failing": int(b[o]),
                    "met": bool(met[j]),
                }
            )
        return out

    return _page("order", met, outcome, limit, offset, build)


def _backorder_rows(facts, kpi_id, query, outcome, limit, offset) -> Page:
    lines = facts.lines
    snapshot = min(query.period.end, lines.horizon)
    active, age = backorders_at(lines, candidates(lines, query), snapshot)
    order = np.lexsort((active, -age))  # oldest first: that is what a supervisor chases
    active, age = active[order], age[order]
    units = open_units(lines, active, snapshot)
    bucket = age_bucket(age)
    met = (age <= 30).astype(int)

    def build(page: np.ndarray) -> list[dict[str, Any]]:
        return [
            {
                **line_record(facts, int(active[k])),
                "days_past_due": int(age[k]),
                "age_bucket": str(bucket[k]),
                "open_qty": float(units[k]),
                "met": bool(met[k]),
            }
            for k in page
        ]

    return _page("line", met, outcome, limit, offset, build)


def item_record(facts: KpiFacts, item: pd.Series) -> dict[str, Any]:
    def text(name: str) -> str | None:
        value = item.get(name)
        return None if value is None or pd.isna(value) else str(value)

    def time(name: str) -> str | None:
        value = item.get(name)
        return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()

    dims = facts.dims
    return {
        "item_id": str(item["id"]),
        "queue": str(item["queue"]),
        "kind": str(item["kind"]),
        "subject": str(item["subject"]),
        "action": str(item["action"]),
        "status": str(item["status"]),
        "created_at": time("created_at"),
        "due_at": time("due_at"),
        "decided_at": time("decided_at"),
        "decided_by": text("decided_by"),
        "driver_family": text("top_family"),
        "location_id": dims.label("location", int(item["location"])),
        "segment": dims.label("segment", int(item["segment"])),
    }


def _queue_rows(facts, kpi_id, query, outcome, limit, offset) -> Page:
    if kpi_id == "exception_volume":
        items = items_in(facts, query, "created")
        items = items[(items["kind"] == "order_risk").to_numpy()] if len(items) else items
        items = items.sort_values("created", ascending=False, kind="stable")
        met = np.full(len(items), -1)
        extra: list[dict[str, Any]] = [{} for _ in range(len(items))]
    else:
        items = items_in(facts, query, "decided")
        statuses = DECIDED if kpi_id == "manual_override_rate" else (*DECIDED, "expired")
        if len(items):
            items = items[items["status"].isin(statuses).to_numpy()]
        items = items.sort_values("decided", ascending=False, kind="stable")
        if kpi_id == "manual_override_rate":
            labels = override_outcomes(facts, items) if len(items) else np.array([])
            met = (items["status"] != "overridden").to_numpy().astype(int)
            extra = [{"override_outcome": str(x) or None} for x in labels]
        else:
            hours, sla, within = turnaround_hours(items)
            met = within.astype(int)
            extra = [
                {"turnaround_hours": float(h), "sla_hours": float(s)}
                for h, s in zip(hours, sla, strict=True)
            ]

    def build(page: np.ndarray) -> list[dict[str, Any]]:
        out = []
        for k in page:
            record = item_record(facts, items.iloc[int(k)])
            out.append({**record, **extra[k], "met": None if met[k] < 0 else bool(met[k])})
        return out

    return _page("queue_item", met, outcome, limit, offset, build)


def _stock_day_rows(facts, kpi_id, query, outcome, limit, offset) -> Page:
    stock, period = facts.stock, query.period
    if set(query.filters) - set(STOCK_SLICES) or not stock.n_days:
        return Page("stock_day", 0, [])
    series = np.flatnonzero(series_mask(facts, query) & stock.carried & stock.active)
    cols = day_columns(facts, period.start, period.end)
    chosen = stock.observed[series, cols]
    if outcome != "all":
        out = stock.available[series, cols] <= 0
        chosen &= out if outcome == "missed" else ~out
    # Newest day first, series in order within a day: only the page's days are expanded.
    per_day = chosen.sum(axis=0)
    picked: list[tuple[int, int]] = []
    skip = offset
    for col in range(chosen.shape[1] - 1, -1, -1):
        if len(picked) >= limit:
            break
        if per_day[col] <= skip:
            skip -= int(per_day[col])
            continue
        members = series[np.flatnonzero(chosen[:, col])][skip : skip + limit - len(picked)]
        picked.extend((int(s), cols.start + col) for s in members)
        skip = 0
    total = int(per_day.sum())
    rows_ = [
        {
            "item_id": str(stock.item_ids[s]),
            "location_id": str(stock.location_ids[s]),
            "category": facts.dims.label("category", int(stock.category[s])),
            "date": _date(stock.day0 + c),
            "on_hand": float(stock.on_hand[s, c]),
            "available": float(stock.available[s, c]),
            "met": bool(stock.available[s, c] > 0),
        }
        for s, c in picked
    ]
    return Page("stock_day", total, rows_)


def _item_location_rows(facts, kpi_id, query, outcome, limit, offset) -> Page:
    stock, period = facts.stock, query.period
    if set(query.filters) - set(STOCK_SLICES) or not stock.n_days:
        return Page("item_location", 0, [])
    cols = day_columns(facts, period.start, period.end)
    # As on the tiles: turns over the period's snapshots, cover at the latest snapshot up to
    # the period's end (a period past the data reads the last one, one before it has none).
    seen_before = np.flatnonzero(stock.seen_days[: max(period.end - stock.day0 + 1, 0)])
    if not len(seen_before) or (kpi_id == "inventory_turns" and cols.stop <= cols.start):
        return Page("item_location", 0, [])
    snap = int(seen_before[-1])
    series = np.flatnonzero(series_mask(facts, query) & np.isfinite(stock.unit_cost))
    cost = stock.unit_cost[series]
    seen_days = max(int(stock.seen_days[cols].sum()), 1)
    avg_value = (stock.on_hand[series, cols].astype(float).sum(axis=1) * cost) / seen_days
    available_value = stock.available[series, snap].astype(float) * cost
    goods = _goods_by_series(facts, query, series, cols, stock.day0 + snap)
    turns = np.where(
        avg_value > 0, goods[0] / np.maximum(avg_value, 1e-12) * 365 / seen_days, np.nan
    )
    daily = goods[1] / COVER_WINDOW_DAYS
    cover = np.where(daily > 0, available_value / np.maximum(daily, 1e-12), np.nan)
    target = definition(kpi_id).target
    figure = turns if kpi_id == "inventory_turns" else cover
    met = np.array([-1 if not np.isfinite(f) else int(bool(target.met(float(f)))) for f in figure])
    order = np.argsort(-np.nan_to_num(goods[0]), kind="stable")  # biggest movers first
    met = met[order]

    def build(page: np.ndarray) -> list[dict[str, Any]]:
        out = []
        for k in page:
            j = order[k]
            s = series[j]
            out.append(
                {
                    "item_id": str(stock.item_ids[s]),
                    "location_id": str(stock.location_ids[s]),
                    "category": facts.dims.label("category", int(stock.category[s])),
                    "unit_cost": float(cost[j]),
                    "cost_of_goods_shipped": float(goods[0][j]),
                    "average_inventory_value": float(avg_value[j]),
                    "turns_per_year": _num(turns[j]),
                    "available_value": float(available_value[j]),
                    "days_of_cover": _num(cover[j]),
                    "met": None if met[k] < 0 else bool(met[k]),
                }
            )
        return out

    return _page("item_location", met, outcome, limit, offset, build)


def _goods_by_series(facts, query, series, cols, snap_day) -> tuple[np.ndarray, np.ndarray]:
    """Per series: cost of goods shipped over ``cols``, and over the cover window."""
    lines, stock = facts.lines, facts.stock
    at = line_series(facts)
    s = pd.Index(series).get_indexer(at)
    shipped = lines.fulfilled & (np.nan_to_num(lines.shipped) > 0) & (s >= 0)
    day = np.where(np.isnan(lines.ship_day), lines.due_day, lines.ship_day)
    value = np.nan_to_num(lines.shipped) * np.nan_to_num(lines.unit_cost)
    first, last = stock.day0 + cols.start, stock.day0 + cols.stop - 1
    in_cols = shipped & (day >= first) & (day <= last)
    window = shipped & (day > snap_day - COVER_WINDOW_DAYS) & (day <= snap_day)
    n = len(series)
    return (
        np.bincount(s[in_cols], weights=value[in_cols], minlength=n),
        np.bincount(s[window], weights=value[window], minlength=n),
    )


DRILLS: dict[str, Callable[..., Page]] = {
    "backorder_aging": _backorder_rows,
    "exception_volume": _queue_rows,
    "manual_override_rate": _queue_rows,
    "approval_turnaround": _queue_rows,
    "stockout_frequency": _stock_day_rows,
    "inventory_turns": _item_location_rows,
    "days_of_cover": _item_location_rows,
}
