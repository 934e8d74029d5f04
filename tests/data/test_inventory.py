"""The single inventory truth and the live positions built on it."""

import pickle

import pandas as pd
import pytest

from features.inventory import InventoryPositions, available, in_transit_by, latest_positions


def snapshots() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "snapshot_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02"]),
            "item_id": ["A", "A", "B"],
            "location_id": ["DAL", "DAL", "DAL"],
            "on_hand": [10.0, 8.0, 3.0],
            "allocated": [1.0, 2.0, 5.0],
            "reserved": [0.0, 1.0, 0.0],
            "quarantined": [0.0, 1.0, 0.0],
            "in_transit": [0.0, 20.0, 4.0],
            "in_transit_eta": pd.to_datetime([None, "2024-01-05", "2024-01-09"]),
        }
    )


def test_available_subtracts_held_stock_and_never_goes_negative():
    assert available(snapshots()).tolist() == [9.0, 4.0, 0.0]


def test_available_without_optional_columns_is_on_hand():
    inv = snapshots()[["snapshot_date", "item_id", "location_id", "on_hand"]]
    assert available(inv).tolist() == [10.0, 8.0, 3.0]


def test_in_transit_counts_only_from_its_eta():
    inv = snapshots()
    assert in_transit_by(inv, pd.Timestamp("2024-01-06")).tolist() == [0.0, 20.0, 0.0]


def test_latest_positions_respect_as_of():
    first = latest_positions(snapshots(), pd.Timestamp("2024-01-01"))
    assert first[["item_id", "on_hand", "available"]].values.tolist() == [["A", 10.0, 9.0]]


def test_live_positions_agree_with_the_table_definition_and_update():
    live = InventoryPositions.from_inventory(snapshots())
    assert live.position("A", "DAL")["available"] == 4.0  # read (and cached) before updates
    assert live.available_total("A") == 4.0
    assert live.available("A", "DAL") == 4.0
    assert live.available("B", "DAL") == 0.0
    assert live.available("Z", "DAL") == 0.0
    assert live.in_transit_by("A", "DAL", pd.Timestamp("2024-01-04")) == 0.0
    assert live.in_transit_by("A", "DAL", pd.Timestamp("2024-01-05")) == 20.0
    live.update("A", "DAL", on_hand=30.0)
    live.update("A", "ATL", on_hand=5.0)
    assert live.available("A", "DAL") == 26.0
    assert live.position("A", "DAL")["available"] == 26.0  # the update is seen
    assert live.available_by_location("A") == {"DAL": 26.0, "ATL": 5.0}
    assert live.available_total("A") == 31.0 and live.available_total("Z") == 0.0
    assert live.position("Z", "DAL") is None
    # Ids from requests are unbounded: only known positions and items are memoised.
    assert ("Z", "DAL") not in live._position_cache and "Z" not in live._total_cache
    table = live.frame().set_index(["item_id", "location_id"])
    assert table.loc[("A", "DAL"), "available"] == 26.0
    with pytest.raises(ValueError, match="on_hand must be >= 0"):
        live.update("A", "DAL", on_hand=-1)
    with pytest.raises(ValueError, match="unknown inventory field"):
        live.update("A", "DAL", onhand=1)


def test_positions_survive_pickling_without_their_caches():
    live = InventoryPositions.from_inventory(snapshots())
    live.position("A", "DAL")
    copy = pickle.loads(pickle.dumps(live))
    assert copy._position_cache == {} and copy.position("A", "DAL") == live.position("A", "DAL")
    copy.update("A", "DAL", on_hand=30.0)
    assert copy.available_total("A") != live.available_total("A")
