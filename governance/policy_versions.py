"""Applied policies: the active version lives in the database, every change is audited.

Versions only go up, so the version recorded on a decision names exactly one document.
Rolling back means applying the old content again under a new version number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from governance import audit
from governance.access import Principal
from governance.policy import Policy, default_policy_text, parse_policy
from governance.store.tables import PolicyVersionRow
from stockpilot.errors import Conflict, NotReady


@dataclass(frozen=True, slots=True)
class AppliedPolicy:
    policy: Policy
    applied_at: datetime
    applied_by: str
    sha256: str
    changed: bool  # False when the same document was already active

    @property
    def version(self) -> int:
        return self.policy.version


def apply_policy(
    session: Session, source: str, *, actor: Principal, origin: str = "policy"
) -> AppliedPolicy:
    """Validate ``source`` (YAML) and make it the active policy.

    Re-applying the active document is a no-op; any other document must carry a higher
    ``version`` than the active one (:class:`Conflict` otherwise), so a version number is
    never reused for different thresholds.
    """
    policy = parse_policy(source, source=origin)
    current = _active_row(session, for_update=True)
    if current is not None:
        if current.version == policy.version and current.sha256 == policy.sha256:
            return _applied(current, changed=False)
        if policy.version <= current.version:
            raise Conflict(
                f"policy version {policy.version} is not newer than the active version "
                f"{current.version}; increase `version`",
                version=policy.version,
                active_version=current.version,
            )
    now = datetime.now(UTC)
    row = PolicyVersionRow(
        version=policy.version,
        description=policy.description,
        source=source,
        document=policy.canonical_json(),
        sha256=policy.sha256,
        applied_at=now,
        applied_by=actor.actor,
    )
    try:
        with session.begin_nested():  # a concurrent apply of the same version loses cleanly
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"policy version {policy.version} was applied concurrently", version=policy.version
        ) from None
    audit.append(
        session,
        kind="policy.applied",
        actor=actor,
        subject_type="policy",
        subject_id=str(policy.version),
        payload={
            "version": policy.version,
            "previous_version": current.version if current else None,
            "sha256": policy.sha256,
            "origin": origin,
            "policy": policy.model_dump(mode="json"),
        },
        at=now,
    )
    return _applied(row, changed=True)


def active_policy(session: Session) -> AppliedPolicy:
    """The active policy; :class:`NotReady` (503) until one has been applied."""
    row = _active_row(session)
    if row is None:
        raise NotReady("no policy has been applied yet: run `stockpilot policy apply FILE`")
    return _applied(row, changed=False)


def active_version(session: Session) -> int | None:
    """Cheap check for serving's cached policy: one index probe."""
    return session.scalar(select(func.max(PolicyVersionRow.version)))


def policy_version(session: Session, version: int) -> AppliedPolicy | None:
    row = session.get(PolicyVersionRow, version)
    return _applied(row, changed=False) if row else None


def ensure_policy(session: Session, *, actor: Principal, policy_file: Path | None) -> AppliedPolicy:
    """At start-up: apply ``policy_file`` (or the shipped default) if none is active yet."""
    row = _active_row(session, for_update=True)
    if row is not None:
        return _applied(row, changed=False)
    if policy_file is not None:
        return apply_policy(
            session, policy_file.read_text(encoding="utf-8"), actor=actor, origin=str(policy_file)
        )
    return apply_policy(session, default_policy_text(), actor=actor, origin="default_policy.yaml")


def _active_row(session: Session, *, for_update: bool = False) -> PolicyVersionRow | None:
    query = select(PolicyVersionRow).order_by(PolicyVersionRow.version.desc()).limit(1)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).first()


def _applied(row: PolicyVersionRow, *, changed: bool) -> AppliedPolicy:
    return AppliedPolicy(_parse(row.document), row.applied_at, row.applied_by, row.sha256, changed)


@lru_cache(maxsize=16)
def _parse(document: str) -> Policy:
    """Stored documents are immutable, so parsing each once per process is enough."""
    return Policy.model_validate_json(document)
