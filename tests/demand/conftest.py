"""Small seeded series for the demand tests (tiny models, few series)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.demand import zero_fill

START = pd.Timestamp("2024-01-01")


def synthetic_demand(
    n_items: int = 6,
    n_days: int = 200,
    seed: int = 0,
    exog: bool = True,
    rates: list[float] | None = None,
) -> pd.DataFrame:
    """A demand table (contract columns) with weekday pattern, promotions and a holiday flag."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(START, periods=n_days, freq="D")
    weekday = np.where(dates.dayofweek < 5, 1.2, 0.5)
    rates = rates or list(np.geomspace(8.0, 0.05, n_items))
    rows = []
    for k, rate in enumerate(rates):
        promo = rng.random(n_days) < 0.1
        lam = rate * weekday * np.where(promo, 1.8, 1.0)
        rows.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "item_id": f"I{k}",
                    "location_id": "L1" if k % 2 == 0 else "L2",
                    "qty": rng.poisson(lam).astype(float),
                    "price": np.where(promo, 9.0, 10.0) + k,
                    "promo": promo,
                    "x_holiday": (dates.dayofyear % 50 == 0).astype(float),
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    if not exog:
        frame = frame[["date", "item_id", "location_id", "qty"]]
    return frame


def synthetic_items(n_items: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [f"I{k}" for k in range(n_items)],
            "category": ["a" if k < n_items / 2 else "b" for k in range(n_items)],
            "unit_cost": [2.0] * n_items,
            "list_price": [5.0] * n_items,
        }
    )


@pytest.fixture
def demand_table() -> pd.DataFrame:
    return synthetic_demand()


@pytest.fixture
def daily(demand_table: pd.DataFrame) -> pd.DataFrame:
    return zero_fill(demand_table)


def write_tiny_dataset(directory: Path, n_days: int = 200, n_items: int = 6) -> Path:
    """A minimal contract dataset on disk around :func:`synthetic_demand` (seconds to fit)."""
    demand = synthetic_demand(n_items=n_items, n_days=n_days)
    return write_demand_dataset(directory, demand, synthetic_items(n_items))


def write_demand_dataset(directory: Path, demand: pd.DataFrame, items: pd.DataFrame) -> Path:
    """The contract tables around a ``demand`` table and its ``items``: one order per item
    (its first day with demand), one customer, stock of 100 at the series' locations."""
    from stockpilot.data import write_tables

    first = demand[demand["qty"] > 0].drop_duplicates("item_id").reset_index(drop=True)
    orders = pd.DataFrame(
        {
            "order_id": [f"o{k}" for k in range(len(first))],
            "line_no": 1,
            "order_ts": first["date"] + pd.Timedelta(hours=9),
            "customer_id": "C1",
            "item_id": first["item_id"],
            "location_id": first["location_id"],
            "qty": first["qty"],
            "unit_price": 5.0,
            "promised_date": first["date"] + pd.Timedelta(days=3),
        }
    )
    stocked = demand.drop_duplicates("item_id")[["item_id", "location_id"]]
    tables = {
        "items": items,
        "locations": pd.DataFrame({"location_id": sorted(demand["location_id"].unique())}),
        "customers": pd.DataFrame({"customer_id": ["C1"]}),
        "orders": orders,
        "fulfillments": pd.DataFrame(
            {"order_id": orders["order_id"], "line_no": 1, "shipped_qty": orders["qty"]}
        ),
        "inventory": stocked.assign(snapshot_date=demand["date"].min(), on_hand=100.0),
        "demand": demand,
    }
    write_tables(tables, directory)
    return directory
