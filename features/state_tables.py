"""Keyed accumulators of the live order-risk state: running sums and per-day totals.

:class:`~features.risk_state.RiskState` keeps its statistics as plain dictionaries of
small lists (one per key: a lane, a customer, an item × location) so that a request
reads them without pandas; :class:`DayTotals` adds memoised window sums over days.
The ``table_*`` helpers build the same dictionaries from a frame in one groupby.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd


def table_key(*parts: Any) -> tuple | None:
    """A dictionary key, or None when a part is missing (missing keys match nothing)."""
    key = []
    for p in parts:  # a loop, not generators: this runs several times per order line
        if p is None or (isinstance(p, float) and math.isnan(p)):
            return None
        key.append(p if type(p) is str else str(p))
    return tuple(key)


def add_to(table: dict, key: tuple | None, values: Sequence[float]) -> None:
    if key is None:
        return
    acc = table.get(key)
    if acc is None:
        table[key] = list(values)
    else:
        for k, v in enumerate(values):
            acc[k] += v


def table_sums(
    frame: pd.DataFrame, keys: list[str], columns: list[str]
) -> dict[tuple, list[float]]:
    """Σ of ``columns`` per key tuple (``"zero"`` yields a 0 slot), as state lists."""
    frame = frame.assign(zero=0.0)
    if frame.empty:
        return {}
    grouped = frame.groupby(keys, sort=False)[list(dict.fromkeys(columns))].sum()
    values = grouped[columns].to_numpy(dtype=float).tolist()
    index = grouped.index.tolist()
    if len(keys) == 1:
        index = [(k,) for k in index]
    return {tuple(str(p) for p in k): v for k, v in zip(index, values, strict=True)}


def merge_tables(table: dict[tuple, list[float]], other: dict[tuple, list[float]]) -> None:
    for key, values in other.items():
        add_to(table, key, values)


def day_totals(
    frame: pd.DataFrame, keys: list[str], column: str, day: str = "day"
) -> dict[tuple, DayTotals]:
    """Per key, the totals of ``column`` per ``day``."""
    out: dict[tuple, DayTotals] = {}
    if frame.empty:
        return out
    grouped = frame.groupby([*keys, day], sort=False)[column].sum()
    for key, value in grouped.items():
        *parts, d = key
        days = out.get(k := tuple(str(p) for p in parts))
        if days is None:
            days = out[k] = DayTotals()
        days.add(int(d), float(value))
    return out


class DayTotals:
    """Values per day of one key, with memoised sums over past windows.

    A request sums 3 to 91 days per line; days before today rarely change, so their
    window sums are kept until a past day is written or the clock moves on.
    """

    __slots__ = ("memo", "memo_end", "values")

    def __init__(self) -> None:
        self.values: dict[int, float] = {}
        self.memo: dict[tuple[int, int], float] = {}
        self.memo_end = -(10**9)

    def add(self, day: int, value: float) -> None:
        self.values[day] = self.values.get(day, 0.0) + value
        if day < self.memo_end:
            self.memo.clear()
            self.memo_end = -(10**9)

    def get(self, day: int) -> float:
        return self.values.get(day, 0.0)

    def total(self, start: int, end: int) -> float:
        """Σ over ``start <= day < end``."""
        hit = self.memo.get((start, end))
        if hit is None:
            values = self.values
            hit = sum(values.get(d, 0.0) for d in range(start, end)) if values else 0.0
            self.memo[(start, end)] = hit
            self.memo_end = max(self.memo_end, end)
        return hit

    def prune(self, oldest: int) -> None:
        for d in [d for d in self.values if d < oldest]:
            del self.values[d]
        self.memo.clear()
        self.memo_end = -(10**9)


NO_DAYS = DayTotals()
