"""Governed review queues in storage: read items, decide them, expire them.

The rules live in :mod:`governance.workflow`; this module loads a snapshot, asks the rules
for a transition and applies it as a compare-and-set on the item's ``version``. A stale or
concurrent decision therefore updates no row and becomes a :class:`Conflict` instead of
overwriting: of sixteen simultaneous approvals exactly one wins, on SQLite (writers are
serialized) and on PostgreSQL (the losers' UPDATEs re-check ``version`` after the winner
commits and match nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from governance import audit
from governance.access import Permission, Principal, require
from governance.policy import Policy
from governance.routing import Decision, Kind, replenishment_approvals
from governance.store.fast_inserts import RowInsert
from governance.store.ids import new_id
from governance.store.tables import ApprovalRow, QueueItemRow
from governance.workflow import ItemState, QueueAction, Status, Transition
from governance.workflow import decide as decide_transition
from governance.workflow import expire as expire_transition
from stockpilot.errors import Conflict, InvalidInput, NotFound

SYSTEM_SLA = "system:sla"
_INSERT_ITEM = RowInsert(QueueItemRow.__table__)


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: str
    queue: str
    kind: str
    subject: str
    recommendation_id: str
    action: str
    status: Status
    version: int
    requested_by: str
    required_approvals: int
    approvers: tuple[str, ...]
    quantity: float | None
    policy_version: int
    details: Mapping[str, Any]
    created_at: datetime
    due_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None

    @classmethod
    def from_row(cls, row: QueueItemRow, approvers: tuple[str, ...]) -> QueueItem:
        return cls(
            row.id,
            row.queue,
            row.kind,
            row.subject,
            row.recommendation_id,
            row.action,
            Status(row.status),
            row.version,
            row.requested_by,
            row.required_approvals,
            approvers,
            row.quantity,
            row.policy_version,
            dict(row.details or {}),
            row.created_at,
            row.due_at,
            row.decided_at,
            row.decided_by,
            row.reason,
        )


def insert_item(
    session: Session,
    *,
    recommendation_id: str,
    decision: Decision,
    subject: str,
    requested_by: Principal,
    now: datetime,
    quantity: float | None = None,
    unit_value: float | None = None,
    details: Mapping[str, Any] | None = None,
) -> QueueItem:
    """Insert a pending item for a routed recommendation; audited by the caller's event."""
    if decision.queue is None or decision.sla_hours is None:
        raise ValueError("decision: only a decision with a queue creates a queue item")
    values: dict[str, Any] = {
        "id": new_id(),
        "queue": decision.queue,
        "kind": decision.kind.value,
        "subject": subject,
        "recommendation_id": recommendation_id,
        "action": decision.action.value,
        "status": Status.pending.value,
        "version": 1,
        "requested_by": requested_by.actor,
        "requested_role": requested_by.role.value,
        "required_approvals": decision.required_approvals,
        "approvals": 0,
        "approval_round": 0,
        "quantity": quantity,
        "unit_value": unit_value,
        "policy_version": decision.policy_version,
        "details": dict(details or {}),
        "created_at": now,
        "due_at": now + timedelta(hours=decision.sla_hours),
        "decided_at": None,
        "decided_by": None,
        "reason": None,
    }
    _INSERT_ITEM(session, values)  # straight to the driver: this runs per scored order
    return QueueItem(
        id=values["id"],
        queue=decision.queue,
        kind=values["kind"],
        subject=subject,
        recommendation_id=recommendation_id,
        action=values["action"],
        status=Status.pending,
        version=1,
        requested_by=requested_by.actor,
        required_approvals=decision.required_approvals,
        approvers=(),
        quantity=quantity,
        policy_version=decision.policy_version,
        details=values["details"],
        created_at=now,
        due_at=values["due_at"],
        decided_at=None,
        decided_by=None,
        reason=None,
    )


def get_item(session: Session, item_id: str) -> QueueItem:
    row = session.get(QueueItemRow, item_id, populate_existing=True)
    if row is None:
        raise NotFound(f"queue item {item_id!r} does not exist", item_id=item_id)
    return QueueItem.from_row(row, _approvers(session, row))


def list_items(
    session: Session,
    *,
    queue: str | None = None,
    status: Status | str | None = Status.pending,
    limit: int = 100,
    offset: int = 0,
) -> list[QueueItem]:
    """Items oldest first (the order they should be worked), filtered by queue and status."""
    query = select(QueueItemRow)
    if queue is not None:
        query = query.where(QueueItemRow.queue == queue)
    if status is not None:
        query = query.where(QueueItemRow.status == Status(status).value)
    query = query.order_by(QueueItemRow.created_at, QueueItemRow.id)
    rows = list(session.scalars(query.limit(min(limit, 1000)).offset(offset)))
    approvers = _approvers_of(session, rows)
    return [QueueItem.from_row(row, approvers.get(row.id, ())) for row in rows]


def decide(
    session: Session,
    item_id: str,
    *,
    principal: Principal,
    action: QueueAction | str,
    policy: Policy,
    reason: str | None = None,
    edited_qty: float | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
    moves_alias: bool = False,
) -> QueueItem:
    """Approve, reject or override one item as ``principal`` under the active ``policy``.

    A model promotion is approved only by :func:`governance.promotion.approve`
    (``moves_alias``), which moves the registry alias in the same transaction; through the
    generic decision it may be rejected, not approved (the alias would not move).

    Raises NotFound (404), InvalidInput (422: missing reason, bad quantity), Forbidden (403:
    role not allowed on the queue, four-eyes) or Conflict (409: not pending, stale
    ``expected_version``, SLA passed, or lost a race with a concurrent decision).
    """
    require(principal, Permission.queues_decide)
    try:
        action = QueueAction(action)
    except ValueError:
        raise InvalidInput(
            f"action: {action!r} is not one of approve, reject, override", action=action
        ) from None
    now = now or datetime.now(UTC)
    row = session.get(QueueItemRow, item_id, populate_existing=True)
    if row is None:
        raise NotFound(f"queue item {item_id!r} does not exist", item_id=item_id)
    if (
        row.kind == Kind.model_promotion.value
        and action is not QueueAction.reject
        and not (moves_alias)
    ):
        raise Conflict(
            f"a model promotion is approved with `stockpilot models approve "
            f"{row.subject.removeprefix('model:')}`, which moves the registry alias; "
            "here it can only be rejected",
            item_id=item_id,
        )
    queue = policy.queues.get(row.queue)
    allowed = queue.roles if queue is not None else ()
    per_value = None
    if row.kind == Kind.replenishment.value and row.unit_value is not None:
        unit_value = row.unit_value

        def per_value(qty: float) -> int:
            return replenishment_approvals(qty * unit_value, policy)

    approvers = _approvers(session, row)
    transition = decide_transition(
        _state(row, approvers),
        actor=principal.actor,
        role=principal.role,
        allowed_roles=allowed,
        action=action,
        now=now,
        reason=reason,
        edited_qty=edited_qty,
        expected_version=expected_version,
        approvals_for_quantity=per_value,
    )
    previous = (row.status, row.version, row.quantity)
    row = _apply(session, row, transition, principal.actor, now)
    if action is QueueAction.approve:
        session.add(
            ApprovalRow(
                item_id=row.id,
                round=row.approval_round,
                actor=principal.actor,
                role=principal.role.value,
                quantity=row.quantity,
                at=now,
            )
        )
        session.flush()
    audit.append(
        session,
        kind=transition.event,
        actor=principal,
        subject_type="queue_item",
        subject_id=row.id,
        payload=_event_payload(row, transition, previous, policy.version, edited_qty),
        at=now,
    )
    return QueueItem.from_row(row, transition.approvers)


def expire_due(session: Session, *, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Expire up to ``limit`` pending items whose SLA has passed; returns their ids."""
    now = now or datetime.now(UTC)
    due = session.scalars(
        select(QueueItemRow)
        .where(QueueItemRow.status == Status.pending.value, QueueItemRow.due_at <= now)
        .order_by(QueueItemRow.due_at)
        .limit(limit)
        .execution_options(populate_existing=True)
    ).all()
    approvers = _approvers_of(session, list(due))
    expired: list[tuple[QueueItemRow, Transition, tuple[Any, ...]]] = []
    for row in due:  # all row locks first, the audit lock after (see governance.audit)
        transition = expire_transition(_state(row, approvers.get(row.id, ())), now)
        previous = (row.status, row.version, row.quantity)
        try:
            expired.append(
                (_apply(session, row, transition, SYSTEM_SLA, now), transition, previous)
            )
        except Conflict:
            continue  # decided concurrently: nothing to expire
    for row, transition, previous in expired:
        audit.append(
            session,
            kind=transition.event,
            actor=SYSTEM_SLA,
            subject_type="queue_item",
            subject_id=row.id,
            payload=_event_payload(row, transition, previous, None, None),
            at=now,
        )
    return [row.id for row, _, _ in expired]


def _apply(
    session: Session, row: QueueItemRow, transition: Transition, actor: str, now: datetime
) -> QueueItemRow:
    """Compare-and-set: the UPDATE only matches if nobody moved the item since we read it."""
    values: dict[str, Any] = {
        "status": transition.status.value,
        "version": row.version + 1,
        "approvals": len(transition.approvers),
        "approval_round": row.approval_round + (1 if transition.approvals_reset else 0),
        "quantity": transition.quantity,
        "required_approvals": transition.required_approvals,
    }
    if transition.terminal:
        values.update(decided_at=now, decided_by=actor, reason=transition.reason)
    result = session.execute(
        update(QueueItemRow)
        .where(
            QueueItemRow.id == row.id,
            QueueItemRow.version == row.version,
            QueueItemRow.status == Status.pending.value,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict("the item was decided concurrently; reload it and try again", item_id=row.id)
    return session.get(QueueItemRow, row.id, populate_existing=True)  # type: ignore[return-value]


def _state(row: QueueItemRow, approvers: tuple[str, ...]) -> ItemState:
    return ItemState(
        Status(row.status),
        row.version,
        row.requested_by,
        row.required_approvals,
        approvers,
        row.quantity,
        row.due_at,
    )


def _approvers(session: Session, row: QueueItemRow) -> tuple[str, ...]:
    if row.approvals == 0:
        return ()
    return tuple(
        session.scalars(
            select(ApprovalRow.actor)
            .where(ApprovalRow.item_id == row.id, ApprovalRow.round == row.approval_round)
            .order_by(ApprovalRow.id)
        )
    )


def _approvers_of(session: Session, rows: list[QueueItemRow]) -> dict[str, tuple[str, ...]]:
    wanted = {row.id: row.approval_round for row in rows if row.approvals}
    if not wanted:
        return {}
    found: dict[str, list[str]] = {}
    for item_id, round_, actor in session.execute(
        select(ApprovalRow.item_id, ApprovalRow.round, ApprovalRow.actor)
        .where(ApprovalRow.item_id.in_(wanted))
        .order_by(ApprovalRow.id)
    ):
        if wanted[item_id] == round_:
            found.setdefault(item_id, []).append(actor)
    return {item_id: tuple(actors) for item_id, actors in found.items()}


def _event_payload(
    row: QueueItemRow,
    transition: Transition,
    previous: tuple[Any, ...],
    policy_version: int | None,
    edited_qty: float | None,
) -> dict[str, Any]:
    from_status, from_version, from_quantity = previous
    return {
        "item_id": row.id,
        "queue": row.queue,
        "kind": row.kind,
        "subject": row.subject,
        "recommendation_id": row.recommendation_id,
        "recommended_action": row.action,
        "from_status": from_status,
        "to_status": transition.status.value,
        "from_version": from_version,
        "version": row.version,
        "reason": transition.reason,
        "quantity": row.quantity,
        "previous_quantity": from_quantity,
        "edited_qty": edited_qty,
        "approvers": list(transition.approvers),
        "approvals_reset": transition.approvals_reset,
        "required_approvals": transition.required_approvals,
        "item_policy_version": row.policy_version,
        "policy_version": policy_version,
    }
