"""Served model versions and hot reload of a new champion."""

from __future__ import annotations

import asyncio
import gc
from typing import Annotated

from fastapi import APIRouter, Depends

from governance.access import Permission, Principal
from serving.deps import ServicesDep, allow, secured
from serving.schemas.models import ModelsOut, ReloadOut, ServedModelOut

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", summary="Served versions and their evaluation", **secured(Permission.models_read))
def list_models(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(allow(Permission.models_read))],
) -> ModelsOut:
    return ModelsOut(
        models=[ServedModelOut(**m.describe()) for m in services.models.served()],
        degraded=services.models.degraded,
        errors=services.models.errors,
    )


@router.post(
    "/reload",
    summary="Load the current champions; swap atomically, requests keep flowing",
    **secured(Permission.models_reload),
)
async def reload_models(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(allow(Permission.models_reload))],
) -> ReloadOut:
    # Loading happens off the event loop; the swap is one assignment inside the store.
    report = await asyncio.to_thread(services.models.load)
    services.models_changed()
    await asyncio.to_thread(services.load_shadow)  # the challenger, for shadow scoring
    gc.freeze()  # the new versions join the long-lived objects (see app lifespan)
    # The registry's errors too: a reload that kept the served versions because the registry
    # did not answer says so (and /health/ready says degraded).
    errors = {**services.models.errors, **report.errors}
    return ReloadOut(loaded=report.loaded, unchanged=report.unchanged, errors=errors)
