"""Stock facts behind the inventory KPIs: one dense item × location × day grid.

The daily snapshots of ``inventory`` become ``[series, day]`` arrays (on hand and the
held quantities), so stockout frequency, turns and days of cover over any period and
slice are sums over a block of the grid. ``available`` is the single inventory truth
(:func:`features.inventory.available`): on hand − allocated − reserved − quarantined,
never below zero. Inventory positions reported live replace the snapshot of their day,
carrying the fields they do not set from the series' previous snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from features.asof import to_days
from features.dataset import Dataset
from features.inventory import HELD_COLUMNS
from features.kpis.dims import UNKNOWN, Dims

FIELDS = ("on_hand", *HELD_COLUMNS)


@dataclass
class StockFacts:
    item_ids: np.ndarray  # [S] item of each series
    location_ids: np.ndarray  # [S]
    location: np.ndarray  # [S] Dims codes
    category: np.ndarray
    unit_cost: np.ndarray  # [S] NaN when the master has no cost
    carried: np.ndarray  # [S] ever ordered or ever held stock
    active: np.ndarray  # [S] not marked inactive by the item master
    day0: int  # day (since the epoch) of column 0
    observed: np.ndarray  # [S, D] a snapshot exists
    on_hand: np.ndarray  # [S, D] float32
    allocated: np.ndarray
    reserved: np.ndarray
    quarantined: np.ndarray
    master_items: np.ndarray  # every item of the master, for positions of new series
    master_category: np.ndarray
    master_cost: np.ndarray

    @property
    def n_days(self) -> int:
        return self.observed.shape[1]

    @cached_property
    def available(self) -> np.ndarray:
        held = self.allocated + self.reserved + self.quarantined
        return np.clip(self.on_hand - held, 0.0, None)

    @cached_property
    def seen_days(self) -> np.ndarray:
        """[D] days with any snapshot."""
        return self.observed.any(axis=0)

    @property
    def last_day(self) -> float:
        """The last day with any snapshot (NaN without inventory)."""
        days = np.flatnonzero(self.seen_days)
        return float(self.day0 + days[-1]) if len(days) else float("nan")


def build_stock(ds: Dataset, dims: Dims) -> StockFacts:
    inv = ds.inventory
    items = ds.items.drop_duplicates("item_id")
    master = pd.Index(items["item_id"].astype(str))
    key = inv["item_id"].astype(str) + "\x1f" + inv["location_id"].astype(str)
    series, labels = pd.factorize(key)
    parts = pd.Series(labels, dtype=object).str.split("\x1f", expand=True)
    item_ids = parts[0].to_numpy(dtype=object) if len(labels) else np.array([], dtype=object)
    location_ids = parts[1].to_numpy(dtype=object) if len(labels) else np.array([], dtype=object)
    days = to_days(inv["snapshot_date"]).astype(np.int64) if len(inv) else np.array([], int)
    day0 = int(days.min()) if len(days) else 0
    n_days = int(days.max()) - day0 + 1 if len(days) else 0
    shape = (len(labels), n_days)
    grid = {f: np.zeros(shape, dtype=np.float32) for f in FIELDS}
    observed = np.zeros(shape, dtype=bool)
    col = days - day0
    observed[series, col] = True
    for f in FIELDS:
        if f in inv.columns:
            grid[f][series, col] = inv[f].fillna(0.0).to_numpy(dtype=np.float32)
    ordered = set(ds.orders["item_id"].astype(str) + "\x1f" + ds.orders["location_id"].astype(str))
    carried = pd.Index(labels).isin(ordered) | (grid["on_hand"] > 0).any(axis=1)
    at = master.get_indexer(item_ids)
    category = dims.codes("category", items["category"]).astype(np.int64)
    cost = items["unit_cost"].to_numpy(dtype=float)
    active = (
        pd.array(items["active"], dtype="boolean").fillna(True).to_numpy(dtype=bool)
        if "active" in items.columns
        else np.ones(len(items), dtype=bool)
    )
    return StockFacts(
        item_ids=item_ids,
        location_ids=location_ids,
        location=dims.codes("location", location_ids),
        category=np.where(at >= 0, category[at], UNKNOWN),
        unit_cost=np.where(at >= 0, cost[np.maximum(at, 0)], np.nan),
        carried=np.asarray(carried, dtype=bool),
        active=np.where(at >= 0, active[np.maximum(at, 0)], True),
        day0=day0,
        observed=observed,
        master_items=np.asarray(master, dtype=object),
        master_category=category,
        master_cost=cost,
        **grid,
    )


def with_events(stock: StockFacts, events: pd.DataFrame, dims: Dims) -> StockFacts:
    """The grid with reported positions applied in order (columns: snapshot_date, item_id,
    location_id and any of on_hand, allocated, reserved, quarantined; NaN = not set)."""
    if events.empty:
        return stock
    keys = pd.Index(stock.item_ids.astype(str) + "\x1f" + stock.location_ids.astype(str))
    wanted = events["item_id"].astype(str) + "\x1f" + events["location_id"].astype(str)
    new_keys = pd.unique(wanted[keys.get_indexer(wanted) < 0])
    days = to_days(events["snapshot_date"]).astype(np.int64)
    day0 = min(stock.day0, int(days.min())) if stock.n_days else int(days.min())
    end = max(stock.day0 + stock.n_days, int(days.max()) + 1)
    grown = _grown(stock, list(new_keys), day0, end - day0, dims)
    keys = pd.Index(grown.item_ids.astype(str) + "\x1f" + grown.location_ids.astype(str))
    rows, cols = keys.get_indexer(wanted), days - day0
    values = {f: events[f].to_numpy(dtype=float) if f in events else None for f in FIELDS}
    for k, (s, d) in enumerate(zip(rows, cols, strict=True)):
        if not grown.observed[s, d]:
            before = np.flatnonzero(grown.observed[s, :d])
            for f in FIELDS:
                getattr(grown, f)[s, d] = getattr(grown, f)[s, before[-1]] if len(before) else 0.0
            grown.observed[s, d] = True
        for f in FIELDS:
            v = values[f]
            if v is not None and not np.isnan(v[k]):
                getattr(grown, f)[s, d] = v[k]
        grown.carried[s] = grown.carried[s] or grown.on_hand[s, d] > 0
    return grown


def _grown(
    stock: StockFacts, new_keys: list[str], day0: int, n_days: int, dims: Dims
) -> StockFacts:
    """A copy with room for new series and days (the events are written into it)."""
    n_old, n_new = len(stock.item_ids), len(new_keys)
    shift = stock.day0 - day0 if stock.n_days else 0

    def grid(old: np.ndarray, dtype: type) -> np.ndarray:
        out = np.zeros((n_old + n_new, n_days), dtype=dtype)
        out[:n_old, shift : shift + old.shape[1]] = old
        return out

    items = [k.split("\x1f")[0] for k in new_keys]
    locations = [k.split("\x1f")[1] for k in new_keys]
    at = pd.Index(stock.master_items.astype(str)).get_indexer(items)
    return replace(
        stock,
        item_ids=np.concatenate([stock.item_ids, np.array(items, dtype=object)]),
        location_ids=np.concatenate([stock.location_ids, np.array(locations, dtype=object)]),
        location=np.concatenate([stock.location, dims.codes("location", np.array(locations))]),
        category=np.concatenate(
            [stock.category, np.where(at >= 0, stock.master_category[np.maximum(at, 0)], UNKNOWN)]
        ),
        unit_cost=np.concatenate(
            [stock.unit_cost, np.where(at >= 0, stock.master_cost[np.maximum(at, 0)], np.nan)]
        ),
        carried=np.concatenate([stock.carried, np.zeros(n_new, dtype=bool)]),
        active=np.concatenate([stock.active, np.ones(n_new, dtype=bool)]),
        day0=day0,
        observed=grid(stock.observed, bool),
        **{f: grid(getattr(stock, f), np.float32) for f in FIELDS},
    )
