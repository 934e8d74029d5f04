"""The loyalty regime: shoppers of habit, and substitutes chosen the way they shop.

Each customer buys a handful of categories again and again; a category holds only 3–6
items. Every purchase occasion is a multinomial-logit choice among the category's items
whose utility is dominated by the customer's **loyalty**: the Guadagni–Little
exponentially smoothed indicator of their own past purchases (``L ← α·L + (1 − α)·1[item
bought]``, with a customer-specific α), plus item appeal, the price paid (promotion cuts
included) and a promotion flag. Loyalty is built from the ``orders`` table alone, so a
model can reconstruct it.

When a line falls into a stock-out window it ships short and, most of the time, the
other items of the category are offered (``substitutions``, with offer-time ``x_promo``
and ``x_display`` flags and both unit prices). The customer takes at most one offer, or
none, by the same utility (loyalty before this purchase, appeal, price relative to the
original, promotion and display) against an outside option; ``truth/substitutions``
holds each offer's choice probability, the loyalty and the utility behind it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.special import expit

from training.simulator import loyalty_shop as shop
from training.simulator import tables as tb
from training.simulator.demand import Demand
from training.simulator.operations import Orders
from training.simulator.result import SimulationResult, streams
from training.simulator.world import SCALES, ScaleConfig, World, build_world, master_tables

SHAPE = {
    "small": {"n_categories": 14, "n_customers": 150, "n_locations": 2, "n_carriers": 3},
    "medium": {"n_categories": 50, "n_customers": 800, "n_locations": 3, "n_carriers": 4},
    "large": {"n_categories": 160, "n_customers": 4000, "n_locations": 4, "n_carriers": 6},
}
N_BRANDS = 12
STOCKOUTS_PER_YEAR = 5  # windows per series
P_SHORT_IN, P_SHORT_OUT = 0.92, 0.01


def simulate_loyalty(scale: str, seed: int, show_progress: bool = False) -> SimulationResult:
    rngs = streams(seed, 7)
    world, n_cat = _world(scale, rngs[0])
    taste = shop.draw_taste(world, n_cat, rngs[1])
    promo, cut = shop.promotions(world, rngs[1])
    bought = shop.purchases(world, taste, promo, cut, rngs[2])
    orders, perm = _orders(world, bought, promo, cut, rngs[3])
    stockout = _stockouts(world, rngs[4])
    p_short, shipped, ship_day = _fulfil(world, orders, stockout, rngs[4])
    late, delivered = _deliveries(orders, ship_day, rngs[5])
    subs, offer_truth = shop.offers(
        world,
        taste,
        orders,
        bought.pair[perm],
        bought.loyalty[perm],
        shipped,
        promo,
        cut,
        rngs[6],
    )
    demand = _demand(world, bought.expected, promo, cut)

    tables = master_tables(world)
    tables["orders"] = tb.orders_table(world, orders)
    tables["fulfillments"] = tb.fulfillments_table(world, orders, shipped, ship_day, delivered)
    tables["inventory"], tables["purchase_orders"] = _inventory(world, bought, stockout)
    tables["demand"] = tb.demand_table(world, demand, orders)
    tables["substitutions"] = subs
    truth = {
        "order_lines": tb.order_lines_truth(orders, p_short, late, shipped < orders.qty),
        "substitutions": offer_truth,
        "demand": tb.demand_truth(world, demand),
        "level_shifts": tb.level_shifts_truth(world, demand),
        "customer_taste": shop.taste_table(world, taste),
    }
    return SimulationResult(scale=scale, seed=seed, tables=tables, truth=truth, regime="loyalty")


def _world(scale: str, rng: np.random.Generator) -> tuple[World, int]:
    """The standard master data re-cut into small categories of distinct brands."""
    shape = SHAPE[scale]
    n_cat = shape["n_categories"]
    sizes = rng.integers(3, 7, n_cat)
    config: ScaleConfig = dataclasses.replace(
        SCALES[scale], n_items=int(sizes.sum()), n_suppliers=max(4, n_cat // 3), **shape
    )
    world = build_world(config, rng)
    n_i, n_l = config.n_items, config.n_locations
    category = np.repeat(np.arange(n_cat), sizes)
    brand = np.concatenate([rng.permutation(N_BRANDS)[:k] for k in sizes])
    cat_price = np.exp(rng.normal(3.0, 0.9, n_cat))
    list_price = np.round(
        cat_price[category]
        * np.exp(rng.normal(0, 0.15, N_BRANDS))[brand]
        * np.exp(rng.normal(0, 0.1, n_i)),
        2,
    )
    cost = np.round(list_price * rng.uniform(0.55, 0.8, n_i), 2)
    home = rng.integers(0, n_l, config.n_customers)
    world = dataclasses.replace(
        world,
        category=category,
        brand=brand,
        list_price=list_price,
        cost_true=cost,
        unit_cost=cost,
        active=np.ones(n_i, bool),
        in_master=np.ones(n_i, bool),
        customer_region=world.location_region[home],
    )
    return world, n_cat


def _orders(
    world: World, bought: shop.Purchases, promo: np.ndarray, cut: np.ndarray, rng
) -> tuple[Orders, np.ndarray]:
    """A customer's lines of one day form one order; carriers and promises as usual.

    Returns the orders (sorted by time, ids in time order) and, per order line, the
    row of ``bought`` it came from.
    """
    n = len(bought.day)
    by_customer_day = np.lexsort((bought.item, bought.customer, bought.day))
    day, cust = bought.day[by_customer_day], bought.customer[by_customer_day]
    new = np.ones(n, dtype=bool)
    new[1:] = (day[1:] != day[:-1]) | (cust[1:] != cust[:-1])
    group = np.cumsum(new) - 1
    n_orders = int(group[-1]) + 1
    seconds = rng.integers(7 * 3600, 18 * 3600, n_orders)
    o_ts = world.dates.to_numpy()[day[new]] + seconds.astype("timedelta64[s]")
    rank = np.empty(n_orders, dtype=np.int64)
    rank[np.argsort(o_ts, kind="stable")] = np.arange(n_orders)
    line_order = np.argsort(rank[group], kind="stable")  # time order, an order's lines together
    perm = by_customer_day[line_order]
    oi = rank[group[line_order]]  # order index = position in time
    ts = np.sort(o_ts)
    starts = np.searchsorted(oi, np.arange(n_orders))
    line_no = np.arange(n) - starts[oi] + 1

    day, cust, item, loc = (
        bought.day[perm],
        bought.customer[perm],
        bought.item[perm],
        bought.location[perm],
    )
    o_car = rng.integers(0, len(world.carrier_ids), n_orders)
    o_lead = rng.integers(1, 6, n_orders)
    list_price = world.list_price_on(item, day)
    price = list_price * (1 - world.contract_discount[cust]) * (1 - cut[day, item])
    price = np.round(np.maximum(price * (1 + rng.normal(0, 0.004, n)), 0.01), 2)
    p_late = expit(-2.8 + world.carrier_effect[o_car] + 1.0 * (o_lead <= 1))
    orders = Orders(
        order_id=np.array([f"O{k:07d}" for k in range(n_orders)])[oi],
        order_index=oi,
        line_no=line_no,
        day=day,
        ts=ts[oi],
        series=item * len(world.location_ids) + loc,
        item=item,
        location=loc,
        customer=cust,
        carrier=o_car[oi],
        qty=bought.qty[perm],
        bulk=np.zeros(n, bool),
        unit_price=price,
        discount_pct=np.round(np.clip(100 * (1 - price / list_price), 0, 100), 2),
        promo=promo[day, item],
        anomaly_kind=np.full(n, ""),
        requested_day=day + o_lead[oi],
        promised_day=day + o_lead[oi],
        expedited=np.zeros(n, bool),
        priority=np.where(world.customer_tier[cust] == 0, 1, 0),
        p_late=p_late[oi],
    )
    return orders, perm


def _stockouts(world: World, rng: np.random.Generator) -> np.ndarray:
    """[day, series] True inside a stock-out window (a few per series and year)."""
    n_d, n_s = world.n_days, len(world.item_ids) * len(world.location_ids)
    out = np.zeros((n_d, n_s), dtype=bool)
    counts = rng.poisson(n_d / 365 * STOCKOUTS_PER_YEAR, n_s)
    for s, k in enumerate(counts):
        for start, length in zip(rng.integers(0, n_d, k), rng.integers(3, 13, k), strict=True):
            out[start : start + length, s] = True
    return out


def _fulfil(
    world: World, o: Orders, stockout: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(short) by the stock-out windows; shipped quantity and ship day per line."""
    inside = stockout[o.day, o.series]
    p = np.where(inside, P_SHORT_IN, P_SHORT_OUT)
    short = rng.random(len(p)) < p
    partial = np.where(inside, 0, np.floor(o.qty * rng.uniform(0.3, 0.9, len(p))))
    shipped = np.where(short, np.minimum(partial, o.qty - 1), o.qty).astype(np.int64)
    ship_day = np.minimum(o.day + rng.integers(0, 2, len(p)), o.promised_day)
    return p, shipped, ship_day


def _deliveries(
    o: Orders, ship_day: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Late draw per order (its lines travel together) and delivery day per line."""
    p_order = np.zeros(int(o.order_index.max()) + 1)
    p_order[o.order_index] = o.p_late
    late = (rng.random(len(p_order)) < p_order)[o.order_index]
    delay = o.promised_day + rng.geometric(0.45, len(late))
    on_time = np.maximum(np.minimum(o.promised_day, ship_day + 1), ship_day)
    return late, np.where(late, np.maximum(delay, ship_day), on_time)


def _demand(world: World, expected: np.ndarray, promo: np.ndarray, cut: np.ndarray) -> Demand:
    """The dense item × location grid as a :class:`Demand` for the shared table code."""
    n_d = world.n_days
    n_l = len(world.location_ids)
    n_s = len(world.item_ids) * n_l
    series = np.arange(n_s)
    return Demand(
        series_item=series // n_l,
        series_location=series % n_l,
        intensity=expected,
        promo=promo,
        promo_cut=cut,
        holiday=np.zeros(n_d, bool),
        shift_day=np.full(n_s, -1),
        shift_factor=np.ones(n_s),
        expected_qty=expected,
    )


def _inventory(
    world: World, bought: shop.Purchases, stockout: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily snapshots (ample stock, none inside a stock-out window, the restock in
    transit until the window ends) and the restocking purchase orders."""
    n_d, n_s = stockout.shape
    n_l = len(world.location_ids)
    level = np.ceil(30 * bought.expected.mean(axis=0) + 20)
    on_hand = np.where(stockout, 0.0, level[None, :])
    # Window ends: the first day back in stock after a run of stock-out days.
    starts = stockout & ~np.vstack([np.zeros((1, n_s), bool), stockout[:-1]])
    ends = ~stockout & np.vstack([np.zeros((1, n_s), bool), stockout[:-1]])
    eta = np.full((n_d, n_s), -1)
    for s in np.flatnonzero(stockout.any(axis=0)):
        s_days, e_days = np.flatnonzero(starts[:, s]), np.flatnonzero(ends[:, s])
        for a in s_days:
            later = e_days[e_days > a]
            eta[a : (later[0] if len(later) else n_d), s] = later[0] if len(later) else n_d
    in_transit = np.where(stockout, level[None, :], 0.0)
    day = world.dates.to_numpy()
    item, loc = np.tile(np.arange(n_s) // n_l, n_d), np.tile(np.arange(n_s) % n_l, n_d)
    inventory = pd.DataFrame(
        {
            "snapshot_date": np.repeat(day, n_s),
            "item_id": tb.ids(world.item_ids, item),
            "location_id": tb.ids(world.location_ids, loc),
            "on_hand": on_hand.ravel().astype(np.int64),
            "in_transit": in_transit.ravel().astype(np.int64),
            "in_transit_eta": pd.Series(tb.dates(world, np.maximum(eta.ravel(), 0)))
            .where(eta.ravel() >= 0)
            .to_numpy(),
        }
    )
    d_start, s_start = np.nonzero(starts)
    expected_day = eta[d_start, s_start]
    arrived = expected_day < n_d
    purchase_orders = pd.DataFrame(
        {
            "po_id": [f"PO{k:07d}" for k in range(len(d_start))],
            "item_id": world.item_ids[s_start // n_l],
            "location_id": world.location_ids[s_start % n_l],
            "qty": level[s_start].astype(np.int64),
            "order_date": day[d_start],
            "expected_date": tb.dates(world, expected_day),
            "received_date": pd.Series(tb.dates(world, expected_day)).where(arrived).to_numpy(),
            "received_qty": np.where(arrived, level[s_start], np.nan),
        }
    )
    return inventory, purchase_orders
