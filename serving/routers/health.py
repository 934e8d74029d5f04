"""Liveness, readiness and Prometheus metrics (no API key: probes and scrapers)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from serving.deps import ServicesDep
from serving.metrics import CONTENT_TYPE_LATEST
from serving.schemas.models import ReadinessOut

router = APIRouter(tags=["health"])


@router.get("/health/live", summary="The process is up")
def live() -> dict[str, str]:
    return {"status": "live"}


@router.get(
    "/health/ready",
    summary="Models and policy are loaded (503 until then)",
    responses={
        200: {"model": ReadinessOut, "description": "Ready, or degraded (models from cache)."},
        503: {"model": ReadinessOut, "description": "Starting, or a model/policy is missing."},
    },
)
def ready(services: ServicesDep) -> JSONResponse:
    body = services.readiness()
    body["status"] = (
        "degraded"
        if body["ready"] and body["degraded"]
        else "ready"
        if body["ready"]
        else "not_ready"
    )
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    services.metrics.ready.set(1 if services.ready else 0)
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
