"""Point in time: no feature sees the future, and serving computes what training computed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.dataset import Dataset
from features.order_fields import record_fields
from features.order_outcomes import line_outcomes
from features.risk_history import state_values
from features.risk_state import RiskState


def assert_same_values(got: dict[str, np.ndarray], want: dict[str, np.ndarray], where: str) -> None:
    assert set(got) == set(want), f"{where}: keys differ: {set(got) ^ set(want)}"
    for name in want:
        a, b = got[name], want[name]
        if b.dtype == object:
            assert list(a) == list(b), f"{where}: {name} {a} != {b}"
        else:
            np.testing.assert_allclose(
                a.astype(float), b.astype(float), rtol=1e-9, atol=1e-9, err_msg=f"{where}: {name}"
            )


def perturb_after(ds: Dataset, cutoff: pd.Timestamp, seed: int = 0) -> Dataset:
    """Change everything that happened at or after ``cutoff``, keep it after ``cutoff``."""
    rng = np.random.default_rng(seed)
    orders = ds.orders.copy()
    future = orders["order_ts"] >= cutoff
    n = int(future.sum())
    orders.loc[future, "qty"] = rng.integers(1, 500, n).astype(float)
    orders.loc[future, "unit_price"] = orders.loc[future, "unit_price"] * rng.uniform(0.1, 3, n)
    orders.loc[future, "promised_date"] = orders.loc[future, "promised_date"] + pd.to_timedelta(
        rng.integers(0, 9, n), unit="D"
    )
    orders.loc[future, "customer_id"] = rng.choice(ds.customers["customer_id"], n)
    ful = ds.fulfillments.copy()
    day = cutoff.normalize()
    late_ship = ful["ship_date"] >= day
    late_delivery = ful["delivered_date"] >= day
    ful.loc[late_ship, "shipped_qty"] = rng.integers(0, 50, int(late_ship.sum())).astype(float)
    ful.loc[late_delivery, "delivered_date"] = ful.loc[
        late_delivery, "delivered_date"
    ] + pd.Timedelta(days=3)
    inventory = ds.inventory.copy()
    later = inventory["snapshot_date"] > day
    inventory.loc[later, "on_hand"] = rng.integers(0, 1000, int(later.sum())).astype(float)
    inventory.loc[later, "quarantined"] = 0.0
    return dataclasses.replace(ds, orders=orders, fulfillments=ful, inventory=inventory)


def test_perturbing_the_future_leaves_earlier_features_unchanged(small_ds: Dataset):
    orders = small_ds.orders
    cutoff = orders["order_ts"].iloc[len(orders) * 3 // 5]
    before = (orders["order_ts"] < cutoff).to_numpy()
    original = state_values(small_ds)
    changed = perturb_after(small_ds, cutoff)
    assert not changed.orders.equals(small_ds.orders)
    perturbed = state_values(changed)
    assert_same_values(
        {k: v[before] for k, v in perturbed.items()},
        {k: v[before] for k, v in original.items()},
        "lines before the cutoff",
    )
    # The check has teeth: lines after the cutoff did change.
    after = ~before
    assert not np.allclose(perturbed["il_units_28d"][after], original["il_units_28d"][after])


def test_live_state_replays_history_exactly(small_ds: Dataset):
    """Serving path = training path, through three days of snapshots, orders and outcomes.

    The state starts at a midnight knowing only the past; then, day by day, the new
    inventory snapshots are applied, outcomes are recorded as they become final, and
    every order is scored (state values compared with the history path) and recorded.
    """
    orders = small_ds.orders.reset_index(drop=True)
    history = state_values(small_ds)
    outcomes = line_outcomes(small_ds)
    start = orders["order_ts"].iloc[len(orders) // 2].normalize()
    state = RiskState.from_dataset(small_ds, as_of=start)
    ful = small_ds.fulfillments.set_index(["order_id", "line_no"])
    first_day = int(start.to_datetime64().astype("datetime64[D]").astype(np.int64))
    inventory = small_ds.inventory
    checked = recorded = 0
    for offset in range(3):
        day = first_day + offset
        date = pd.Timestamp(day, unit="D")
        if offset:
            for row in inventory[inventory["snapshot_date"] == date].itertuples(index=False):
                state.update_inventory(
                    row.item_id,
                    row.location_id,
                    snapshot_date=date,
                    on_hand=row.on_hand,
                    allocated=row.allocated,
                    reserved=row.reserved,
                    quarantined=row.quarantined,
                    in_transit=row.in_transit,
                    in_transit_eta=None if pd.isna(row.in_transit_eta) else row.in_transit_eta,
                )
            final_today = np.flatnonzero(outcomes["final_day"].to_numpy() == day)
            for k in final_today:
                key = (orders.at[k, "order_id"], orders.at[k, "line_no"])
                f = ful.loc[key]
                assert state.record_outcome(
                    *key, f["shipped_qty"], f["ship_date"], f["delivered_date"]
                ), f"line {key} should have been open"
                recorded += 1
        today = orders[orders["order_ts"].dt.normalize() == date]
        for _, lines in today.groupby(["order_ts", "order_id"], sort=True):
            lines = lines.sort_values("line_no")
            records = lines.to_dict("records")
            got = state.values(record_fields(records))
            want = {k: v[lines.index.to_numpy()] for k, v in history.items()}
            assert_same_values(got, want, f"order {records[0]['order_id']} on day {offset}")
            state.record_order(records)
            checked += 1
    assert checked > 50 and recorded > 50


def test_record_outcome_refuses_unknown_lines_and_waits_for_delivery(small_ds: Dataset):
    state = RiskState.from_dataset(small_ds)
    assert not state.record_outcome("no-such-order", 1, 3.0)
    line = {
        "order_id": "NEW1",
        "line_no": 1,
        "order_ts": pd.Timestamp(state._day, unit="D") + pd.Timedelta(hours=9),
        "customer_id": small_ds.customers["customer_id"].iloc[0],
        "item_id": small_ds.items["item_id"].iloc[0],
        "location_id": small_ds.locations["location_id"].iloc[0],
        "qty": 2.0,
        "unit_price": 5.0,
        "promised_date": pd.Timestamp(state._day + 3, unit="D"),
    }
    state.record_order([line])
    assert not state.record_outcome("NEW1", 1, 2.0, ship_date=line["promised_date"])
    assert state.record_outcome("NEW1", 1, 2.0, line["promised_date"], line["promised_date"])
    assert not state.record_outcome("NEW1", 1, 2.0), "already final"


def test_update_inventory_refuses_bad_values(small_ds: Dataset):
    state = RiskState.from_dataset(small_ds)
    with pytest.raises(ValueError, match="on_hand must be >= 0"):
        state.update_inventory("I1", "DAL", "2024-01-01", on_hand=-1)
