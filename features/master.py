"""Static master data looked up per order line: item, customer and carrier attributes.

One object answers both paths: :meth:`MasterData.lookup` vectorised over history for
training, :meth:`MasterData.row` one line at a time for serving, from the same
dictionaries, so a line gets the same values either way. Optional columns that the
export does not have are simply not produced (the feature set then has fewer
features); unknown identifiers are a master-data signal, not an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import Dataset

# state value name → (table, column); the values are per-line attributes.
ITEM_COLUMNS = {
    "item_cost": "unit_cost",
    "item_list_price": "list_price",
    "item_active": "active",
    "item_category": "category",
    "item_brand": "brand",
    "item_supplier": "supplier_id",
}
CUSTOMER_COLUMNS = {"cust_tier": "tier", "cust_segment": "segment", "cust_region": "region"}
CARRIER_COLUMNS = {"carrier_mode": "mode"}
TEXT_VALUES = frozenset(
    {
        "item_category",
        "item_brand",
        "item_supplier",
        "cust_tier",
        "cust_segment",
        "cust_region",
        "carrier_mode",
    }
)


def _table(df: pd.DataFrame | None, key: str, columns: dict[str, str]) -> dict[str, dict]:
    if df is None:
        return {}
    ids = df[key].astype(str).to_numpy()
    out: dict[str, dict] = {}
    for name, column in columns.items():
        if column not in df.columns:
            continue
        values = df[column]
        if name in TEXT_VALUES:
            vals = [None if v is None or v is pd.NA else str(v) for v in values.astype(object)]
        else:
            vals = values.astype("Float64").astype(float).tolist()
        out[name] = dict(zip(ids, vals, strict=True))
    return out


ROW_CACHE_LIMIT = 200_000  # memoised ids per kind (items, customers, carriers)
ID_KEYS = ("item_id", "customer_id", "carrier_id")


class MasterData:
    """Per-line master-data values keyed by item, customer and carrier id."""

    def __init__(
        self,
        items: dict[str, dict],
        customers: dict[str, dict],
        carriers: dict[str, dict],
        known: dict[str, frozenset[str]],
    ) -> None:
        self.items = items
        self.customers = customers
        self.carriers = carriers
        self.known = known

    @classmethod
    def from_dataset(cls, ds: Dataset) -> MasterData:
        return cls(
            items=_table(ds.items, "item_id", ITEM_COLUMNS),
            customers=_table(ds.customers, "customer_id", CUSTOMER_COLUMNS),
            carriers=_table(ds.carriers, "carrier_id", CARRIER_COLUMNS),
            known={
                "item": frozenset(ds.items["item_id"].astype(str)),
                "customer": frozenset(ds.customers["customer_id"].astype(str)),
            },
        )

    @property
    def names(self) -> list[str]:
        """The state values this master data produces (depends on the columns present)."""
        return [
            "item_known",
            "cust_known",
            *self.items,
            *self.customers,
            *(self.carriers if self.carriers else {}),
        ]

    def _maps(self) -> Iterable[tuple[str, str, dict]]:
        for name, values in self.items.items():
            yield "item_id", name, values
        for name, values in self.customers.items():
            yield "customer_id", name, values
        for name, values in self.carriers.items():
            yield "carrier_id", name, values

    def lookup(self, lines: pd.DataFrame) -> dict[str, np.ndarray]:
        """Values for many lines (training): one dictionary map per column."""
        out: dict[str, np.ndarray] = {
            "item_known": lines["item_id"].astype(str).isin(self.known["item"]).to_numpy(float),
            "cust_known": lines["customer_id"]
            .astype(str)
            .isin(self.known["customer"])
            .to_numpy(float),
        }
        for key, name, values in self._maps():
            if key not in lines.columns:
                continue
            ids = lines[key].astype(object).where(lines[key].notna(), None).astype(str)
            mapped = ids.map(values)
            if name in TEXT_VALUES:
                out[name] = mapped.astype(object).where(mapped.notna(), None).to_numpy()
            else:
                out[name] = mapped.astype(float).to_numpy()
        return out

    def row(self, item_id: str, customer_id: str, carrier_id: str | None) -> dict[str, Any]:
        """Values for one line (serving): the same maps, no pandas; a new dict each call."""
        parts = self.__dict__.get("_row_parts")  # absent in older pickles
        if parts is None:
            parts = self.__dict__["_row_parts"] = {k: {} for k in ID_KEYS}
        known = self.known
        return {
            "item_known": float(item_id in known["item"]),
            "cust_known": float(customer_id in known["customer"]),
            **(parts["item_id"].get(item_id) or self._part("item_id", item_id)),
            **(parts["customer_id"].get(customer_id) or self._part("customer_id", customer_id)),
            **(parts["carrier_id"].get(carrier_id) or self._part("carrier_id", carrier_id)),
        }

    def _part(self, key: str, value: str | None) -> dict[str, Any]:
        """The values one id gives (its item, customer or carrier columns), memoised."""
        parts = self.__dict__.setdefault("_row_parts", {k: {} for k in ID_KEYS})
        cache = parts.setdefault(key, {})
        hit = cache.get(value)
        if hit is None:
            hit = {}
            for k, name, values in self._maps():
                if k != key:
                    continue
                found = values.get(str(value)) if value is not None else None
                if name in TEXT_VALUES:
                    hit[name] = found
                else:
                    hit[name] = np.nan if found is None else found
            if len(cache) < ROW_CACHE_LIMIT:  # ids from requests are unbounded
                cache[value] = hit
        return hit

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_row_parts", None)
        return state
