"""The active policy (thresholds and routing are data, readable by every role)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from governance.access import Permission, Principal
from serving.deps import ServicesDep, allow, secured

router = APIRouter(prefix="/v1/policy", tags=["policy"])


@router.get("", summary="The active policy", **secured(Permission.policy_read))
def active_policy(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(allow(Permission.policy_read))],
) -> dict[str, Any]:
    return services.policy.get().model_dump(mode="json")
