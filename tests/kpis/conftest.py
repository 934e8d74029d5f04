"""Facts of the hand-made distributor (tests/kpis/tiny.py), with no governance records."""

from __future__ import annotations

from datetime import date

import pytest

from features.dataset import Dataset
from features.kpis.base import KpiFacts
from features.kpis.dims import Dims
from features.kpis.lines import build_lines
from features.kpis.query import Period, Query, day_number
from features.kpis.records import RecordFacts
from features.kpis.stock import build_stock
from tests.kpis import tiny


def facts_of(ds: Dataset, records: RecordFacts | None = None) -> KpiFacts:
    dims = Dims.from_dataset(ds)
    return KpiFacts(
        dims, build_lines(ds, dims), build_stock(ds, dims), records or RecordFacts.empty()
    )


def january(**filters: int) -> Query:
    return Query(
        Period(day_number(date(2025, 1, 1)), day_number(date(2025, 1, 31)), "week"), filters
    )


@pytest.fixture
def facts() -> KpiFacts:
    return facts_of(tiny.dataset())
