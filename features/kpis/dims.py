"""Slice dimensions shared by every KPI fact table: location, segment, category, carrier.

Each fact table stores integer codes into the same label arrays, so a slice picked once
(``location=DAL``) selects the matching lines, queue items and stock positions alike.
Code ``-1`` means unknown: it matches no slice value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.kpis.definitions import DIMENSIONS

UNKNOWN = -1


def _labels(*columns: Iterable[object] | None) -> np.ndarray:
    values: set[str] = set()
    for column in columns:
        if column is None:
            continue
        values.update(str(v) for v in pd.Series(column).dropna().unique())
    return np.array(sorted(values), dtype=object)


@dataclass
class Dims:
    labels: dict[str, np.ndarray]  # dimension → sorted labels

    @classmethod
    def from_dataset(cls, ds: Dataset) -> Dims:
        def col(frame: pd.DataFrame | None, name: str) -> pd.Series | None:
            return frame[name] if frame is not None and name in frame.columns else None

        return cls(
            {
                "location": _labels(
                    col(ds.locations, "location_id"),
                    col(ds.orders, "location_id"),
                    col(ds.inventory, "location_id"),
                ),
                "segment": _labels(col(ds.customers, "segment")),
                "category": _labels(col(ds.items, "category")),
                "carrier": _labels(col(ds.carriers, "carrier_id"), col(ds.orders, "carrier_id")),
            }
        )

    def codes(self, dim: str, values: pd.Series | np.ndarray) -> np.ndarray:
        """Codes of ``values`` (unknown or missing → -1)."""
        as_text = pd.Series(values, dtype=object).map(lambda v: None if pd.isna(v) else str(v))
        return pd.Index(self.labels[dim]).get_indexer(as_text).astype(np.int64)

    def code(self, dim: str, label: str) -> int:
        """The code of one slice value; the error lists the values that exist."""
        if dim not in DIMENSIONS:
            raise ValueError(f"slice: {dim!r} is not one of {', '.join(DIMENSIONS)}")
        found = np.flatnonzero(self.labels[dim] == label)
        if not len(found):
            known = ", ".join(map(str, self.labels[dim][:20])) or "none in this dataset"
            raise ValueError(f"{dim}: {label!r} does not occur in the data (known: {known})")
        return int(found[0])

    def label(self, dim: str, code: int) -> str | None:
        return None if code < 0 else str(self.labels[dim][code])
