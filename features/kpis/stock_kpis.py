"""Inventory KPIs over the item × location × day grid: stockouts, turns, days of cover.

Turns and cover weigh items by cost so that a screw and a pump add up; the cost of goods
shipped comes from the same order lines as the fulfilment KPIs (live outcomes included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass
class GoodsDays:
    """Cost of goods shipped per day (``sums[group, day]``, day ``day0`` first) from the
    lines with a cost whose item × location has stock snapshots: group 0 all of them, then
    one per location and per category code (the stock slices)."""

    day0: int
    sums: np.ndarray
    offsets: dict[str, int]
    sizes: dict[str, int]


def _goods_lines(facts: KpiFacts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, their shipping day, their cost of goods) of the lines that count."""
    lines = facts.lines
    costed = lines.cached(  # lines with a cost and a stock series: no outcome changes that
        f"stock_series_costed_{len(facts.stock.item_ids)}",
        lambda: np.flatnonzero(np.isfinite(lines.unit_cost) & (line_series(facts) >= 0)),
    )
    shipped = lines.shipped[costed]
    day = lines.ship_day[costed]
    day = np.where(np.isnan(day), lines.due_day[costed], day)
    keep = lines.fulfilled[costed] & (np.nan_to_num(shipped) > 0) & np.isfinite(day)
    rows = costed[keep]
    return rows, day[keep].astype(np.int64), shipped[keep] * lines.unit_cost[rows]


def goods_days(facts: KpiFacts) -> GoodsDays:
    """Summed once per facts: a ``bincount`` over the lines per slice family, no sort."""
    lines = facts.lines

    def make() -> GoodsDays:
        rows, day, goods = _goods_lines(facts)
        day0 = int(day.min()) if len(day) else 0
        n_days = int(day.max()) - day0 + 1 if len(day) else 0
        local = day - day0
        sizes = {d: int(max(getattr(lines, d).max(initial=-1), -1) + 1) for d in STOCK_SLICES}
        parts = [np.bincount(local, weights=goods, minlength=n_days)[None, :]]
        for dim in STOCK_SLICES:
            code = getattr(lines, dim)[rows]
            known = code >= 0
            cells = np.bincount(
                code[known] * n_days + local[known],
                weights=goods[known],
                minlength=sizes[dim] * n_days,
            )
            parts.append(cells.reshape(sizes[dim], n_days))
        starts = np.cumsum([1, *sizes.values()])[:-1].tolist()
        offsets = dict(zip(STOCK_SLICES, starts, strict=True))
        return GoodsDays(day0, np.vstack(parts), offsets, sizes)

    return lines.cached(f"goods_days_{len(facts.stock.item_ids)}", make)


def cogs_by_day(facts: KpiFacts, query: Query) -> tuple[np.ndarray, int]:
    """(cost of goods shipped per day, day of index 0) in the query's stock slice: a
    group of :func:`goods_days`, or for two slices its lines summed the same way."""
    cube = goods_days(facts)
    filters = dict(query.filters)
    if not filters:
        return cube.sums[0], cube.day0
    if len(filters) == 1:
        (dim, code), = filters.items()  # fmt: skip
        if 0 <= code < cube.sizes.get(dim, 0):
            return cube.sums[cube.offsets[dim] + code], cube.day0
        return np.zeros(cube.sums.shape[1]), cube.day0
    rows, day, goods = _goods_lines(facts)
    lines = facts.lines
    codes = {d: getattr(lines, d)[rows] for d in STOCK_SLICES}
    keep = slice_mask(codes, query, len(rows))
    n_days = cube.sums.shape[1]
    return np.bincount(day[keep] - cube.day0, weights=goods[keep], minlength=n_days), cube.day0


def _window(goods: tuple[np.ndarray, int], first: float, stop: float) -> np.ndarray:
    """Goods of days ``[first, stop)`` (days outside the lines count nothing)."""
    per_day, day0 = goods
    lo = int(np.clip(first - day0, 0, len(per_day)))
    hi = int(np.clip(stop - day0, lo, len(per_day)))
    return per_day[lo:hi]


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
    cogs = cogs_by_day(facts, query)
    # Goods and stock over the same days: those the inventory snapshots cover.
    goods_per_day = _window(cogs, days[0], days[-1] + 1)
    lo = max(days[0], cogs[1])
    goods_day = np.arange(lo, lo + len(goods_per_day), dtype=float)

    def turns(goods: float, value_sum: float, n_days: float) -> float | None:
        if n_days <= 0 or value_sum <= 0:
            return None
        return float(goods / (value_sum / n_days) * 365.0 / n_days)

    b_goods = bucket_sums(goods_per_day, goods_day, period)
    b_value = bucket_sums(np.where(seen, value, 0.0), days, period)
    b_days = bucket_sums(seen.astype(float), days, period)
    goods, total, n_days = float(b_goods.sum()), float(value[seen].sum()), float(seen.sum())
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
    facts: KpiFacts, query: Query, day: int, cogs: tuple[np.ndarray, int]
) -> tuple[float | None, float, float]:
    """(days of cover, available value, daily cost of goods) at the latest snapshot ≤ day."""
    stock = facts.stock
    seen_days = np.flatnonzero(stock.seen_days[: max(day - stock.day0 + 1, 0)])
    if not len(seen_days):
        return None, 0.0, 0.0
    col = int(seen_days[-1])
    value, _ = _inventory_value(facts, query, slice(col, col + 1), "available")
    snap = stock.day0 + col
    daily = float(_window(cogs, snap - COVER_WINDOW_DAYS + 1, snap + 1).sum()) / COVER_WINDOW_DAYS
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
