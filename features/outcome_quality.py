"""Data-quality checks of an outcome batch (``POST /v1/outcomes``), beyond its schema.

Two kinds of finding:

- **errors** make the batch unusable, so nothing of it is written (422, each naming the
  row and the field): a delivery before the shipment, a status outside
  :data:`KNOWN_STATUSES` (negative quantities the schema already refuses);
- **findings** are plausible but suspicious, so the batch is accepted and the findings
  open a data-quality alert for the data scientists: a line the served model does not
  hold open (never scored, already final, or aged out), a ship date before the order
  date, more shipped than ordered, a date in the future.

Pure: the open lines come in as a lookup (``(order_id, line_no)`` → order day and
ordered quantity, :meth:`features.risk_state.RiskState.open_line`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from features.asof import epoch_day

# Fulfilment states an ERP/WMS reports (case-insensitive); what the simulator writes is
# among them. A status the contract's readers cannot interpret is refused, not guessed.
KNOWN_STATUSES = frozenset(
    {"open", "allocated", "picked", "shipped", "in_transit", "delivered", "cancelled", "closed"}
)

# The finding kinds, as the alert names them (one alert per kind and day).
UNKNOWN_LINE = "outcomes.line: not open in the served model (never scored, final or aged out)"
SHIP_BEFORE_ORDER = "outcomes.ship_date: before the order date"
OVER_SHIPPED = "outcomes.shipped_qty: more than ordered"
FUTURE_DATE = "outcomes.date: in the future"


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    order_id: str
    line_no: int
    shipped_qty: float
    ship_date: date | datetime | None
    delivered_date: date | datetime | None
    status: str | None


@dataclass(frozen=True, slots=True)
class Finding:
    row: int  # index in the batch
    field: str
    kind: str
    message: str


def _day(value: date | datetime | None) -> int | None:
    return None if value is None else epoch_day(value)


def errors(rows: Sequence[OutcomeRow]) -> list[Finding]:
    """What makes the batch unusable (see the module)."""
    out = []
    for k, r in enumerate(rows):
        shipped, delivered = _day(r.ship_date), _day(r.delivered_date)
        if shipped is not None and delivered is not None and delivered < shipped:
            out.append(
                Finding(
                    k,
                    "delivered_date",
                    "delivered_before_shipped",
                    f"outcomes[{k}].delivered_date: {r.delivered_date} is before its "
                    f"ship_date {r.ship_date}",
                )
            )
        if r.status is not None and r.status.strip().lower() not in KNOWN_STATUSES:
            out.append(
                Finding(
                    k,
                    "status",
                    "unknown_status",
                    f"outcomes[{k}].status: {r.status!r} is not one of "
                    f"{', '.join(sorted(KNOWN_STATUSES))}",
                )
            )
    return out


def findings(
    rows: Sequence[OutcomeRow],
    open_line: Callable[[str, int], dict[str, float] | None] | None,
    today: date,
) -> list[Finding]:
    """What is accepted but suspicious (see the module). ``open_line`` None: no served
    order-risk model, so nothing is known about lines and only dates are checked."""
    out = []
    now = epoch_day(today)
    for k, r in enumerate(rows):
        for field in ("ship_date", "delivered_date"):
            day = _day(getattr(r, field))
            if day is not None and day > now:
                out.append(
                    Finding(k, field, FUTURE_DATE, f"{field} {getattr(r, field)} is after today")
                )
        if open_line is None:
            continue
        line = open_line(r.order_id, r.line_no)
        if line is None:
            out.append(Finding(k, "line_no", UNKNOWN_LINE, "line not open in the served model"))
            continue
        shipped = _day(r.ship_date)
        if shipped is not None and shipped < line["order_day"]:
            out.append(
                Finding(k, "ship_date", SHIP_BEFORE_ORDER, f"ship_date {r.ship_date} before order")
            )
        if r.shipped_qty > line["qty"] + 1e-9:
            out.append(
                Finding(
                    k,
                    "shipped_qty",
                    OVER_SHIPPED,
                    f"shipped {r.shipped_qty:g} of {line['qty']:g} ordered",
                )
            )
    return out


def alerts(
    rows: Sequence[OutcomeRow], found: Sequence[Finding], *, model_version: str, today: date
) -> list[dict[str, Any]]:
    """One data-quality alert per finding kind (the monitoring queue's shape), the rows
    as evidence (the first 20 of each kind)."""
    by_kind: dict[str, list[Finding]] = {}
    for f in found:
        by_kind.setdefault(f.kind, []).append(f)
    return [
        {
            "model": "order-risk",
            "model_version": model_version,
            "kind": "data_quality",
            "feature": kind,
            "days": [today.isoformat()],
            "evidence": {
                "rows": len(items),
                "examples": [
                    {
                        "row": f.row,
                        "order_id": rows[f.row].order_id,
                        "line_no": rows[f.row].line_no,
                        "field": f.field,
                        "finding": f.message,
                    }
                    for f in items[:20]
                ],
            },
        }
        for kind, items in by_kind.items()
    ]
