"""Customer taste: relation keys per attribute and the customer's acceptance per relation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.substitution import ItemCatalog, SubstitutionFeatures
from features.substitution_history import UNKNOWN, AcceptanceHistory, Statistic
from features.substitution_taste import (
    MAX_CATEGORICAL,
    MAX_NUMERIC,
    MAX_VALUES,
    OTHER_VALUE,
    TasteRelations,
)
from models.substitution_reasons import describe
from tests.substitution.conftest import tiny_items, tiny_offers

TASTE = [
    "customer_attr_colour_same_accept_rate",
    "customer_attr_colour_value_accept_rate",
    "customer_attr_size_direction_accept_rate",
    "customer_pack_size_direction_accept_rate",
]


def test_relation_keys_of_the_tiny_catalogue():
    catalog = ItemCatalog.from_items(tiny_items())
    taste = TasteRelations().fit(catalog)
    assert taste.names() == [
        "attr_colour_same",
        "attr_colour_value",
        "attr_size_direction",
        "pack_size_direction",
    ]
    o = catalog.lookup(["A1", "A1", "B1", "A1"])
    j = catalog.lookup(["A2", "A3", "B2", "GHOST"])
    keys = taste.keys(o, j)
    assert keys["attr_colour_same"].tolist() == ["1", "0", UNKNOWN, UNKNOWN]  # B2: no colour
    red, blue = keys["attr_colour_value"][0], keys["attr_colour_value"][1]
    assert red != blue and UNKNOWN not in (red, blue)
    assert keys["attr_colour_value"][2] == UNKNOWN
    assert keys["attr_size_direction"].tolist() == ["+", "+", "=", UNKNOWN]
    assert keys["pack_size_direction"].tolist() == ["=", "+", "=", UNKNOWN]


def test_relations_are_bounded_for_a_wide_item_master():
    n = 40
    items = pd.DataFrame(
        {
            "item_id": [f"I{k}" for k in range(n)],
            "category": "c",
            "unit_cost": 1.0,
            "list_price": 2.0,
            **{f"attr_t{k:02d}": [f"v{i % 30}" for i in range(n)] for k in range(12)},
            **{f"attr_n{k:02d}": np.arange(n, dtype=float) for k in range(12)},
        }
    )
    taste = TasteRelations().fit(ItemCatalog.from_items(items))
    assert len(taste.categorical_) == MAX_CATEGORICAL and len(taste.numeric_) == MAX_NUMERIC
    assert len(taste.statistics()) == 2 * MAX_CATEGORICAL + MAX_NUMERIC  # no pack_size
    values = taste.keys(np.zeros(n, dtype=np.int64), np.arange(n))["attr_t00_value"]
    assert len(set(values) - {OTHER_VALUE}) == MAX_VALUES and OTHER_VALUE in set(values)


def _opposite_tastes(n_sets: int = 80) -> pd.DataFrame:
    """C0 accepts red and refuses blue; C1 the opposite; A1 (red) is always the original."""
    rows = []
    for k in range(n_sets):
        customer = f"C{k % 2}"
        ts = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=k)
        for pos, (item, colour) in enumerate((("A2", "red"), ("A3", "blue")), start=1):
            rows.append(
                {
                    "event_id": f"E{len(rows):04d}",
                    "ts": ts,
                    "customer_id": customer,
                    "original_item_id": "A1",
                    "offered_item_id": item,
                    "accepted": (colour == "red") == (customer == "C0"),
                    "order_id": f"O{k:04d}",
                    "position": pos,
                }
            )
    return pd.DataFrame(rows)


def test_opposite_tastes_get_opposite_features():
    """The population sees 50 % everywhere; each customer's own history tells them apart."""
    offers = _opposite_tastes()
    fs = SubstitutionFeatures().fit(tiny_items(), offers)
    later = offers.tail(4).assign(ts=offers["ts"].max() + pd.Timedelta(days=1))
    X = fs.transform(later, point_in_time=False)
    X.index = (later["customer_id"] + "-" + later["offered_item_id"]).to_numpy()
    value = X["customer_attr_colour_value_accept_rate"]
    assert value["C0-A2"] > 0.8 and value["C0-A3"] < 0.2
    assert value["C1-A2"] < 0.2 and value["C1-A3"] > 0.8
    same = X["customer_attr_colour_same_accept_rate"]
    assert same["C0-A2"] > same["C0-A3"] and same["C1-A2"] < same["C1-A3"]
    assert X["pair_accept_rate"]["C0-A2"] == pytest.approx(X["pair_accept_rate"]["C1-A2"])


def test_unknown_relation_is_a_missing_feature_not_a_rate():
    items, offers = tiny_items(), tiny_offers(40, seed=2)
    fs = SubstitutionFeatures().fit(items, offers)
    X = fs.transform(offers, point_in_time=True)
    assert set(TASTE) <= set(fs.feature_names_in_)
    no_colour = (offers["offered_item_id"] == "B2").to_numpy()  # B2 has no colour
    assert no_colour.any()
    assert X.loc[no_colour, "customer_attr_colour_value_accept_rate"].isna().all()
    assert X.loc[~no_colour, "customer_attr_colour_value_accept_rate"].notna().all()
    assert X["customer_attr_size_direction_accept_rate"].notna().all()


def test_taste_rates_shrink_toward_the_customer_rate():
    """No earlier offer in the cell: the customer's own rate, not the population's."""
    offers = _opposite_tastes(6)
    fs = SubstitutionFeatures().fit(tiny_items(), offers)
    X = fs.transform(offers, point_in_time=True)
    np.testing.assert_allclose(
        X["customer_attr_colour_value_accept_rate"].iloc[:4], X["customer_accept_rate"].iloc[:4]
    )


def test_a_statistic_needs_its_prior_first():
    keys = pd.DataFrame({"customer": ["c"], "x": ["1"]})
    stats = [Statistic("customer_x", ("customer", "x"), "customer", False)]
    with pytest.raises(ValueError, match="prior"):
        AcceptanceHistory(statistics=stats).fit(
            keys, pd.Series(pd.to_datetime(["2024-01-01"])), pd.Series([True])
        )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("customer_attr_grade_value_accept_rate", "accepts 42% of offers of this grade"),
        ("customer_attr_material_same_accept_rate", "offers with this material change"),
        ("customer_pack_size_direction_accept_rate", "the pack size moving this way"),
    ],
)
def test_taste_features_have_reasons_in_words(name, text):
    assert text in describe(name, 0.42, {})
