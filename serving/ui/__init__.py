"""The review workbench: server-rendered pages under ``/ui/`` (Jinja2 + htmx, SVG charts).

Pages read through the same governance functions as the API and act through the same use
cases (:func:`serving.routers.queues.decide_item`, the substitute search and feedback of
:mod:`serving.routers.substitutes`, the KPI report of :mod:`serving.routers.kpis`), under
the same permissions, checked on the server for every page and action.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from serving.ui.auth import SessionStore
from serving.ui.catalogue import Catalogue
from serving.ui.ranking import QueueCache
from stockpilot.settings import Settings

HERE = Path(__file__).parent
STATIC = HERE.parent / "static"
HTMX = "htmx-2.0.11.min.js"


@dataclass
class Workbench:
    sessions: SessionStore
    templates: Jinja2Templates
    catalogue: Catalogue
    poll_seconds: float
    queues: QueueCache


def install(app: FastAPI, settings: Settings) -> None:
    from serving.ui import (  # noqa: F401  (the pages' routes join the router)
        filters,
        item_pages,
        kpi_pages,
        monitoring_pages,
        pages,
    )
    from serving.ui.web import router

    templates = Jinja2Templates(directory=str(HERE / "templates"))
    filters.register(templates.env)
    assert settings.data_dir is not None  # Settings fills in the default
    app.state.workbench = Workbench(
        sessions=SessionStore(settings.ui_session_hours * 3600.0),
        templates=templates,
        catalogue=Catalogue(settings.data_dir),
        poll_seconds=settings.ui_poll_seconds,
        queues=QueueCache(),
    )
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=str(STATIC)), name="ui-static")
