"""The sparse regime: the minimal export a small distributor can produce.

Only the contract's required tables, each with only its required columns, as CSV: no
carriers, no ``demand`` table (it is derived from orders), no substitutions, no
purchase orders, no dates of shipping or delivery. One location, a few dozen items,
one constant stock level in every inventory snapshot. Promotions are off, since nothing
in such an export could tell a model about them.

What is left to learn: a line misses when it ships short (without delivery dates a
late line cannot be seen, so lateness is not part of this world and ``p_late`` is 0).
Some items are often short (a fifth of them, by a hidden supplier problem), a line
large for its item is short more often, and so is a rushed promise (next day); the
customer adds a little. Demand keeps the standard weekly and yearly seasonality,
trend and level shifts: the forecaster has something to find.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.special import expit

from features.contract import TABLES
from training.simulator import tables as tb
from training.simulator.demand import DemandKnobs, Lines, build_demand, draw_lines
from training.simulator.operations import Orders, group_lines
from training.simulator.result import SimulationResult, streams
from training.simulator.world import ScaleConfig, World, build_world, master_tables

CONFIGS = {
    "small": ScaleConfig(24, 1, 40, 1, 240, 25.0, 4, 4),
    "medium": ScaleConfig(36, 1, 150, 1, 730, 60.0, 6, 6),
    "large": ScaleConfig(40, 1, 400, 1, 1095, 150.0, 6, 8),
}
KNOBS = DemandKnobs(promo_rate=0.0)
STOCK = 1000  # on hand in every snapshot
TROUBLED_SHARE = 0.2  # items that are often short
LEAD_DAYS = np.arange(1, 8)
LEAD_P = np.array([0.2, 0.25, 0.2, 0.15, 0.1, 0.05, 0.05])
INTERCEPT = -3.6


def simulate_sparse(scale: str, seed: int, show_progress: bool = False) -> SimulationResult:
    rngs = streams(seed, 6)
    world = build_world(CONFIGS[scale], rngs[0])
    n_i = len(world.item_ids)
    world = dataclasses.replace(world, in_master=np.ones(n_i, bool), active=np.ones(n_i, bool))
    demand = build_demand(world, rngs[1], KNOBS)
    lines = draw_lines(world, demand, rngs[2])
    orders = _orders(world, demand, lines, rngs[3])
    effects = _effects(world, rngs[5])
    p_short, shipped, ship_day = _shortfalls(world, orders, effects, rngs[4])

    master = master_tables(world)
    tables = {
        name: frame[list(TABLES[name].required_columns)]
        for name, frame in master.items()
        if TABLES[name].required
    }
    tables["orders"] = tb.orders_table(world, orders)[list(TABLES["orders"].required_columns)]
    known = ship_day <= world.n_days - 1  # lines still to ship at the export are open
    tables["fulfillments"] = pd.DataFrame(
        {"order_id": orders.order_id, "line_no": orders.line_no, "shipped_qty": shipped}
    )[known].reset_index(drop=True)
    n_d, n_s = world.n_days, len(demand.series_item)
    tables["inventory"] = pd.DataFrame(
        {
            "snapshot_date": np.repeat(world.dates.to_numpy(), n_s),
            "item_id": tb.ids(world.item_ids, np.tile(demand.series_item, n_d)),
            "location_id": tb.ids(world.location_ids, np.tile(demand.series_location, n_d)),
            "on_hand": np.full(n_d * n_s, STOCK, dtype=np.int64),
        }
    )
    truth = {
        "order_lines": tb.order_lines_truth(
            orders, p_short, np.zeros(len(p_short), bool), shipped < orders.qty
        ),
        "demand": tb.demand_truth(world, demand),
        "level_shifts": tb.level_shifts_truth(world, demand),
        "short_effects": _effects_table(world, effects),
    }
    return SimulationResult(
        scale=scale, seed=seed, tables=tables, truth=truth, regime="sparse", fmt="csv"
    )


def _orders(world: World, demand, lines: Lines, rng: np.random.Generator) -> Orders:
    n = len(lines.qty)
    location = demand.series_location[lines.series]
    key, order_idx, first = group_lines(lines.day, location, rng, 0.5)
    n_orders = len(first)
    o_day = lines.day[key][first]
    cdf = np.cumsum(world.customer_weight) / world.customer_weight.sum()
    o_cust = np.minimum(np.searchsorted(cdf, rng.random(n_orders)), len(cdf) - 1)
    seconds = rng.integers(7 * 3600, 18 * 3600, n_orders)
    o_ts = world.dates.to_numpy()[o_day] + seconds.astype("timedelta64[s]")
    o_lead = rng.choice(LEAD_DAYS, n_orders, p=LEAD_P)

    ts_sort = np.argsort(o_ts[order_idx], kind="stable")
    perm, oi = key[ts_sort], order_idx[ts_sort]
    line_no = (np.arange(n) - first[order_idx] + 1)[ts_sort]
    item = demand.series_item[lines.series[perm]]
    day = lines.day[perm]
    cust = o_cust[oi]
    price = world.list_price[item] * (1 - world.contract_discount[cust])
    price = np.round(np.maximum(price * (1 + rng.normal(0, 0.004, n)), 0.01), 2)
    zeros = np.zeros(n, dtype=np.int64)
    return Orders(
        order_id=np.array([f"O{k:07d}" for k in range(n_orders)])[oi],
        order_index=oi,
        line_no=line_no,
        day=day,
        ts=o_ts[oi],
        series=lines.series[perm],
        item=item,
        location=location[perm],
        customer=cust,
        carrier=zeros,
        qty=lines.qty[perm],
        bulk=lines.bulk[perm],
        unit_price=price,
        discount_pct=np.zeros(n),
        promo=np.zeros(n, bool),
        anomaly_kind=np.full(n, ""),
        requested_day=day + o_lead[oi],
        promised_day=day + o_lead[oi],
        expedited=np.zeros(n, bool),
        priority=zeros,
        p_late=np.zeros(n),
    )


def _effects(world: World, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n_i, n_c = len(world.item_ids), len(world.customer_ids)
    troubled = np.zeros(n_i, dtype=bool)
    troubled[rng.choice(n_i, max(1, round(TROUBLED_SHARE * n_i)), replace=False)] = True
    return {
        "item": np.where(troubled, rng.uniform(1.8, 2.6, n_i), rng.normal(0, 0.3, n_i)),
        "customer": rng.normal(0, 0.3, n_c),
    }


def _shortfalls(
    world: World, o: Orders, effects: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True P(short) per line, the quantity shipped and the day it shipped."""
    big = np.clip(np.log(o.qty / world.line_qty_mean[o.item]), -1.0, 2.5)
    rushed = (o.promised_day - o.day) <= 1
    p = expit(
        INTERCEPT + effects["item"][o.item] + effects["customer"][o.customer] + big + 1.2 * rushed
    )
    short = rng.random(len(p)) < p
    partial = np.floor(o.qty * rng.uniform(0.0, 0.9, len(p))).astype(np.int64)
    shipped = np.where(short, np.minimum(partial, o.qty - 1), o.qty)
    ship_day = np.minimum(o.day + rng.integers(0, 3, len(p)), o.promised_day)
    return p, shipped, ship_day


def _effects_table(world: World, effects: dict[str, np.ndarray]) -> pd.DataFrame:
    """``truth/short_effects``: the hidden log-odds terms of P(short)."""
    rows = [
        ("intercept", "", INTERCEPT),
        ("log(qty / item's usual line), clipped to [-1, 2.5]", "slope", 1.0),
        ("rushed promise (next day)", "", 1.2),
    ]
    rows += [
        ("item", str(i), float(v)) for i, v in zip(world.item_ids, effects["item"], strict=True)
    ]
    rows += [
        ("customer", str(c), float(v))
        for c, v in zip(world.customer_ids, effects["customer"], strict=True)
    ]
    return pd.DataFrame(rows, columns=["factor", "level", "log_odds"])
