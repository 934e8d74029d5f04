"""Pure routing: bands, boundaries, driver and flag routing, approvals by value."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.access import Principal, Role
from governance.policy import default_policy_text, parse_policy
from governance.routing import (
    Action,
    NoSubstitute,
    OrderRisk,
    Replenishment,
    Substitution,
    dominant_driver,
    route,
)
from stockpilot.errors import InvalidInput

POLICY = parse_policy(default_policy_text())  # review_at 0.35, hold_at 0.7


@pytest.mark.parametrize(
    ("probability", "action", "queue", "threshold_name"),
    [
        (0.0, Action.release, None, "order_risk.review_at"),
        (0.3499, Action.release, None, "order_risk.review_at"),
        (0.35, Action.review, "order-review", "order_risk.review_at"),
        (0.6999, Action.review, "order-review", "order_risk.review_at"),
        (0.7, Action.hold, "order-hold", "order_risk.hold_at"),
        (1.0, Action.hold, "order-hold", "order_risk.hold_at"),
    ],
)
def test_order_risk_bands_are_inclusive_at_the_upper_band(
    probability, action, queue, threshold_name
):
    decision = route(OrderRisk(probability=probability), POLICY)
    assert (decision.action, decision.queue, decision.threshold_name) == (
        action,
        queue,
        threshold_name,
    )
    assert decision.policy_version == POLICY.version
    assert decision.required_approvals == (1 if queue else 0)
    assert f"{probability:.2f}" in decision.reason


def test_review_goes_to_the_queue_of_the_dominant_driver():
    drivers = {"inventory_shortfall": 0.2, "carrier_delay": 0.9, "margin_erosion": -0.4}
    decision = route(OrderRisk(probability=0.5, drivers=drivers), POLICY)
    assert decision.queue == "logistics"
    assert "carrier_delay" in decision.reason
    # a family without a route (order_anomaly) falls back to the review queue
    decision = route(OrderRisk(probability=0.5, drivers={"order_anomaly": 1.0}), POLICY)
    assert decision.queue == "order-review"
    # a risky fulfilment route goes to logistics too
    drivers = {"route": 0.8, "inventory_shortfall": 0.3, "context": 0.5}
    assert route(OrderRisk(probability=0.5, drivers=drivers), POLICY).queue == "logistics"


def test_hold_stays_with_the_supervisors_whatever_the_driver():
    decision = route(OrderRisk(probability=0.9, drivers={"carrier_delay": 2.0}), POLICY)
    assert (decision.action, decision.queue) == (Action.hold, "order-hold")


def test_margin_erosion_flag_forces_review_in_pricing_even_at_low_risk():
    decision = route(OrderRisk(probability=0.05, flags=frozenset({"margin_erosion"})), POLICY)
    assert (decision.action, decision.queue) == (Action.review, "pricing")
    assert decision.threshold_name == "order_risk.flag_queues.margin_erosion"
    assert decision.threshold is None
    # ... and beats the dominant-driver route in the review band, but not a hold
    flagged = frozenset({"margin_erosion"})
    assert route(OrderRisk(0.5, {"carrier_delay": 1.0}, flagged), POLICY).queue == "pricing"
    assert route(OrderRisk(0.95, {}, flagged), POLICY).action is Action.hold


def test_flags_without_a_route_do_nothing():
    decision = route(OrderRisk(probability=0.05, flags=frozenset({"order_anomaly"})), POLICY)
    assert decision.action is Action.release


@pytest.mark.parametrize(
    ("probability", "margin_loss", "action", "threshold_name"),
    [
        (0.6, 0.05, Action.auto_offer, "substitution.auto_offer_at"),
        (0.9, 0.0, Action.auto_offer, "substitution.auto_offer_at"),
        (0.59, 0.0, Action.review, "substitution.auto_offer_at"),
        (0.9, 0.051, Action.review, "substitution.max_margin_loss"),
    ],
)
def test_substitution_auto_offer_needs_probability_and_margin(
    probability, margin_loss, action, threshold_name
):
    decision = route(Substitution(probability, margin_loss), POLICY)
    assert (decision.action, decision.threshold_name) == (action, threshold_name)
    assert decision.queue == (None if action is Action.auto_offer else "substitution-review")


@pytest.mark.parametrize(
    ("value", "action", "approvals"),
    [
        (0.0, Action.auto_approve, 0),
        (999.99, Action.auto_approve, 0),
        (1000.0, Action.review, 1),
        (25000.0, Action.review, 1),
        (25000.01, Action.review, 2),
    ],
)
def test_replenishment_approvals_follow_value(value, action, approvals):
    decision = route(Replenishment(value), POLICY)
    assert (decision.action, decision.required_approvals) == (action, approvals)
    assert decision.queue == (None if approvals == 0 else "replenishment")


def test_unknowns_have_their_own_named_branches():
    """No sentinel values: a search with nothing in stock, an unknown margin and an unknown
    value each route by a branch of their own that says so."""
    none = route(NoSubstitute(), POLICY)
    assert (none.action, none.queue, none.required_approvals) == (
        Action.review,
        "substitution-review",
        1,
    )
    assert none.reason == "no substitute in stock: review in substitution-review"
    # Even a sure acceptance goes to a person when the margin it gives up is unknown.
    margin = route(Substitution(0.99, None), POLICY)
    assert (margin.action, margin.threshold_name) == (
        Action.review,
        "substitution.max_margin_loss",
    )
    assert margin.reason.startswith("margin loss unknown")
    value = route(Replenishment(None), POLICY)
    assert (value.action, value.required_approvals) == (Action.review, 2)
    assert value.threshold_name == "replenishment.two_approvers_above"
    assert value.reason == "value unknown (no unit cost): two approvers in replenishment"


@pytest.mark.parametrize(
    "recommendation",
    [
        OrderRisk(probability=float("nan")),
        OrderRisk(probability=1.2),
        Substitution(acceptance_probability=-0.1, margin_loss=0.0),
        Substitution(acceptance_probability=0.7, margin_loss=float("nan")),
        Replenishment(value=-1.0),
        Replenishment(value=float("nan")),
    ],
)
def test_invalid_signals_are_refused_not_routed(recommendation):
    with pytest.raises(InvalidInput):
        route(recommendation, POLICY)


def test_dominant_driver_ignores_negative_contributions_and_breaks_ties_stably():
    assert dominant_driver({}) is None
    assert dominant_driver({"carrier_delay": -1.0}) is None
    tie = {"master_data": 0.5, "inventory_shortfall": 0.5}
    assert dominant_driver(tie) == "inventory_shortfall"  # family order decides ties


SEVERITY = {Action.release: 0, Action.review: 1, Action.hold: 2}


@given(
    low=st.floats(0, 1),
    high=st.floats(0, 1),
    drivers=st.dictionaries(st.sampled_from(["carrier_delay", "master_data"]), st.floats(-1, 1)),
)
def test_more_risk_never_means_less_scrutiny(low, high, drivers):
    low, high = sorted((low, high))
    a = route(OrderRisk(low, drivers), POLICY)
    b = route(OrderRisk(high, drivers), POLICY)
    assert SEVERITY[a.action] <= SEVERITY[b.action]


@pytest.mark.parametrize(
    "recommendation",
    [OrderRisk(0.95, {"carrier_delay": 2.0}), Substitution(0.5, 0.02), Replenishment(9_000.0)],
)
def test_a_decision_and_its_principal_pickle_whole(recommendation):
    # Both cross into the group-commit writer process as pickles (their own __reduce__).
    decision = route(recommendation, POLICY)
    principal = Principal("erp", Role.order_system, key_id="k1")
    assert pickle.loads(pickle.dumps(decision)) == decision
    assert pickle.loads(pickle.dumps(principal)) == principal
    assert pickle.loads(pickle.dumps(Principal("ops", Role.admin))).key_id is None


def test_reasons_keep_a_value_and_its_threshold_apart():
    """Two decimals made "0.35 is below review_at 0.35" of 0.3496 and showed a 0.0001
    threshold (the demo policy's) as 0.00; the reason must say what the comparison saw."""
    from governance.routing import shown

    released = route(OrderRisk(probability=0.3496), POLICY)
    assert released.action == Action.release
    assert "miss probability 0.3496 is below review_at 0.3500" in released.reason
    assert (
        "0.62 is between review_at 0.35 and hold_at 0.70"
        in route(OrderRisk(probability=0.62), POLICY).reason
    )
    assert shown(0.00005, 0.0001) == ("0.00005", "0.00010")
    assert shown(0.0, 0.0) == ("0.00", "0.00")
    assert shown(0.5, 0.5) == ("0.50", "0.50")
    offered = route(Substitution(acceptance_probability=0.6, margin_loss=0.01), POLICY)
    assert offered.reason.startswith("acceptance probability 0.60 ≥ ")
