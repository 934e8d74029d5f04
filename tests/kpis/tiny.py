"""A hand-made distributor small enough to count every KPI by hand.

Nine orders due around 2025-01-10, the export ends 2025-01-15 (the last inventory
snapshot). Each order is one edge case; the expected figures in the tests are counted
from this table, not computed by the code under test.

| order | lines | what happened |
|---|---|---|
| O1 | I1 ×10 @L1, I2 ×5 @L2 | both delivered on time in full, not damaged |
| O2 | I1 ×10 | shipped 6 (partial), on time; the customer accepted a substitute |
| O3 | I2 ×4 | cancelled: nothing shipped |
| O4 | I1 ×2 | delivered 01-12, promised 01-10: late |
| O5 | I1 ×3 | shipped 01-09, still in transit at the export, promised 01-10: late |
| O6 | I1 ×3 | shipped 01-14, in transit, promised 01-20: no outcome yet |
| O7 | I2 ×1 | not shipped, promised 01-05: late and a backorder |
| O8 | I1 ×2 | not shipped, promised 01-25: not due |
| O9 | I1 ×4 | delivered on time in full, damaged |
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.dataset import Dataset

T = pd.Timestamp
NaT = pd.NaT


def orders() -> pd.DataFrame:
    rows = [
        # order, line, customer, item, location, qty, promised
        ("O1", 1, "C1", "I1", "L1", 10, "2025-01-10"),
        ("O1", 2, "C1", "I2", "L2", 5, "2025-01-10"),
        ("O2", 1, "C1", "I1", "L1", 10, "2025-01-10"),
        ("O3", 1, "C2", "I2", "L1", 4, "2025-01-10"),
        ("O4", 1, "C2", "I1", "L1", 2, "2025-01-10"),
        ("O5", 1, "C2", "I1", "L2", 3, "2025-01-10"),
        ("O6", 1, "C2", "I1", "L1", 3, "2025-01-20"),
        ("O7", 1, "C1", "I2", "L1", 1, "2025-01-05"),
        ("O8", 1, "C1", "I1", "L1", 2, "2025-01-25"),
        ("O9", 1, "C2", "I1", "L1", 4, "2025-01-10"),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "order_id",
            "line_no",
            "customer_id",
            "item_id",
            "location_id",
            "qty",
            "promised_date",
        ],
    )
    frame["order_ts"] = T("2025-01-03 10:00")
    frame["promised_date"] = pd.to_datetime(frame["promised_date"])
    frame["qty"] = frame["qty"].astype(float)
    frame["unit_price"] = 20.0
    frame["carrier_id"] = np.where(frame["order_id"].isin(["O4", "O5"]), "K2", "K1")
    frame["line_no"] = frame["line_no"].astype("Int64")
    return frame


def fulfillments() -> pd.DataFrame:
    rows = [
        # order, line, shipped, ship, delivered, status, damaged
        ("O1", 1, 10, "2025-01-08", "2025-01-09", "delivered", False),
        ("O1", 2, 5, "2025-01-08", "2025-01-09", "delivered", False),
        ("O2", 1, 6, "2025-01-08", "2025-01-10", "delivered", None),
        ("O3", 1, 0, None, None, "cancelled", None),
        ("O4", 1, 2, "2025-01-09", "2025-01-12", "delivered", None),
        ("O5", 1, 3, "2025-01-09", None, "in_transit", None),
        ("O6", 1, 3, "2025-01-14", None, "in_transit", None),
        ("O9", 1, 4, "2025-01-08", "2025-01-10", "delivered", True),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "order_id",
            "line_no",
            "shipped_qty",
            "ship_date",
            "delivered_date",
            "status",
            "damaged",
        ],
    )
    for column in ("ship_date", "delivered_date"):
        frame[column] = pd.to_datetime(frame[column])
    frame["shipped_qty"] = frame["shipped_qty"].astype(float)
    frame["damaged"] = frame["damaged"].astype("boolean")
    frame["line_no"] = frame["line_no"].astype("Int64")
    return frame


def inventory() -> pd.DataFrame:
    """I1@L1 and I2@L1, daily 01-11..01-15. I2@L1 is out of stock on 01-14 and 01-15
    (on 01-15 on hand 3 but all 3 allocated: nothing available)."""
    days = pd.date_range("2025-01-11", "2025-01-15")
    frames = [
        pd.DataFrame(
            {
                "snapshot_date": days,
                "item_id": "I1",
                "location_id": "L1",
                "on_hand": 10.0,
                "allocated": 0.0,
            }
        ),
        pd.DataFrame(
            {
                "snapshot_date": days,
                "item_id": "I2",
                "location_id": "L1",
                "on_hand": [4.0, 4.0, 4.0, 0.0, 3.0],
                "allocated": [0.0, 0.0, 0.0, 0.0, 3.0],
            }
        ),
    ]
    return pd.concat(frames, ignore_index=True)


def substitutions(with_order_id: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "event_id": ["S1", "S2", "S3"],
            "ts": [T("2025-01-08 11:00")] * 3,
            "customer_id": ["C1", "C1", "C2"],
            "original_item_id": ["I1", "I1", "I2"],
            "offered_item_id": ["I3", "I2", "I1"],
            "accepted": pd.array([True, False, False], dtype="boolean"),
            "order_id": ["O2", "O2", "O3"],
        }
    )
    return frame if with_order_id else frame.drop(columns="order_id")


def dataset(**overrides: pd.DataFrame | None) -> Dataset:
    tables = {
        "items": pd.DataFrame(
            {
                "item_id": ["I1", "I2", "I3"],
                "category": ["A", "B", "A"],
                "unit_cost": [10.0, 5.0, np.nan],
                "list_price": [20.0, 10.0, 15.0],
                "active": pd.array([True, True, False], dtype="boolean"),
            }
        ),
        "locations": pd.DataFrame({"location_id": ["L1", "L2"]}),
        "customers": pd.DataFrame(
            {"customer_id": ["C1", "C2"], "segment": ["retail", "industrial"]}
        ),
        "carriers": pd.DataFrame({"carrier_id": ["K1", "K2"]}),
        "orders": orders(),
        "fulfillments": fulfillments(),
        "inventory": inventory(),
        "substitutions": substitutions(),
    }
    tables.update(overrides)
    return Dataset.from_tables({k: v for k, v in tables.items() if v is not None})
