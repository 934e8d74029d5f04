"""Expected cost of a miss, the policy's review section, two approvers for valuable orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import yaml

from governance.policy import PolicyError, ReviewPolicy, default_policy_text, parse_policy
from governance.priority import priority, urgencies
from governance.routing import OrderRisk, route

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
REVIEW = ReviewPolicy()  # A 3, B 1.5, C 1; urgency 1 → 3; horizon 48 h


def _cost(**kw):
    base = {
        "kind": "order_risk",
        "details": {"score": 0.5, "value": 1000.0},
        "created_at": NOW - timedelta(hours=1),
        "due_at": NOW + timedelta(hours=1),
        "tier": "C",
        "review": REVIEW,
        "now": NOW,
    }
    return priority(**{**base, **kw})


def test_cost_is_probability_times_value_times_tier_times_urgency():
    p = _cost()
    assert p.urgency == pytest.approx(2.0)  # half the SLA left: halfway from 1 to 3
    assert p.cost == pytest.approx(0.5 * 1000 * 1.0 * 2.0)
    assert _cost(tier="A").cost == pytest.approx(3 * p.cost)
    assert _cost(tier="Z").tier_weight == REVIEW.default_tier_weight
    assert _cost(tier=None).tier_weight == REVIEW.default_tier_weight


def test_urgency_grows_as_time_runs_out_and_never_leaves_its_range():
    fresh = _cost(created_at=NOW, due_at=NOW + timedelta(hours=4))
    late = _cost(created_at=NOW - timedelta(hours=5), due_at=NOW - timedelta(hours=1))
    assert fresh.urgency == pytest.approx(1.0) and late.urgency == pytest.approx(3.0)
    assert late.hours_left == pytest.approx(-1.0)
    # A promise closer than the SLA decides: 12 h to the end of the promised day of 48 h.
    promised = (NOW + timedelta(hours=11)).date().isoformat()
    near = _cost(
        created_at=NOW,
        due_at=NOW + timedelta(hours=24),
        details={"score": 0.5, "value": 10.0, "promised_date": promised},
    )
    left = ((datetime.fromisoformat(promised + "T23:59:59+00:00") - NOW).total_seconds()) / 3600
    assert near.urgency == pytest.approx(1 + 2 * (1 - left / 48))


def test_kinds_read_their_miss_probability_and_unknown_values_rank_last():
    assert _cost(kind="substitution", details={"score": 0.8, "value": 100.0}).p_miss == (
        pytest.approx(0.2)
    )
    assert _cost(kind="replenishment", details={"value": 100.0}).p_miss == 1.0
    unknown = _cost(details={"score": 0.9})
    assert not unknown.known and unknown.cost == 0.0


def test_the_vectorised_urgency_is_the_scalar_one():
    created = NOW - timedelta(hours=3)
    for due_h, promise in ((1, None), (-2, None), (5, "2026-03-02"), (30, "2026-03-05")):
        due = NOW + timedelta(hours=due_h)
        details = {"score": 0.5, "value": 1.0, "promised_date": promise}
        scalar = _cost(created_at=created, due_at=due, details=details).urgency
        moment = (
            datetime.fromisoformat(promise + "T23:59:59+00:00").timestamp() if promise else np.nan
        )
        vector = urgencies(
            np.array([created.timestamp()]),
            np.array([due.timestamp()]),
            np.array([moment]),
            REVIEW,
            NOW.timestamp(),
        )[0]
        assert vector == pytest.approx(scalar)


def test_the_shipped_policy_has_a_review_section_and_bad_ones_are_refused():
    policy = parse_policy(default_policy_text())
    assert policy.review.tier_weights == {"A": 3.0, "B": 1.5, "C": 1.0}
    assert "customer_priority" in policy.review.reason_codes.override
    data = yaml.safe_load(default_policy_text())
    for change, message in (
        ({"tier_wieghts": {}}, "did you mean 'tier_weights'"),
        ({"tier_weights": {"A": 0}}, "tier_weights"),
        ({"urgency_max": 0.5}, "review.urgency_max"),
        ({"reason_codes": {"reject": ["x", "x"]}}, "listed twice"),
        ({"reason_codes": {"override": []}}, "review.reason_codes.override"),
        ({"reason_codes": {"reject": ["Not Needed"]}}, "review.reason_codes.reject"),
    ):
        broken = {**data, "review": {**data["review"], **change}}
        with pytest.raises(PolicyError) as err:
            parse_policy(yaml.safe_dump(broken))
        assert message in str(err.value), change
    # Older documents without the section still parse, with the defaults.
    del data["review"]
    assert parse_policy(yaml.safe_dump(data)).review == ReviewPolicy()


def test_a_valuable_order_needs_two_approvers():
    policy = parse_policy(default_policy_text())  # two_approvers_above: 50000
    held = route(OrderRisk(0.9, {"carrier_delay": 1.0}, value=60_000.0), policy)
    assert held.queue == "order-hold" and held.required_approvals == 2
    assert "two approvers" in held.reason
    small = route(OrderRisk(0.9, {"carrier_delay": 1.0}, value=100.0), policy)
    assert small.required_approvals == 1
    unknown = route(OrderRisk(0.9, {"carrier_delay": 1.0}), policy)
    assert unknown.required_approvals == 1
    released = route(OrderRisk(0.1, {}, value=60_000.0), policy)
    assert released.queue is None and released.required_approvals == 0
