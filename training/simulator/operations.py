"""Operations: orders, customer pricing, the warehouse day by day, carriers, purchasing.

The day loop is vectorised over every item × location series. Each order line sees
the start-of-day inventory snapshot (the same one written to ``inventory``); its
true probability of being short depends on available stock, in-transit stock due
by the promised date and what earlier lines of the day already claimed. The true
probability of an order being late depends on its carrier lane, carrier
disruptions, seasonal congestion, recent warehouse load and the promised slack.
Outcomes are drawn from these probabilities, which ``truth/order_lines`` records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from training.simulator.demand import Demand, Lines
from training.simulator.world import World

PICK_LAG_P = (0.5, 0.4, 0.1)  # ship the same day, next day, in two days
ANOMALY_RATE = 0.015
RING = 4  # days of scheduled shipments kept in the ring buffer


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return expit(x)


@dataclass
class Orders:
    """One row per order line, sorted by order time."""

    order_id: np.ndarray
    order_index: np.ndarray  # dense integer id of the order
    line_no: np.ndarray
    day: np.ndarray
    ts: np.ndarray  # datetime64
    series: np.ndarray
    item: np.ndarray
    location: np.ndarray
    customer: np.ndarray
    carrier: np.ndarray
    qty: np.ndarray
    bulk: np.ndarray
    unit_price: np.ndarray
    discount_pct: np.ndarray
    promo: np.ndarray
    anomaly_kind: np.ndarray  # "", "unauthorized_discount", "mispricing"
    requested_day: np.ndarray
    promised_day: np.ndarray
    expedited: np.ndarray
    priority: np.ndarray
    p_late: np.ndarray


def group_lines(
    day: np.ndarray, location: np.ndarray, rng: np.random.Generator, p_new: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines of one location-day into orders: a new order starts with probability ``p_new``.

    Returns the permutation that sorts lines by (day, location, random), each sorted
    line's order index and the position of every order's first line.
    """
    n = len(day)
    order_key = np.lexsort((rng.random(n), location, day))
    d, loc = day[order_key], location[order_key]
    boundary = np.ones(n, dtype=bool)
    boundary[1:] = (d[1:] != d[:-1]) | (loc[1:] != loc[:-1]) | (rng.random(n - 1) < p_new)
    return order_key, np.cumsum(boundary) - 1, np.nonzero(boundary)[0]


def build_orders(world: World, demand: Demand, lines: Lines, rng: np.random.Generator) -> Orders:
    cfg = world.config
    n = len(lines.qty)
    location = demand.series_location[lines.series]
    item = demand.series_item[lines.series]

    # Group the lines of a location-day into orders (mean ~2.5 lines per order).
    order_key, order_idx, first = group_lines(lines.day, location, rng, 0.4)
    day, loc = lines.day[order_key], location[order_key]
    n_orders = order_idx[-1] + 1
    o_day, o_loc = day[first], loc[first]

    # Customers order mostly from the location serving their region.
    o_cust = np.empty(n_orders, dtype=np.int64)
    for l_idx in range(cfg.n_locations):
        mask = o_loc == l_idx
        w = world.customer_weight * np.where(
            world.customer_region == world.location_region[l_idx], 4.0, 1.0
        )
        cdf = np.cumsum(w) / w.sum()
        o_cust[mask] = np.searchsorted(cdf, rng.random(mask.sum()))
    o_region = world.customer_region[o_cust]
    o_tier = world.customer_tier[o_cust]

    # Order time within business hours; lines of an order share it.
    seconds = rng.integers(7 * 3600, 18 * 3600, n_orders)
    o_ts = world.dates.to_numpy()[o_day] + seconds.astype("timedelta64[s]")

    # Carrier: expedited orders go parcel; otherwise by the location's carrier mix.
    o_exp = rng.random(n_orders) < 0.15
    parcel = np.nonzero(world.carrier_mode == 0)[0]
    mix = rng.dirichlet(np.full(cfg.n_carriers, 1.5), cfg.n_locations)
    o_car = np.empty(n_orders, dtype=np.int64)
    for l_idx in range(cfg.n_locations):
        mask = o_loc == l_idx
        o_car[mask] = np.searchsorted(np.cumsum(mix[l_idx]), rng.random(mask.sum()) * 0.9999)
    o_car[o_exp] = rng.choice(parcel, o_exp.sum())
    transit = world.transit_days[o_car, o_loc, o_region]
    needed = transit + 1

    # Requested and promised dates; sales sometimes promises what the lane cannot do.
    o_req = o_day + rng.integers(1, 8, n_orders)
    o_prom = np.maximum(o_req, o_day + needed + rng.integers(0, 3, n_orders))
    over = rng.random(n_orders) < 0.2
    o_prom = np.where(over, o_day + np.maximum(1, needed - rng.integers(1, 3, n_orders)), o_prom)
    o_prio = np.where(o_tier == 0, 1, 0)
    o_prio = np.where(rng.random(n_orders) < 0.04, 2, o_prio)  # 0 normal, 1 high, 2 urgent

    # Warehouse load: lines at the location over the previous three days vs capacity.
    per_day = np.zeros((cfg.n_days, cfg.n_locations))
    np.add.at(per_day, (lines.day, location), 1)
    weekday = world.dates.dayofweek.to_numpy() < 5
    capacity = per_day[weekday].mean(axis=0) * 1.05 + 1
    prev3 = np.zeros_like(per_day)
    csum = np.cumsum(np.vstack([np.zeros((1, cfg.n_locations)), per_day]), axis=0)
    idx = np.arange(cfg.n_days)
    prev3 = csum[idx] - csum[np.maximum(idx - 3, 0)]
    load = prev3 / (3 * capacity[None, :])
    o_load = load[o_day, o_loc]

    doy = world.dates.dayofyear.to_numpy()[o_day]
    peak = np.clip((doy - 320) / 15, 0, 1) * (doy <= 365)  # mid-November to year end
    slack = o_prom - o_day
    logit = (
        -2.7
        + world.carrier_effect[o_car]
        + world.lane_effect[o_car, o_loc, o_region]
        + 1.6 * world.disrupted[o_day, o_car]
        + 0.7 * peak
        + 3.0 * np.maximum(0.0, o_load - 0.85)
        - 0.8 * np.clip(slack - needed, -3, 4)
        - 0.3 * o_exp
        - 0.3 * (o_prio > 0)
    )
    if world.late_shock is not None:
        logit = logit + world.late_shock[o_day, o_car]
    o_p_late = _sigmoid(logit)

    # Lines in order, numbered within their order, sorted by time.
    line_no = np.arange(n) - first[order_idx] + 1
    o_id = np.array([f"O{k:07d}" for k in range(n_orders)])
    ts_sort = np.argsort(o_ts[order_idx], kind="stable")
    perm = order_key[ts_sort]
    oi = order_idx[ts_sort]

    it = item[perm]
    cust = o_cust[oi]
    promo = demand.promo[lines.day[perm], it]
    cut = demand.promo_cut[lines.day[perm], it]
    list_price = world.list_price_on(it, lines.day[perm])
    normal = list_price * (1 - world.contract_discount[cust]) * (1 - cut)
    normal = normal * (1 + rng.normal(0, 0.004, n))
    anomaly = rng.random(n) < ANOMALY_RATE
    misprice = anomaly & (rng.random(n) < 0.4)
    unauthorized = anomaly & ~misprice
    price = np.where(unauthorized, normal * (1 - rng.uniform(0.25, 0.5, n)), normal)
    price = np.where(misprice, world.cost_true[it] * rng.uniform(0.6, 0.95, n), price)
    price = np.round(np.maximum(price, 0.01), 2)
    recorded = np.where(misprice, normal, price)
    discount = np.round(np.clip(100 * (1 - recorded / list_price), 0, 100), 2)
    kind = np.where(unauthorized, "unauthorized_discount", np.where(misprice, "mispricing", ""))

    return Orders(
        order_id=o_id[oi],
        order_index=oi,
        line_no=line_no[ts_sort],
        day=lines.day[perm],
        ts=o_ts[oi],
        series=lines.series[perm],
        item=it,
        location=location[perm],
        customer=cust,
        carrier=o_car[oi],
        qty=lines.qty[perm],
        bulk=lines.bulk[perm],
        unit_price=price,
        discount_pct=discount,
        promo=promo,
        anomaly_kind=kind,
        requested_day=o_req[oi],
        promised_day=o_prom[oi],
        expedited=o_exp[oi],
        priority=o_prio[oi],
        p_late=o_p_late[oi],
    )


@dataclass
class Warehouse:
    """Daily snapshots [D, S], per-line shortfall outcomes and the purchase orders placed."""

    on_hand: np.ndarray
    allocated: np.ndarray
    reserved: np.ndarray
    quarantined: np.ndarray
    in_transit: np.ndarray
    eta_day: np.ndarray  # -1 when nothing is in transit
    p_short: np.ndarray  # per order line
    shipped: np.ndarray
    ship_day: np.ndarray
    purchase_orders: pd.DataFrame  # series, order_day, expected_day, arrival_day, qty, received


def _qty_before(orders: Orders) -> np.ndarray:
    """Units already ordered earlier the same day against the same item × location."""
    key = np.lexsort((np.arange(len(orders.qty)), orders.series, orders.day))
    q = orders.qty[key]
    same = np.zeros(len(q), dtype=bool)
    same[1:] = (orders.day[key][1:] == orders.day[key][:-1]) & (
        orders.series[key][1:] == orders.series[key][:-1]
    )
    csum = np.cumsum(q)
    start = np.maximum.accumulate(np.where(~same, np.arange(len(q)), 0))
    before_sorted = csum - q - (csum[start] - q[start])
    out = np.empty_like(before_sorted)
    out[key] = before_sorted
    return out


def run_warehouse(
    world: World,
    demand: Demand,
    orders: Orders,
    rng: np.random.Generator,
    progress=None,
    cover: float = 1.0,
) -> Warehouse:
    """The day loop. ``cover`` scales every series' safety stock (``routes`` keeps so much
    stock that shortfalls are rare and inventory tells nothing)."""
    n_d, n_s = world.n_days, len(demand.series_item)
    s_item = demand.series_item
    lead = world.lead_time[s_item].astype(float)
    cv = world.lead_cv[s_item]
    moq = world.moq[s_item]
    mult = world.order_multiple[s_item]
    active = world.active[s_item]
    safety = rng.lognormal(0.0, 0.45, n_s) * cover
    reserve_share = np.where(rng.random(n_s) < 0.2, rng.uniform(0.03, 0.15, n_s), 0.0)

    daily = np.bincount(
        orders.day * n_s + orders.series, weights=orders.qty, minlength=n_d * n_s
    ).reshape(n_d, n_s)
    ewma = demand.expected_qty[:28].mean(axis=0)
    reorder = ewma * (lead + 3) * safety
    on_hand = np.floor(reorder + ewma * 14 * rng.uniform(0.3, 1.0, n_s))
    allocated = np.zeros(n_s)
    quarantined = np.zeros(n_s)
    quarantine_until = np.full(n_s, -1)
    sched = np.zeros((RING, n_s))
    po_qty = np.zeros(n_s)
    po_received = np.zeros(n_s)
    po_expected = np.full(n_s, -1)
    po_arrival = np.full(n_s, -1)
    po_row = np.full(n_s, -1)
    po_records: list[tuple[np.ndarray, ...]] = []
    n_po = 0

    snap = {
        k: np.zeros((n_d, n_s))
        for k in ("on_hand", "allocated", "reserved", "quarantined", "in_transit")
    }
    eta_day = np.full((n_d, n_s), -1, dtype=np.int64)
    n_lines = len(orders.qty)
    p_short = np.zeros(n_lines)
    shipped = np.zeros(n_lines, dtype=np.int64)
    ship_day = np.zeros(n_lines, dtype=np.int64)
    qty_before = _qty_before(orders)
    bounds = np.searchsorted(orders.day, np.arange(n_d + 1))

    for d in range(n_d):
        reserved = np.floor(on_hand * reserve_share)
        snap["on_hand"][d] = on_hand
        snap["allocated"][d] = allocated
        snap["reserved"][d] = reserved
        snap["quarantined"][d] = quarantined
        snap["in_transit"][d] = po_qty
        eta_day[d] = po_expected

        a, b = bounds[d], bounds[d + 1]
        if b > a:
            s = orders.series[a:b]
            qty = orders.qty[a:b]
            avail = np.maximum(0.0, on_hand - allocated - reserved - quarantined)[s]
            due = (po_expected[s] >= 0) & (po_expected[s] <= orders.promised_day[a:b])
            eff = avail + np.where(due, po_qty[s], 0.0) - qty_before[a:b]
            gap = (qty - eff) / np.maximum(1.0, 0.25 * qty)
            p = 0.012 + 0.958 * _sigmoid(2.2 * gap)
            short = rng.random(b - a) < p
            partial = np.where(
                eff >= qty,
                np.floor(qty * rng.uniform(0.3, 0.95, b - a)),
                np.floor(np.clip(eff, 0, qty) * rng.uniform(0.6, 1.0, b - a)),
            )
            out = np.where(short, np.minimum(partial, qty - 1), qty).astype(np.int64)
            # Picking is expedited so that no line ships after its promised date.
            lag = rng.choice(3, b - a, p=PICK_LAG_P)
            lag = np.minimum(lag, np.maximum(orders.promised_day[a:b] - d, 0))
            p_short[a:b], shipped[a:b], ship_day[a:b] = p, out, d + lag
            np.add.at(sched, ((d + lag) % RING, s), out)

        # Ship what is due today; what remains scheduled is allocated stock.
        on_hand = np.maximum(0.0, on_hand - sched[d % RING])
        sched[d % RING] = 0
        allocated = sched.sum(axis=0)

        # Receipts of purchase orders arriving today.
        arriving = po_arrival == d
        if arriving.any():
            on_hand[arriving] += po_received[arriving]
            for r in np.nonzero(arriving)[0]:
                po_records[po_row[r]] = (*po_records[po_row[r]][:4], d, po_received[r])
            po_qty[arriving] = 0
            po_expected[arriving] = -1
            po_arrival[arriving] = -1

        # Quality holds: a share of stock quarantined for days to weeks.
        released = quarantine_until == d
        quarantined[released] = 0
        hold = (rng.random(n_s) < 1 / 250) & (quarantined == 0)
        quarantined[hold] = np.floor(on_hand[hold] * rng.uniform(0.2, 0.7, hold.sum()))
        quarantine_until[hold] = d + rng.integers(3, 21, hold.sum())
        quarantined = np.minimum(quarantined, on_hand)

        # Replenishment: (s, S) on an exponentially smoothed demand estimate.
        ewma += (daily[d] - ewma) / 28
        reorder = ewma * (lead + 3) * safety
        position = on_hand - allocated + po_qty
        place = active & (po_expected < 0) & (position <= reorder) & (ewma > 0)
        if place.any():
            idx = np.nonzero(place)[0]
            target = reorder[idx] + ewma[idx] * 14
            q = np.maximum(target - position[idx], moq[idx])
            q = np.maximum(np.ceil(q / mult[idx]) * mult[idx], mult[idx])
            lt = np.maximum(1, np.round(lead[idx] * rng.lognormal(0, cv[idx])))
            late = rng.random(len(idx)) < 0.05
            lt = lt + np.where(late, rng.integers(3, 11, len(idx)), 0)
            got = np.where(
                rng.random(len(idx)) < 0.07,
                np.maximum(1, np.floor(q * rng.uniform(0.5, 0.95, len(idx)))),
                q,
            )
            po_qty[idx], po_received[idx] = q, got
            po_expected[idx] = d + lead[idx].astype(int)
            po_arrival[idx] = d + lt.astype(int)
            for j, r in enumerate(idx):
                po_row[r] = n_po
                po_records.append((r, d, int(po_expected[r]), q[j], -1, 0.0))
                n_po += 1
        if progress is not None:
            progress(d + 1)

    pos = pd.DataFrame(
        po_records,
        columns=["series", "order_day", "expected_day", "qty", "arrival_day", "received_qty"],
    )
    return Warehouse(
        on_hand=snap["on_hand"],
        allocated=snap["allocated"],
        reserved=snap["reserved"],
        quarantined=snap["quarantined"],
        in_transit=snap["in_transit"],
        eta_day=eta_day,
        p_short=p_short,
        shipped=shipped,
        ship_day=ship_day,
        purchase_orders=pos,
    )


def deliveries(
    world: World, orders: Orders, wh: Warehouse, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Late draw per order (all its lines travel together) and delivery day per line."""
    n_orders = orders.order_index.max() + 1
    p_order = np.zeros(n_orders)
    p_order[orders.order_index] = orders.p_late
    late = (rng.random(n_orders) < p_order)[orders.order_index]
    region = world.customer_region[orders.customer]
    transit = world.transit_days[orders.carrier, orders.location, region]
    on_time = np.minimum(orders.promised_day, wh.ship_day + transit)
    delay = orders.promised_day + rng.geometric(0.45, len(late))
    delivered = np.where(late, np.maximum(delay, wh.ship_day), np.maximum(on_time, wh.ship_day))
    return late, delivered
