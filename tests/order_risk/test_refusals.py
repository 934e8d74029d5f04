"""Order history that cannot train a model is refused with a message naming the problem."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from stockpilot.errors import InvalidInput
from tests.order_risk.tiny import line, tiny_dataset
from training.order_risk import prepare, require_both_outcomes, split_lines


def test_fewer_than_100_labelled_lines_are_refused():
    ts = pd.Series(pd.date_range("2024-01-01", periods=150, freq="D"))
    labelled = np.arange(150) < 99
    with pytest.raises(InvalidInput, match=r"at least 100 order lines.*the dataset has 99"):
        split_lines(ts, labelled)
    assert split_lines(ts, np.arange(150) < 100)["train"].any()


@pytest.mark.parametrize(
    ("labels", "found"),
    [([0.0] * 4, "only fulfilled lines"), ([1.0] * 4, "only missed lines"), ([], "no lines")],
)
def test_a_slice_without_both_outcomes_is_named(labels: list[float], found: str):
    y = np.array([0.0, 1.0, *labels])
    masks = {
        "train": np.array([True, True] + [False] * len(labels)),
        "test": np.array([False, False] + [True] * len(labels)),
    }
    require_both_outcomes(y, masks, ("train",))
    with pytest.raises(InvalidInput, match=f"in the test slice .* it has {found} "):
        require_both_outcomes(y, masks, ("train", "test"))


def test_an_export_without_order_lines_or_stock_snapshots_is_refused():
    """Header-only tables meet the contract; features used to fail on them (nanmax of an
    empty array, an IndexError into an empty inventory)."""
    lines = [line(f"O{k}", 1, "2024-01-02 10:00", "2024-01-05") for k in range(3)]
    no_orders = dataclasses.replace(
        tiny_dataset(lines, []), orders=tiny_dataset(lines, []).orders.iloc[:0]
    )
    with pytest.raises(InvalidInput, match="the orders table has no rows"):
        prepare(no_orders)
    ds = tiny_dataset(lines, [])
    with pytest.raises(InvalidInput, match="the inventory table has no rows"):
        prepare(dataclasses.replace(ds, inventory=ds.inventory.iloc[:0]))
    assert len(prepare(ds).orders) == 3
