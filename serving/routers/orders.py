"""POST /v1/orders/risk: score, explain, route and audit orders (one or up to 500).

request → features from the live RiskState → calibrated probability + exact SHAP →
policy decision → recommendation, queue item, audit event (one group commit) → response.
Scoring runs on the event loop thread (the live state is single-threaded by design),
batched with the orders of requests that arrive at the same moment (serving/scoring.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.background import BackgroundTask

from governance.access import Permission, Principal
from governance.policy import Policy
from governance.routing import Action, Decision, in_audit_slice, route
from models.order_risk_scorer import LineRisk, ScoredOrder
from serving import writes
from serving.deps import IdempotencyKey, allow, secured
from serving.schemas.common import WITH_BODY, queue_item_links
from serving.schemas.orders import OrderIn, OrderRiskIn, OrderRiskResultsOut
from serving.services import Services
from serving.shadow import order_risk_of
from stockpilot.errors import InvalidInput

router = APIRouter(prefix="/v1/orders", tags=["orders"])
MODEL = "order-risk"


def contract_lines(order: OrderIn, now: datetime) -> list[dict[str, Any]]:
    """An order as the contract's ``orders`` rows (what the scorer and the state read)."""
    common = {
        "order_id": order.order_id,
        "order_ts": order.order_ts or now,
        "customer_id": order.customer_id,
        "promised_date": order.promised_date,
        "requested_date": order.requested_date,
        "carrier_id": order.carrier_id,
        "ship_method": order.ship_method,
        "priority": order.priority,
        **order.context,
    }
    return [
        {
            **common,
            "line_no": line.line_no,
            "item_id": line.item_id,
            "location_id": line.location_id or order.location_id,
            "qty": line.qty,
            "unit_price": line.unit_price,
            "discount_pct": line.discount_pct,
        }
        for line in order.lines
    ]


def _reasons(reasons: list[Any]) -> list[dict[str, Any]]:
    return [{"family": r.family, "contribution": r.contribution, "text": r.text} for r in reasons]


@router.post(
    "/risk",
    summary="Score and explain orders; route each by the active policy",
    response_model=OrderRiskResultsOut,
    status_code=201,
    **secured(
        Permission.orders_score,
        *WITH_BODY,
        409,
        links={201: queue_item_links("$response.body#/results/0/decision/queue_item_id")},
    ),
)
async def score_orders(
    request: Request,
    principal: Annotated[Principal, Depends(allow(Permission.orders_score))],
    body: OrderRiskIn,
    idempotency_key: IdempotencyKey = None,
):
    services: Services = request.app.state.services  # the hot path: one dependency less
    model = services.models.get(MODEL)
    scorer = model.impl.scorer
    state = services.live.risk
    policy = services.policy.get()
    now = datetime.now(UTC)
    for order in body.orders:
        if order.order_ts is None and order.promised_date < now.date():
            raise InvalidInput(
                f"order {order.order_id}: promised_date {order.promised_date} is before today "
                f"({now.date()}, the default order_ts); send order_ts",
                field="promised_date",
            )
    lines_of = [contract_lines(order, now) for order in body.orders]
    # Scored together with the orders of requests arriving at the same moment.
    risks = await services.scoring.score(scorer, state, lines_of)
    scored = []
    for order, lines, risk in zip(body.orders, lines_of, risks, strict=True):
        if isinstance(risk, ValueError):
            raise InvalidInput(f"order {order.order_id}: {risk}", order_id=order.order_id)
        decision = route(order_risk_of(risk, order_value(order)), policy)
        scored.append((order, lines, risk, decision))
    # The challenger's sample: what the champion saw, before anything is recorded.
    shadow = services.shadows.get(MODEL)
    snapshots = []
    if shadow is not None and shadow.active:
        share = policy.promotion.shadow_share
        for order, lines, risk, decision in scored:
            snap = shadow.snapshot(lines, state, risk, decision, order_value(order), share=share)
            if snap is not None:
                snapshots.append(snap)

    committed = await services.commands.record_order_risks(
        # JSON, not pickled structures: ~10x cheaper on the event loop, and JSON is what
        # the values become in the audit log and the response anyway.
        orders=orjson.dumps(
            [
                {**scored_order(order, risk), "audit_slice": audit_slice(order, decision, policy)}
                for order, _, risk, decision in scored
            ],
            option=orjson.OPT_SERIALIZE_NUMPY,
        ),
        # Features and SHAP values as raw float64 (what the audit keeps, per line): text is
        # written once, by the writer, not formatted here and parsed there.
        matrices=[
            (risk.features.tobytes(), risk.contributions.tobytes()) for _, _, risk, _ in scored
        ],
        decisions=[decision for _, _, _, decision in scored],
        columns=scorer.feature_names,
        model=MODEL,
        model_version=model.version,
        principal=principal,
        retry=writes.retry_key(request, principal, idempotency_key, body),
    )
    if not committed.replayed:
        # Score first, then record: the order's own units must not count against it.
        for _, lines, _, decision in scored:
            state.record_order(lines)
            services.metrics.decisions.labels("order_risk", decision.action.value).inc()
    response = writes.response(committed)
    if snapshots and shadow is not None and not committed.replayed:
        # After the response is sent, in a worker thread: off the request's critical path.
        response.background = BackgroundTask(shadow.score, snapshots, policy)
    return response


def order_value(order: OrderIn) -> float:
    """What the order is worth: the value at risk when it misses (sum of qty × unit price)."""
    return float(sum(line.qty * line.unit_price for line in order.lines))


def audit_slice(order: OrderIn, decision: Decision, policy: Policy) -> bool:
    """An auto-released order in the random audit slice (docs/monitoring.md)."""
    share = policy.monitoring.audit_slice_share
    return decision.action is Action.release and in_audit_slice(order.order_id, share)


def scored_order(order: OrderIn, risk: ScoredOrder) -> dict[str, Any]:
    """A scored order as plain data for :meth:`governance.commands.Commands.record_order_risks`."""
    return {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "promised_date": order.promised_date.isoformat(),
        "value": order_value(order),
        # What a reviewer sees of each line (the request's own fields, not the model's).
        "order_lines": [
            {
                "line_no": line.line_no,
                "item_id": line.item_id,
                "location_id": line.location_id or order.location_id,
                "qty": line.qty,
                "unit_price": line.unit_price,
            }
            for line in order.lines
        ],
        "risk": {
            "score": float(risk.score),
            "top_family": risk.top_family,
            "margin_erosion": risk.margin_erosion,
            "reasons": _reasons(risk.reasons),
            "lines": [_line(line) for line in risk.lines],
        },
        "expected_value": float(risk.expected_value),
        "aggregation": risk.aggregation,
    }


def _line(line: LineRisk) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "item_id": line.item_id,
        "probability": line.probability,
        "margin": line.margin,
        "families": line.families,
        "reasons": _reasons(line.reasons),
        "margin_erosion": line.margin_erosion,
        "margin_erosion_reason": line.margin_erosion_reason,
    }
