"""The customer choice model: point in time, learns a customer's own weights, serves them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.substitution_choice import (
    CustomerChoice,
    choice_features,
    order_steps,
    relation_names,
    text_rank,
)
from models.substitution_reasons import describe

# One relation (same brand): R = [1, same_brand].
NAMES = ["same_brand"]


def brand_offers(n_sets: int = 30, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Two customers, two offers per set (same brand, other brand): ``brand`` takes the
    same-brand offer, ``switcher`` the other one, with a little noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for c, likes_same in (("brand", True), ("switcher", False)):
        for k in range(n_sets):
            ts = np.datetime64("2024-01-01") + np.timedelta64(k, "D")
            for same in (1.0, 0.0):
                take = (same == 1.0) == likes_same
                rows.append((c, ts, same, take != (rng.random() < 0.05)))
    customer, ts, same, accepted = map(np.array, zip(*rows, strict=True))
    R = np.column_stack([np.ones(len(same)), same])
    return customer, ts.astype("datetime64[ns]"), R, accepted.astype(float)


def test_learns_each_customers_own_weight_and_unknown_customers_get_the_prior():
    customer, ts, R, y = brand_offers()
    choice = CustomerChoice().fit(NAMES, R, customer, ts, y)
    pair = np.array([[1.0, 1.0], [1.0, 0.0]])  # a same-brand and an other-brand offer
    brand, switcher = choice.current("brand", pair), choice.current("switcher", pair)
    assert brand[0] - brand[1] > 2.0
    assert switcher[1] - switcher[0] > 2.0
    assert np.array_equal(choice.current("never-seen", pair), np.zeros(2))


def test_an_offer_never_sees_its_own_or_a_later_outcome():
    customer, ts, R, y = brand_offers()
    choice = CustomerChoice()
    before = choice.point_in_time(R, customer, ts, y)
    cut = ts[len(ts) // 4]
    flipped = np.where(ts >= cut, 1.0 - y, y)
    after = choice.point_in_time(R, customer, ts, flipped)
    early = ts <= cut  # the offers at ``cut`` itself share its time: they see nothing of it
    assert np.array_equal(before[early], after[early])
    assert not np.allclose(before[~early], after[~early])
    first = np.array([np.flatnonzero(customer == c)[0] for c in ("brand", "switcher")])
    assert np.array_equal(before[first], np.zeros(2))  # no earlier offer: the prior


def test_serving_state_equals_the_point_in_time_value_after_all_history():
    customer, ts, R, y = brand_offers()
    choice = CustomerChoice().fit(NAMES, R, customer, ts, y)
    later = ts.max() + np.timedelta64(1, "D")
    new = np.array([[1.0, 1.0], [1.0, 0.0]])
    margins = choice.point_in_time(
        np.vstack([R, new]),
        np.r_[customer, ["brand", "brand"]],
        np.r_[ts, [later, later]],
        np.r_[y, [0.0, 0.0]],
    )
    assert np.allclose(margins[-2:], choice.current("brand", new))


def test_text_attributes_step_in_their_sorted_order_and_relations_follow_the_columns():
    ranks = {"attr_grade": text_rank(pd.Series(["C", "A", None, "B"]))}
    assert np.array_equal(ranks["attr_grade"], [2.0, 0.0, np.nan, 1.0], equal_nan=True)
    steps = order_steps(ranks, np.array([0, 1]), np.array([1, 0]))  # C → A, A → C
    assert np.array_equal(steps["attr_grade_order_diff"], [2.0, -2.0])
    names = relation_names(
        [
            "same_category",
            "log_price_ratio",
            "same_brand",
            "attr_size_diff",
            "attr_grade_same",
            "attribute_distance",
        ],
        ["attr_grade"],
        ["x_display"],
    )
    assert names == [
        "log_price_ratio",
        "same_brand",
        "attr_size_diff",
        "attr_grade_same",
        "attr_grade_order_diff",
        "x_display",
    ]


def test_set_features_compare_with_the_offers_beside_it():
    out = choice_features(np.array([1.0, 3.0, 2.0, 5.0]), np.array([0, 0, 0, 1]))
    assert np.allclose(out["customer_choice_vs_set_best"], [-2.0, 0.0, -1.0, 0.0])
    assert np.allclose(out["customer_choice_vs_set_mean"], [-1.0, 1.0, 0.0, 0.0])


def test_prior_variance_must_be_positive():
    customer, ts, R, y = brand_offers(2)
    with pytest.raises(ValueError, match="prior_variance"):
        CustomerChoice(prior_variance=0.0).fit(NAMES, R, customer, ts, y)


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("customer_choice_margin", 0.8, "past choices (brand, price, attributes) favour"),
        ("customer_choice_margin", -0.8, "weigh against"),
        ("customer_choice_vs_set_best", 0.0, "the best fit among the offers"),
        ("customer_choice_vs_set_best", -1.0, "weaker fit"),
        ("customer_choice_vs_set_mean", 0.5, "better than the other offers"),
    ],
)
def test_choice_features_have_reasons_in_words(name, value, text):
    assert text in describe(name, value, {})
