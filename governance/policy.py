"""The policy document: thresholds, routing and queues as versioned, validated data.

Thresholds never appear as literals in handlers (house rule 6); they live in a YAML file
that is validated here, applied with ``stockpilot policy apply`` and stored by
:mod:`governance.policy_versions`. Validation is strict because a typo in a threshold file is a
silent business error: unknown keys are refused (``extra="forbid"``) with a "did you mean"
hint, cross-field rules name every key involved, and queue and role references are checked.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.families import FAMILIES
from governance.access import Role
from stockpilot.errors import InvalidInput

QueueName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


# The one vocabulary of order-risk driver families: the feature set's, which the explainer
# groups SHAP contributions into (their order breaks ties between equal contributions).
DriverFamily = StrEnum("DriverFamily", {family: family for family in FAMILIES})
DriverFamily.__doc__ = "The order-risk driver families (``features.families.FAMILIES``)."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueConfig(_Strict):
    sla_hours: float = Field(gt=0, description="Pending items expire after this long.")
    roles: tuple[Role, ...] = Field(min_length=1, description="Roles that may decide here.")
    description: str = ""


class OrderRiskPolicy(_Strict):
    """release below ``review_at`` ≤ review below ``hold_at`` ≤ hold."""

    review_at: Probability
    hold_at: Probability
    review_queue: QueueName
    hold_queue: QueueName
    driver_queues: dict[DriverFamily, QueueName] = Field(
        default_factory=dict,
        description="Review items whose dominant driver is this family go to this queue.",
    )
    flag_queues: dict[DriverFamily, QueueName] = Field(
        default_factory=dict,
        description="A raised flag sends the order to review in this queue even when its "
        "miss probability is below review_at (e.g. margin erosion → pricing).",
    )
    two_approvers_above: float | None = Field(
        None,
        ge=0.0,
        description="An order worth more than this (sum of qty × unit price) needs two "
        "distinct approvers in its queue; none: one approver.",
    )


class SubstitutionPolicy(_Strict):
    """Offer automatically at or above ``auto_offer_at`` if the margin loss is acceptable."""

    auto_offer_at: Probability
    max_margin_loss: float = Field(
        ge=0.0, description="Largest margin loss (fraction of the line price) to auto-offer."
    )
    review_queue: QueueName


class ReplenishmentThresholds(_Strict):
    """Auto-approve below one order value; two distinct approvers above another."""

    auto_approve_below: float = Field(ge=0.0)
    two_approvers_above: float = Field(ge=0.0)
    queue: QueueName


class ModelGatePolicy(_Strict):
    """How far a newly trained model may fall below its best baseline and still become
    champion (``training/gate.py``): AUC points, hit@1 points, relative WAPE."""

    order_risk_auc: float = Field(0.005, ge=0.0, le=0.2)
    substitution_hit_at_1: float = Field(0.01, ge=0.0, le=0.2)
    demand_wape: float = Field(0.01, ge=0.0, le=0.5)

    def tolerance(self, model_name: str) -> float:
        by_model = {
            "order-risk": self.order_risk_auc,
            "substitution": self.substitution_hit_at_1,
            "demand": self.demand_wape,
        }
        if model_name not in by_model:
            raise ValueError(f"model_name must be one of {sorted(by_model)}, got {model_name!r}")
        return by_model[model_name]


class PromotionPolicy(_Strict):
    """How a challenger earns ``champion`` (``training/promotion_gate.py``,
    ``governance/promotion.py``): the holdout, the bootstrap, the segment and calibration
    limits, the queue a second data scientist approves in, and the shadow-scoring share."""

    queue: QueueName = "model-promotion"
    holdout_share: float = Field(0.15, gt=0.0, lt=1.0)
    bootstrap_samples: int = Field(1000, ge=100, le=100_000)
    segment_tolerance: float = Field(0.05, ge=0.0, le=1.0)
    min_segment_lines: int = Field(200, ge=1)
    max_ece: float = Field(0.05, gt=0.0, le=1.0)
    shadow_share: float = Field(0.1, ge=0.0, le=1.0)
    # Demand: the holdout is the last days of the dataset (the challenger is fit before
    # them), and calibration is the 80 % interval's coverage, not an ECE.
    demand_holdout_days: int = Field(28, ge=7, le=365)
    max_coverage_gap: float = Field(0.1, gt=0.0, le=0.5)


class MonitoringPolicy(_Strict):
    """What ``stockpilot monitor`` alarms on and where its alerts go (docs/monitoring.md)."""

    queue: QueueName = "model-monitoring"
    drift_q: float = Field(
        0.01, gt=0.0, lt=1.0, description="Benjamini–Hochberg level across each day's tests."
    )
    min_psi: float = Field(
        0.02, ge=0.0, description="Smallest PSI that alarms, however small the p-value."
    )
    min_calibration_gap: float = Field(
        0.02, ge=0.0, description="Smallest |observed − predicted| miss rate of a segment-day."
    )
    auc_drop: float = Field(
        0.05, ge=0.0, le=0.5, description="A week's AUC this far below training's alarms."
    )
    hit1_drop: float = Field(
        0.05, ge=0.0, le=1.0, description="A week's substitution hit@1 this far below training's."
    )
    demand_wape_tolerance: float = Field(
        0.15,
        ge=0.0,
        description="A week's demand WAPE above the backtest's × (1 + this) alarms.",
    )
    demand_bias_band: float = Field(
        0.1, ge=0.0, description="A week's demand bias outside ± this alarms."
    )
    demand_coverage_band: tuple[float, float] = Field(
        (0.7, 0.9), description="A week's 80 % interval (PIT) coverage outside this alarms."
    )
    audit_slice_share: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="Share of auto-released orders tagged for the random audit slice.",
    )

    @model_validator(mode="after")
    def _coverage_band(self) -> MonitoringPolicy:
        lo, hi = self.demand_coverage_band
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(
                f"monitoring.demand_coverage_band: [{lo}, {hi}] must be two shares with "
                "0 <= low < high <= 1"
            )
        return self


ReasonCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")]


class ReasonCodes(_Strict):
    """The reasons a reviewer picks from when deciding (the comment adds the details)."""

    approve: tuple[ReasonCode, ...] = ("risk_accepted", "stock_confirmed", "customer_informed")
    reject: tuple[ReasonCode, ...] = Field(
        ("not_needed", "wrong_quantity", "data_error", "customer_declined"), min_length=1
    )
    override: tuple[ReasonCode, ...] = Field(
        ("model_wrong", "customer_priority", "known_exception"), min_length=1
    )

    @model_validator(mode="after")
    def _unique(self) -> ReasonCodes:
        for action in ("approve", "reject", "override"):
            codes = getattr(self, action)
            twice = sorted({c for c in codes if codes.count(c) > 1})
            if twice:
                raise ValueError(f"review.reason_codes.{action}: listed twice: {', '.join(twice)}")
        return self


class ReviewPolicy(_Strict):
    """How the workbench ranks a queue and what it lets a reviewer bulk-decide.

    Expected cost of a miss = P(miss) × value at risk × tier weight × urgency, where
    urgency rises from 1 to ``urgency_max`` as the time left runs out: the SLA's share
    still left, or the time to the promised date over ``urgency_horizon_hours``,
    whichever is smaller.
    """

    tier_weights: dict[Annotated[str, Field(min_length=1, max_length=50)], float] = Field(
        default_factory=lambda: {"A": 3.0, "B": 1.5, "C": 1.0},
        description="Weight by the customer's tier (customers.tier).",
    )
    default_tier_weight: float = Field(1.0, gt=0.0, description="Unknown or missing tier.")
    urgency_horizon_hours: float = Field(48.0, gt=0.0)
    urgency_max: float = Field(3.0, ge=1.0)
    bulk_approve_below: float = Field(
        100.0,
        ge=0.0,
        description="Items whose expected cost is below this are low-impact: they may be "
        "approved in bulk.",
    )
    reason_codes: ReasonCodes = Field(default_factory=ReasonCodes)

    @model_validator(mode="after")
    def _positive_weights(self) -> ReviewPolicy:
        bad = sorted(t for t, w in self.tier_weights.items() if not w > 0)
        if bad:
            raise ValueError(f"review.tier_weights: must be > 0 for tier(s) {', '.join(bad)}")
        return self


class Policy(_Strict):
    version: int = Field(ge=1, description="Increases with every applied change.")
    description: str = ""
    queues: dict[QueueName, QueueConfig] = Field(min_length=1)
    order_risk: OrderRiskPolicy
    substitution: SubstitutionPolicy
    replenishment: ReplenishmentThresholds
    model_gate: ModelGatePolicy = Field(default_factory=ModelGatePolicy)
    promotion: PromotionPolicy = Field(default_factory=PromotionPolicy)
    review: ReviewPolicy = Field(default_factory=ReviewPolicy)
    monitoring: MonitoringPolicy = Field(default_factory=MonitoringPolicy)

    @model_validator(mode="after")
    def _check_consistency(self) -> Policy:
        problems = []
        risk = self.order_risk
        if not risk.review_at < risk.hold_at:
            problems.append(
                f"order_risk.review_at ({risk.review_at}) must be below "
                f"order_risk.hold_at ({risk.hold_at})"
            )
        repl = self.replenishment
        if repl.auto_approve_below > repl.two_approvers_above:
            problems.append(
                f"replenishment.auto_approve_below ({repl.auto_approve_below}) must not exceed "
                f"replenishment.two_approvers_above ({repl.two_approvers_above})"
            )
        for key, queue in self._queue_references():
            if queue not in self.queues:
                defined = ", ".join(sorted(self.queues))
                problems.append(f"{key}: queue {queue!r} is not defined under queues ({defined})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _queue_references(self) -> list[tuple[str, str]]:
        refs = [
            ("order_risk.review_queue", self.order_risk.review_queue),
            ("order_risk.hold_queue", self.order_risk.hold_queue),
            ("substitution.review_queue", self.substitution.review_queue),
            ("replenishment.queue", self.replenishment.queue),
        ]
        if "monitoring" in self.model_fields_set:
            refs.append(("monitoring.queue", self.monitoring.queue))
        refs += [
            (f"order_risk.driver_queues.{f}", q) for f, q in self.order_risk.driver_queues.items()
        ]
        refs += [(f"order_risk.flag_queues.{f}", q) for f, q in self.order_risk.flag_queues.items()]
        if "promotion" in self.model_fields_set:  # older policy files have no promotion queue
            refs.append(("promotion.queue", self.promotion.queue))
        return refs

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


class PolicyError(InvalidInput):
    """A policy file that does not validate; ``details["errors"]`` lists one line per key."""

    code = "invalid_policy"


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    """Validate policy YAML; raise :class:`PolicyError` naming every offending key."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no objects
    except yaml.YAMLError as err:
        raise PolicyError(f"{source}: not valid YAML: {err}", errors=[str(err)]) from None
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping at the top level", errors=[])
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        errors = [_describe(e) for e in err.errors()]
        lines = "\n".join(f"  {e}" for e in errors)
        raise PolicyError(f"{source} is not a valid policy:\n{lines}", errors=errors) from None


def load_policy(path: Path | str) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PolicyError(f"{path}: cannot read policy file ({err.strerror})", errors=[]) from None
    return parse_policy(text, source=str(path))


def default_policy_text() -> str:
    """The policy shipped with the package, applied when a store has none yet."""
    return (files("governance") / "default_policy.yaml").read_text(encoding="utf-8")


def _describe(error: Any) -> str:
    loc = [str(part) for part in error["loc"] if part != "[key]"]
    where = _dotted(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
        close = difflib.get_close_matches(loc[-1], _fields_at(error["loc"][:-1]), n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    elif "[key]" in error["loc"]:
        message = f"{loc[-1]!r} is not allowed here: {message}"
    return f"{where}: {message}" if where else message


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at ``loc``, for "did you mean" hints."""
    model: type[BaseModel] = Policy
    parts = list(loc)
    while parts:
        field = model.model_fields.get(str(parts.pop(0)))
        if field is None:
            return []
        annotation = field.annotation
        if get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
            if parts:
                parts.pop(0)  # the dict key, e.g. a queue name
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
