"""The audit of registry alias moves: ``model.alias_moved`` events, written and read.

Every move of a model's ``champion`` or ``challenger`` alias — a promotion
(:mod:`governance.promotion`), a rollback, the alias ``stockpilot train --alias`` sets — is
one event of the audit hash chain with who, when, why, from → to and, for promotions, the
gate report's hash, so :func:`history` is the complete list of what was served when
(``stockpilot models history``).
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from governance import audit
from governance.access import Principal
from governance.store.engine import Database
from stockpilot.errors import NotFound

ALIAS_MOVED = "model.alias_moved"
SUBJECT_TYPE = "model"


@dataclass(frozen=True, slots=True)
class AliasMove:
    """One ``model.alias_moved`` event of the audit chain."""

    seq: int
    at: datetime
    actor: str  # as the audit chain names it (key:<id> for an API key's holder)
    actor_name: str
    model: str
    alias: str
    from_version: str | None
    to_version: str
    how: str  # "promotion", "rollback" or "training"
    reason: str | None
    gate_report_sha256: str | None
    queue_item_id: str | None

    @classmethod
    def from_event(cls, event: audit.AuditEvent) -> AliasMove:
        p = event.payload
        return cls(
            event.seq,
            event.at,
            event.actor,
            p.get("actor_name", event.actor),
            p["model"],
            p["alias"],
            p.get("from_version"),
            p["to_version"],
            p.get("how", "promotion"),
            p.get("reason"),
            p.get("gate_report_sha256"),
            p.get("queue_item_id"),
        )


def record_move(
    session: Session,
    *,
    model: str,
    alias: str,
    from_version: str | None,
    to_version: str,
    actor: Principal | str,
    how: str,
    reason: str | None = None,
    gate_report_sha256: str | None = None,
    queue_item_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> audit.Appended:
    """Append ``model.alias_moved`` (the last write of its transaction: see governance.audit)."""
    return audit.append(
        session,
        kind=ALIAS_MOVED,
        actor=actor,
        subject_type=SUBJECT_TYPE,
        subject_id=model,
        payload={
            "model": model,
            "alias": alias,
            "from_version": from_version,
            "to_version": to_version,
            "how": how,
            "reason": reason,
            "gate_report_sha256": gate_report_sha256,
            "queue_item_id": queue_item_id,
            "actor_name": actor if isinstance(actor, str) else actor.name,
            **dict(details or {}),
        },
        at=at,
    )


def history(db: Database, model: str) -> list[AliasMove]:
    with db.read() as session:
        return moves(session, model)


def previous_champion(session: Session, model: str, champion: str | None) -> str:
    """The version the current champion replaced, by the newest audited move to it."""
    for move in reversed(moves(session, model)):
        if move.alias == "champion" and move.to_version == champion and move.from_version:
            return move.from_version
    raise NotFound(
        f"{model}: no audited move to the champion v{champion} names a version before it; "
        "pass --to VERSION"
    )


def record_training_move(
    db: Database,
    *,
    model: str,
    alias: str,
    from_version: str | None,
    to_version: str,
    run_id: str | None,
    forced: bool,
) -> int:
    """Audit the alias a training run set (``stockpilot train --alias``); returns the seq."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "operator"
    with db.write() as session:
        appended = record_move(
            session,
            model=model,
            alias=alias,
            from_version=from_version,
            to_version=to_version,
            actor=f"train:{user}",
            how="training",
            reason="set by `stockpilot train`" + (" with --force" if forced else ""),
            details={"run_id": run_id},
            at=datetime.now(UTC),
        )
    return appended.seq


def moves(session: Session, model: str) -> list[AliasMove]:
    out: list[AliasMove] = []
    after = 0
    while True:
        page = audit.list_events(
            session,
            subject_type=SUBJECT_TYPE,
            subject_id=model,
            kind=ALIAS_MOVED,
            after_seq=after,
            limit=1000,
        )
        out += [AliasMove.from_event(e) for e in page]
        if len(page) < 1000:
            return out
        after = page[-1].seq


def move_of(db: Database, seq: int) -> AliasMove | None:
    with db.read() as session:
        event = audit.get_event(session, seq)
    return AliasMove.from_event(event) if event else None
