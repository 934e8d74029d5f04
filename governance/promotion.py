"""Governed promotion: a promotion item, its four-eyes approval, and every alias move audited.

A challenger that passed the promotion gate (``training/promotion_gate.py``) becomes a
recommendation of kind ``model_promotion`` with an item in the policy's promotion queue
(``promotion.queue``, decided by data scientists). The one who ran the gate requested the
item, so the queue's four-eyes rule (:mod:`governance.workflow`) makes the approval a second
person's. Approval moves the registry alias and appends ``model.alias_moved`` to the audit
chain in the same transaction as the approval: who, when, why, from → to, and the gate
report's hash (:mod:`governance.alias_moves`, which also holds the history). A rollback is
the same event, without a second approver: it is the emergency path.

The registry itself is not reached from here (governance imports no MLflow): the caller
passes ``move``, a function that points the alias, and this module calls it inside the
transaction, so a registry error leaves no approval and no event behind, and a commit that
fails after the move puts the alias back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import queues
from governance.access import Principal
from governance.alias_moves import AliasMove, move_of, previous_champion, record_move
from governance.policy import Policy
from governance.queues import QueueItem
from governance.recommendations import ModelOutput, record
from governance.routing import Action, Decision, Kind
from governance.store.engine import Database
from governance.store.tables import QueueItemRow
from governance.workflow import QueueAction, Status
from stockpilot.errors import Conflict, Forbidden, InvalidInput, NotFound

Move = Callable[[str, str | None, str], None]  # (alias, from_version, to_version)


def subject(model: str) -> str:
    return f"model:{model}"


def open_promotion(
    db: Database,
    *,
    model: str,
    champion: str | None,
    challenger: str,
    report: Mapping[str, Any],
    report_sha256: str,
    principal: Principal,
    policy: Policy,
) -> QueueItem:
    """The promotion item of a passed gate, requested by ``principal`` (who ran the gate)."""
    queue = _queue(policy, principal)
    improvement = report["improvement"]
    decision = Decision(
        Kind.model_promotion,
        Action.review,
        queue,
        "promotion.bootstrap_ci",
        0.0,
        policy.version,
        1,
        policy.queues[queue].sla_hours,
        f"challenger v{challenger} beats champion v{champion} on {report['holdout']['lines']} "
        f"holdout {report['holdout'].get('unit', 'lines')}: "
        f"{report.get('cost_metric', 'log_loss').replace('_', ' ')} −{improvement['mean']:.4f}, "
        "95 % CI "
        f"[{improvement['ci95'][0]:.4f}, {improvement['ci95'][1]:.4f}] above 0; a second data "
        "scientist approves the alias move",
    )
    with db.write() as session:
        pending = _pending(session, model)
        if pending is not None:
            raise Conflict(
                f"{model} already has a pending promotion ({pending.id}, challenger "
                f"v{pending.details.get('to_version')}); approve or reject it first",
                item_id=pending.id,
            )
        recorded = record(
            session,
            ModelOutput(
                subject=subject(model),
                model_name=model,
                model_version=challenger,
                score=float(improvement["mean"]),
                explanation={"gate_report": dict(report), "gate_report_sha256": report_sha256},
            ),
            decision,
            principal=principal,
            summary={
                "model": model,
                "from_version": champion,
                "to_version": challenger,
                "improvement": improvement["mean"],
                "ci95": list(improvement["ci95"]),
                "gate_report_sha256": report_sha256,
            },
        )
    assert recorded.item is not None  # a review decision always queues
    return recorded.item


def pending_promotion(db: Database, model: str) -> QueueItem | None:
    with db.read() as session:
        return _pending(session, model)


def approve(
    db: Database,
    *,
    model: str,
    principal: Principal,
    policy: Policy,
    champion: str | None,
    move: Move,
    reason: str | None = None,
) -> tuple[QueueItem, AliasMove | None]:
    """Approve ``model``'s pending promotion as ``principal``; when the approval completes it,
    move ``champion`` to the challenger (``move``) and audit the move, all in one transaction.

    ``champion`` is the version the registry serves now: if it is not the one the gate
    compared against, the promotion is stale (409) and nothing moves.
    """
    moved: list[tuple[str | None, str]] = []  # the registry move, to undo if the commit fails
    try:
        return _approve(db, model, principal, policy, champion, _recording(move, moved), reason)
    except BaseException:
        _undo(move, moved)
        raise


def _approve(
    db: Database,
    model: str,
    principal: Principal,
    policy: Policy,
    champion: str | None,
    move: Move,
    reason: str | None,
) -> tuple[QueueItem, AliasMove | None]:
    with db.write() as session:
        item = _pending(session, model)
        if item is None:
            raise NotFound(
                f"{model} has no pending promotion: run `stockpilot models gate {model}` first"
            )
        from_version = item.details.get("from_version")
        if champion != from_version:
            raise Conflict(
                f"{model}: the champion is v{champion} now, the gate compared against "
                f"v{from_version}; run the gate again",
                item_id=item.id,
            )
        try:
            decided = queues.decide(
                session,
                item.id,
                principal=principal,
                action=QueueAction.approve,
                policy=policy,
                reason=reason,
                moves_alias=True,
            )
        except Forbidden as err:
            if principal.actor == item.requested_by:
                raise Forbidden(
                    f"four-eyes: {principal.name} ({principal.actor}) ran the gate and "
                    "requested this promotion "
                    f"({item.id}), so cannot approve it; a second data scientist must",
                    actor=principal.actor,
                    item_id=item.id,
                ) from None
            raise err from None
        if decided.status is not Status.approved:
            return decided, None
        to_version = str(decided.details["to_version"])
        move("champion", from_version, to_version)
        appended = record_move(
            session,
            model=model,
            alias="champion",
            from_version=from_version,
            to_version=to_version,
            actor=principal,
            how="promotion",
            reason=reason or decision_reason(decided),
            gate_report_sha256=decided.details.get("gate_report_sha256"),
            queue_item_id=decided.id,
            details={"requested_by": decided.requested_by, "approvers": list(decided.approvers)},
        )
    return decided, move_of(db, appended.seq)


def decision_reason(item: QueueItem) -> str:
    return str(item.details.get("reason") or "promotion approved")


def rollback(
    db: Database,
    *,
    model: str,
    principal: Principal,
    champion: str | None,
    move: Move,
    reason: str,
    to_version: str | None = None,
) -> AliasMove:
    """Point ``champion`` back at the version it replaced (or ``to_version``), audited."""
    if not reason or not reason.strip():
        raise InvalidInput("reason: required to roll back a model", field="reason")
    if principal.role.value not in ("data_scientist", "admin"):
        raise Forbidden(
            f"role {principal.role.value!r} may not roll back models (data_scientist, admin)",
            role=principal.role.value,
        )
    moved: list[tuple[str | None, str]] = []
    try:
        with db.write() as session:
            if to_version is None:
                to_version = previous_champion(session, model, champion)
            if to_version == champion:
                raise Conflict(f"{model}: v{champion} is already the champion")
            _recording(move, moved)("champion", champion, to_version)
            appended = record_move(
                session,
                model=model,
                alias="champion",
                from_version=champion,
                to_version=to_version,
                actor=principal,
                how="rollback",
                reason=reason.strip(),
            )
    except BaseException:
        _undo(move, moved)
        raise
    return move_of(db, appended.seq)  # type: ignore[return-value]


def _recording(move: Move, moved: list[tuple[str | None, str]]) -> Move:
    def recorded(alias: str, from_version: str | None, to_version: str) -> None:
        move(alias, from_version, to_version)
        moved.append((from_version, to_version))

    return recorded


def _undo(move: Move, moved: list[tuple[str | None, str]]) -> None:
    """Put the alias back when the transaction that records its move did not commit."""
    for from_version, to_version in moved:
        if from_version is not None:
            move("champion", to_version, from_version)


def _pending(session: Session, model: str) -> QueueItem | None:
    row_id = session.scalars(
        select(QueueItemRow.id)
        .where(
            QueueItemRow.kind == Kind.model_promotion.value,
            QueueItemRow.subject == subject(model),
            QueueItemRow.status == Status.pending.value,
        )
        .order_by(QueueItemRow.created_at.desc())
        .limit(1)
    ).first()
    return queues.get_item(session, row_id) if row_id else None


def _queue(policy: Policy, principal: Principal) -> str:
    queue = policy.promotion.queue
    if queue not in policy.queues:
        raise InvalidInput(
            f"promotion.queue: the active policy (version {policy.version}) has no queue "
            f"{queue!r}; add it under queues (docs/lifecycle.md)",
            queue=queue,
        )
    roles = policy.queues[queue].roles
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(
            f"role {principal.role.value!r} may not open promotions in {queue!r} ({allowed})",
            role=principal.role.value,
        )
    return queue
