"""Master data the workbench shows beside queue items: customer tiers, item descriptions.

Read from the served dataset's ``customers`` and ``items`` tables (SPEC §3; both may lack
the optional columns), once per file version, and only the columns shown.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)
CUSTOMER_COLUMNS = ("customer_id", "tier", "segment", "region")
ITEM_COLUMNS = ("item_id", "description", "category", "brand", "moq", "order_multiple", "uom")


def _table_path(directory: Path, table: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        path = directory / f"{table}{suffix}"
        if path.exists():
            return path
    return None


def _read(path: Path, wanted: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    key = wanted[0]
    if key not in frame.columns:
        return {}
    columns = [c for c in wanted if c in frame.columns]
    frame = frame[columns].drop_duplicates(key, keep="last")
    frame[key] = frame[key].astype(str)
    records = frame.set_index(key).to_dict("index")
    return {
        k: {c: (None if pd.isna(v) else v) for c, v in row.items()} for k, row in records.items()
    }


@dataclass
class Catalogue:
    data_dir: Path
    _cache: dict[str, tuple[float, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tiers: tuple[dict, dict[str, str]] | None = None

    def _table(self, table: str, wanted: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        path = _table_path(self.data_dir, table)
        if path is None:
            return {}
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return {}
        with self._lock:
            hit = self._cache.get(table)
            if hit is not None and hit[0] == mtime:
                return hit[1]
            try:
                rows = _read(path, wanted)
            except (OSError, ValueError) as err:  # a broken table shows no master data
                log.warning("workbench: cannot read %s: %s", path, err)
                rows = {}
            self._cache[table] = (mtime, rows)
            return rows

    def customer(self, customer_id: str | None) -> dict[str, Any]:
        if not customer_id:
            return {}
        return self._table("customers", CUSTOMER_COLUMNS).get(str(customer_id), {})

    def tier(self, customer_id: str | None) -> str | None:
        tier = self.customer(customer_id).get("tier")
        return None if tier is None else str(tier)

    def tiers(self) -> dict[str, str]:
        """customer_id → tier, derived once per version of the customers table."""
        table = self._table("customers", CUSTOMER_COLUMNS)
        cached = self._tiers
        if cached is not None and cached[0] is table:
            return cached[1]
        tiers = {k: str(v["tier"]) for k, v in table.items() if v.get("tier") is not None}
        self._tiers = (table, tiers)
        return tiers

    def item(self, item_id: str | None) -> dict[str, Any]:
        if not item_id:
            return {}
        return self._table("items", ITEM_COLUMNS).get(str(item_id), {})
