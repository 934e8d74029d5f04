"""Fulfilment KPIs over order lines: perfect order, fill rates, promise accuracy.

Each ratio KPI is Σ good / Σ counted over the lines due in the period and slice, and each
order KPI counts orders known and good (the in-slice lines of each order). Both come from
per-day partial sums (:mod:`features.kpis.partials`): a query with at most one slice adds
up its group's days, one with several slices sums its lines per day first; either way
the days are then added per trend bucket.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np

from features.kpis.base import Result, no_data, ratio, ratios, slice_mask
from features.kpis.lines import LineFacts
from features.kpis.partials import DIMS, ORDER_PARTS, P, day_partials, scan_days
from features.kpis.query import Query
from features.kpis.weights import C, weights

__all__ = ["DIMS", "FULFILMENT", "ORDER_PARTS", "LineView"]


class LineView:
    """The lines due in the query's period and slice: their sums per trend bucket
    (``sums[p, k]``: part p of :data:`features.kpis.partials.PARTS`, bucket k) and, for
    the drill-down, the rows themselves."""

    def __init__(self, lines: LineFacts, query: Query, scan: bool = False) -> None:
        self.lines, self.query = lines, query
        partials = day_partials(lines)
        period = query.period
        # The days the partials cover, clipped to the period; buckets outside sum to 0.
        first = max(period.start, partials.day0)
        stop = min(period.end + 1, partials.day0 + partials.n_days)
        n_days = max(stop - first, 0)
        group = None if scan else partials.group(dict(query.filters))
        if group is not None:
            at = first - partials.day0
            days = np.ascontiguousarray(partials.sums[group, :, at : at + n_days])
        else:
            days = scan_days(lines, self._period_rows(first, stop), first, n_days)
        offsets = np.clip(period.edges, first, max(stop, first)) - first
        self.sums = _run_sums(days, offsets)

    def _period_rows(self, first: int, stop: int) -> np.ndarray:
        due = np.nan_to_num(self.lines.due_day, nan=-1e9)
        lo, hi = np.searchsorted(due, [first, stop], side="left")
        if not self.query.filters:
            return np.arange(lo, hi)
        codes = {d: getattr(self.lines, d)[lo:hi] for d in DIMS}
        return lo + np.flatnonzero(slice_mask(codes, self.query, hi - lo))

    def total(self, column: str) -> float:
        return float(self.sums[P[column]].sum())

    def ratio(self, good: str, counted: str) -> Result:
        return _result(self.sums[P[good]], self.sums[P[counted]])

    def order_ratio(self, known: str, bad: str) -> Result:
        """Orders known when one in-slice line is known bad or all of them are known; good
        when known and no line is bad."""
        return _result(
            self.sums[P[f"orders_good:{known}:{bad}"]], self.sums[P[f"orders_known:{known}:{bad}"]]
        )

    # --- the rows, for the drill-down -----------------------------------------------

    @cached_property
    def rows(self) -> np.ndarray:
        """The lines counted, in due-day order."""
        period = self.query.period
        return self._period_rows(period.start, period.end + 1)

    @cached_property
    def block(self) -> np.ndarray:
        return weights(self.lines)[:, self.rows]

    def orders(self) -> tuple[np.ndarray, np.ndarray]:
        """Per order of the rows: in-slice lines and summed ORDER_PARTS."""
        order = self.lines.order[self.rows]
        if not len(order):
            return np.zeros(0), np.zeros((len(ORDER_PARTS), 0))
        starts = np.flatnonzero(np.r_[True, order[1:] != order[:-1]])
        parts = np.add.reduceat(self.block[[C[p] for p in ORDER_PARTS]], starts, axis=1)
        return np.diff(np.r_[starts, len(order)]).astype(float), parts


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
