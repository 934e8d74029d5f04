"""Per-day partial sums of the fulfilment weights, per slice value: what a dashboard adds up.

A fulfilment KPI over a period is Σ one weight column / Σ another over the lines due in it
(:mod:`features.kpis.weights`); order KPIs first count orders known and good. Summing
~400 k lines per request is what made a dashboard after each new outcome slow, so the
sums are kept per due day and per *group* — all lines, and the lines of each single
slice value (``location=DAL``, ``category=pumps``, …) — in one array
``sums[group, part, day]``. A query with at most one slice reads its group's days and adds
them per trend bucket; a query with two or more slices sums its lines the same way on
the fly (:func:`scan_days`).

When outcomes change a few lines, only the days those lines are due on are summed again
(:func:`patched_partials`), from all the lines of those days. Every sum is a ``bincount``
over lines in row order, so a day's partial is the same float whether it was built with
all days, patched, or scanned for one query: the incremental dashboard is bit for bit the
from-scratch one (tested), not merely close to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.kpis.lines import LineFacts
from features.kpis.weights import COLUMNS, C, weights

DIMS = ("location", "segment", "category", "carrier")
ORDER_PARTS = ("fulfilled", "short", "short_unsubstituted", "perfect_known", "perfect_bad")
ORDER_KPIS = (("perfect_known", "perfect_bad"), ("fulfilled", "short"),
              ("fulfilled", "short_unsubstituted"))  # fmt: skip
# Per (known, bad) pair: orders known, orders known and good.
ORDER_COLUMNS = tuple(f"orders_{w}:{k}:{b}" for k, b in ORDER_KPIS for w in ("known", "good"))
PARTS = (*COLUMNS, *ORDER_COLUMNS)
P = {name: k for k, name in enumerate(PARTS)}
MAX_CELLS = 50_000_000  # groups × parts × days: beyond that, slices are summed per query


@dataclass
class DayPartials:
    day0: int  # due day of column 0
    sums: np.ndarray  # [group, part, day] float64
    offsets: dict[str, int]  # dimension → group of its code 0 (group 0: all lines)
    sizes: dict[str, int]  # dimension → number of codes

    @property
    def n_days(self) -> int:
        return self.sums.shape[2]

    def group(self, filters: dict[str, int]) -> int | None:
        """The group holding a query's slice, None for two or more slices."""
        if not filters:
            return 0
        if len(filters) > 1:
            return None
        (dim, code), = filters.items()  # fmt: skip
        if dim not in self.offsets or not 0 <= code < self.sizes[dim]:
            return None
        return self.offsets[dim] + code


def day_partials(lines: LineFacts) -> DayPartials:
    """The partial sums of every due day (cached on the facts)."""
    return lines.cached("day_partials", lambda: _build(lines))


def _due_span(lines: LineFacts) -> tuple[int, int, np.ndarray]:
    """(first due day, number of days, rows with a due day): lines are in due-day order."""
    due = lines.due_day
    finite = np.flatnonzero(np.isfinite(due))
    if not len(finite):
        return 0, 0, finite
    first, last = int(due[finite[0]]), int(due[finite[-1]])
    return first, last - first + 1, finite


def _layout(lines: LineFacts) -> tuple[dict[str, int], dict[str, int]]:
    sizes = {d: int(max(getattr(lines, d).max(initial=-1), -1) + 1) for d in DIMS}
    offsets, at = {}, 1
    for dim in DIMS:
        offsets[dim], at = at, at + sizes[dim]
    return offsets, sizes


def _build(lines: LineFacts) -> DayPartials:
    day0, n_days, rows = _due_span(lines)
    offsets, sizes = _layout(lines)
    n_groups = 1 + sum(sizes.values())
    if n_groups * len(PARTS) * max(n_days, 1) > MAX_CELLS:  # too many slice values: all only
        offsets, sizes, n_groups = {}, {}, 1
    sums = _sums(lines, rows, lines.due_day[rows].astype(np.int64) - day0, n_days,
                 _groups(lines, rows, offsets), n_groups)  # fmt: skip
    return DayPartials(day0, sums, offsets, sizes)


def _groups(lines: LineFacts, rows: np.ndarray, offsets: dict[str, int]) -> list[np.ndarray]:
    """Per membership (all, then each dimension in the layout): each row's group, -1 none."""
    out = [np.zeros(len(rows), dtype=np.int64)]
    for dim, offset in offsets.items():
        code = getattr(lines, dim)[rows]
        out.append(np.where(code >= 0, offset + code, -1))
    return out


def _sums(
    lines: LineFacts,
    rows: np.ndarray,
    day: np.ndarray,
    n_days: int,
    groups: list[np.ndarray],
    n_groups: int,
) -> np.ndarray:
    """``[n_groups, parts, n_days]`` sums over ``rows`` (ascending) whose local due day is
    ``day``; ``groups``: one group array per membership, aligned with ``rows``."""
    out = np.zeros((n_groups, len(PARTS), n_days))
    if not len(rows) or not n_days:
        return out
    w = weights(lines)[:, rows]
    member = np.concatenate([g >= 0 for g in groups])
    at = np.tile(np.arange(len(rows)), len(groups))[member]
    group = np.concatenate(groups)[member]
    cell = group * n_days + day[at]
    size = n_groups * n_days
    for c in range(len(COLUMNS)):
        out[:, c, :] = np.bincount(cell, weights=w[c, at], minlength=size).reshape(n_groups, -1)
    _order_sums(out, lines.order[rows][at], group, day[at], w[:, at], n_days)
    return out


def _order_sums(
    out: np.ndarray,
    order: np.ndarray,
    group: np.ndarray,
    day: np.ndarray,
    w: np.ndarray,
    n_days: int,
) -> None:
    """Orders known / good per group and day: an order (its lines in the group) is known
    when one line is known bad or all are known, good when known and none is bad."""
    n_groups = out.shape[0]
    key = order * n_groups + group
    sub, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    n = np.bincount(inverse, minlength=len(sub)).astype(float)
    cell = group[first] * n_days + day[first]
    size = n_groups * n_days
    for k, (known, bad) in enumerate(ORDER_KPIS):
        known_lines = np.bincount(inverse, weights=w[C[known]], minlength=len(sub))
        bad_lines = np.bincount(inverse, weights=w[C[bad]], minlength=len(sub))
        is_known = (bad_lines > 0) | (known_lines == n)
        good = is_known & (bad_lines == 0)
        for j, flags in enumerate((is_known, good)):
            counts = np.bincount(cell, weights=flags.astype(float), minlength=size)
            out[:, len(COLUMNS) + 2 * k + j, :] = counts.reshape(n_groups, -1)


def patched_partials(old: LineFacts, new: LineFacts, rows: np.ndarray) -> None:
    """Give ``new`` (``old`` with ``rows`` changed, same order) its partial sums: the days
    of the changed rows are summed again over all their lines, the others are kept."""
    cached = old.__dict__.get("_cached_day_partials")
    if cached is None or len(old) != len(new):
        return
    due = new.due_day[rows]
    days = np.unique(due[np.isfinite(due)]).astype(np.int64)
    partials = DayPartials(cached.day0, cached.sums.copy(), cached.offsets, cached.sizes)
    if len(days):
        ordered = np.nan_to_num(new.due_day, nan=-1e9)  # lines without a due day come first
        lo = np.searchsorted(ordered, days, side="left")
        hi = np.searchsorted(ordered, days + 1, side="left")
        span = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
        local = np.searchsorted(days, new.due_day[span].astype(np.int64))
        n_groups = partials.sums.shape[0]
        sums = _sums(new, span, local, len(days), _groups(new, span, partials.offsets), n_groups)
        partials.sums[:, :, days - cached.day0] = sums
    new.__dict__["_cached_day_partials"] = partials


def scan_days(lines: LineFacts, rows: np.ndarray, first: int, n_days: int) -> np.ndarray:
    """``[parts, n_days]`` sums of ``rows`` (ascending, due from day ``first``) computed
    the same way as a group of :class:`DayPartials`: for queries with several slices."""
    day = lines.due_day[rows].astype(np.int64) - first
    groups = [np.zeros(len(rows), dtype=np.int64)]
    return _sums(lines, rows, day, n_days, groups, 1)[0]
