"""Pair features, offer sets and offer context on tiny frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.substitution import (
    ItemCatalog,
    SubstitutionFeatures,
    offer_set_ids,
    order_context,
    stock_context,
)
from models.substitution_reasons import TASTE_SUFFIXES
from tests.substitution.conftest import tiny_items, tiny_offers


def test_catalog_types_attributes_from_the_contract_columns():
    catalog = ItemCatalog.from_items(tiny_items())
    assert list(catalog.numeric_attrs) == ["attr_size"]
    assert list(catalog.categorical_attrs) == ["attr_colour"]
    assert catalog.brand is not None and catalog.pack_size is not None
    assert not catalog.active[catalog.index["A4"]]
    assert catalog.categorical_attrs["attr_colour"][catalog.index["B2"]] == -1  # missing


def test_pair_features_measure_closeness():
    catalog = ItemCatalog.from_items(tiny_items())
    o = catalog.lookup(["A1", "A1", "A1", "B1"])
    j = catalog.lookup(["A2", "A3", "B1", "B2"])
    f = catalog.pair_features(o, j)
    assert f["same_category"].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert f["same_brand"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert f["log_price_ratio"][1] == pytest.approx(np.log(2.0))
    assert f["log_pack_ratio"][1] == pytest.approx(np.log(6.0))
    assert f["attr_colour_same"][0] == 1.0 and f["attr_colour_same"][1] == 0.0
    assert np.isnan(f["attr_colour_same"][3])  # B2 has no colour: unknown, not "different"
    # A2 is the near-twin of A1, A3 differs in price, pack, size, brand and colour.
    assert f["attribute_distance"][0] < f["attribute_distance"][1]
    sim = catalog.similarity(o, j)
    assert sim[0] > sim[1]


def test_offer_sets_use_order_id_and_fall_back_to_customer():
    offers = tiny_offers(6)
    with_order = offer_set_ids(offers)
    without = offer_set_ids(offers.drop(columns="order_id"))
    # A real export may leave order_id empty for some lines (whole offer sets).
    even_set = offers["order_id"].str[-1].astype(int) % 2 == 0
    partly = offer_set_ids(offers.assign(order_id=offers["order_id"].where(even_set)))
    for ids in (with_order, without, partly):
        assert len(np.unique(ids)) == 6
        assert (pd.Series(ids).groupby(offers["ts"].to_numpy()).nunique() == 1).all()


def test_order_context_finds_the_short_line():
    offers = tiny_offers(4)
    orders = pd.DataFrame(
        {
            "order_id": ["O0000", "O0001"],
            "item_id": [offers["original_item_id"].iat[0], "nope"],
            "promised_date": pd.to_datetime(["2024-01-05", "2024-01-09"]),
            "qty": [3.0, 4.0],
            "order_ts": pd.to_datetime(["2024-01-01 08:00", "2024-01-01 09:00"]),
        }
    )
    ctx = order_context(offers, orders)
    first = offers["order_id"] == "O0000"
    assert (ctx.loc[first, "qty"] == 3.0).all()
    assert (ctx.loc[first, "order_ts"] == pd.Timestamp("2024-01-01 08:00")).all()
    assert ctx.loc[~first, "qty"].isna().all()  # no matching line: unknown, not zero
    assert order_context(offers.drop(columns="order_id"), orders)["qty"].isna().all()


def test_stock_context_is_point_in_time():
    offers = tiny_offers(2).iloc[:1]  # ts 2024-01-01 00:00
    item = offers["offered_item_id"].iat[0]
    inventory = pd.DataFrame(
        {
            "snapshot_date": pd.to_datetime(["2023-12-31", "2024-01-01", "2024-01-02"]),
            "item_id": [item] * 3,
            "location_id": ["L1"] * 3,
            "on_hand": [10.0, 7.0, 100.0],
            "allocated": [0.0, 2.0, 0.0],
        }
    )
    assert stock_context(offers, inventory).iat[0] == 5.0  # same-day snapshot, net of allocated
    assert stock_context(offers.drop(columns="location_id"), inventory).isna().all()


def test_feature_set_names_follow_the_available_columns():
    items, offers = tiny_items(), tiny_offers()
    full = SubstitutionFeatures().fit(items, offers)
    assert {"same_brand", "log_pack_ratio", "attr_size_diff", "attr_colour_same"} <= set(
        full.feature_names_in_
    )
    assert "x_display" in full.feature_names_in_ and "x_channel" in full.categorical_features_
    assert full.version == "substitution-v5"
    assert {"customer_choice_margin", "customer_choice_vs_set_best"} <= set(full.feature_names_in_)
    assert {
        "customer_attr_colour_same_accept_rate",
        "customer_attr_colour_value_accept_rate",
        "customer_attr_size_direction_accept_rate",
        "customer_pack_size_direction_accept_rate",
    } <= set(full.feature_names_in_)
    bare = SubstitutionFeatures().fit(
        items[["item_id", "category", "unit_cost", "list_price"]],
        offers[
            ["event_id", "ts", "customer_id", "original_item_id", "offered_item_id", "accepted"]
        ],
    )
    assert not {"same_brand", "log_pack_ratio", "attr_size_diff", "x_display"} & set(
        bare.feature_names_in_
    )
    assert not [n for n in bare.feature_names_in_ if n.endswith(TASTE_SUFFIXES)]
    X = bare.transform(offers, point_in_time=True)
    assert list(X.columns) == bare.feature_names_in_ and len(X) == len(offers)


def test_unknown_items_and_categories_become_missing_not_errors():
    items, offers = tiny_items(), tiny_offers()
    fs = SubstitutionFeatures().fit(items, offers)
    new = offers.head(2).assign(offered_item_id=["ZZZ", "A2"], x_channel=["fax", "web"])
    X = fs.transform(new)
    assert np.isnan(X["log_price_ratio"].iat[0]) and np.isfinite(X["log_price_ratio"].iat[1])
    assert np.isnan(X["x_channel"].iat[0])
    with pytest.raises(ValueError, match="offered_item_id"):
        fs.transform(offers.drop(columns="offered_item_id"))
