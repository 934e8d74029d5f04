"""KPI results as plain data: what the API answers, the CLI prints and the page reads."""

from __future__ import annotations

import math
from typing import Any

from features.kpis.base import Result
from features.kpis.compute import Computed
from features.kpis.definitions import Definition, Target
from features.kpis.query import Period, day_date

SPARK = "▁▂▃▄▅▆▇█"


def clean(value: Any) -> Any:
    """NaN and infinities have no JSON: they are no value."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def period_dict(period: Period) -> dict[str, Any]:
    return {"from": day_date(period.start), "to": day_date(period.end), "grain": period.grain}


def target_dict(target: Target) -> dict[str, Any]:
    low, high = target.value if target.op == "between" else (None, None)  # type: ignore[misc]
    return {
        "op": target.op,
        "value": None if target.op == "between" else float(target.value),  # type: ignore[arg-type]
        "low": low,
        "high": high,
        "component": target.component,
    }


def definition_dict(d: Definition) -> dict[str, Any]:
    return {
        "id": d.id,
        "version": d.version,
        "title": d.title,
        "family": d.family,
        "formula": d.formula,
        "grain": d.grain,
        "anchor": d.anchor,
        "inclusion": list(d.inclusion),
        "unit": d.unit,
        "owner": d.owner,
        "sources": list(d.sources),
        "slices": list(d.slices),
        "target": target_dict(d.target),
        "higher_is_better": {">=": True, "<=": False}.get(d.target.op),
    }


def _result_fields(result: Result) -> dict[str, Any]:
    return {
        "value": result.value,
        "numerator": result.numerator,
        "denominator": result.denominator,
        "components": dict(result.components),
        "breakdown": {k: list(v) for k, v in result.breakdown.items()},
        "note": result.note,
    }


def kpi_dict(computed: Computed, period: Period) -> dict[str, Any]:
    d, result = computed.definition, computed.result
    return {
        "id": d.id,
        "version": d.version,
        "title": d.title,
        "unit": d.unit,
        "definition": definition_dict(d),
        **_result_fields(result),
        "status": computed.status,
        "target_figure": computed.target_figure,
        "trend": {
            "grain": period.grain,
            "buckets": [b.isoformat() for b in period.bucket_labels()],
            "values": list(result.trend),
        },
        "groups": [
            {
                "key": g.key,
                "value": g.result.value,
                "numerator": g.result.numerator,
                "denominator": g.result.denominator,
                "status": Computed(d, g.result).status,
                "note": g.result.note,
            }
            for g in computed.groups
        ],
    }


def sparkline(values: list[float | None]) -> str:
    """The trend as block characters (a gap where a bucket has no value)."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low or 1.0
    return "".join(
        " " if v is None else SPARK[min(int((v - low) / span * len(SPARK)), len(SPARK) - 1)]
        for v in values
    )


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit in ("lines", "items"):
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def format_target(d: Definition) -> str:
    t = d.target
    what = f"{t.component} " if t.component else ""
    if t.op == "between":
        low, high = t.value  # type: ignore[misc]
        return f"{what}{format_value(low, d.unit)}–{format_value(high, d.unit)}"
    unit = "items" if t.component else d.unit
    if t.component and t.component.startswith("share"):
        unit = "ratio"
    return f"{what}{t.op} {format_value(float(t.value), unit)}"  # type: ignore[arg-type]
