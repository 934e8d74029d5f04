"""The single inventory truth (SPEC §3), used by every model and endpoint.

``available = on_hand − allocated − reserved − quarantined``, never below zero;
``in_transit`` counts only from ``in_transit_eta``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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


class InventoryPositions:
    """Latest inventory position per item × location, for serving and what-if work.

    One live object is shared by every model in a serving process: inventory events
    update it and the next score sees the new stock. Lookups are dictionary + numpy
    (no pandas on the request path); :meth:`frame` gives the table view.
    """

    FIELDS = ("on_hand", "allocated", "reserved", "quarantined", "in_transit")

    def __init__(self, positions: pd.DataFrame) -> None:
        frame = positions.reset_index(drop=True)
        self._index: dict[tuple[str, str], int] = {
            (str(i), str(loc)): k
            for k, (i, loc) in enumerate(zip(frame["item_id"], frame["location_id"], strict=True))
        }
        self._values = {
            f: (
                frame[f].fillna(0.0).to_numpy(dtype=float).copy()
                if f in frame.columns
                else np.zeros(len(frame))
            )
            for f in self.FIELDS
        }
        eta = frame["in_transit_eta"] if "in_transit_eta" in frame.columns else None
        self._eta = (
            eta.to_numpy(dtype="datetime64[ns]").copy()
            if eta is not None
            else np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
        )
        self._by_item: dict[str, list[int]] = {}
        for (item, _), k in self._index.items():
            self._by_item.setdefault(item, []).append(k)
        self._keys = list(self._index)
        # Read per order line; cleared for what ``update`` changes.
        self._position_cache: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._total_cache: dict[str, float] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_position_cache"], state["_total_cache"] = {}, {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Positions pickled before the caches existed (older model artifacts) get them too.
        self.__dict__.update(state)
        self.__dict__.setdefault("_position_cache", {})
        self.__dict__.setdefault("_total_cache", {})

    @classmethod
    def from_inventory(
        cls, inventory: pd.DataFrame, as_of: pd.Timestamp | None = None
    ) -> InventoryPositions:
        return cls(latest_positions(inventory, as_of))

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._index

    def position(self, item_id: str, location_id: str) -> dict[str, Any] | None:
        """One position's fields, ``in_transit_eta`` and ``available`` (do not modify it).

        ``in_transit_eta_ns`` is the ETA in nanoseconds since the epoch (None without one),
        for comparisons per order line without NumPy or pandas.
        """
        key = (item_id, location_id)
        pos = self._position_cache.get(key)
        if pos is not None:
            return pos
        k = self._index.get(key)
        if k is None:  # not cached: ids from requests are unbounded, positions are not
            return None
        pos = {f: float(self._values[f][k]) for f in self.FIELDS}
        eta = self._eta[k]
        pos["in_transit_eta"] = None if np.isnat(eta) else pd.Timestamp(eta)
        pos["in_transit_eta_ns"] = None if np.isnat(eta) else int(eta.astype(np.int64))
        pos["available"] = available_scalar(
            pos["on_hand"], pos["allocated"], pos["reserved"], pos["quarantined"]
        )
        self._position_cache[key] = pos
        return pos

    def available(self, item_id: str, location_id: str) -> float:
        k = self._index.get((item_id, location_id))
        if k is None:
            return 0.0
        v = self._values
        return available_scalar(
            v["on_hand"][k], v["allocated"][k], v["reserved"][k], v["quarantined"][k]
        )

    def in_transit_by(self, item_id: str, location_id: str, by: pd.Timestamp) -> float:
        k = self._index.get((item_id, location_id))
        if k is None or np.isnat(self._eta[k]) or self._eta[k] > np.datetime64(by, "ns"):
            return 0.0
        return float(self._values["in_transit"][k])

    def available_total(self, item_id: str) -> float:
        """Available stock of an item summed over every location that carries it."""
        total = self._total_cache.get(item_id)
        if total is None:
            total = float(sum(self.available_by_location(item_id).values()))
            if item_id in self._by_item:  # only items with positions: the cache stays bounded
                self._total_cache[item_id] = total
        return total

    def available_by_location(self, item_id: str) -> dict[str, float]:
        """Available stock of an item at every location that carries it."""
        return {
            self._keys[k][1]: self.available(item_id, self._keys[k][1])
            for k in self._by_item.get(item_id, ())
        }

    def stock_of(self, item_ids: Iterable[str]) -> StockSnapshot:
        """The available stock of ``item_ids`` at every location, copied now: what a reader
        off the event loop looks up instead of these live positions (shadow scoring)."""
        return StockSnapshot({str(i): self.available_by_location(str(i)) for i in item_ids})

    def update(self, item_id: str, location_id: str, **fields: float | pd.Timestamp | None) -> None:
        """Set some fields of a position (creating it when new); unknown fields are refused."""
        unknown = set(fields) - set(self.FIELDS) - {"in_transit_eta"}
        if unknown:
            raise ValueError(f"unknown inventory field(s): {sorted(unknown)}")
        for name, value in fields.items():
            if name != "in_transit_eta" and value is not None and float(value) < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        key = (item_id, location_id)
        self._position_cache.pop(key, None)
        self._total_cache.pop(item_id, None)
        if key not in self._index:
            k = len(self._keys)
            self._index[key] = k
            self._keys.append(key)
            self._by_item.setdefault(item_id, []).append(k)
            for f in self.FIELDS:
                self._values[f] = np.append(self._values[f], 0.0)
            self._eta = np.append(self._eta, np.datetime64("NaT", "ns"))
        k = self._index[key]
        for name, value in fields.items():
            if name == "in_transit_eta":
                self._eta[k] = (
                    np.datetime64("NaT", "ns")
                    if value is None
                    else np.datetime64(pd.Timestamp(value), "ns")
                )
            elif value is not None:
                self._values[name][k] = float(value)

    def frame(self) -> pd.DataFrame:
        """The positions as a table with ``available`` (single inventory truth)."""
        out = pd.DataFrame(
            {
                "item_id": [k[0] for k in self._keys],
                "location_id": [k[1] for k in self._keys],
                **{f: self._values[f] for f in self.FIELDS},
                "in_transit_eta": self._eta,
            }
        )
        return out.assign(available=available(out))


class StockSnapshot:
    """Available stock of a few items per location, frozen at one moment: the lookups of
    :class:`InventoryPositions` a substitute search makes (``available``,
    ``available_by_location``), answered from a copy that later events do not change."""

    def __init__(self, by_item: dict[str, dict[str, float]]) -> None:
        self._by_item = by_item

    def available(self, item_id: str, location_id: str) -> float:
        return self._by_item.get(item_id, {}).get(location_id, 0.0)

    def available_by_location(self, item_id: str) -> dict[str, float]:
        return dict(self._by_item.get(item_id, {}))
