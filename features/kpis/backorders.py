"""Backorder aging: a snapshot of the open lines past their promise, not a sum over days.

A line is a backorder from the day after its promised date until it ships in full or is
closed (``[start, end)``); its age on a day is the days past the promise. Few lines are
ever backorders, so each snapshot scans only those.
"""

from __future__ import annotations

import numpy as np

from features.kpis.base import Result, slice_mask
from features.kpis.lines import LineFacts
from features.kpis.query import Query, day_date

AGE_BUCKETS = (("0_7_days", 1, 7), ("8_14_days", 8, 14), ("15_30_days", 15, 30))
OVER_30 = "over_30_days"
DIMS = ("location", "segment", "category", "carrier")


def backorder_intervals(lines: LineFacts) -> tuple[np.ndarray, np.ndarray]:
    """Per line, the days ``[start, end)`` on which it is a backorder; ``end`` is the day
    it shipped in full or was closed short, inf while it stays open."""
    return lines.cached("backorder_intervals", lambda: _intervals(lines))


def _intervals(lines: LineFacts) -> tuple[np.ndarray, np.ndarray]:
    start = lines.promised_day + 1
    shipped_on = np.where(np.isnan(lines.ship_day), lines.delivered_day, lines.ship_day)
    in_full = lines.fulfilled & (lines.shipped >= lines.qty)
    closed_short = lines.fulfilled & (lines.shipped < lines.qty) & ~lines.open_rest
    end = np.full(len(lines), np.inf)
    end[in_full] = np.where(np.isnan(shipped_on), start, shipped_on)[in_full]
    # A cancelled line (or one closed short with no date) is taken as closed by its promise.
    closed_on = np.where((lines.shipped > 0) & ~np.isnan(shipped_on), shipped_on, start)
    end[closed_short] = closed_on[closed_short]
    return start, end


def candidates(lines: LineFacts, query: Query) -> np.ndarray:
    """Lines that are a backorder on some day, in the query's slice."""
    start, end = backorder_intervals(lines)
    ever = lines.cached("backorder_candidates", lambda: np.flatnonzero(start < end))
    if not query.filters:
        return ever
    codes = {d: getattr(lines, d)[ever] for d in DIMS}
    return ever[slice_mask(codes, query, len(ever))]


def backorders_at(lines: LineFacts, rows: np.ndarray, day: float) -> tuple[np.ndarray, np.ndarray]:
    """Of ``rows``, the lines backordered on ``day`` and their days past due."""
    start, end = backorder_intervals(lines)
    active = rows[(start[rows] <= day) & (day < end[rows])]
    return active, day - lines.promised_day[active]


def open_units(lines: LineFacts, rows: np.ndarray, day: float) -> np.ndarray:
    """Ordered minus shipped by ``day``."""
    ship_day = np.nan_to_num(lines.ship_day[rows], nan=np.inf)
    shipped = np.nan_to_num(lines.shipped[rows])
    shipped_by = np.where(lines.fulfilled[rows] & (ship_day <= day), shipped, 0.0)
    return np.maximum(lines.qty[rows] - shipped_by, 0.0)


def age_bucket(age: np.ndarray) -> np.ndarray:
    names = np.array([b[0] for b in AGE_BUCKETS] + [OVER_30], dtype=object)
    return names[np.searchsorted([7, 14, 30], age, side="left")]


def backorder_aging(lines: LineFacts, query: Query) -> Result:
    period = query.period
    rows = candidates(lines, query)
    trend = [
        float(len(backorders_at(lines, rows, d)[0])) if d <= lines.horizon else None
        for d in period.edges[1:] - 1
    ]
    snapshot = min(period.end, lines.horizon)
    if snapshot < period.start:
        return Result(None, trend=trend, note="the period starts after the last day of data")
    active, age = backorders_at(lines, rows, snapshot)
    units = open_units(lines, active, snapshot)
    bucket = age_bucket(age)
    ages = [
        {
            "key": name,
            "lines": int((bucket == name).sum()),
            "units": float(units[bucket == name].sum()),
        }
        for name in (*(b[0] for b in AGE_BUCKETS), OVER_30)
    ]
    note = None
    if period.end > lines.horizon:
        note = f"snapshot at the last day of data, {day_date(snapshot)}"
    return Result(
        float(len(active)),
        components={a["key"]: float(a["lines"]) for a in ages} | {"units": float(units.sum())},
        breakdown={"age": ages},
        trend=trend,
        note=note,
    )
