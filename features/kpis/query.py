"""What a KPI request asks for: a period (with its trend buckets) and a slice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import numpy as np

from features.kpis.definitions import DIMENSIONS

Grain = Literal["day", "week", "month"]
EPOCH = date(1970, 1, 1)


def day_number(d: date) -> int:
    return (d - EPOCH).days


def day_date(n: float) -> date:
    return EPOCH + timedelta(days=int(n))


def auto_grain(n_days: int) -> Grain:
    """Sparkline points: days up to two months, weeks up to a year, months beyond."""
    return "day" if n_days <= 62 else "week" if n_days <= 366 else "month"


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end`` inclusive (days since the epoch), cut into trend buckets."""

    start: int
    end: int
    grain: Grain = "month"

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(
                f"period: to ({day_date(self.end)}) is before from ({day_date(self.start)})"
            )

    @property
    def n_days(self) -> int:
        return self.end - self.start + 1

    @property
    def edges(self) -> np.ndarray:
        """Bucket start days plus ``end + 1``: bucket k is ``[edges[k], edges[k+1])``."""
        first, last = day_date(self.start), day_date(self.end)
        starts = [first]
        if self.grain == "day":
            starts = [first + timedelta(days=k) for k in range(self.n_days)]
        elif self.grain == "week":
            monday = first + timedelta(days=(7 - first.weekday()) % 7 or 7)
            while monday <= last:
                starts.append(monday)
                monday += timedelta(days=7)
        else:
            month = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
            while month <= last:
                starts.append(month)
                month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        return np.array([*map(day_number, starts), self.end + 1], dtype=np.int64)

    def bucket_labels(self) -> list[date]:
        return [day_date(d) for d in self.edges[:-1]]


@dataclass(frozen=True)
class Query:
    period: Period
    filters: Mapping[str, int] = field(default_factory=dict)  # dimension → Dims code

    def __post_init__(self) -> None:
        unknown = set(self.filters) - set(DIMENSIONS)
        if unknown:
            raise ValueError(f"filters: {sorted(unknown)} not in {', '.join(DIMENSIONS)}")

    @property
    def key(self) -> tuple:
        """A hashable identity (memoised results are keyed by it)."""
        period = self.period
        return (period.start, period.end, period.grain, tuple(sorted(self.filters.items())))

    def narrowed(self, dim: str, code: int) -> Query:
        return Query(self.period, {**self.filters, dim: code})

    def within(self, period: Period) -> Query:
        return Query(period, self.filters)
