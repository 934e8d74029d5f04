"""Small datasets in the contract format that the simulator never makes.

A :class:`Recipe` says what a dataset looks like (how many days, entities and lines,
which optional tables and columns are left out, constant stock, tied timestamps, odd
identifiers, CSV or Parquet); :func:`build` turns it into contract tables with seeded
values and :func:`recipes` is the hypothesis strategy that draws recipes. Recipes are
plain data so that a failing example can be pinned with ``@example(recipe=Recipe(...))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from features.contract import TABLES
from stockpilot.data import write_tables

START = pd.Timestamp("2024-01-01")
OPTIONAL_TABLES = ("carriers", "demand", "substitutions", "purchase_orders")
# Every optional contract column, plus the free attribute columns of items.
OPTIONAL_COLUMNS = (
    *(f"{name}.{c.name}" for name, spec in TABLES.items() for c in spec.columns if not c.required),
    "items.attr_size",
    "items.attr_colour",
)
# Context columns: numeric, categorical and boolean, on orders, demand and substitutions.
X_COLUMNS = ("x_num", "x_cat", "x_flag")
EMPTIABLE = ("orders", "fulfillments", "inventory", *OPTIONAL_TABLES)
ODD_ITEM_IDS = ("0", "007", "a|b", "Ünï-ß", "item with spaces", "17.5", "-1", "é|é")
ODD_LOCATION_IDS = ("b|c", "1", "LOC 9")


@dataclass(frozen=True)
class Recipe:
    seed: int = 0
    days: int = 150
    locations: int = 1
    customers: int = 2
    items: int = 3
    categories: int = 1
    carriers: int = 2
    lines_per_day: int = 2
    miss_rate: float = 0.3
    # "tied": every line of a day carries the same timestamp (an export at day grain).
    timestamps: Literal["spread", "tied"] = "spread"
    # "constant": one stock level everywhere, every day; "one": a single snapshot.
    stock: Literal["daily", "constant", "one"] = "daily"
    tables: frozenset[str] = frozenset(OPTIONAL_TABLES)
    dropped: frozenset[str] = frozenset()  # "table.column" optional columns left out
    x_columns: frozenset[str] = frozenset(X_COLUMNS)
    # Tables written with their header and no rows (an export of an empty period).
    empty: frozenset[str] = frozenset()
    odd_ids: bool = False
    # Constant context: one price, no promotions, no discounts, a constant x_num.
    flat: bool = False
    # Order lines and offers naming items, customers, locations missing from the master
    # tables (master-data findings; the dataset still meets the contract).
    ghosts: bool = False
    fmt: Literal["parquet", "csv"] = "parquet"
    # Days at the end whose lines have no fulfillment yet (open lines to score).
    open_days: int = 3
    offers_per_day: float = 1.0
    accept_rate: float = 0.4


def recipes() -> st.SearchStrategy[Recipe]:
    """Recipes across the contract: few or no entities, missing parts, constants, ties."""
    columns = st.sampled_from(OPTIONAL_COLUMNS)
    return st.builds(
        Recipe,
        seed=st.integers(0, 2**16),
        # The first value of each choice is the simplest, where examples start and shrink
        # to. Order risk needs 100 labelled lines, demand 210 days: drawn datasets often
        # train order risk and substitution, never demand (its example is pinned: ~1 min).
        days=st.sampled_from((150, 75, 20, 3)),
        locations=st.integers(1, 2),
        customers=st.integers(1, 3),
        items=st.integers(2, 5),
        categories=st.integers(1, 2),
        carriers=st.integers(1, 2),
        lines_per_day=st.integers(1, 4),
        miss_rate=st.sampled_from((0.3, 0.5, 0.0, 1.0)),
        timestamps=st.sampled_from(("spread", "tied")),
        stock=st.sampled_from(("daily", "constant", "one")),
        # Drawn as the tables left out, so that examples simplify towards a full export.
        tables=st.frozensets(st.sampled_from(OPTIONAL_TABLES)).map(
            lambda absent: frozenset(OPTIONAL_TABLES) - absent
        ),
        dropped=st.one_of(
            st.just(frozenset()), st.just(frozenset(OPTIONAL_COLUMNS)), st.frozensets(columns)
        ),
        x_columns=st.frozensets(st.sampled_from(X_COLUMNS)),
        empty=st.one_of(st.just(frozenset()), st.frozensets(st.sampled_from(EMPTIABLE))),
        odd_ids=st.booleans(),
        flat=st.booleans(),
        ghosts=st.booleans(),
        fmt=st.sampled_from(("parquet", "csv")),
        open_days=st.integers(0, 3),
        offers_per_day=st.sampled_from((1.0, 2.0, 0.2)),
        accept_rate=st.sampled_from((0.4, 0.0, 1.0)),
    )


def _ids(prefix: str, n: int, odd: tuple[str, ...] | None) -> list[str]:
    if odd is not None:
        return [odd[k % len(odd)] + ("" if k < len(odd) else str(k)) for k in range(n)]
    return [f"{prefix}{k}" for k in range(n)]


def build(recipe: Recipe) -> dict[str, pd.DataFrame]:
    """The contract tables of ``recipe`` (optional tables absent, optional columns dropped)."""
    r = recipe
    rng = np.random.default_rng(r.seed)
    items = _ids("I", r.items, ODD_ITEM_IDS if r.odd_ids else None)
    locations = _ids("L", r.locations, ODD_LOCATION_IDS if r.odd_ids else None)
    customers = _ids("C", r.customers, ("17", "0042", "Cé") if r.odd_ids else None)
    carriers = _ids("CR", r.carriers, None)
    days = pd.date_range(START, periods=r.days, freq="D")
    cost = rng.uniform(1, 50, r.items).round(2)
    tables: dict[str, pd.DataFrame] = {
        "items": pd.DataFrame(
            {
                "item_id": items,
                "category": [f"cat{k % r.categories}" for k in range(r.items)],
                "unit_cost": cost,
                "list_price": (cost * 1.4).round(2),
                "brand": [f"B{k % 2}" for k in range(r.items)],
                "description": [f"thing {k}" for k in range(r.items)],
                "pack_size": rng.integers(1, 12, r.items).astype(float),
                "uom": "ea",
                "supplier_id": [f"S{k % 2}" for k in range(r.items)],
                "lead_time_days": rng.integers(2, 10, r.items).astype(float),
                "moq": rng.integers(0, 10, r.items).astype(float),
                "order_multiple": rng.integers(1, 6, r.items).astype(float),
                "active": True,
                "attr_size": rng.integers(1, 4, r.items).astype(float),
                "attr_colour": [("red", "blue", "green")[k % 3] for k in range(r.items)],
            }
        ),
        "locations": pd.DataFrame(
            {"location_id": locations, "region": "north", "kind": "warehouse"}
        ),
        "customers": pd.DataFrame(
            {
                "customer_id": customers,
                "segment": [("retail", "trade")[k % 2] for k in range(r.customers)],
                "tier": [("A", "B")[k % 2] for k in range(r.customers)],
                "region": "north",
            }
        ),
        "carriers": pd.DataFrame({"carrier_id": carriers, "mode": "road"}),
    }
    orders, fulfillments = _orders(r, rng, days, items, locations, customers, carriers, cost)
    tables["orders"], tables["fulfillments"] = orders, fulfillments
    tables["inventory"] = _inventory(r, rng, days, items, locations)
    tables["demand"] = _demand(r, rng, days, items, locations)
    tables["substitutions"] = _substitutions(r, rng, orders, tables["items"])
    tables["purchase_orders"] = _purchase_orders(r, rng, days, items, locations)
    for name in OPTIONAL_TABLES:
        if name not in r.tables:
            del tables[name]
    for name, frame in tables.items():
        drop = [c for c in frame.columns if f"{name}.{c}" in r.dropped]
        drop += [c for c in frame.columns if c.startswith("x_") and c not in r.x_columns]
        tables[name] = frame.drop(columns=drop)
        if name in r.empty:
            tables[name] = tables[name].iloc[:0]
    return tables


def _x_columns(rng: np.random.Generator, n: int, flat: bool = False) -> dict[str, object]:
    return {
        "x_num": np.ones(n) if flat else rng.normal(0, 1, n).round(3),
        "x_cat": rng.choice(["FOB", "CIF", "EXW"], n),
        "x_flag": rng.random(n) < 0.3,
    }


def _orders(
    r: Recipe,
    rng: np.random.Generator,
    days: pd.DatetimeIndex,
    items: list[str],
    locations: list[str],
    customers: list[str],
    carriers: list[str],
    cost: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = r.days * r.lines_per_day
    day = np.repeat(np.arange(r.days), r.lines_per_day)
    if r.timestamps == "tied":
        ts = days[day]
    else:
        ts = days[day] + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")
    # Lines of one day are cut into orders of one or two lines.
    order_no = np.cumsum(np.r_[True, (rng.random(n - 1) < 0.6) | (np.diff(day) > 0)])
    first_line = 0 if r.odd_ids else 1
    line_no = pd.Series(np.arange(n)).groupby(order_no).cumcount().to_numpy() + first_line
    item = rng.integers(0, len(items), n)
    qty = rng.integers(1, 20, n).astype(float) + (0.5 if r.odd_ids else 0.0)
    price = (cost[item] * 1.4).round(2)
    if r.odd_ids:
        price[::7] = 0.0  # free samples: unit_price 0 is valid
    promised = days[day] + pd.to_timedelta(rng.integers(1, 6, n), unit="D")
    carrier = rng.integers(0, len(carriers), n)
    orders = pd.DataFrame(
        {
            "order_id": [f"SO{k}" for k in order_no],
            "line_no": line_no,
            "order_ts": ts,
            "customer_id": np.asarray(customers)[rng.integers(0, len(customers), n)],
            "item_id": np.asarray(items)[item],
            "location_id": np.asarray(locations)[rng.integers(0, len(locations), n)],
            "qty": qty,
            "unit_price": price,
            "promised_date": promised.normalize(),
            "discount_pct": 0.0
            if r.flat
            else rng.choice([0.0, 5.0, 100.0 if r.odd_ids else 10.0], n),
            "requested_date": (promised - pd.Timedelta(days=1)).normalize(),
            "carrier_id": np.asarray(carriers)[carrier],
            "ship_method": rng.choice(["ground", "air"], n),
            "priority": rng.choice(["normal", "high"], n),
            **_x_columns(rng, n, r.flat),
        }
    )
    if r.ghosts:
        ghost = rng.random(n) < 0.05
        for column, name in (("item_id", "GHOST-ITEM"), ("customer_id", "GHOST-C")):
            orders.loc[ghost & (rng.random(n) < 0.5), column] = name
        orders.loc[ghost & (rng.random(n) < 0.3), "location_id"] = "GHOST-L"
    # Misses lean on the first carrier and the first item, so there is something to learn.
    p_miss = np.clip(r.miss_rate * np.where((carrier == 0) | (item == 0), 1.5, 0.5), 0, 1)
    miss = rng.random(n) < p_miss
    short = miss & (rng.random(n) < 0.5)
    shipped = np.where(short, np.floor(qty * rng.uniform(0, 0.9, n)), qty)
    ship = days[day] + pd.Timedelta(days=1)
    on_time = promised.normalize() - pd.to_timedelta(rng.integers(0, 2, n), unit="D")
    late = promised.normalize() + pd.to_timedelta(rng.integers(1, 4, n), unit="D")
    delivered = np.where(miss & ~short, late, np.maximum(on_time, ship))
    fulfilled = day < r.days - r.open_days
    fulfillments = pd.DataFrame(
        {
            "order_id": orders["order_id"],
            "line_no": line_no,
            "shipped_qty": shipped,
            "ship_date": ship,
            "delivered_date": pd.DatetimeIndex(delivered),
            "status": "delivered",
        }
    )[fulfilled]
    return orders, fulfillments.reset_index(drop=True)


def _grid(days: pd.DatetimeIndex, items: list[str], locations: list[str]) -> pd.DataFrame:
    index = pd.MultiIndex.from_product([days, items, locations], names=["d", "i", "l"])
    return index.to_frame(index=False)


def _inventory(
    r: Recipe,
    rng: np.random.Generator,
    days: pd.DatetimeIndex,
    items: list[str],
    locations: list[str],
) -> pd.DataFrame:
    grid = _grid(days[:1] if r.stock == "one" else days, items, locations)
    n = len(grid)
    on_hand = np.full(n, 100.0) if r.stock == "constant" else rng.integers(0, 60, n).astype(float)
    return pd.DataFrame(
        {
            "snapshot_date": grid["d"],
            "item_id": grid["i"],
            "location_id": grid["l"],
            "on_hand": on_hand,
            "allocated": np.minimum(on_hand, rng.integers(0, 5, n)),
            "reserved": 0.0,
            "quarantined": 0.0,
            "in_transit": rng.integers(0, 10, n).astype(float),
            "in_transit_eta": grid["d"] + pd.Timedelta(days=3),
        }
    )


def _demand(
    r: Recipe,
    rng: np.random.Generator,
    days: pd.DatetimeIndex,
    items: list[str],
    locations: list[str],
) -> pd.DataFrame:
    grid = _grid(days, items, locations)
    n = len(grid)
    promo = np.zeros(n, bool) if r.flat else rng.random(n) < 0.1
    weekday = np.where(grid["d"].dt.dayofweek < 5, 3.0, 1.0)
    return pd.DataFrame(
        {
            "date": grid["d"],
            "item_id": grid["i"],
            "location_id": grid["l"],
            "qty": rng.poisson(weekday * np.where(promo, 2.0, 1.0)).astype(float),
            "price": np.where(promo, 9.0, 10.0),
            "promo": promo,
            **_x_columns(rng, n, r.flat),
        }
    )


def _substitutions(
    r: Recipe, rng: np.random.Generator, orders: pd.DataFrame, items: pd.DataFrame
) -> pd.DataFrame:
    """Two offers per short line (another item, of the same category where there is one)."""
    n_sets = max(int(r.days * r.offers_per_day), 1)
    lines = orders.iloc[rng.integers(0, len(orders), n_sets)].reset_index(drop=True)
    ids = items["item_id"].to_numpy()
    category = dict(zip(items["item_id"], items["category"], strict=True))
    price = dict(zip(items["item_id"], items["list_price"], strict=True))
    rows = []
    for k, line in lines.iterrows():
        kind = category.get(line["item_id"])
        same = [i for i in ids if i != line["item_id"] and category[i] == kind]
        pool = same or [i for i in ids if i != line["item_id"]]
        offered = rng.choice(pool, size=min(2, len(pool)), replace=False)
        for position, item in enumerate(offered, start=1):
            rows.append(
                {
                    "event_id": f"E{k}-{position}",
                    "ts": line["order_ts"],
                    "customer_id": line["customer_id"],
                    "original_item_id": line["item_id"],
                    "offered_item_id": item,
                    "accepted": bool(rng.random() < r.accept_rate),
                    "location_id": line["location_id"],
                    "order_id": line["order_id"],
                    "position": position,
                    "original_unit_price": price.get(line["item_id"], 1.0),
                    "offered_unit_price": price[item],
                }
            )
    frame = pd.DataFrame(rows)
    if r.ghosts:
        frame.loc[frame.index[::9], "offered_item_id"] = "GHOST-ITEM"
    return frame.assign(**_x_columns(rng, len(frame), r.flat))


def _purchase_orders(
    r: Recipe,
    rng: np.random.Generator,
    days: pd.DatetimeIndex,
    items: list[str],
    locations: list[str],
) -> pd.DataFrame:
    grid = _grid(days[::14], items, locations)
    n = len(grid)
    lead = pd.to_timedelta(rng.integers(2, 12, n), unit="D")
    received = grid["d"] + lead + pd.to_timedelta(rng.integers(-1, 3, n), unit="D")
    qty = rng.integers(10, 80, n).astype(float)
    return pd.DataFrame(
        {
            "po_id": [f"PO{k}" for k in range(n)],
            "item_id": grid["i"],
            "location_id": grid["l"],
            "qty": qty,
            "order_date": grid["d"],
            "expected_date": grid["d"] + lead,
            "received_date": received.where(received <= days[-1]),
            "received_qty": np.where(received <= days[-1], qty, np.nan),
        }
    )


def write(recipe: Recipe, directory: Path) -> Path:
    """Write ``recipe``'s dataset in its format; returns the directory."""
    write_tables(build(recipe), directory, fmt=recipe.fmt)
    return directory
