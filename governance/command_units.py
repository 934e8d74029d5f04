"""The units behind :mod:`governance.commands`: what the writer process runs, in a session.

Module-level functions of the session, bound by the commands with
:func:`functools.partial` to plain values and pickled to the writer; each returns the
status and body of its use case, and the two wrappers render that body as JSON (with or
without an idempotency claim). This module imports only the governance layer, so the
writer (which imports it at start) never loads a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from governance import audit
from governance.access import Principal
from governance.idempotency import idempotent
from governance.recommendations import ModelOutput, Recorded, record
from governance.routing import Decision
from stockpilot import jsonable

Effect = Callable[[Session], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class Committed:
    """A creating use case's committed response: status, JSON body, replayed or not."""

    status_code: int
    content: bytes  # JSON
    replayed: bool = False


def render_json(content: Any) -> bytes:
    """A response body as JSON (:mod:`stockpilot.jsonable`): keys in the order the use case
    wrote them, aware datetimes as the audit log writes them, naive ones as ISO text, NaN
    as null — as the idempotency record stores them, so a replay reads like the original."""
    return jsonable.dumps(content, what="response")


def plain(value: Any) -> Any:
    """``value`` as the JSON it will be written as: plain Python (no NumPy scalars, no
    datetimes), so it pickles into the writer without NumPy and reads back the same."""
    return orjson.loads(render_json(value))


def respond(session: Session, effect: Effect) -> Committed:
    status, content = effect(session)
    return Committed(status, render_json(content))


def respond_once(
    session: Session,
    effect: Effect,
    *,
    caller: str,
    key: str,
    fingerprint: str,
    retention: timedelta,
) -> Committed:
    """The effect once per (caller, key); a retry gets the stored response."""
    stored = idempotent(
        session,
        caller=caller,
        key=key,
        fingerprint=fingerprint,
        retention=retention,
        effect=effect,
    )
    return Committed(stored.status_code, render_json(stored.body), stored.replayed)


def decision_body(decision: Decision, recorded: Recorded) -> dict[str, Any]:
    """How the policy routed a recorded recommendation, as every response shows it."""
    return {
        "action": decision.action.value,
        "queue": decision.queue,
        "queue_item_id": recorded.item.id if recorded.item else None,
        "threshold_name": decision.threshold_name,
        "threshold": decision.threshold,
        "policy_version": decision.policy_version,
        "required_approvals": decision.required_approvals,
        "reason": decision.reason,
    }


def record_order_risks(
    session: Session,
    *,
    orders: bytes,
    matrices: list[tuple[bytes, bytes]],
    decisions: list[Decision],
    columns: list[str],
    model: str,
    model_version: str,
    principal: Principal,
) -> tuple[int, dict[str, Any]]:
    """Features and exact SHAP values are audited per line in the model's column order (one
    name list, not names per value); ``GET /v1/queue-items/{id}`` expands them by name."""
    results = []
    for order, (features, contributions), decision in zip(
        orjson.loads(orders), matrices, decisions, strict=True
    ):
        risk = order["risk"]
        line_nos = [str(line["line_no"]) for line in risk["lines"]]
        recorded = record(
            session,
            ModelOutput(
                subject=f"order:{order['order_id']}",
                model_name=model,
                model_version=model_version,
                score=risk["score"],
                features={"columns": columns, "lines": _by_line(line_nos, features, columns)},
                contributions={
                    "columns": columns,
                    "lines": _by_line(line_nos, contributions, columns),
                },
                explanation={
                    "expected_value": order["expected_value"],
                    "aggregation": order["aggregation"],
                    "top_family": risk["top_family"],
                    "reasons": risk["reasons"],
                    "lines": risk["lines"],
                    "order_lines": order["order_lines"],
                    "promised_date": order["promised_date"],
                    # tracked like a reviewed order: realised metrics weigh it by 1 / share
                    "audit_slice": bool(order.get("audit_slice", False)),
                },
            ),
            decision,
            principal=principal,
            summary={
                "customer_id": order["customer_id"],
                "top_family": risk["top_family"],
                "reasons": [r["text"] for r in risk["reasons"]],
                "lines": len(risk["lines"]),
                # What the workbench ranks and filters the queue by.
                "value": order["value"],
                "promised_date": order["promised_date"],
                "locations": sorted({str(line["location_id"]) for line in order["order_lines"]}),
            },
        )
        results.append(
            {
                "order_id": order["order_id"],
                "recommendation_id": recorded.recommendation_id,
                **risk,
                "decision": decision_body(decision, recorded),
                "model": {"name": model, "version": model_version},
            }
        )
    return 201, {"results": results}


def _by_line(line_nos: list[str], matrix: bytes, columns: list[str]) -> dict[str, list[float]]:
    """Rows of a float64 ``(lines, columns)`` matrix by line number (NaN is stored as null)."""
    values = memoryview(matrix).cast("d").tolist()
    width = len(columns)
    if len(values) != width * len(line_nos):
        raise ValueError(f"{len(values)} values for {len(line_nos)} lines of {width} columns")
    return {n: values[k * width : (k + 1) * width] for k, n in enumerate(line_nos)}


def record_substitution(
    session: Session,
    *,
    output: ModelOutput,
    decision: Decision,
    principal: Principal,
    summary: Mapping[str, Any],
    response: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    recorded = record(session, output, decision, principal=principal, summary=summary)
    return 201, {
        "recommendation_id": recorded.recommendation_id,
        **response,
        "decision": decision_body(decision, recorded),
    }


def record_feedback(
    session: Session,
    *,
    recommendation_id: str,
    principal: Principal,
    payload: Mapping[str, Any],
    response: dict[str, Any],
    at: datetime,
) -> tuple[int, dict[str, Any]]:
    audit.append(
        session,
        kind="substitution.feedback",
        actor=principal,
        subject_type="recommendation",
        subject_id=recommendation_id,
        payload=payload,
        at=at,
    )
    return 201, response


def record_suggestions(
    session: Session,
    *,
    suggestions: list[tuple[ModelOutput, Decision, dict[str, Any], dict[str, Any]]],
    principal: Principal,
    response: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    out = []
    for output, decision, summary, row in suggestions:
        recorded = record(session, output, decision, principal=principal, summary=summary)
        out.append(
            {
                "recommendation_id": recorded.recommendation_id,
                **row,
                "decision": decision_body(decision, recorded),
            }
        )
    return 201, {**response, "suggestions": out}


def accept_facts(
    session: Session,
    *,
    write: Callable[..., int],
    facts: Iterable[Any],
    actor: str,
) -> tuple[int, dict[str, Any]]:
    facts = list(facts)
    write(session, facts, actor=actor)
    return 202, {"accepted": len(facts)}


def open_monitoring_alerts(
    session: Session,
    *,
    alerts: list[dict[str, Any]],
    decision: Decision,
    principal: Principal,
) -> tuple[int, dict[str, Any]]:
    """One queue item per alert (model, kind, feature) for the days no earlier run has
    alerted on; an alert whose days were all alerted already opens nothing.

    ``alerts``: plain dicts with ``model``, ``model_version``, ``kind``, ``feature``,
    ``days`` and ``evidence`` (:func:`training.monitoring.alert_groups`).
    """
    from sqlalchemy import select

    from governance.store.tables import MonitoringAlertRow

    opened, skipped = [], []
    for alert in alerts:
        seen = set(
            session.scalars(
                select(MonitoringAlertRow.day).where(
                    MonitoringAlertRow.model_name == alert["model"],
                    MonitoringAlertRow.kind == alert["kind"],
                    MonitoringAlertRow.feature == alert["feature"],
                )
            )
        )
        days = sorted(set(alert["days"]) - seen)
        if not days:
            skipped.append({"kind": alert["kind"], "feature": alert["feature"]})
            continue
        recorded = record(
            session,
            ModelOutput(
                subject=f"model:{alert['model']}:{alert['kind']}:{alert['feature']}"[:1000],
                model_name=alert["model"],
                model_version=str(alert["model_version"]),
                score=None,
                explanation={"days": days, "evidence": alert["evidence"]},
            ),
            decision,
            principal=principal,
            summary={
                "alert": alert["kind"],
                "feature": alert["feature"],
                "days": len(days),
                "first_day": days[0],
                "last_day": days[-1],
            },
        )
        assert recorded.item is not None  # a monitoring decision always has a queue
        for day in days:
            session.add(
                MonitoringAlertRow(
                    model_name=alert["model"],
                    model_version=str(alert["model_version"]),
                    kind=alert["kind"],
                    feature=alert["feature"],
                    day=day,
                    queue_item_id=recorded.item.id,
                    created_at=recorded.created_at,
                )
            )
        opened.append(
            {
                "queue_item_id": recorded.item.id,
                "recommendation_id": recorded.recommendation_id,
                "kind": alert["kind"],
                "feature": alert["feature"],
                "days": days,
            }
        )
    session.flush()
    return 201, {"opened": opened, "already_open": skipped}
