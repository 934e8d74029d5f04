"""What an item page shows: the item, its audited recommendation read for a reviewer,
live stock, the customer, the audit trail; per kind the lines, substitutes or forecast."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from features.inventory import InventoryPositions
from governance import queues
from governance.access import Principal
from governance.policy import Policy
from governance.priority import priority
from governance.reads import Reads
from serving.ui import charts
from serving.ui.catalogue import Catalogue
from serving.ui.filters import who
from stockpilot.errors import InvalidInput, NotFound

OTHER_LOCATIONS = 5


def _recommendation(reads: Reads, item: queues.QueueItem) -> dict[str, Any]:
    created = reads.recommendation_created(item.recommendation_id)
    return created.payload if created else {}


def item_context(
    reads: Reads,
    inventory: InventoryPositions,
    catalogue: Catalogue,
    principal: Principal,
    item_id: str,
    policy: Policy,
) -> dict[str, Any]:
    """The item page's context: ``inventory`` is the live stock (the serving process's)."""
    read = reads.item_trail(item_id)
    item, created, history = read.item, read.recommendation_events, read.history
    payload = next((e.payload for e in created if e.kind == "recommendation.created"), {})
    feedback = [e for e in created if e.kind == "substitution.feedback"]
    details = dict(item.details)
    customer_id = details.get("customer_id")
    customer = catalogue.customer(customer_id) if customer_id else {}
    now = datetime.now(UTC)
    cost = priority(
        kind=item.kind,
        details=details,
        created_at=item.created_at,
        due_at=item.due_at,
        tier=catalogue.tier(customer_id),
        review=policy.review,
        now=now,
    )
    trail = [
        {
            "seq": e.seq,
            "at": e.at,
            "kind": e.kind,
            "actor": e.actor,
            "summary": _event_summary(e.kind, e.payload, read.people),
        }
        for e in sorted([*created, *history], key=lambda e: e.seq)
    ]
    context: dict[str, Any] = {
        "item": item,
        "details": details,
        "payload": payload,
        "customer_id": customer_id,
        "customer": customer,
        "cost": cost,
        "trail": trail,
        "people": read.people,
        "feedback": feedback,
        "codes": policy.review.reason_codes,
        "model": payload.get("model") or {},
        "decision": payload.get("decision") or {},
    }
    if item.kind == "order_risk":
        context.update(_order_view(inventory, catalogue, payload))
    elif item.kind == "substitution":
        context.update(_substitution_view(payload))
    elif item.kind == "replenishment":
        context.update(_replenishment_view(catalogue, item, payload))
    return context


def _event_summary(kind: str, payload: dict[str, Any], people: dict[str, str]) -> str:
    if kind == "recommendation.created":
        decision = payload.get("decision") or {}
        return f"{decision.get('action', '')}: {decision.get('reason', '')}"
    if kind == "substitution.feedback":
        accepted = ", ".join(payload.get("accepted") or []) or "none"
        return f"offered {', '.join(payload.get('offered') or [])}; accepted {accepted}"
    parts = []
    if payload.get("from_status") or payload.get("to_status"):
        parts.append(f"{payload.get('from_status')} → {payload.get('to_status')}")
    if payload.get("reason"):
        parts.append(f"reason: {payload['reason']}")
    if payload.get("edited_qty") is not None:
        parts.append(f"quantity {payload['edited_qty']:g}")
    if payload.get("approvers"):
        parts.append(f"approvers: {', '.join(who(a, people) for a in payload['approvers'])}")
    return "; ".join(parts)


# --- order risk ------------------------------------------------------------------------


def _order_view(
    inventory: InventoryPositions, catalogue: Catalogue, payload: dict[str, Any]
) -> dict:
    explanation = payload.get("explanation") or {}
    scored = {str(line.get("line_no")): line for line in explanation.get("lines") or []}
    ordered = explanation.get("order_lines") or []
    if not ordered:  # recorded before the request's lines were audited
        ordered = [{"line_no": k, "item_id": v.get("item_id")} for k, v in scored.items()]
    lines = []
    for line in ordered:
        risk = scored.get(str(line.get("line_no")), {})
        item_id = str(line.get("item_id"))
        location = line.get("location_id")
        here = inventory.position(item_id, str(location)) if location else None
        elsewhere = sorted(
            (
                (loc, qty)
                for loc, qty in inventory.available_by_location(item_id).items()
                if loc != location and qty > 0
            ),
            key=lambda pair: -pair[1],
        )[:OTHER_LOCATIONS]
        families = risk.get("families") or {}
        top = max(families.items(), key=lambda kv: kv[1])[0] if families else None
        qty = line.get("qty")
        lines.append(
            {
                **line,
                "description": catalogue.item(item_id).get("description"),
                "probability": risk.get("probability"),
                "families": families,
                "top_family": top,
                "reasons": risk.get("reasons") or [],
                "margin_erosion": risk.get("margin_erosion"),
                "margin_erosion_reason": risk.get("margin_erosion_reason"),
                "available": here.get("available") if here else None,
                "in_transit": here.get("in_transit") if here else None,
                "in_transit_eta": here.get("in_transit_eta") if here else None,
                "short": here is not None and qty is not None and here["available"] < qty,
                "elsewhere": elsewhere,
            }
        )
    riskiest = max(lines, key=lambda line: line["probability"] or 0.0) if lines else None
    families = sorted(
        (riskiest["families"] if riskiest else {}).items(), key=lambda kv: -abs(kv[1])
    )
    return {
        "lines": lines,
        "riskiest": riskiest,
        "driver_chart": charts.driver_bars(families),
        "reasons": explanation.get("reasons") or [],
        "promised_date": explanation.get("promised_date"),
    }


def order_line(
    reads: Reads, item: queues.QueueItem, line_no: str
) -> tuple[dict[str, Any], str, str | None]:
    """One line of an order item as the request had it, its customer and promised date."""
    if item.kind != "order_risk":
        raise InvalidInput("substitutes: only an order's lines have substitutes to look up")
    explanation = _recommendation(reads, item).get("explanation") or {}
    for line in explanation.get("order_lines") or []:
        if str(line.get("line_no")) == line_no:
            customer = item.details.get("customer_id")
            if not customer or line.get("location_id") is None:
                break
            return line, str(customer), explanation.get("promised_date")
    raise NotFound(f"line_no: order item {item.id} has no line {line_no[:20]!r} to substitute")


# --- substitution ----------------------------------------------------------------------


def _substitution_view(payload: dict[str, Any]) -> dict[str, Any]:
    explanation = payload.get("explanation") or {}
    result = explanation.get("result") or {}
    return {
        "substitution": result,
        "substitutes": result.get("substitutes") or [],
        "order_id": explanation.get("order_id"),
    }


# --- replenishment ---------------------------------------------------------------------


def _number(value: Any, default: float | None = None) -> float | None:
    if isinstance(value, int | float) and value == value:
        return float(value)
    return default


def order_rules(reads: Reads, item: queues.QueueItem) -> tuple[float, float]:
    """The suggestion's MOQ and order multiple as audited (0 and 1 when it had none)."""
    features = _recommendation(reads, item).get("features") or {}
    return _number(features.get("moq"), 0.0) or 0.0, _number(
        features.get("order_multiple"), 1.0
    ) or 1.0


def _replenishment_view(
    catalogue: Catalogue, item: queues.QueueItem, payload: dict[str, Any]
) -> dict[str, Any]:
    f = payload.get("features") or {}
    qty = item.quantity if item.quantity is not None else _number(f.get("suggested_qty"), 0.0)
    moq = _number(f.get("moq"), 0.0) or 0.0
    multiple = _number(f.get("order_multiple"), 1.0) or 1.0
    view: dict[str, Any] = {
        "plan": f,
        "moq": moq,
        "order_multiple": multiple,
        # The smallest quantity both rules allow: the browser steps from it.
        "min_qty": max(multiple, math.ceil(moq / multiple - 1e-9) * multiple),
        "quantity": qty,
        "unit_cost": _number(f.get("unit_cost")),
        "reason_text": (payload.get("explanation") or {}).get("reason"),
        "sku": catalogue.item(item.details.get("item_id")),
    }
    needed = ("available", "projected_available", "lead_time_days", "reorder_point")
    if all(_number(f.get(k)) is not None for k in needed):
        view["forecast_chart"] = charts.replenishment_chart(
            available=float(f["available"]),
            projected_available=float(f["projected_available"]),
            lead_time_days=float(f["lead_time_days"]),
            daily_forecast=_number(f.get("daily_forecast"), 0.0) or 0.0,
            safety_stock=_number(f.get("safety_stock"), 0.0) or 0.0,
            reorder_point=float(f["reorder_point"]),
            order_up_to=_number(f.get("order_up_to")),
            quantity=float(qty or 0.0),
        )
    return view
