"""What every KPI computation shares: the facts it reads, the result it returns, and
sums per trend bucket."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.kpis.dims import Dims
from features.kpis.lines import LineFacts
from features.kpis.query import Period, Query
from features.kpis.records import RecordFacts
from features.kpis.stock import StockFacts


@dataclass
class KpiFacts:
    """Everything the KPIs are computed from, at one moment (dataset + live + governance)."""

    dims: Dims
    lines: LineFacts
    stock: StockFacts
    records: RecordFacts
    has_records: bool = True  # False: no governance store was read


@dataclass
class Result:
    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    components: dict[str, float | None] = field(default_factory=dict)
    breakdown: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    trend: list[float | None] = field(default_factory=list)
    note: str | None = None


def no_data(period: Period, note: str, trend: bool = True) -> Result:
    return Result(None, trend=[None] * (len(period.edges) - 1) if trend else [], note=note)


def bucket_sums(values: np.ndarray, days: np.ndarray, period: Period) -> np.ndarray:
    """Σ values per trend bucket of ``period`` by each value's day (others ignored)."""
    edges = period.edges
    index = np.searchsorted(edges, np.floor(days), side="right") - 1
    keep = (index >= 0) & (index < len(edges) - 1) & np.isfinite(days)
    return np.bincount(index[keep], weights=values[keep], minlength=len(edges) - 1)


def ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def ratios(num: np.ndarray, den: np.ndarray) -> list[float | None]:
    return [ratio(n, d) for n, d in zip(num, den, strict=True)]


def in_period(days: np.ndarray, period: Period) -> np.ndarray:
    return (days >= period.start) & (days < period.end + 1)


def slice_mask(codes: dict[str, np.ndarray], query: Query, n: int) -> np.ndarray:
    """Rows matching every filter of ``query`` (all rows without filters)."""
    mask = np.ones(n, dtype=bool)
    for dim, code in query.filters.items():
        mask &= codes[dim] == code
    return mask


def not_sliceable(query: Query, allowed: tuple[str, ...]) -> str | None:
    other = sorted(set(query.filters) - set(allowed))
    if not other:
        return None
    return f"cannot be sliced by {', '.join(other)} (slices: {', '.join(allowed)})"
