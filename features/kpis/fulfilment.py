"""Fulfilment KPIs over order lines: perfect order, fill rates, promise accuracy.

Each ratio KPI is Σ good / Σ counted over the lines due in the period and slice, read
from the per-line weight matrix (:mod:`features.kpis.weights`); order KPIs aggregate the
in-slice lines of each order first. One pass over the period's rows gives every total and
every trend bucket at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from features.kpis.base import Result, no_data, ratio, ratios, slice_mask
from features.kpis.lines import LineFacts
from features.kpis.query import Query
from features.kpis.weights import C, weights

DIMS = ("location", "segment", "category", "carrier")
ORDER_PARTS = ("fulfilled", "short", "short_unsubstituted", "perfect_known", "perfect_bad")


class LineView:
    """The lines due in the query's period and slice, and their weight sums per trend
    bucket (``sums[c, k]``: column c, bucket k)."""

    def __init__(self, lines: LineFacts, query: Query) -> None:
        self.lines, self.query = lines, query
        due = np.nan_to_num(lines.due_day, nan=-1e9)
        lo = int(np.searchsorted(due, query.period.start, side="left"))
        hi = int(np.searchsorted(due, query.period.end + 1, side="left"))
        self.span = slice(lo, hi)
        self.rows: np.ndarray | slice = self.span  # the lines counted, in due-day order
        self.mask: np.ndarray | None = None
        if query.filters:
            codes = {d: getattr(lines, d)[lo:hi] for d in DIMS}
            self.mask = slice_mask(codes, query, hi - lo)
            self.rows = lo + np.flatnonzero(self.mask)
        self.block = weights(lines)[:, self.rows]
        self.due = due[self.rows]
        self.offsets = np.searchsorted(self.due, query.period.edges, side="left")
        self.sums = _run_sums(self.block, self.offsets)

    def total(self, column: str) -> float:
        return float(self.sums[C[column]].sum())

    def ratio(self, good: str, counted: str) -> Result:
        return _result(self.sums[C[good]], self.sums[C[counted]])

    def order_ratio(self, known: str, bad: str) -> Result:
        """Orders known when one in-slice line is known bad or all of them are known; good
        when known and no line is bad."""
        n, parts, offsets = self.orders()
        k, b = parts[ORDER_PARTS.index(known)], parts[ORDER_PARTS.index(bad)]
        is_known = (b > 0) | (k == n)
        good = is_known & (b == 0)
        sums = _run_sums(np.vstack([good, is_known]).astype(float), offsets)
        return _result(sums[0], sums[1])

    def orders(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per order of the span: in-slice lines, summed ORDER_PARTS, bucket offsets."""
        if "_order_sums" not in self.__dict__:
            order = self.lines.order[self.rows]
            if not len(order):
                empty = np.zeros(0)
                offsets = np.zeros(len(self.query.period.edges), dtype=np.int64)
                self._order_sums = (empty, np.zeros((len(ORDER_PARTS), 0)), offsets)
            else:
                starts = np.flatnonzero(np.r_[True, order[1:] != order[:-1]])
                parts = np.add.reduceat(self.block[[C[p] for p in ORDER_PARTS]], starts, axis=1)
                n = np.diff(np.r_[starts, len(order)]).astype(float)
                offsets = np.searchsorted(self.due[starts], self.query.period.edges, side="left")
                self._order_sums = (n, parts, offsets)
        return self._order_sums


def _result(num: np.ndarray, den: np.ndarray) -> Result:
    return Result(
        ratio(num.sum(), den.sum()), float(num.sum()), float(den.sum()), trend=ratios(num, den)
    )


def _run_sums(matrix: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Row sums of consecutive column runs ``[offsets[k], offsets[k+1])`` (empty runs: 0)."""
    out = np.zeros((matrix.shape[0], len(offsets) - 1))
    nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
    if len(nonempty):
        out[:, nonempty] = np.add.reduceat(matrix, offsets[nonempty], axis=1)[:, : len(nonempty)]
    return out


# --- the KPIs ---------------------------------------------------------------------------

NO_LINK = (
    "substitution offers cannot be linked to lines (no substitutions table, or no order_id "
    "in it): the value is the first-time fill rate"
)
NO_DATES = "fulfillments has neither delivered_date nor ship_date: lateness cannot be observed"


def _substitution_note(result: Result, v: LineView) -> Result:
    if not v.lines.subs_linkable:
        result.note = NO_LINK
    return result


def perfect_order_product(v: LineView) -> Result:
    if not v.lines.has_lateness:
        return no_data(v.query.period, NO_DATES)
    parts = {
        "on_time": v.ratio("on_time", "on_time_known"),
        "in_full": v.ratio("in_full", "fulfilled"),
    }
    for name, good, known in (
        ("undamaged", "undamaged", "damage_known"),
        ("documents", "documents_ok", "documents_known"),
    ):
        if v.total(known) > 0:
            parts[name] = v.ratio(good, known)
    values = [r.value for r in parts.values()]
    value = float(np.prod(values)) if all(x is not None for x in values) else None
    trend = [
        float(np.prod(points)) if all(p is not None for p in points) else None
        for points in zip(*(r.trend for r in parts.values()), strict=True)
    ]
    missing = sorted({"undamaged", "documents"} - set(parts))
    return Result(
        value,
        components={f"{k}_rate": r.value for k, r in parts.items()},
        trend=trend,
        note=f"no data for {', '.join(missing)}: left out of the product" if missing else None,
    )


def _needs_dates(compute: Callable[[LineView], Result]) -> Callable[[LineView], Result]:
    def checked(v: LineView) -> Result:
        return compute(v) if v.lines.has_lateness else no_data(v.query.period, NO_DATES)

    return checked


FULFILMENT: dict[str, Callable[[LineView], Result]] = {
    "perfect_order_rate": _needs_dates(lambda v: v.order_ratio("perfect_known", "perfect_bad")),
    "perfect_order_line": _needs_dates(lambda v: v.ratio("perfect", "perfect_known")),
    "perfect_order_product": perfect_order_product,
    "fill_rate_line": lambda v: v.ratio("in_full", "fulfilled"),
    "fill_rate_order": lambda v: v.order_ratio("fulfilled", "short"),
    "fill_rate_unit": lambda v: v.ratio("units", "qty"),
    "fill_rate_line_after_substitution": lambda v: _substitution_note(
        v.ratio("filled_after_substitution", "fulfilled"), v
    ),
    "fill_rate_order_after_substitution": lambda v: _substitution_note(
        v.order_ratio("fulfilled", "short_unsubstituted"), v
    ),
    "fill_rate_unit_after_substitution": lambda v: _substitution_note(
        v.ratio("units_after_substitution", "qty"), v
    ),
    "promise_accuracy": _needs_dates(lambda v: v.ratio("on_time", "on_time_known")),
}
