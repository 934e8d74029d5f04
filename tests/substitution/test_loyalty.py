"""Purchase loyalty from ``orders``: Guadagni–Little shares, point in time, serving = training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.substitution_catalog import ItemCatalog
from features.substitution_loyalty import PurchaseLoyalty
from tests.substitution.conftest import tiny_items

T0 = pd.Timestamp("2024-01-01")


def _orders(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    """(order_id, customer, item, day) → order lines."""
    return pd.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "item_id": [r[2] for r in rows],
            "order_ts": [T0 + pd.Timedelta(days=r[3]) for r in rows],
        }
    )


@pytest.fixture
def catalog() -> ItemCatalog:
    return ItemCatalog.from_items(tiny_items())


# C1 buys in category a: A1, A1, A3, A1 (days 1–4), and B1 in category b.
HISTORY = [
    ("O1", "C1", "A1", 1),
    ("O2", "C1", "A1", 2),
    ("O3", "C1", "A3", 3),
    ("O3", "C1", "B1", 3),
    ("O4", "C1", "A1", 4),
    ("O5", "C2", "A2", 2),
]


def _by_hand(sequence: list[str], item: str, decay: float) -> float:
    k = len(sequence)
    weights = decay ** (k - 1 - np.arange(k))
    return float((weights * (np.array(sequence) == item)).sum() * (1 - decay) / (1 - decay**k))


def test_current_state_is_the_guadagni_little_share(catalog):
    loyalty = PurchaseLoyalty(decay=0.8).fit(
        _orders(HISTORY), catalog.index, catalog.category, catalog.brand
    )
    a1, a2, a3 = catalog.lookup(["A1", "A2", "A3"])
    f = loyalty.current("C1", int(a2), np.array([a1, a3, a2]))
    sequence = ["A1", "A1", "A3", "A1"]
    assert f["item_loyalty"][0] == pytest.approx(_by_hand(sequence, "A1", 0.8))
    assert f["item_loyalty"][1] == pytest.approx(_by_hand(sequence, "A3", 0.8))
    assert f["item_loyalty"][2] == 0.0  # never bought, but the category has purchases
    assert f["item_purchase_share"].tolist() == pytest.approx([0.75, 0.25, 0.0])
    assert f["last_purchased"].tolist() == [1.0, 0.0, 0.0]
    assert f["category_purchases"][0] == pytest.approx(np.log1p(4))
    # A1 and A2 share brand x: the brand's share is the sum of its items' shares.
    assert f["brand_loyalty"][2] == pytest.approx(f["item_loyalty"][0])
    assert f["original_loyalty"] == pytest.approx([0.0] * 3)  # A2 is not C1's
    assert f["item_purchases"].tolist() == [3.0, 1.0, 0.0]
    # Shares of one category sum to one.
    assert f["item_loyalty"][0] + f["item_loyalty"][1] == pytest.approx(1.0)


def test_a_customer_without_purchases_in_the_category_has_unknown_loyalty(catalog):
    loyalty = PurchaseLoyalty().fit(_orders(HISTORY), catalog.index, catalog.category, None)
    b1, b2, a1 = catalog.lookup(["B1", "B2", "A1"])
    assert "brand_loyalty" not in loyalty.feature_names_  # no brand column: no feature
    stranger = loyalty.current("C9", int(a1), np.array([b1, b2]))
    assert np.isnan(stranger["item_loyalty"]).all() and (stranger["category_purchases"] == 0).all()
    c2 = loyalty.current("C2", int(b1), np.array([b2]))  # C2 never bought in category b
    assert np.isnan(c2["item_loyalty"]).all()


def test_point_in_time_sees_only_purchases_strictly_before_the_cutoff(catalog):
    orders = _orders(HISTORY)
    loyalty = PurchaseLoyalty(decay=0.8).fit(orders, catalog.index, catalog.category, None)
    a2, a3 = catalog.lookup(["A2", "A3"])
    cutoffs = pd.to_datetime(
        [
            T0,
            T0 + pd.Timedelta(days=3),
            T0 + pd.Timedelta(days=3, hours=1),
            T0 + pd.Timedelta(days=9),
        ]
    ).to_numpy()
    f = loyalty.point_in_time(orders, np.array(["C1"] * 4), np.full(4, a2), np.full(4, a3), cutoffs)
    assert np.isnan(f["item_loyalty"][0])  # nothing bought yet
    assert f["item_loyalty"][1] == 0.0  # the day-3 order itself is not "before" day 3
    assert f["item_loyalty"][2] == pytest.approx(_by_hand(["A1", "A1", "A3"], "A3", 0.8))
    assert f["last_purchased"][2] == 1.0 and f["last_purchased"][3] == 0.0
    # After every purchase, the point-in-time view is the serving state.
    current = loyalty.current("C1", int(a2), np.array([a3]))
    for name, values in current.items():
        assert f[name][3] == pytest.approx(values[0], nan_ok=True), name


def test_point_in_time_agrees_with_serving_on_a_simulated_history(small_dataset):
    ds = small_dataset
    catalog = ItemCatalog.from_items(ds.items)
    loyalty = PurchaseLoyalty().fit(
        ds.orders, catalog.index, catalog.category, catalog.brand, catalog.list_price
    )
    assert "item_regular_share" in loyalty.feature_names_
    rng = np.random.default_rng(3)
    customers = rng.choice(ds.orders["customer_id"].unique(), 60)
    offered = rng.integers(0, len(catalog), 60)
    original = rng.integers(0, len(catalog), 60)
    after = np.full(60, np.datetime64("2100-01-01"), dtype="datetime64[ns]")
    pit = loyalty.point_in_time(ds.orders, customers, original, offered, after)
    for k in range(60):
        current = loyalty.current(customers[k], int(original[k]), offered[k : k + 1])
        for name, values in current.items():
            assert pit[name][k] == pytest.approx(values[0], nan_ok=True), name
    assert np.nanmax(pit["item_loyalty"]) > 0  # some customers did buy what was drawn


def test_items_unknown_to_the_master_are_ignored(catalog):
    orders = _orders([*HISTORY, ("O9", "C1", "GHOST", 5)])
    loyalty = PurchaseLoyalty().fit(orders, catalog.index, catalog.category, None)
    assert loyalty.bought("C1", int(catalog.category[catalog.index["A1"]])).tolist() == sorted(
        catalog.lookup(["A1", "A3"]).tolist()
    )


def test_a_purchase_at_a_deal_price_is_no_regular_purchase(catalog):
    """C1 pays its usual 90 % of list for A1 three times and for A3 once at 60 % (a
    promotion): A3 has a quarter of the purchases but none of the regular-price ones."""
    orders = _orders(HISTORY)
    list_price = dict(zip(catalog.item_ids, catalog.list_price, strict=True))
    level = np.where((orders["item_id"] == "A3").to_numpy(), 0.6, 0.9)
    orders["unit_price"] = orders["item_id"].map(list_price).to_numpy() * level
    loyalty = PurchaseLoyalty().fit(
        orders, catalog.index, catalog.category, None, catalog.list_price
    )
    a1, a2, a3 = catalog.lookup(["A1", "A2", "A3"])
    f = loyalty.current("C1", int(a2), np.array([a1, a3]))
    assert f["item_purchase_share"].tolist() == pytest.approx([0.75, 0.25])
    assert f["item_regular_share"].tolist() == pytest.approx([1.0, 0.0])
    # The same at the contract level: every purchase is regular, shares are the plain ones.
    orders["unit_price"] = orders["item_id"].map(list_price).to_numpy() * 0.9
    flat = PurchaseLoyalty().fit(orders, catalog.index, catalog.category, None, catalog.list_price)
    g = flat.current("C1", int(a2), np.array([a1, a3]))
    assert g["item_regular_share"].tolist() == pytest.approx([0.75, 0.25])
    # Point in time after all history is the serving state.
    after = np.full(2, np.datetime64("2100-01-01"), dtype="datetime64[ns]")
    pit = loyalty.point_in_time(
        orders.assign(unit_price=orders["unit_price"] / 0.9 * level),
        np.array(["C1", "C1"]),
        np.full(2, a2),
        np.array([a1, a3]),
        after,
    )
    assert pit["item_regular_share"].tolist() == pytest.approx([1.0, 0.0])


def test_without_unit_prices_there_is_no_regular_share(catalog):
    loyalty = PurchaseLoyalty().fit(
        _orders(HISTORY), catalog.index, catalog.category, None, catalog.list_price
    )
    assert "item_regular_share" not in loyalty.feature_names_
