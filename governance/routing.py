"""Pure routing: what a model said about one thing, plus the policy, gives a decision.

``route`` is a function of its two arguments only, so the same inputs always give the same
decision, the audit log can record why (threshold name and value, policy version) and
tests can cover the bands exhaustively without a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from operator import attrgetter

from governance.policy import DriverFamily, Policy
from stockpilot.errors import InvalidInput


class Kind(StrEnum):
    order_risk = "order_risk"
    substitution = "substitution"
    replenishment = "replenishment"
    model_promotion = "model_promotion"
    monitoring = "monitoring"  # a drift / data-quality / performance alert of a model


class Action(StrEnum):
    release = "release"  # order risk below review_at: nothing to do
    review = "review"  # a person decides in a queue
    hold = "hold"  # order risk at or above hold_at: held until a supervisor decides
    auto_offer = "auto_offer"  # substitute offered without review
    auto_approve = "auto_approve"  # replenishment suggestion approved without review


@dataclass(frozen=True, slots=True)
class OrderRisk:
    """An order's miss probability, its SHAP contributions per driver family and any flags
    raised by direct detectors (e.g. ``margin_erosion`` from the margin check)."""

    probability: float
    drivers: Mapping[str, float] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()
    kind: Kind = Kind.order_risk
    value: float | None = None  # sum of qty × unit price: high-value orders need two approvers


@dataclass(frozen=True, slots=True)
class Substitution:
    """A candidate substitute's acceptance probability and the margin it gives up (fraction
    of the original line price; ``None`` when the price or the margin is unknown, which a
    person must look at)."""

    acceptance_probability: float
    margin_loss: float | None
    kind: Kind = Kind.substitution


@dataclass(frozen=True, slots=True)
class NoSubstitute:
    """A substitute search that found nothing in stock: sales must look."""

    kind: Kind = Kind.substitution


@dataclass(frozen=True, slots=True)
class Replenishment:
    """A replenishment suggestion's value (quantity × unit cost; ``None`` when the unit
    cost is unknown, which needs the most scrutiny: two approvers)."""

    value: float | None
    kind: Kind = Kind.replenishment


Recommendation = OrderRisk | Substitution | NoSubstitute | Replenishment


@dataclass(frozen=True, slots=True)
class Decision:
    kind: Kind
    action: Action
    queue: str | None  # None: nothing for a person to do
    threshold_name: str  # the policy key that decided, e.g. "order_risk.hold_at"
    threshold: float | None  # its value (None when a flag, not a number, decided)
    policy_version: int
    required_approvals: int  # 0 when no queue
    sla_hours: float | None
    reason: str  # one sentence a reviewer can read

    @property
    def needs_review(self) -> bool:
        return self.queue is not None

    def __reduce__(self) -> tuple:
        # Pickled into the writer on every request; the dataclass default is ~10x slower.
        return (Decision, _DECISION_FIELDS(self))


_DECISION_FIELDS = attrgetter(*(f.name for f in fields(Decision)))


def route(recommendation: Recommendation, policy: Policy) -> Decision:
    """Apply ``policy`` to one recommendation. Thresholds are inclusive at the upper band:
    a probability equal to ``hold_at`` holds, one equal to ``auto_offer_at`` is offered."""
    if isinstance(recommendation, OrderRisk):
        return _route_order_risk(recommendation, policy)
    if isinstance(recommendation, Substitution):
        return _route_substitution(recommendation, policy)
    if isinstance(recommendation, NoSubstitute):
        return _route_no_substitute(policy)
    if isinstance(recommendation, Replenishment):
        return _route_replenishment(recommendation, policy)
    raise TypeError(f"recommendation: cannot route {type(recommendation).__name__}")


def replenishment_approvals(value: float | None, policy: Policy) -> int:
    """Approvals a replenishment item of ``value`` needs once it is in the queue (an
    unknown value needs two)."""
    return 2 if value is None or value > policy.replenishment.two_approvers_above else 1


def order_approvals(value: float | None, policy: Policy) -> int:
    """Approvals a queued order of ``value`` needs (two above ``two_approvers_above``)."""
    limit = policy.order_risk.two_approvers_above
    return 2 if limit is not None and value is not None and value > limit else 1


def dominant_driver(drivers: Mapping[str, float]) -> str | None:
    """The family pushing risk up the most (largest positive contribution), if any."""
    order = {family.value: i for i, family in enumerate(DriverFamily)}
    ranked = [(c, -order.get(f, len(order)), f) for f, c in drivers.items() if c > 0]
    return max(ranked)[2] if ranked else None


def shown(value: float, *thresholds: float) -> tuple[str, ...]:
    """``value`` and ``thresholds`` with the fewest decimals (2 to 6) that keep each
    threshold apart from the value and non-zero thresholds non-zero, so a reason never
    reads "0.35 is below review_at 0.35" nor a 0.0001 threshold as "0.00"."""
    numbers = (value, *thresholds)
    for digits in range(2, 7):
        text = tuple(f"{x:.{digits}f}" for x in numbers)
        apart = all(t != text[0] or x == value for x, t in zip(thresholds, text[1:], strict=True))
        visible = all(float(t) != 0 or x == 0 for x, t in zip(thresholds, text[1:], strict=True))
        if apart and visible:
            return text
    return tuple(f"{x:.6g}" for x in numbers)


def _check_unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise InvalidInput(f"{name}: {value!r} is not a probability in [0, 1]", **{name: value})


def _route_order_risk(rec: OrderRisk, policy: Policy) -> Decision:
    _check_unit("probability", rec.probability)
    cfg, p = policy.order_risk, rec.probability

    approvals = order_approvals(rec.value, policy)

    def decide(action: Action, queue: str | None, key: str, value: float | None, why: str):
        sla = policy.queues[queue].sla_hours if queue else None
        if queue and approvals == 2:
            why += (
                f"; value {rec.value:,.2f} is above order_risk.two_approvers_above "
                f"{cfg.two_approvers_above:,.2f}: two approvers"
            )
        return Decision(
            Kind.order_risk,
            action,
            queue,
            key,
            value,
            policy.version,
            approvals if queue else 0,
            sla,
            why,
        )

    if p >= cfg.hold_at:
        return decide(
            Action.hold,
            cfg.hold_queue,
            "order_risk.hold_at",
            cfg.hold_at,
            "miss probability {} is at or above hold_at {}: ".format(*shown(p, cfg.hold_at))
            + f"hold for a decision in {cfg.hold_queue}",
        )
    flagged = [f for f in DriverFamily if f.value in rec.flags and f in cfg.flag_queues]
    if flagged:
        family = flagged[0]
        queue = cfg.flag_queues[family]
        return decide(
            Action.review,
            queue,
            f"order_risk.flag_queues.{family.value}",
            None,
            f"{family.value} flagged (miss probability {p:.2f}): review in {queue}",
        )
    if p >= cfg.review_at:
        driver = dominant_driver(rec.drivers)
        routes = {family.value: queue for family, queue in cfg.driver_queues.items()}
        if driver in routes:
            queue = routes[driver]
            why = f"mostly {driver}, review in {queue}"
        else:
            queue = cfg.review_queue
            why = f"review in {queue}"
        return decide(
            Action.review,
            queue,
            "order_risk.review_at",
            cfg.review_at,
            "miss probability {} is between review_at {} and hold_at {}, ".format(
                *shown(p, cfg.review_at, cfg.hold_at)
            )
            + why,
        )
    return decide(
        Action.release,
        None,
        "order_risk.review_at",
        cfg.review_at,
        "miss probability {} is below review_at {}: release".format(*shown(p, cfg.review_at)),
    )


def _substitution_review(policy: Policy, key: str, threshold: float, why: str) -> Decision:
    """A substitution sent to its review queue for one approver, because of ``key``."""
    queue = policy.substitution.review_queue
    return Decision(
        Kind.substitution,
        Action.review,
        queue,
        key,
        threshold,
        policy.version,
        1,
        policy.queues[queue].sla_hours,
        f"{why}: review in {queue}",
    )


def _route_substitution(rec: Substitution, policy: Policy) -> Decision:
    _check_unit("acceptance_probability", rec.acceptance_probability)
    if rec.margin_loss is not None and not rec.margin_loss == rec.margin_loss:  # NaN
        raise InvalidInput("margin_loss: NaN is not a margin loss", margin_loss=rec.margin_loss)
    cfg, p = policy.substitution, rec.acceptance_probability
    if p < cfg.auto_offer_at:
        return _substitution_review(
            policy,
            "substitution.auto_offer_at",
            cfg.auto_offer_at,
            "acceptance probability {} is below auto_offer_at {}".format(
                *shown(p, cfg.auto_offer_at)
            ),
        )
    if rec.margin_loss is None:
        return _substitution_review(
            policy,
            "substitution.max_margin_loss",
            cfg.max_margin_loss,
            "margin loss unknown (no price or margin for the line)",
        )
    if rec.margin_loss > cfg.max_margin_loss:
        return _substitution_review(
            policy,
            "substitution.max_margin_loss",
            cfg.max_margin_loss,
            f"margin loss {rec.margin_loss:.1%} exceeds max_margin_loss {cfg.max_margin_loss:.1%}",
        )
    return Decision(
        Kind.substitution,
        Action.auto_offer,
        None,
        "substitution.auto_offer_at",
        cfg.auto_offer_at,
        policy.version,
        0,
        None,
        "acceptance probability {} ≥ {} and margin loss ".format(*shown(p, cfg.auto_offer_at))
        + f"{rec.margin_loss:.1%} ≤ {cfg.max_margin_loss:.1%}: offer automatically",
    )


def _route_no_substitute(policy: Policy) -> Decision:
    cfg = policy.substitution
    return _substitution_review(
        policy, "substitution.auto_offer_at", cfg.auto_offer_at, "no substitute in stock"
    )


def _route_replenishment(rec: Replenishment, policy: Policy) -> Decision:
    cfg, v = policy.replenishment, rec.value
    if v is None:
        return Decision(
            Kind.replenishment,
            Action.review,
            cfg.queue,
            "replenishment.two_approvers_above",
            cfg.two_approvers_above,
            policy.version,
            2,
            policy.queues[cfg.queue].sla_hours,
            f"value unknown (no unit cost): two approvers in {cfg.queue}",
        )
    if not v >= 0:  # also rejects NaN
        raise InvalidInput(f"value: {v!r} must be a non-negative amount", value=v)
    if v < cfg.auto_approve_below:
        return Decision(
            Kind.replenishment,
            Action.auto_approve,
            None,
            "replenishment.auto_approve_below",
            cfg.auto_approve_below,
            policy.version,
            0,
            None,
            f"value {v:,.2f} is below auto_approve_below {cfg.auto_approve_below:,.2f}: "
            "approved automatically",
        )
    approvals = replenishment_approvals(v, policy)
    if approvals == 2:
        key, threshold = "replenishment.two_approvers_above", cfg.two_approvers_above
        why = f"value {v:,.2f} is above two_approvers_above {threshold:,.2f}: two approvers"
    else:
        key, threshold = "replenishment.auto_approve_below", cfg.auto_approve_below
        why = f"value {v:,.2f} is at or above auto_approve_below {threshold:,.2f}: one approver"
    return Decision(
        Kind.replenishment,
        Action.review,
        cfg.queue,
        key,
        threshold,
        policy.version,
        approvals,
        policy.queues[cfg.queue].sla_hours,
        f"{why} in {cfg.queue}",
    )


def monitoring_decision(policy: Policy) -> Decision:
    """Where a monitoring alert goes: the policy's monitoring queue, one approver."""
    queue = policy.monitoring.queue
    if queue not in policy.queues:
        defined = ", ".join(sorted(policy.queues))
        raise InvalidInput(
            f"monitoring.queue: queue {queue!r} is not defined under queues ({defined}); "
            "add it to the policy (the default policy has model-monitoring)",
            queue=queue,
        )
    return Decision(
        kind=Kind.monitoring,
        action=Action.review,
        queue=queue,
        threshold_name="monitoring.drift_q",
        threshold=policy.monitoring.drift_q,
        policy_version=policy.version,
        required_approvals=1,
        sla_hours=policy.queues[queue].sla_hours,
        reason="a monitoring check of a served model breached its policy threshold",
    )


def in_audit_slice(order_id: str, share: float) -> bool:
    """Whether an order belongs to the random audit slice: a hash of its id, uniform in
    [0, 1), below ``share``. Deterministic (a retry or a replay tags the same orders) and
    independent of everything the model sees, so the slice is a random sample of the
    auto-released orders, each included with probability ``share``."""
    import hashlib

    digest = hashlib.sha256(order_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
