"""The monitoring page (``/ui/monitoring?model=…``): the latest ``stockpilot monitor`` run
of a model — order risk: realised against estimated AUC per week; substitution: accept rate
and hit@1 against their estimates; demand: WAPE, bias and coverage per week — the drifting
features, the served recommendations joined to outcomes, the open alerts, from the same view
as ``GET /v1/monitoring/{model}`` (:func:`serving.routers.monitoring.monitoring_view`), with
its permission (``monitoring:read``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from governance.access import Permission, require
from serving.routers.monitoring import monitoring_view
from serving.ui.web import UserDep, render, router, services_of
from stockpilot.tracking import MODEL_NAMES

MODEL = "order-risk"
REALISED, ESTIMATED = "#1f5fa8", "#c2571a"


@router.get("/monitoring")
def monitoring_page(
    request: Request,
    user: UserDep,
    model: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")] = MODEL,
) -> HTMLResponse:
    require(user.principal, Permission.monitoring_read)
    services = services_of(request)
    view = monitoring_view(services, services.reads, model)
    weeks = (view.get("performance") or {}).get("weeks") or []
    substitution = view.get("substitution") or {}
    demand = view.get("demand") or {}
    if substitution:
        chart = auc_chart(
            substitution.get("weeks") or [],
            keys=("hit1", "expected_hit1"),
            what="hit@1 on switch occasions",
        )
    elif demand:
        chart = Markup("")
    else:
        chart = auc_chart(weeks)
    features = sorted(
        (view.get("drift") or {}).get("by_feature") or [],
        key=lambda f: (-(f["alarms"] or 0), -(f["max_psi"] or 0)),
    )
    return render(
        request,
        "monitoring.html",
        {
            "view": view,
            "models": MODEL_NAMES,
            "chart": chart,
            "substitution": substitution,
            "demand": demand,
            "served": view.get("served"),
            # order risk's served block counts lines, substitution's offers
            "served_orders": "lines" in (view.get("served") or {}),
            "features": features[:20],
            "weeks": weeks,
            "calibration": (view.get("calibration") or {}).get("rows", [])[-20:],
        },
        user=user,
    )


def auc_chart(
    weeks: Sequence[dict[str, Any]],
    *,
    keys: tuple[str, str] = ("auc", "expected_auc"),
    what: str = "AUC",
    width: int = 640,
    height: int = 200,
) -> Markup:
    """Realised and estimated (CBPE) ``what`` (AUC by default) per week as two lines,
    server-side SVG."""
    series = {
        "realised": [w.get(keys[0]) for w in weeks],
        "estimated": [w.get(keys[1]) for w in weeks],
    }
    known = [v for s in series.values() for v in s if _finite(v)]
    if not known:
        return Markup('<p class="muted">No weeks with scores yet.</p>')
    low, high = min(known) - 0.01, max(known) + 0.01
    step = (width - 40) / max(len(weeks) - 1, 1)

    def y(v: float) -> float:
        return 10 + (high - v) / (high - low) * (height - 30)

    words = f"{what} per week, {len(weeks)} weeks: realised (blue) and estimated (orange)"
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(words)}"><title>{escape(words)}</title>'
    ]
    for tick in (low + 0.01, (low + high) / 2, high - 0.01):
        parts.append(
            f'<text x="0" y="{y(tick) + 4:.1f}" font-size="10" fill="#666">{tick:.2f}</text>'
            f'<line x1="34" y1="{y(tick):.1f}" x2="{width}" y2="{y(tick):.1f}" '
            'stroke="#ddd" stroke-width="1"/>'
        )
    for name, colour in (("realised", REALISED), ("estimated", ESTIMATED)):
        points = [
            f"{40 + k * step:.1f},{y(v):.1f}" for k, v in enumerate(series[name]) if _finite(v)
        ]
        if points:
            parts.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
                'stroke-width="2"/>'
            )
    for k, (name, colour) in enumerate((("realised", REALISED), ("estimated (CBPE)", ESTIMATED))):
        x = width - 250 + k * 110
        parts.append(
            f'<rect x="{x}" y="2" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="11" font-size="11" fill="#333">{name}</text>'
        )
    if weeks:
        parts.append(
            f'<text x="40" y="{height - 4}" font-size="10" fill="#666">{escape(weeks[0]["week"])}'
            f'</text><text x="{width - 60}" y="{height - 4}" font-size="10" fill="#666">'
            f"{escape(weeks[-1]['week'])}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
