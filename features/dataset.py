"""A validated dataset: one typed frame per contract table, optional tables may be None."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pandas as pd


@dataclass
class Dataset:
    items: pd.DataFrame
    locations: pd.DataFrame
    customers: pd.DataFrame
    orders: pd.DataFrame
    fulfillments: pd.DataFrame
    inventory: pd.DataFrame
    carriers: pd.DataFrame | None = None
    demand: pd.DataFrame | None = None
    substitutions: pd.DataFrame | None = None
    purchase_orders: pd.DataFrame | None = None

    @classmethod
    def from_tables(cls, tables: dict[str, pd.DataFrame]) -> Dataset:
        return cls(**{f.name: tables.get(f.name) for f in fields(cls)})

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, by contract name."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def summary(self) -> dict[str, int]:
        return {name: len(df) for name, df in self.tables().items()}
