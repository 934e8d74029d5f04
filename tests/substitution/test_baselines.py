"""Baselines of the substitution report and the switch occasions they are scored on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.substitution_baselines import habit, logit_design, popularity
from training.substitution_eval import ranking_metrics, switch_relevance


def test_habit_ranks_the_most_bought_item_first_and_breaks_ties_by_recency():
    loyalty = {
        "item_purchases": np.array([3.0, 3.0, 5.0, 0.0]),
        "item_recency": np.array([0.4, 0.9, 0.1, 0.0]),
    }
    order = np.argsort(-habit(loyalty, 4)).tolist()
    assert order == [2, 1, 0, 3]
    assert habit({}, 3).tolist() == [0.0, 0.0, 0.0]  # no purchase history: all tie


def test_popularity_counts_only_the_offers_before_the_test_period():
    offers = pd.DataFrame({"offered_item_id": ["A", "A", "B", "A", "B"]})
    y = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    before = np.array([True, True, True, False, False])
    p = popularity(offers, y, before)
    prior = (2 + 1) / (3 + 2)
    assert p[0] == pytest.approx((2 + 20 * prior) / (2 + 20))
    assert p[3] == p[0]  # the test outcome of A does not move its rate
    assert p[4] == pytest.approx((0 + 20 * prior) / (1 + 20))


def test_logit_design_falls_back_to_list_prices_and_fills_missing_loyalty():
    X = pd.DataFrame(
        {
            "log_price_ratio": [0.1, -0.2],
            "offer_price_ratio": [np.nan, -0.3],
            "price_rank": [1.0, 0.0],
            "item_loyalty": [np.nan, 0.6],
            "x_promo": [0.0, 1.0],
        }
    )
    design, names = logit_design(X, ["x_promo"])
    assert names == ["price_ratio", "price_rank", "item_loyalty", "x_promo"]
    assert design.tolist() == [[0.1, 1.0, 0.0, 0.0], [-0.3, 0.0, 0.6, 1.0]]


def test_a_set_whose_only_acceptance_is_the_original_is_no_switch_occasion():
    offers = pd.DataFrame(
        {
            "original_item_id": ["A", "A", "B", "B"],
            "offered_item_id": ["A", "C", "D", "E"],
        }
    )
    accepted = np.array([True, False, False, True])
    relevant = switch_relevance(offers, accepted)
    assert relevant.tolist() == [False, False, False, True]
    m = ranking_metrics(np.array([0, 0, 1, 1]), relevant, np.array([0.9, 0.1, 0.2, 0.8]))
    assert m["n_events"] == 1 and m["hit@1_switch"] == 1.0
