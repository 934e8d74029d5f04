"""Real exports lack optional columns: fewer features, never a crash."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.dataset import Dataset
from features.inventory import InventoryPositions
from features.substitution import SubstitutionFeatures
from stockpilot.errors import InvalidInput
from tests.substitution.conftest import tiny_items, tiny_offers
from training.substitution import evaluate, fit, offer_rows

REQUIRED_SUBS = ["event_id", "ts", "customer_id", "original_item_id", "offered_item_id", "accepted"]


def test_contract_minimum_trains_and_recommends(small_dataset):
    ds = small_dataset
    bare = Dataset(
        items=ds.items[["item_id", "category", "unit_cost", "list_price"]],
        locations=ds.locations[["location_id"]],
        customers=ds.customers[["customer_id"]],
        orders=ds.orders,
        fulfillments=ds.fulfillments,
        inventory=ds.inventory[["snapshot_date", "item_id", "location_id", "on_hand"]],
        substitutions=ds.substitutions[REQUIRED_SUBS],
    )
    recommender, prepared = fit(bare, num_threads=1, n_estimators=60)
    names = set(recommender.features.feature_names_in_)
    assert not names & {"same_brand", "log_pack_ratio", "x_display", "customer_segment"}
    assert not any(n.startswith(("attr_", "customer_attr_", "customer_pack_")) for n in names)
    # Without order_id there is no line context: urgency and stock cover are unknown.
    assert prepared.X["urgency_days"].isna().all() and prepared.X["stock_cover"].isna().all()
    evaluation, _ = evaluate(recommender, prepared, truth={})
    assert evaluation["oracle"] is None and evaluation["test"]["n_events"] > 0
    baselines = evaluation["baselines"]
    assert set(baselines) == {"popularity", "habit", "conditional_logit", "attribute_similarity"}
    assert all(np.isfinite(b["hit@1_switch"]) for b in baselines.values())
    assert evaluation["baseline_models"]["conditional_logit"]["converged"]
    inventory = InventoryPositions.from_inventory(bare.inventory)
    line = ds.orders.iloc[-1]
    result = recommender.recommend(
        str(line["customer_id"]),
        str(line["item_id"]),
        1.0,
        str(line["location_id"]),
        inventory=inventory,
        ts="2024-08-01",
    )
    assert all(0 < s.p_accept < 1 for s in result.substitutes)


def test_messy_attributes_and_text_context():
    items = tiny_items()
    items.loc[2, "attr_size"] = np.nan
    items["attr_finish"] = ["matt", None, "gloss", "matt", None, None, "gloss"]
    items = items.drop(columns=["brand"])
    offers = tiny_offers(50, seed=9)
    offers.loc[::5, "x_channel"] = None
    fs = SubstitutionFeatures().fit(items, offers)
    X = fs.transform(offers, point_in_time=True)
    assert "attr_finish_same" in X.columns and "same_brand" not in X.columns
    assert "customer_attr_finish_value_accept_rate" in X.columns
    assert "customer_brand_accept_rate" not in X.columns
    assert np.isfinite(X["attribute_distance"]).all()  # always some attribute to compare
    assert X["x_channel"].isna().sum() == offers["x_channel"].isna().sum()


def test_offers_of_items_missing_from_the_master_are_kept_as_unknown():
    items, offers = tiny_items(), tiny_offers(30)
    offers.loc[0, "offered_item_id"] = "GHOST"
    X = SubstitutionFeatures().fit(items, offers).transform(offers, point_in_time=True)
    assert np.isnan(X.loc[0, "log_price_ratio"]) and len(X) == len(offers)
    assert pd.notna(X.loc[0, "customer_accept_rate"])


@pytest.mark.parametrize(
    ("labelled_only", "purpose"), [(True, "nothing to learn from"), (False, "no offers to monitor")]
)
def test_a_missing_or_empty_substitutions_table_is_refused_by_name(
    small_dataset, labelled_only, purpose
):
    ds = small_dataset
    with pytest.raises(InvalidInput, match=f"has no substitutions table: {purpose}") as err:
        offer_rows(dataclasses.replace(ds, substitutions=None), labelled_only=labelled_only)
    assert err.value.details == {"table": "substitutions"}
    empty = dataclasses.replace(ds, substitutions=ds.substitutions.iloc[:0])
    with pytest.raises(InvalidInput, match=f"has an empty substitutions table: {purpose}"):
        offer_rows(empty, labelled_only=labelled_only)


def test_monitoring_keeps_the_unanswered_offers_training_drops(small_dataset):
    subs = small_dataset.substitutions.copy()
    unanswered = subs.index[::7]
    subs["accepted"] = subs["accepted"].astype(object)
    subs.loc[unanswered, "accepted"] = None
    ds = dataclasses.replace(small_dataset, substitutions=subs)
    every, labelled = offer_rows(ds, labelled_only=False), offer_rows(ds, labelled_only=True)
    assert len(every) == len(subs) and len(labelled) == len(subs) - len(unanswered)
    assert every["ts"].is_monotonic_increasing
    answered = every[every["accepted"].notna()].reset_index(drop=True)
    pd.testing.assert_frame_equal(answered, labelled)
