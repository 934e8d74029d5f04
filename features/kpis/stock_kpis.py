"""Inventory KPIs over the item × location × day grid: stockouts, turns, days of cover.

Turns and cover weigh items by cost so that a screw and a pump add up; the cost of goods
shipped comes from the same order lines as the fulfilment KPIs (live outcomes included).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.kpis.base import (
    KpiFacts,
    Result,
    bucket_sums,
    no_data,
    ratio,
    ratios,
    slice_mask,
)
from features.kpis.definitions import STOCK_SLICES
from features.kpis.query import Query, day_date

COVER_WINDOW_DAYS = 28


def series_mask(facts: KpiFacts, query: Query) -> np.ndarray:
    stock = facts.stock
    codes = {"location": stock.location, "category": stock.category}
    return slice_mask(codes, query, len(stock.item_ids))


def day_columns(facts: KpiFacts, first: int, last: int) -> slice:
    stock = facts.stock
    lo = max(first - stock.day0, 0)
    hi = min(last - stock.day0 + 1, stock.n_days)
    return slice(lo, max(lo, hi))


def stockout_frequency(facts: KpiFacts, query: Query) -> Result:
    stock, period = facts.stock, query.period
    rows = series_mask(facts, query) & stock.carried & stock.active
    cols = day_columns(facts, period.start, period.end)
    observed = stock.observed[rows, cols]
    out = observed & (stock.available[rows, cols] <= 0)
    days = np.arange(cols.start, cols.stop, dtype=float) + stock.day0
    per_day_out, per_day_seen = out.sum(axis=0).astype(float), observed.sum(axis=0).astype(float)
    n = bucket_sums(per_day_out, days, period)
    d = bucket_sums(per_day_seen, days, period)
    return Result(
        ratio(per_day_out.sum(), per_day_seen.sum()),
        float(per_day_out.sum()),
        float(per_day_seen.sum()),
        components={"series": float(rows.sum())},
        trend=ratios(n, d),
    )


def line_series(facts: KpiFacts) -> np.ndarray:
    """Per order line, its item × location series in the stock grid (-1: none)."""
    lines, stock = facts.lines, facts.stock

    def make() -> np.ndarray:
        width = len(facts.dims.labels["location"]) + 1
        item = pd.Index(lines.item_ids.astype(str)).get_indexer(stock.item_ids.astype(str))
        known = np.flatnonzero((item >= 0) & (stock.location >= 0))  # unique (item, location)
        keys = pd.Index(item[known] * width + stock.location[known])
        found = keys.get_indexer(lines.item * width + lines.location)
        return np.where((lines.location >= 0) & (found >= 0), known[np.maximum(found, 0)], -1)

    return lines.cached(f"stock_series_{len(stock.item_ids)}", make)


def cogs_by_day(facts: KpiFacts, query: Query) -> tuple[np.ndarray, np.ndarray]:
    """(cost of goods shipped, day) per line with a cost in the slice whose item × location
    has stock snapshots, in day order."""
    lines = facts.lines
    key = tuple(sorted(query.filters.items()))

    def make() -> tuple[np.ndarray, np.ndarray]:
        codes = {"location": lines.location, "category": lines.category}
        keep = slice_mask(codes, query, len(lines)) & np.isfinite(lines.unit_cost)
        keep &= lines.fulfilled & (np.nan_to_num(lines.shipped) > 0) & (line_series(facts) >= 0)
        day = np.where(np.isnan(lines.ship_day), lines.due_day, lines.ship_day)[keep]
        order = np.argsort(day, kind="stable")
        goods = np.nan_to_num(lines.shipped[keep]) * lines.unit_cost[keep]
        return goods[order], day[order]

    return lines.cached(f"cogs{key}", make)


def _inventory_value(
    facts: KpiFacts, query: Query, cols: slice, field: str
) -> tuple[np.ndarray, np.ndarray]:
    """(value at cost per day, days with a snapshot) over ``cols``."""
    stock = facts.stock
    rows = series_mask(facts, query) & np.isfinite(stock.unit_cost)
    grid = getattr(stock, field)[rows, cols].astype(float)
    value = (grid * stock.unit_cost[rows, None]).sum(axis=0)
    return value, stock.observed[rows, cols].any(axis=0)


def inventory_turns(facts: KpiFacts, query: Query) -> Result:
    stock, period = facts.stock, query.period
    cols = day_columns(facts, period.start, period.end)
    if cols.stop <= cols.start:
        return no_data(period, "no inventory snapshots in the period")
    value, seen = _inventory_value(facts, query, cols, "on_hand")
    days = np.arange(cols.start, cols.stop, dtype=float) + stock.day0
    cogs, cogs_day = cogs_by_day(facts, query)
    # Goods and stock over the same days: those the inventory snapshots cover.
    covered = (cogs_day >= days[0]) & (cogs_day < days[-1] + 1)

    def turns(goods: float, value_sum: float, n_days: float) -> float | None:
        if n_days <= 0 or value_sum <= 0:
            return None
        return float(goods / (value_sum / n_days) * 365.0 / n_days)

    b_goods = bucket_sums(cogs[covered], cogs_day[covered], period)
    b_value = bucket_sums(np.where(seen, value, 0.0), days, period)
    b_days = bucket_sums(seen.astype(float), days, period)
    goods, total, n_days = float(cogs[covered].sum()), float(value[seen].sum()), float(seen.sum())
    return Result(
        turns(goods, total, n_days),
        components={
            "cost_of_goods_shipped": goods,
            "average_inventory_value": total / n_days if n_days else None,
            "days": n_days,
        },
        trend=[turns(g, v, n) for g, v, n in zip(b_goods, b_value, b_days, strict=True)],
    )


def cover_at(
    facts: KpiFacts, query: Query, day: int, cogs: tuple[np.ndarray, np.ndarray]
) -> tuple[float | None, float, float]:
    """(days of cover, available value, daily cost of goods) at the latest snapshot ≤ day."""
    stock = facts.stock
    seen_days = np.flatnonzero(stock.seen_days[: max(day - stock.day0 + 1, 0)])
    if not len(seen_days):
        return None, 0.0, 0.0
    col = int(seen_days[-1])
    value, _ = _inventory_value(facts, query, slice(col, col + 1), "available")
    goods, goods_day = cogs
    snap = stock.day0 + col
    lo, hi = np.searchsorted(goods_day, [snap - COVER_WINDOW_DAYS + 1, snap + 1], side="left")
    daily = float(goods[lo:hi].sum()) / COVER_WINDOW_DAYS
    return (float(value[0]) / daily if daily > 0 else None), float(value[0]), daily


def days_of_cover(facts: KpiFacts, query: Query) -> Result:
    period = query.period
    cogs = cogs_by_day(facts, query)
    cover, value, daily = cover_at(facts, query, period.end, cogs)
    trend = [cover_at(facts, query, int(d), cogs)[0] for d in period.edges[1:] - 1]
    note = None
    last = facts.stock.last_day
    if np.isfinite(last) and period.end > last:
        note = f"snapshot at the last day with inventory, {day_date(last)}"
    return Result(
        cover,
        components={"available_value": value, "daily_cost_of_goods": daily},
        trend=trend,
        note=note,
    )


STOCK: dict[str, Callable[[KpiFacts, Query], Result]] = {
    "stockout_frequency": stockout_frequency,
    "inventory_turns": inventory_turns,
    "days_of_cover": days_of_cover,
}


def stock_kpi(kpi_id: str, facts: KpiFacts, query: Query) -> Result:
    if not len(facts.stock.item_ids) or not facts.stock.n_days:
        return no_data(query.period, "the inventory table is empty")
    other = sorted(set(query.filters) - set(STOCK_SLICES))
    if other:
        return no_data(
            query.period,
            f"stock has no {', '.join(other)}: this KPI slices by {', '.join(STOCK_SLICES)} only",
        )
    return STOCK[kpi_id](facts, query)
