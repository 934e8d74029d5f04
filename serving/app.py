"""The FastAPI app factory (SPEC §7).

``create_app(settings)`` builds the app; its lifespan opens the services (database,
group committer, models from the registry alias, live state, policy) and closes them.
Tests may hand in ready-made ``services``. Readiness stays 503 until models and policy
are loaded; if the registry is unreachable the newest cached versions are served and
``/health/ready`` says ``degraded``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from serving import errors
from serving.routers import (
    audit,
    events,
    health,
    kpis,
    models,
    monitoring,
    orders,
    policy,
    queues,
    replenishment,
    substitutes,
)
from serving.services import Services
from stockpilot import __version__
from stockpilot.settings import Settings, get_settings

DESCRIPTION = """
StockPilot scores order risk, recommends substitutes from live stock and suggests
replenishment; explicit policy thresholds route each recommendation into governed review
queues (roles, four-eyes, tamper-evident audit).

Every `/v1` endpoint needs an API key (`X-API-Key` header) whose role grants the permission
shown as `x-permission`. Creating POSTs honour `Idempotency-Key`.
"""


class Timing:
    """Pure ASGI middleware: latency histogram by route template (cheap, no body access)."""

    def __init__(self, app: Any, services_of: Any) -> None:
        self.app = app
        self.services_of = services_of

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            services = self.services_of()
            if services is not None:
                route = scope.get("route")
                template = getattr(route, "path", "unmatched")
                services.metrics.latency.labels(
                    scope["method"], template, f"{status['code'] // 100}xx"
                ).observe(time.perf_counter() - start)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        current = services or Services.open(settings)
        app.state.services = current
        # Models and live state are millions of long-lived objects: move them out of
        # the collector's reach, or every full collection scans them inside a request.
        gc.collect()
        gc.freeze()
        current.start_background()
        try:
            yield
        finally:
            await current.stop_background()
            if owned:
                current.close()

    app = FastAPI(
        title="StockPilot",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # The service's metrics are Prometheus (/metrics); FastAPI's built-in OpenTelemetry
        # would look up its providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # The body limit (errors.BodyLimit) sits in front of every route.
        responses=errors.body_limit_response(),
    )
    app.state.services = services
    errors.install(app)
    for module in (
        health,
        orders,
        substitutes,
        replenishment,
        events,
        queues,
        audit,
        models,
        policy,
        kpis,
        monitoring,
    ):
        app.include_router(module.router)
    from serving import ui

    ui.install(app, settings)  # the review workbench under /ui/
    app.add_middleware(errors.BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Timing, services_of=lambda: getattr(app.state, "services", None))
    return app
