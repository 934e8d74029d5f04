"""Tiny hand-written datasets in the contract format (typed by the contract itself)."""

from __future__ import annotations

import pandas as pd

from features.contract import validate_tables
from features.dataset import Dataset


def tiny_dataset(
    orders: list[dict], fulfillments: list[dict], inventory: list[dict] | None = None
) -> Dataset:
    tables = {
        "items": pd.DataFrame(
            {
                "item_id": ["A", "B"],
                "category": ["c", "c"],
                "unit_cost": [5.0, None],
                "list_price": [10.0, 20.0],
                "active": [True, False],
            }
        ),
        "locations": pd.DataFrame({"location_id": ["DAL", "ATL"]}),
        "customers": pd.DataFrame({"customer_id": ["C1", "C2"], "region": ["south", "east"]}),
        "orders": pd.DataFrame(orders),
        "fulfillments": pd.DataFrame(
            fulfillments or {"order_id": [], "line_no": [], "shipped_qty": []}
        ),
        "inventory": pd.DataFrame(
            inventory
            or [
                {"snapshot_date": "2024-01-01", "item_id": "A", "location_id": "DAL", "on_hand": 10}
            ]
        ),
    }
    typed, violations = validate_tables(tables)
    assert not violations, [str(v) for v in violations]
    return Dataset.from_tables(typed)


def line(order_id: str, line_no: int, ts: str, promised: str, **extra: object) -> dict:
    return {
        "order_id": order_id,
        "line_no": line_no,
        "order_ts": ts,
        "customer_id": extra.pop("customer_id", "C1"),
        "item_id": extra.pop("item_id", "A"),
        "location_id": extra.pop("location_id", "DAL"),
        "qty": extra.pop("qty", 4),
        "unit_price": extra.pop("unit_price", 9.0),
        "promised_date": promised,
        **extra,
    }
