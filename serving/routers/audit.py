"""The audit log: page through events, verify the hash chain."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from governance.access import Permission, Principal
from serving.deps import ReadsDep, allow, secured

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    seq: int
    at: datetime
    kind: str
    actor: str
    actor_role: str | None
    subject_type: str
    subject_id: str
    payload: dict[str, Any]
    hash: str


class AuditPageOut(BaseModel):
    events: list[AuditEventOut]
    next_after_seq: int | None


class VerificationOut(BaseModel):
    ok: bool
    count: int
    first_broken: int | None
    problem: str | None
    anchored: int | None = Field(
        description="The anchored head (seq) the chain was checked against; null: none yet."
    )


@router.get("", summary="Audit events in order", **secured(Permission.audit_read))
def list_events(
    reads: ReadsDep,
    principal: Annotated[Principal, Depends(allow(Permission.audit_read))],
    after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    subject_type: Annotated[str | None, Query(max_length=32)] = None,
    subject_id: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPageOut:
    events = reads.audit_events(
        subject_type=subject_type,
        subject_id=subject_id,
        kind=kind,
        after_seq=after_seq,
        limit=limit,
    )
    return AuditPageOut(
        events=[AuditEventOut(**asdict(e)) for e in events],
        next_after_seq=events[-1].seq if len(events) == limit else None,
    )


@router.get(
    "/verify",
    summary="Walk the hash chain; names the first broken link",
    **secured(Permission.audit_verify),
)
def verify(
    reads: ReadsDep,
    principal: Annotated[Principal, Depends(allow(Permission.audit_verify))],
) -> VerificationOut:
    result = reads.verify_audit()
    return VerificationOut(
        ok=result.ok,
        count=result.count,
        first_broken=result.first_broken,
        problem=result.problem,
        anchored=result.anchored,
    )
