"""Small SVG charts drawn on the server: SHAP driver families, KPI sparklines, replenishment.

Pure functions of plain numbers returning markup (every label escaped). Each chart has a
``<title>`` and ``role="img"`` with an ``aria-label`` that says in words what it shows, so a
screen reader gets the numbers without the picture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

UP = "#b42318"  # raises risk (contrast ≥ 4.5:1 on white)
DOWN = "#1d5fa8"  # lowers risk
INK = "#1f2933"
MUTED = "#52606d"


def _num(value: float) -> str:
    return f"{value:.1f}"


def driver_bars(families: Sequence[tuple[str, float]], *, width: int = 420) -> Markup:
    """Horizontal bars of SHAP contributions (log-odds) per driver family, from zero."""
    rows = [(name, float(v)) for name, v in families if v == v]
    if not rows:
        return Markup('<p class="muted">No driver contributions recorded.</p>')
    label_w, pad, bar_h, gap = 150, 8, 18, 8
    height = pad * 2 + len(rows) * (bar_h + gap)
    span = max(abs(v) for _, v in rows) or 1.0
    plot = width - label_w - 70
    zero = label_w + plot / 2
    words = "; ".join(f"{name.replace('_', ' ')} {v:+.2f}" for name, v in rows)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape("Driver families (SHAP, log-odds): " + words)}">',
        "<title>Driver families: exact SHAP contributions by family</title>",
        f'<line x1="{_num(zero)}" y1="{pad - 4}" x2="{_num(zero)}" y2="{height - pad + 4}" '
        f'stroke="{MUTED}" stroke-width="1"/>',
    ]
    for k, (name, value) in enumerate(rows):
        y = pad + k * (bar_h + gap)
        length = abs(value) / span * (plot / 2)
        x = zero if value >= 0 else zero - length
        colour = UP if value >= 0 else DOWN
        label = escape(name.replace("_", " "))
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end" '
            f'fill="{INK}" font-size="13">{label}</text>'
            f'<rect x="{_num(x)}" y="{y}" width="{_num(max(length, 1.0))}" height="{bar_h}" '
            f'fill="{colour}"/>'
            f'<text x="{_num(zero + (plot / 2) + 6)}" y="{y + bar_h - 5}" fill="{INK}" '
            f'font-size="12">{value:+.2f}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(
    values: Sequence[float | None],
    *,
    target: float | None = None,
    width: int = 160,
    height: int = 36,
    label: str = "trend",
) -> Markup:
    """The trend as a line (gaps where a bucket has no value), the target dashed."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    if not known:
        return Markup('<span class="muted">no trend</span>')
    low, high = min(known), max(known)
    if target is not None and math.isfinite(target):
        low, high = min(low, target), max(high, target)
    span = (high - low) or 1.0
    step = width / max(len(values) - 1, 1)

    def y(v: float) -> float:
        return height - 3 - (v - low) / span * (height - 6)

    segments, current = [], []
    for k, v in enumerate(values):
        if v is None or not math.isfinite(v):
            if current:
                segments.append(current)
            current = []
            continue
        current.append(f"{_num(k * step)},{_num(y(v))}")
    if current:
        segments.append(current)
    first, last = known[0], known[-1]
    words = f"{label}: {len(values)} points, first {first:.3g}, last {last:.3g}"
    parts = [
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(words)}"><title>{escape(words)}</title>'
    ]
    if target is not None and math.isfinite(target):
        parts.append(
            f'<line x1="0" y1="{_num(y(target))}" x2="{width}" y2="{_num(y(target))}" '
            f'stroke="{MUTED}" stroke-dasharray="3 3" stroke-width="1"/>'
        )
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{DOWN}"/>')
        else:
            parts.append(
                f'<polyline points="{" ".join(seg)}" fill="none" stroke="{DOWN}" stroke-width="2"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def replenishment_chart(
    *,
    available: float,
    projected_available: float,
    lead_time_days: float,
    daily_forecast: float,
    safety_stock: float,
    reorder_point: float,
    order_up_to: float | None,
    quantity: float,
    width: int = 460,
    height: int = 200,
) -> Markup:
    """Projected available over the lead time with its interval, the reorder point, and
    where the suggested quantity brings it.

    The line runs from today's available to the projected available at the end of the lead
    time (forecast demand and inbound as audited with the suggestion); the band is the
    forecast's uncertainty, the safety stock at the lead time, widening as √t.
    """
    days = max(float(lead_time_days), 1.0)
    after = projected_available + quantity
    tops = [available, projected_available + safety_stock, reorder_point, after]
    if order_up_to is not None and math.isfinite(order_up_to):
        tops.append(order_up_to)
    bottoms = [0.0, projected_available - safety_stock]
    high, low = max(tops), min(bottoms)
    span = (high - low) or 1.0
    left, right, top, bottom = 56, width - 90, 14, height - 30

    def x(day: float) -> float:
        return left + day / days * (right - left)

    def y(v: float) -> float:
        return bottom - (v - low) / span * (bottom - top)

    steps = 12
    upper, lower = [], []
    for k in range(steps + 1):
        t = days * k / steps
        mid = available + (projected_available - available) * t / days
        half = safety_stock * math.sqrt(t / days)
        upper.append(f"{_num(x(t))},{_num(y(mid + half))}")
        lower.append(f"{_num(x(t))},{_num(y(mid - half))}")
    band = " ".join(upper + lower[::-1])
    words = (
        f"Projected available falls from {available:,.0f} to {projected_available:,.0f} over "
        f"{days:g} days of lead time (±{safety_stock:,.0f}); reorder point {reorder_point:,.0f}; "
        f"with the suggested {quantity:,.0f} it ends at {after:,.0f}"
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(words)}"><title>{escape(words)}</title>',
        f'<polygon points="{band}" fill="#d3e3f5"/>',
        f'<line x1="{left}" y1="{_num(y(available))}" x2="{_num(x(days))}" '
        f'y2="{_num(y(projected_available))}" stroke="{DOWN}" stroke-width="2"/>',
        f'<line x1="{left}" y1="{_num(y(reorder_point))}" x2="{right}" '
        f'y2="{_num(y(reorder_point))}" stroke="{UP}" stroke-dasharray="5 4" stroke-width="1.5"/>',
        f'<text x="{right + 4}" y="{_num(y(reorder_point) + 4)}" font-size="12" fill="{UP}">'
        "reorder point</text>",
        f'<line x1="{_num(x(days))}" y1="{_num(y(projected_available))}" x2="{_num(x(days))}" '
        f'y2="{_num(y(after))}" stroke="#2f7d32" stroke-width="3"/>',
        f'<text x="{right + 4}" y="{_num(y(after) + 4)}" font-size="12" fill="#1e5b21">'
        "after order</text>",
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{MUTED}"/>',
        f'<text x="{left}" y="{height - 10}" font-size="12" fill="{MUTED}">today</text>',
        f'<text x="{right}" y="{height - 10}" font-size="12" fill="{MUTED}" text-anchor="end">'
        f"+{days:g} days</text>",
        f'<text x="{left - 6}" y="{_num(y(available) + 4)}" font-size="12" fill="{INK}" '
        f'text-anchor="end">{available:,.0f}</text>',
        "</svg>",
    ]
    return Markup("".join(parts))
