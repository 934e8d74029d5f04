"""The KPI dashboard (``/ui/kpis``) and the rows behind each value (``/ui/kpis/{id}``).

Both read the same report as ``GET /v1/kpis`` and ``GET /v1/kpis/{id}/rows``
(:func:`serving.routers.kpis.kpi_report`, :func:`~serving.routers.kpis.kpi_rows_page`),
with the same permission (``kpis:read``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BeforeValidator

from features.kpis.report import format_target, format_value
from governance.access import Permission, require
from serving.routers.kpis import kpi_report, kpi_rows_page
from serving.schemas.common import QueryDay
from serving.ui import charts
from serving.ui.web import UserDep, render, router, services_of

Slice = Annotated[str, Query(max_length=200)]


def _blank_is_default(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


# The picker's date fields: a field the user emptied is sent as ``from=`` and means the
# default period (the data's span), not a malformed day.
FormDay = Annotated[QueryDay | None, BeforeValidator(_blank_is_default)]
ROWS_PER_PAGE = 50
DIMENSIONS = ("location", "segment", "category", "carrier")


def _filters(location: str, segment: str, category: str, carrier: str) -> dict[str, str | None]:
    return {
        "location": location or None,
        "segment": segment or None,
        "category": category or None,
        "carrier": carrier or None,
    }


def _trend(values: list[float | None]) -> tuple[str, float | None]:
    """The last bucket against the one before: ▲ up, ▼ down, ▬ flat."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return "", None
    delta = known[-1] - known[-2]
    if abs(delta) <= 1e-9 * max(1.0, abs(known[-2])):
        return "flat", 0.0
    return ("up" if delta > 0 else "down"), delta


def _target_number(kpi: dict[str, Any]) -> float | None:
    target = kpi["definition"]["target"]
    if target.get("component"):
        return None
    return target.get("value")


@router.get("/kpis")
def kpis_page(
    request: Request,
    user: UserDep,
    start: Annotated[FormDay, Query(alias="from")] = None,
    to: Annotated[FormDay, Query()] = None,
    grain: Annotated[str, Query(pattern=r"^(|day|week|month)$")] = "",
    location: Slice = "",
    segment: Slice = "",
    category: Slice = "",
    carrier: Slice = "",
) -> HTMLResponse:
    require(user.principal, Permission.kpis_read)
    store = services_of(request).kpis
    filters = _filters(location, segment, category, carrier)
    report = kpi_report(store, start, to, grain or None, filters)  # type: ignore[arg-type]
    labels = store.snapshot().facts.dims.labels
    chosen = {k: v for k, v in filters.items() if v}
    period = report["period"]
    link = urlencode({"from": period["from"], "to": period["to"], **chosen})
    tiles = []
    for kpi in report["kpis"]:
        direction, delta = _trend(kpi["trend"]["values"])
        higher = kpi["definition"]["higher_is_better"]
        good = None if higher is None or delta in (None, 0.0) else ((delta > 0) == higher)
        tiles.append(
            {
                "kpi": kpi,
                "value": format_value(kpi["value"], kpi["unit"]),
                "target": _target_text(kpi),
                "direction": direction,
                "good": good,
                "spark": charts.sparkline(
                    kpi["trend"]["values"], target=_target_number(kpi), label=kpi["title"]
                ),
                "href": f"/ui/kpis/{kpi['id']}?{link}",
            }
        )
    return render(
        request,
        "kpis.html",
        {
            "tiles": tiles,
            "period": period,
            "chosen": chosen,
            "grain": grain or "",
            "dimensions": {d: [str(v) for v in labels.get(d, [])][:500] for d in DIMENSIONS},
            "sources": report["sources"],
        },
        user=user,
    )


def _target_text(kpi: dict[str, Any]) -> str:
    from features.kpis.definitions import BY_ID

    definition = BY_ID.get(kpi["id"])
    return format_target(definition) if definition is not None else ""


@router.get("/kpis/{kpi_id}")
def kpi_rows_view(
    request: Request,
    user: UserDep,
    kpi_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")],
    start: Annotated[FormDay, Query(alias="from")] = None,
    to: Annotated[FormDay, Query()] = None,
    location: Slice = "",
    segment: Slice = "",
    category: Slice = "",
    carrier: Slice = "",
    outcome: Annotated[Literal["all", "met", "missed"], Query()] = "all",
    page: Annotated[int, Query(ge=1, le=200_000)] = 1,
) -> HTMLResponse:
    require(user.principal, Permission.kpis_read)
    store = services_of(request).kpis
    filters = _filters(location, segment, category, carrier)
    offset = (page - 1) * ROWS_PER_PAGE
    rows = kpi_rows_page(store, kpi_id, start, to, filters, outcome, ROWS_PER_PAGE, offset)
    from features.kpis.definitions import BY_ID

    definition = BY_ID[kpi_id]
    chosen = {k: v for k, v in filters.items() if v}
    base = {"from": rows["period"]["from"], "to": rows["period"]["to"], **chosen}
    columns = list(rows["rows"][0]) if rows["rows"] else []
    pages = max(1, -(-rows["total"] // ROWS_PER_PAGE))
    return render(
        request,
        "kpi_rows.html",
        {
            "definition": definition,
            "target": format_target(definition),
            "rows": rows,
            "columns": columns,
            "outcome": outcome,
            "page": page,
            "pages": pages,
            "link": lambda **extra: (
                f"/ui/kpis/{kpi_id}?{urlencode({**base, 'outcome': outcome, **extra})}"
            ),
            "back": f"/ui/kpis?{urlencode(base)}",
            "api": f"/v1/kpis/{kpi_id}/rows?{urlencode({**base, 'outcome': outcome})}",
        },
        user=user,
    )
