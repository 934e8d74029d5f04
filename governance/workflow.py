"""The queue item state machine, as pure functions over a snapshot of an item.

pending ──approve (enough distinct approvers)──▶ approved
   │  └──approve (more approvers needed)──▶ pending, one more approval recorded
   ├──reject (reason)──▶ rejected
   ├──override (reason)──▶ overridden
   └──SLA passed──▶ expired

Everything that decides whether a transition is legal lives here, so the storage code only
has to apply the returned :class:`Transition` with a compare-and-set on ``version``. Rules:

* Only pending items move; anything else is a :class:`Conflict` (409), as is a caller whose
  ``expected_version`` is stale or an item whose SLA has passed (the sweep expires it).
* Only roles the policy allows on the item's queue decide (:class:`Forbidden`, 403).
* Four-eyes: the requester may not approve or override their own item (403), and each
  approver counts once. Reject stays open to the requester: withdrawing a request needs no
  second pair of eyes.
* An approval may edit the quantity. Approvals given for another quantity lapse (the new
  quantity has not been seen by them) and the required approvals are recomputed for the new
  value, never lowered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from governance.access import Role
from stockpilot.errors import Conflict, Forbidden, InvalidInput

MAX_REASON_CHARS = 2000


class Status(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    overridden = "overridden"

    @property
    def terminal(self) -> bool:
        return self is not Status.pending


class QueueAction(StrEnum):
    approve = "approve"
    reject = "reject"
    override = "override"


@dataclass(frozen=True, slots=True)
class ItemState:
    """What the rules need to know about an item."""

    status: Status
    version: int
    requested_by: str
    required_approvals: int
    approvers: tuple[str, ...]  # who approved the current quantity, in order
    quantity: float | None  # None: the item has no quantity to edit
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Transition:
    status: Status
    approvers: tuple[str, ...]
    quantity: float | None
    required_approvals: int
    event: str  # audit event kind
    reason: str | None = None
    approvals_reset: bool = False  # an edited quantity voided earlier approvals

    @property
    def terminal(self) -> bool:
        return self.status.terminal


def decide(
    state: ItemState,
    *,
    actor: str,
    role: Role,
    allowed_roles: Collection[Role],
    action: QueueAction,
    now: datetime,
    reason: str | None = None,
    edited_qty: float | None = None,
    expected_version: int | None = None,
    approvals_for_quantity: Callable[[float], int] | None = None,
) -> Transition:
    """The transition ``actor`` asks for, or the error that refuses it."""
    reason = _check_inputs(state, action, reason, edited_qty)
    if role not in allowed_roles:
        allowed = ", ".join(sorted(r.value for r in allowed_roles)) or "none: queue not in policy"
        raise Forbidden(
            f"role {role.value!r} may not decide items in this queue (allowed: {allowed})",
            role=role.value,
        )
    _check_live(state, now, expected_version)
    if action is not QueueAction.reject and actor == state.requested_by:
        raise Forbidden(
            f"four-eyes: {actor} requested this item and cannot {action.value} it", actor=actor
        )
    if action is QueueAction.approve:
        return _approve(state, actor, reason, edited_qty, approvals_for_quantity)
    status = Status.rejected if action is QueueAction.reject else Status.overridden
    return Transition(
        status,
        state.approvers,
        state.quantity,
        state.required_approvals,
        f"queue.{status.value}",
        reason,
    )


def expire(state: ItemState, now: datetime) -> Transition:
    if state.status is not Status.pending:
        raise Conflict(f"cannot expire an item that is {state.status.value}", status=state.status)
    if now < state.due_at:
        raise Conflict("the item's SLA has not passed yet", due_at=state.due_at.isoformat())
    return Transition(
        Status.expired, state.approvers, state.quantity, state.required_approvals, "queue.expired"
    )


def _approve(
    state: ItemState,
    actor: str,
    reason: str | None,
    edited_qty: float | None,
    approvals_for_quantity: Callable[[float], int] | None,
) -> Transition:
    quantity, approvers, required, reset = (
        state.quantity,
        state.approvers,
        state.required_approvals,
        False,
    )
    if edited_qty is not None and edited_qty != state.quantity:
        quantity, approvers, reset = edited_qty, (), bool(state.approvers)
        if approvals_for_quantity is not None:
            required = max(required, approvals_for_quantity(edited_qty))
    if actor in approvers:
        raise Forbidden(
            f"four-eyes: {actor} already approved this item; a different approver is needed",
            actor=actor,
        )
    approvers = (*approvers, actor)
    if len(approvers) >= required:
        return Transition(
            Status.approved, approvers, quantity, required, "queue.approved", reason, reset
        )
    return Transition(
        Status.pending, approvers, quantity, required, "queue.approval_recorded", reason, reset
    )


def _check_inputs(
    state: ItemState, action: QueueAction, reason: str | None, edited_qty: float | None
) -> str | None:
    reason = reason.strip() if reason else None
    if action in (QueueAction.reject, QueueAction.override) and not reason:
        raise InvalidInput(f"reason: required to {action.value} an item", field="reason")
    if reason and len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(f"reason: at most {MAX_REASON_CHARS} characters", field="reason")
    if edited_qty is not None:
        if action is not QueueAction.approve:
            raise InvalidInput("edited_qty: only an approval can edit the quantity")
        if state.quantity is None:
            raise InvalidInput("edited_qty: this item has no quantity to edit")
        if not (math.isfinite(edited_qty) and edited_qty > 0):
            raise InvalidInput(f"edited_qty: {edited_qty!r} must be a positive number")
    return reason


def _check_live(state: ItemState, now: datetime, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != state.version:
        raise Conflict(
            f"stale decision: the item is at version {state.version}, "
            f"not {expected_version}; reload it",
            version=state.version,
        )
    if state.status is not Status.pending:
        raise Conflict(
            f"illegal transition: the item is already {state.status.value}",
            status=state.status.value,
        )
    if now >= state.due_at:
        raise Conflict(
            "the item's SLA has passed; it is being expired", due_at=state.due_at.isoformat()
        )
