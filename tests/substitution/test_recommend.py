"""The serving request path: live stock, cold start, parity with the batch path, reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from features.inventory import InventoryPositions
from models.substitution_recommender import CandidateIndex, SubstitutionRecommender
from stockpilot.errors import InvalidInput, NotFound
from training.substitution import fit

TS = pd.Timestamp("2024-09-01 10:00")


@pytest.fixture(scope="module")
def recommender(small_fit):
    return small_fit[0]


@pytest.fixture
def inventory(small_dataset) -> InventoryPositions:
    return InventoryPositions.from_inventory(small_dataset.inventory)


def _request(small_dataset, k: int = 0) -> dict:
    line = small_dataset.orders.iloc[-1 - k]
    return {
        "customer_id": str(line["customer_id"]),
        "item_id": str(line["item_id"]),
        "qty": float(line["qty"]),
        "location_id": str(line["location_id"]),
        "need_by": line["promised_date"],
        "ts": TS,
    }


positions = st.tuples(
    st.floats(0, 150, allow_nan=False),  # on hand
    st.floats(0, 30, allow_nan=False),  # allocated
    st.floats(0, 30, allow_nan=False),  # reserved
    st.floats(0, 30, allow_nan=False),  # quarantined
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_never_offers_stock_that_cannot_cover_the_line(recommender, small_dataset, data):
    """Property: every substitute is covered at the line's location, or flagged as elsewhere."""
    catalog = recommender.features.catalog_
    locations = sorted(small_dataset.locations["location_id"].astype(str))
    item = data.draw(st.sampled_from(sorted(catalog.index)), label="item")
    candidates = list(catalog.item_ids[recommender.candidates[catalog.index[item]]])
    stocked = candidates or ["NOT-A-CANDIDATE"]  # an item without candidates: stock elsewhere
    stock = data.draw(
        st.lists(
            st.tuples(st.sampled_from(stocked), st.sampled_from(locations), positions),
            min_size=5,
            max_size=90,
        ),
        label="stock",
    )
    frame = pd.DataFrame(
        [(i, loc, *p) for i, loc, p in stock],
        columns=["item_id", "location_id", "on_hand", "allocated", "reserved", "quarantined"],
    ).drop_duplicates(["item_id", "location_id"], keep="last")
    inventory = InventoryPositions(frame)
    qty = data.draw(st.floats(0.5, 40), label="qty")
    location = data.draw(st.sampled_from(locations), label="location")
    other = data.draw(st.booleans(), label="other_locations")
    result = recommender.recommend(
        "C00001",
        item,
        qty,
        location,
        TS + pd.Timedelta(days=3),
        inventory=inventory,
        n=10,
        ts=TS,
        other_locations=other,
        explain=False,
    )
    event(f"substitutes: {min(len(result.substitutes), 3)}+")
    event(f"other location: {any(s.other_location for s in result.substitutes)}")
    for s in result.substitutes:
        assert s.item_id != item and catalog.active[catalog.index[s.item_id]]
        assert s.available == inventory.available(s.item_id, s.location_id)
        assert inventory.available(s.item_id, s.location_id) >= qty
        if s.other_location:
            assert other and s.location_id != location
            assert inventory.available(s.item_id, location) < qty
        else:
            assert s.location_id == location
    assert [s.rank for s in result.substitutes] == list(range(1, len(result.substitutes) + 1))
    p = [s.p_accept for s in result.substitutes]
    assert p == sorted(p, reverse=True)


def test_cold_start_item_gets_attribute_candidates(small_dataset, inventory):
    subs = small_dataset.substitutions
    counts = pd.concat([subs["original_item_id"], subs["offered_item_id"]]).value_counts()
    item = str(counts.index[0])  # the item with the most history: remove all of it
    involved = (subs["original_item_id"] == item) | (subs["offered_item_id"] == item)
    cold = type(small_dataset)(**{**small_dataset.__dict__, "substitutions": subs[~involved]})
    recommender, _ = fit(cold, num_threads=1, n_estimators=50)
    catalog = recommender.features.catalog_
    candidates = recommender.candidates[catalog.index[item]]
    assert len(candidates) > 0
    same = catalog.category[candidates] == catalog.category[catalog.index[item]]
    assert same.all()  # no history: only attribute neighbours of its category
    location = str(small_dataset.locations["location_id"].iat[0])
    for j in catalog.item_ids[candidates]:
        inventory.update(
            str(j), location, on_hand=1000.0, allocated=0.0, reserved=0.0, quarantined=0.0
        )
    result = recommender.recommend("C00002", item, 2.0, location, inventory=inventory, ts=TS)
    assert len(result.substitutes) == 5
    assert all(0.0 < s.p_accept < 1.0 for s in result.substitutes)


def test_request_path_matches_the_batch_feature_path(recommender, small_dataset, inventory):
    """The numpy request path and the pandas frame path (pyfunc predict) agree exactly.

    Offer-set features compare a candidate with the others, so the frame holds every
    candidate the request scored (n large enough to return them all).
    """
    checked = 0
    for k in range(20):
        req = _request(small_dataset, k)
        if req["item_id"] not in recommender.features.catalog_.index:
            continue
        result = recommender.recommend(
            **req, inventory=inventory, n=10_000, context={"x_display": 1}
        )
        frame = pd.DataFrame(
            {
                "customer_id": req["customer_id"],
                "original_item_id": req["item_id"],
                "offered_item_id": [s.item_id for s in result.substitutes],
                "ts": req["ts"],
                "need_by": req["need_by"],
                "qty": req["qty"],
                "available": [
                    inventory.available(s.item_id, req["location_id"]) for s in result.substitutes
                ],
                "x_display": 1.0,
            }
        )
        if frame.empty:
            continue
        X = recommender.features.transform(frame, point_in_time=False)
        p = recommender.model.predict_proba(X)[:, 1]
        np.testing.assert_allclose(p, [s.p_accept for s in result.substitutes], rtol=1e-12)
        checked += 1
    assert checked >= 5


def test_substitutes_carry_reasons_prices_and_margins(recommender, small_dataset, inventory):
    req = _request(small_dataset)
    result = recommender.recommend(**req, inventory=inventory, unit_price=10.0)
    assert result.substitutes, "the last order line of the small dataset should have substitutes"
    catalog = recommender.features.catalog_
    o = catalog.index[req["item_id"]]
    for s in result.substitutes:
        assert 1 <= len(s.reasons) <= 3 and all(r.text for r in s.reasons)
        sizes = [abs(r.contribution) for r in s.reasons]
        assert sizes == sorted(sizes, reverse=True)
        j = catalog.index[s.item_id]
        expected = catalog.list_price[j] * 10.0 / catalog.list_price[o]
        assert s.unit_price == pytest.approx(expected, rel=1e-3)
        assert s.price_delta == pytest.approx(expected - 10.0, abs=1e-3)
    payload = result.to_dict()
    assert payload["substitutes"][0]["reasons"][0]["text"]


def test_live_inventory_changes_the_next_answer(recommender, small_dataset, inventory):
    req = _request(small_dataset)
    first = recommender.recommend(**req, inventory=inventory, other_locations=False)
    top = first.substitutes[0].item_id
    inventory.update(top, req["location_id"], on_hand=0.0)
    again = recommender.recommend(**req, inventory=inventory, other_locations=False)
    assert top not in {s.item_id for s in again.substitutes}


def test_bad_requests_are_refused(recommender, inventory):
    with pytest.raises(NotFound, match="item_id"):
        recommender.recommend("C1", "NO-SUCH-ITEM", 1, "L", inventory=inventory)
    item = next(iter(recommender.features.catalog_.index))
    with pytest.raises(InvalidInput, match="qty"):
        recommender.recommend("C1", item, 0, "L", inventory=inventory)
    with pytest.raises(InvalidInput, match="need_by"):
        recommender.recommend("C1", item, 1, "L", "not a date", inventory=inventory)
    with pytest.raises(InvalidInput, match="n must"):
        recommender.recommend("C1", item, 1, "L", inventory=inventory, n=0)


def test_candidates_keep_every_item_the_customer_buys_in_the_category(recommender, inventory):
    """Habit: an item the customer buys is a candidate even when no neighbour list has it."""
    fs = recommender.features
    catalog = fs.catalog_
    one_neighbour = CandidateIndex(n_neighbours=1).fit(catalog, np.empty((0, 2), dtype=np.int64))
    recommender = SubstitutionRecommender(fs, recommender.model, one_neighbour)
    found = None
    for customer, state in fs.loyalty_.customers_.items():
        for j in state.items:
            same = np.flatnonzero(
                (catalog.category == catalog.category[j]) & (np.arange(len(catalog)) != j)
            )
            outside = [o for o in same if j not in set(recommender.candidates[o].tolist())]
            if outside and catalog.active[j]:
                found = customer, int(j), int(outside[0])
                break
        if found:
            break
    assert found, "the small dataset should have a bought item outside some neighbour list"
    customer, j, o = found
    inventory.update(str(catalog.item_ids[j]), "L-TEST", on_hand=1e6)
    result = recommender.recommend(
        customer, str(catalog.item_ids[o]), 1.0, "L-TEST", inventory=inventory, n=10_000, ts=TS
    )
    assert str(catalog.item_ids[j]) in [s.item_id for s in result.substitutes]
    assert result.n_candidates > len(recommender.candidates[o])
