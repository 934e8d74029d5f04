"""The single inventory truth (SPEC §3), used by every model and endpoint.

``available = on_hand − allocated − reserved − quarantined``, never below zero;
``in_transit`` counts only from ``in_transit_eta``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HELD_COLUMNS = ("allocated", "reserved", "quarantined")


def available(inventory: pd.DataFrame) -> pd.Series:
    """Available quantity per inventory row; absent optional columns count as zero."""
    held = sum(
        (inventory[c].fillna(0.0) for c in HELD_COLUMNS if c in inventory.columns),
        start=pd.Series(0.0, index=inventory.index),
    )
    return (inventory["on_hand"].fillna(0.0) - held).clip(lower=0.0).rename("available")


def available_scalar(
    on_hand: float, allocated: float = 0.0, reserved: float = 0.0, quarantined: float = 0.0
) -> float:
    """The same definition for one position (serving path, no pandas)."""
    return max(0.0, on_hand - allocated - reserved - quarantined)


def in_transit_by(inventory: pd.DataFrame, by: pd.Series | pd.Timestamp) -> pd.Series:
    """In-transit quantity that has arrived by ``by`` (its ETA on or before that date).

    Rows without an ETA column count nothing: stock without a known arrival date
    cannot be promised.
    """
    if "in_transit" not in inventory.columns or "in_transit_eta" not in inventory.columns:
        return pd.Series(0.0, index=inventory.index, name="in_transit_by")
    eta = inventory["in_transit_eta"]
    qty = inventory["in_transit"].fillna(0.0)
    arrived = (eta.notna() & (eta <= by)).to_numpy()
    return pd.Series(np.where(arrived, qty, 0.0), index=inventory.index, name="in_transit_by")


def latest_positions(inventory: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Latest snapshot per item × location on or before ``as_of``, with ``available``."""
    inv = inventory if as_of is None else inventory[inventory["snapshot_date"] <= as_of]
    inv = inv.sort_values("snapshot_date").drop_duplicates(["item_id", "location_id"], keep="last")
    return inv.assign(available=available(inv)).reset_index(drop=True)
