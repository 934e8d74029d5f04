"""Served outcomes become contract rows that the next training run reads."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from features.contract import validate_table
from features.inventory import InventoryPositions
from models.substitution_feedback import feedback_rows
from stockpilot.data import load_dataset
from stockpilot.errors import Conflict, ContractViolation
from stockpilot.feedback import append_substitutions
from training.substitution import offer_rows


@pytest.fixture(scope="module")
def result(small_fit, small_dataset):
    recommender = small_fit[0]
    inventory = InventoryPositions.from_inventory(small_dataset.inventory)
    line = small_dataset.orders.iloc[-1]
    out = recommender.recommend(
        str(line["customer_id"]),
        str(line["item_id"]),
        float(line["qty"]),
        str(line["location_id"]),
        line["promised_date"],
        inventory=inventory,
        ts="2024-08-20 09:30",
        unit_price=float(line["unit_price"]),
        context={"x_display": 1},
    )
    assert len(out.substitutes) >= 3
    return out


def test_feedback_rows_meet_the_contract(result):
    chosen = result.substitutes[1].item_id
    rows = feedback_rows(result, accepted=[chosen], order_id="O-FEEDBACK")
    typed, violations = validate_table("substitutions", rows)
    assert violations == [] and typed is not None
    assert rows["accepted"].tolist() == [s.item_id == chosen for s in result.substitutes]
    assert rows["position"].tolist() == [s.rank for s in result.substitutes]
    assert (rows["x_display"] == 1).all() and (rows["order_id"] == "O-FEEDBACK").all()
    assert rows["event_id"].is_unique


def test_feedback_refuses_items_that_were_not_offered(result):
    with pytest.raises(ValueError, match="not offered"):
        feedback_rows(result, accepted=["NOT-OFFERED"])
    shown = [result.substitutes[0].item_id]
    with pytest.raises(ValueError, match="not offered"):
        feedback_rows(result, accepted=[result.substitutes[1].item_id], offered=shown)
    rows = feedback_rows(result, accepted=[], offered=shown)
    assert len(rows) == 1 and not rows["accepted"].any()


def test_appended_feedback_is_read_by_the_next_training(result, small_data_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_data_dir, data)
    before = len(load_dataset(data).substitutions)
    rows = feedback_rows(result, accepted=[result.substitutes[0].item_id], order_id="O-FB")
    assert append_substitutions(data, rows) == len(rows)
    assert append_substitutions(data, rows) == 0  # a retry writes nothing twice
    flipped = rows.assign(accepted=~rows["accepted"])
    with pytest.raises(Conflict):
        append_substitutions(data, flipped)
    ds = load_dataset(data)
    assert len(ds.substitutions) == before + len(rows)
    offers = offer_rows(ds, labelled_only=True)
    assert set(rows["event_id"]) <= set(offers["event_id"])


def test_append_to_a_csv_table_and_refuse_invalid_rows(result, small_dataset, tmp_path):
    small_dataset.substitutions.head(20).to_csv(tmp_path / "substitutions.csv", index=False)
    rows = feedback_rows(result, accepted=[])
    assert append_substitutions(tmp_path, rows) == len(rows)
    raw = pd.read_csv(tmp_path / "substitutions.csv", dtype=str)
    typed, violations = validate_table("substitutions", raw)
    assert violations == [] and len(typed) == 20 + len(rows)
    with pytest.raises(ContractViolation, match="customer_id"):
        append_substitutions(tmp_path, rows.drop(columns="customer_id"))
