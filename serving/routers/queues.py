"""Review queues: list, inspect with the full explanation, decide (four-eyes, CAS)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from governance import queues
from governance.access import Permission, Principal, require_queue_reader
from governance.policy import Policy
from governance.queues import QueueItem
from governance.workflow import Status
from serving.deps import ReadsDep, ServicesDep, allow, secured
from serving.schemas.common import DECIDE_QUEUE_ITEM, GET_QUEUE_ITEM, WITH_BODY
from serving.schemas.queues import (
    QueueDecisionIn,
    QueueItemDetailOut,
    QueueItemOut,
    QueueItemsOut,
)
from serving.services import Services
from stockpilot.errors import NotFound

router = APIRouter(prefix="/v1", tags=["queues"])
ItemId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _out(item: queues.QueueItem) -> QueueItemOut:
    data = asdict(item)
    data["approvers"] = list(item.approvers)
    data["status"] = item.status.value
    data["details"] = dict(item.details)
    return QueueItemOut(**data)


@router.get(
    "/queues/{queue}/items", summary="Items of a queue", **secured(Permission.queues_read, 404)
)
def list_queue_items(
    services: ServicesDep,
    reads: ReadsDep,
    principal: Annotated[Principal, Depends(allow(Permission.queues_read))],
    queue: Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")],
    status: Annotated[Status | None, Query(description="Default: pending.")] = Status.pending,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> QueueItemsOut:
    policy = services.policy.get()
    if queue not in policy.queues:
        raise NotFound(
            f"queue {queue!r} is not defined in policy version {policy.version}", queue=queue
        )
    _require_reader(principal, queue, policy)
    items = reads.queue_items(queue, status=status, limit=limit)
    return QueueItemsOut(queue=queue, items=[_out(i) for i in items])


def _require_reader(principal: Principal, queue: str, policy: Policy) -> None:
    config = policy.queues.get(queue)
    require_queue_reader(principal, queue, config.roles if config is not None else ())


@router.get(
    "/queue-items/{item_id}",
    summary="One item with its full explanation",
    operation_id=GET_QUEUE_ITEM,
    **secured(Permission.queues_read, 404),
)
def get_queue_item(
    services: ServicesDep,
    reads: ReadsDep,
    principal: Annotated[Principal, Depends(allow(Permission.queues_read))],
    item_id: ItemId,
) -> QueueItemDetailOut:
    policy = services.policy.get()
    detail = reads.queue_item(item_id)
    item = detail.item
    _require_reader(principal, item.queue, policy)
    explanation = _readable(detail.created.payload) if detail.created else {}
    return QueueItemDetailOut(
        **_out(item).model_dump(),
        explanation=explanation,
        history=[
            {"seq": e.seq, "at": e.at, "kind": e.kind, "actor": e.actor, "payload": e.payload}
            for e in detail.history
        ],
    )


def _readable(payload: dict[str, Any]) -> dict[str, Any]:
    """Per-line arrays in column order (how order risk audits features and SHAP values)
    shown to reviewers as name → value per line."""
    out = dict(payload)
    for key in ("features", "contributions"):
        section = payload.get(key)
        if isinstance(section, dict) and set(section) == {"columns", "lines"}:
            columns = section["columns"]
            out[key] = {
                line: dict(zip(columns, values, strict=True))
                for line, values in section["lines"].items()
            }
    return out


@router.post(
    "/queue-items/{item_id}/decision",
    summary="Approve, reject or override (requester cannot approve; stale → 409)",
    operation_id=DECIDE_QUEUE_ITEM,
    **secured(
        Permission.queues_decide,
        *WITH_BODY,
        404,
        409,
        links={
            200: {
                "GetQueueItem": {
                    "operationId": GET_QUEUE_ITEM,
                    "parameters": {"item_id": "$response.body#/id"},
                }
            }
        },
    ),
)
async def decide(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(allow(Permission.queues_decide))],
    item_id: ItemId,
    body: QueueDecisionIn,
) -> QueueItemOut:
    item = await decide_item(
        services,
        principal,
        item_id,
        action=body.action.value,
        reason=body.reason,
        edited_qty=body.edited_qty,
        expected_version=body.expected_version,
    )
    return _out(item)


async def decide_item(
    services: Services,
    principal: Principal,
    item_id: str,
    *,
    action: str,
    reason: str | None = None,
    edited_qty: float | None = None,
    expected_version: int | None = None,
) -> QueueItem:
    """The decision use case under the active policy, for the API and the workbench alike
    (403/409/422 as :func:`governance.queues.decide`), counted in the metrics."""
    item = await services.commands.decide(
        item_id,
        principal=principal,
        action=action,
        policy=services.policy.get(),
        reason=reason,
        edited_qty=edited_qty,
        expected_version=expected_version,
    )
    services.metrics.decisions.labels(item.kind, action).inc()
    return item
