"""``GET /v1/monitoring/{model}``: the latest monitoring run of a model (drift,
calibration, performance and its estimate) with the alerts still open about it.

The run itself is a batch job (``stockpilot monitor``) that writes its report under
``home/monitoring``; this handler reads that file and the model-monitoring queue, so it
never scores anything. Plain ``def``: file and database reads run in the thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from governance.access import Permission, Principal
from governance.queues import QueueItem
from governance.workflow import Status
from serving.deps import ReadsDep, ServicesDep, allow, secured
from serving.schemas.monitoring import MonitoringOut
from stockpilot.errors import NotFound
from stockpilot.monitoring_reports import read_report
from stockpilot.tracking import MODEL_NAMES

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])
Reader = Annotated[Principal, Depends(allow(Permission.monitoring_read))]
REPORT_KEYS = (
    "model_version",
    "generated_at",
    "since",
    "days",
    "lines",
    "reference",
    "drift",
    "calibration",
    "performance",
    "substitution",
    "demand",
    "served",
    "data_quality",
)


@router.get(
    "/{model}",
    summary="Drift, calibration, performance and open alerts of a served model",
    **secured(Permission.monitoring_read, 404),  # a model name that does not exist
)
def monitoring(
    services: ServicesDep,
    reads: ReadsDep,
    principal: Reader,
    model: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")],
) -> MonitoringOut:
    return MonitoringOut.model_validate(monitoring_view(services, reads, model))


def monitoring_view(services: Any, reads: Any, model: str) -> dict[str, Any]:
    """The endpoint's body as plain data (the API and the workbench page)."""
    if model not in MODEL_NAMES:
        raise NotFound(f"unknown model {model!r}; known: {', '.join(MODEL_NAMES)}", model=model)
    report = read_report(services.settings.home, model)
    queue = services.policy.get().monitoring.queue
    pending = reads.queue_items(queue, status=Status.pending, limit=1000)
    alerts = [_alert(item) for item in pending if item.subject.startswith(f"model:{model}:")]
    if report is None:
        return {"model": model, "status": "no_report", "open_alerts": alerts}
    body = {key: report.get(key) for key in REPORT_KEYS}
    body["data_quality"] = body["data_quality"] or []
    return {"model": model, "status": "ok", **body, "open_alerts": alerts}


def _alert(item: QueueItem) -> dict[str, Any]:
    details = item.details or {}
    return {
        "queue_item_id": item.id,
        "status": item.status.value,
        "kind": details.get("alert", "monitoring"),
        "feature": details.get("feature"),
        "days": details.get("days"),
        "first_day": details.get("first_day"),
        "last_day": details.get("last_day"),
        "due_at": item.due_at.isoformat(),
    }
