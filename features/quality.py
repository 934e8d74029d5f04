"""Master-data quality findings: referential integrity and item master gaps.

These do not break the contract (a distributor's export is rarely clean); they are
listed by `stockpilot data validate` and fail it only with ``--strict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from features.contract import MAX_EXAMPLES
from features.dataset import Dataset

# (table, column) → (referenced table, referenced key)
REFERENCES: tuple[tuple[str, str, str, str], ...] = (
    ("orders", "item_id", "items", "item_id"),
    ("orders", "customer_id", "customers", "customer_id"),
    ("orders", "location_id", "locations", "location_id"),
    ("orders", "carrier_id", "carriers", "carrier_id"),
    ("inventory", "item_id", "items", "item_id"),
    ("inventory", "location_id", "locations", "location_id"),
    ("demand", "item_id", "items", "item_id"),
    ("demand", "location_id", "locations", "location_id"),
    ("substitutions", "customer_id", "customers", "customer_id"),
    ("substitutions", "original_item_id", "items", "item_id"),
    ("substitutions", "offered_item_id", "items", "item_id"),
    ("substitutions", "location_id", "locations", "location_id"),
    ("purchase_orders", "item_id", "items", "item_id"),
    ("purchase_orders", "location_id", "locations", "location_id"),
)


@dataclass
class Finding:
    table: str
    column: str | None
    rule: str
    n_rows: int
    examples: list[object] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        shown = ", ".join(map(repr, self.examples))
        return f"{where}: {self.rule} — {self.n_rows} row(s), e.g. {shown}"

    def to_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "n_rows": self.n_rows,
            "examples": [str(e) for e in self.examples],
        }


def _first(values: pd.Series) -> list[object]:
    return list(pd.unique(values.dropna())[:MAX_EXAMPLES])


def master_data_findings(ds: Dataset) -> list[Finding]:
    tables = ds.tables()
    findings: list[Finding] = []
    for table, column, ref_table, ref_key in REFERENCES:
        df, ref = tables.get(table), tables.get(ref_table)
        if df is None or ref is None or column not in df.columns:
            continue
        values = df[column]
        unknown = values.notna() & ~values.isin(ref[ref_key])
        if unknown.any():
            findings.append(
                Finding(
                    table,
                    column,
                    f"unknown {ref_table}.{ref_key}",
                    int(unknown.sum()),
                    _first(values[unknown]),
                )
            )
    orders, items = ds.orders, ds.items
    if "active" in items.columns:
        inactive = items.loc[items["active"].eq(False).fillna(False).astype(bool), "item_id"]
        hit = orders["item_id"].isin(inactive)
        if hit.any():
            findings.append(
                Finding(
                    "orders",
                    "item_id",
                    "inactive item ordered",
                    int(hit.sum()),
                    _first(orders.loc[hit, "item_id"]),
                )
            )
    no_cost = items["unit_cost"].isna() | items["unit_cost"].eq(0)
    if no_cost.any():
        findings.append(
            Finding(
                "items",
                "unit_cost",
                "missing or zero cost",
                int(no_cost.sum()),
                _first(items.loc[no_cost, "item_id"]),
            )
        )
    lines = orders[["order_id", "line_no"]]
    ful = ds.fulfillments[["order_id", "line_no"]]
    orphan = (
        ~ful.merge(lines.assign(_hit=True), how="left", on=["order_id", "line_no"])["_hit"]
        .fillna(False)
        .astype(bool)
        .to_numpy()
    )
    if orphan.any():
        keys = ful[orphan].astype(str).agg("/".join, axis=1)
        findings.append(
            Finding(
                "fulfillments",
                "order_id,line_no",
                "fulfillment of an unknown order line",
                int(orphan.sum()),
                _first(keys),
            )
        )
    return findings
