"""Operational KPIs: values with their versioned definitions, targets and trend, and the
rows behind each value.

The handlers are plain ``def``: computing a dashboard is CPU work and runs in the thread
pool, not on the event loop. They receive the KPI store through a dependency and hold no
session: the store reads the governance records through its own read repository.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request

from features.kpis.definitions import BY_ID
from features.kpis.query import Grain, day_date
from features.kpis.report import clean, kpi_dict, period_dict
from governance.access import Permission, Principal
from governance.kpis import KpiStore, sources_dict
from serving.deps import allow, secured
from serving.schemas.common import KPI_ROWS, QueryDay
from serving.schemas.kpis import KpiRowsOut, KpisOut
from stockpilot.errors import NotFound

router = APIRouter(prefix="/v1/kpis", tags=["kpis"])

Dimension = Literal["location", "segment", "category", "carrier"]
SliceValue = Annotated[str | None, Query(min_length=1, max_length=200)]


async def get_kpi_store(request: Request) -> KpiStore:
    return request.app.state.services.kpis


KpiStoreDep = Annotated[KpiStore, Depends(get_kpi_store)]
Reader = Annotated[Principal, Depends(allow(Permission.kpis_read))]
From = Annotated[
    QueryDay | None, Query(alias="from", description="First day (default: the data's).")
]
To = Annotated[
    QueryDay | None, Query(description="Last day, inclusive (default: the data's last).")
]
GrainQ = Annotated[Grain | None, Query(description="Trend buckets (default by period length).")]


def _filters(
    location: str | None, segment: str | None, category: str | None, carrier: str | None
) -> dict[str, str | None]:
    return {"location": location, "segment": segment, "category": category, "carrier": carrier}


@router.get(
    "",
    summary="KPI values, targets and trend",
    # What a client (or the stateful test) reads next: the rows behind the first value.
    **secured(
        Permission.kpis_read,
        links={
            200: {
                "KpiRows": {
                    "operationId": KPI_ROWS,
                    "parameters": {"kpi_id": "$response.body#/kpis/0/id"},
                }
            }
        },
    ),
)
def kpis(
    store: KpiStoreDep,
    principal: Reader,
    start: From = None,
    to: To = None,
    grain: GrainQ = None,
    location: SliceValue = None,
    segment: SliceValue = None,
    category: SliceValue = None,
    carrier: SliceValue = None,
    by: Annotated[
        Dimension | None, Query(description="One value per value of this dimension.")
    ] = None,
    kpi: Annotated[
        list[Literal[tuple(BY_ID)]] | None, Query(description="Only these KPIs.")
    ] = None,  # type: ignore[valid-type]
) -> KpisOut:
    filters = _filters(location, segment, category, carrier)
    return KpisOut.model_validate(
        kpi_report(store, start, to, grain, filters, list(kpi) if kpi else None, by)
    )


def kpi_report(
    store: KpiStore,
    start: date | None,
    to: date | None,
    grain: Grain | None,
    filters: dict[str, str | None],
    ids: list[str] | None = None,
    by: str | None = None,
) -> dict[str, Any]:
    """The dashboard as plain data (the API's body, the workbench page's model)."""
    snapshot = store.snapshot()
    query = store.query(snapshot, start, to, grain, filters)
    computed = store.dashboard(snapshot, query, ids, by)
    chosen = {k: v for k, v in filters.items() if v is not None}
    link = urlencode(
        {"from": day_date(query.period.start), "to": day_date(query.period.end), **chosen}
    )
    items = [
        {**clean(kpi_dict(c, query.period)), "rows_url": f"/v1/kpis/{c.definition.id}/rows?{link}"}
        for c in computed
    ]
    return {
        "period": period_dict(query.period),
        "filters": chosen,
        "by": by,
        "sources": sources_dict(snapshot),
        "kpis": items,
    }


@router.get(
    "/{kpi_id}/rows",
    summary="The order lines, orders, queue items or stock positions behind a value",
    operation_id=KPI_ROWS,
    **secured(Permission.kpis_read, 404),  # an unknown KPI
)
def kpi_rows(
    store: KpiStoreDep,
    principal: Reader,
    kpi_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")],
    start: From = None,
    to: To = None,
    location: SliceValue = None,
    segment: SliceValue = None,
    category: SliceValue = None,
    carrier: SliceValue = None,
    outcome: Annotated[
        Literal["all", "met", "missed"],
        Query(description="Only the records counted as good / not."),
    ] = "all",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> KpiRowsOut:
    filters = _filters(location, segment, category, carrier)
    return KpiRowsOut.model_validate(
        kpi_rows_page(store, kpi_id, start, to, filters, outcome, limit, offset)
    )


def kpi_rows_page(
    store: KpiStore,
    kpi_id: str,
    start: date | None,
    to: date | None,
    filters: dict[str, str | None],
    outcome: str = "all",
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """One page of the records behind a KPI value, as plain data (API and workbench)."""
    definition = BY_ID.get(kpi_id)
    if definition is None:
        raise NotFound(f"unknown KPI {kpi_id!r}; known: {', '.join(BY_ID)}", kpi=kpi_id)
    snapshot = store.snapshot()
    query = store.query(snapshot, start, to, None, filters)
    page = store.rows(snapshot, kpi_id, query, outcome, limit, offset)  # type: ignore[arg-type]
    following = offset + len(page.rows)
    return {
        "kpi": kpi_id,
        "version": definition.version,
        "grain": page.grain,
        "period": period_dict(query.period),
        "filters": {k: v for k, v in filters.items() if v is not None},
        "outcome": outcome,
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "next_offset": following if following < page.total else None,
        "rows": clean(page.rows),
    }
