"""Offer-set features: an offer compared with the offers shown beside it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.substitution_offerset import OfferSetContext, price_rank


def _context(**columns) -> OfferSetContext:
    offers = pd.DataFrame({"ts": [0, 0], **columns})
    return OfferSetContext().fit(offers, ["x_promo"], ["item_loyalty", "brand_loyalty"])


def test_price_rank_orders_offers_within_their_set_and_shares_ties():
    groups = np.array([0, 0, 0, 1, 1, 2])
    price = np.array([3.0, 1.0, 3.0, 5.0, 4.0, 2.0])
    assert price_rank(groups, price).tolist() == [0.75, 0.0, 0.75, 1.0, 0.0, 0.5]


def test_features_follow_the_columns_the_dataset_has():
    bare = _context()
    assert bare.feature_names_ == [
        "price_rank",
        "item_loyalty_vs_set_best",
        "brand_loyalty_vs_set_best",
        "x_promo_vs_set",
    ]
    full = _context(original_unit_price=[1.0, 2.0], offered_unit_price=[1.0, 2.0], position=[1, 2])
    assert full.feature_names_[0] == "offer_price_ratio" and full.feature_names_[-1] == "position"
    none = OfferSetContext().fit(pd.DataFrame({"ts": [0]}), [], [])
    assert none.feature_names_ == ["price_rank"]  # no orders: no loyalty comparison


def test_request_path_equals_the_frame_path_for_one_set():
    ctx = _context(original_unit_price=[1.0, 2.0], offered_unit_price=[1.0, 2.0])
    price = np.array([4.0, 2.0, 4.0, 9.0])
    ratio = np.array([1.1, 0.5, 1.1, 2.0])
    loyalty = {
        "item_loyalty": np.array([0.1, 0.6, np.nan, 0.0]),
        "brand_loyalty": np.array([0.7, 0.6, np.nan, 0.0]),
    }
    frame = ctx.transform(
        np.zeros(4, dtype=int), price, ratio, loyalty, {"x_promo": np.ones(4)}, np.full(4, 1.0)
    )
    request = ctx.transform_request(price, ratio, loyalty)
    assert set(frame) == set(request)
    for name, values in frame.items():
        np.testing.assert_allclose(request[name], values, err_msg=name)
    assert frame["item_loyalty_vs_set_best"].tolist()[:2] == pytest.approx([-0.5, 0.0])
    assert np.isnan(frame["item_loyalty_vs_set_best"][2])  # no history: unknown
