"""Exception prioritisation: the expected cost of a miss for each pending queue item. Pure.

The way a distributor's operations lead triages: what is likely to go wrong, how much it
is worth, how much this customer matters and how little time is left. The weights are the
policy's ``review`` section (versioned, validated and audited with the rest of it):

    cost = P(miss) × value at risk × tier weight × urgency

- **P(miss)**: order risk — the calibrated miss probability of the order; substitution —
  the chance the customer accepts none (1 − the best P(accept)); replenishment — 1 (the
  model gives no stock-out probability per suggestion: the suggestion's whole value is at
  stake when it is not placed in time).
- **value at risk**: the order's value (sum of qty × unit price), the short line's value,
  the suggestion's value (qty × unit cost).
- **tier weight**: ``review.tier_weights`` by the customer's tier, else the default.
- **urgency**: 1 + (``urgency_max`` − 1) × (1 − the share of time left), where the share
  left is the smaller of the SLA's remaining share and the hours to the promised date over
  ``urgency_horizon_hours``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import numpy as np

from governance.policy import ReviewPolicy


@dataclass(frozen=True, slots=True)
class Priority:
    p_miss: float
    value: float | None  # None: the item does not say what it is worth
    tier: str | None
    tier_weight: float
    urgency: float
    hours_left: float  # to the SLA's due time; negative once it has passed
    cost: float  # 0 when the value is unknown (ranked last, shown as unknown)

    @property
    def known(self) -> bool:
        return self.value is not None


def miss_probability(kind: str, score: float | None) -> float:
    if kind == "replenishment":
        return 1.0
    if score is None or math.isnan(score):
        return 1.0
    score = min(1.0, max(0.0, float(score)))
    return 1.0 - score if kind == "substitution" else score


def promise_moment(value: Any) -> datetime | None:
    """The end of the promised day (UTC), or None when the item has none."""
    if not value:
        return None
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def priority(
    *,
    kind: str,
    details: dict[str, Any],
    created_at: datetime,
    due_at: datetime,
    tier: str | None,
    review: ReviewPolicy,
    now: datetime,
) -> Priority:
    """The expected cost of a miss of one pending item at ``now``."""
    value = details.get("value")
    value = float(value) if isinstance(value, int | float) and value == value else None
    weight = review.tier_weights.get(tier, review.default_tier_weight) if tier else None
    weight = weight if weight is not None else review.default_tier_weight
    created, due = _aware(created_at), _aware(due_at)
    sla_seconds = max((due - created).total_seconds(), 1.0)
    left = (due - now).total_seconds()
    share = min(1.0, max(0.0, left / sla_seconds))
    promised = promise_moment(details.get("promised_date"))
    if promised is not None:
        horizon = review.urgency_horizon_hours * 3600.0
        share = min(share, max(0.0, (promised - now).total_seconds() / horizon))
    urgency = 1.0 + (review.urgency_max - 1.0) * (1.0 - share)
    p = miss_probability(kind, details.get("score"))
    cost = p * value * weight * urgency if value is not None else 0.0
    return Priority(p, value, tier, weight, urgency, left / 3600.0, cost)


def urgencies(
    created: np.ndarray,
    due: np.ndarray,
    promised: np.ndarray,
    review: ReviewPolicy,
    now: float,
) -> np.ndarray:
    """:func:`priority`'s urgency for many items at once (epoch seconds; NaN: no promise)."""
    sla = np.maximum(due - created, 1.0)
    share = np.clip((due - now) / sla, 0.0, 1.0)
    to_promise = np.maximum(0.0, (promised - now) / (review.urgency_horizon_hours * 3600.0))
    share = np.where(np.isnan(promised), share, np.minimum(share, to_promise))
    return 1.0 + (review.urgency_max - 1.0) * (1.0 - share)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; the store writes UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
