"""The routes regime: lateness lives in categorical identities and context, not in state.

A distributor that ships worldwide from a few warehouses by parcel, LTL, ocean and air
carriers, part of it drop-shipped by vendors. Whether a line arrives late is decided
mostly by *who and which way*: the fulfilment route (location × carrier × ship method,
from ~2 % to ~40 % late), the supplier at that location, the customer's country, the
incoterm and the drop-ship vendor (``x_incoterm``, ``x_vendor``), the line's weight
(``x_weight_kg``) and how the promised lead time compares with the route's usual one
(promises are long and irregular: days by parcel, weeks by sea). The base rate drifts
from ~10 % in the first 30 % of the history to ~15 % in the last 30 %. Customers are many
and each is seen rarely; stock is ample, so shortfalls are rare (P(short) ≈ 1.2 %,
flat) and inventory tells nothing. A plain LightGBM with native categoricals on the raw
order columns can get near the oracle here; history statistics per customer cannot.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from training.simulator import tables as tb
from training.simulator.demand import build_demand, draw_lines
from training.simulator.operations import Orders, group_lines, run_warehouse
from training.simulator.result import SimulationResult, streams
from training.simulator.substitution import offers, population_acceptance
from training.simulator.world import SCALES, ScaleConfig, World, build_world, master_tables

COUNTRIES = np.array(["US", "CA", "MX", "BR", "GB", "DE", "FR", "NL", "PL", "CN", "JP", "AU"])
DOMESTIC_SHARE = 0.6
MODES = np.array(["parcel", "ltl", "ocean", "air"])
MODE_LEAD = np.array([[2, 5], [4, 10], [18, 40], [3, 7]])  # usual transit days by mode
METHODS = np.array(["standard", "expedited", "economy"])
METHOD_P = (0.6, 0.25, 0.15)
METHOD_LEAD = np.array([1.0, 0.6, 1.4])
INCOTERMS = np.array(["EXW", "FCA", "FOB", "CIF", "DAP", "DDP"])
N_VENDORS = 8
DROP_SHIP_SHARE = 0.3
STOCK_COVER = 8.0
EARLY_RATE, LATE_RATE = 0.10, 0.15  # P(late) in the first and last 30 % of the history
EDGE = 0.3
# Many customers, each seen rarely; more carriers and locations than the standard world.
SHAPE = {
    "small": {"n_customers": 2_500, "n_carriers": 6, "n_locations": 4},
    "medium": {"n_customers": 25_000, "n_carriers": 8, "n_locations": 5},
    "large": {"n_customers": 150_000, "n_carriers": 8, "n_locations": 5},
}


@dataclasses.dataclass
class Routes:
    """Hidden effects (log-odds of lateness) and usual lead times."""

    country: np.ndarray  # [customer] index into COUNTRIES
    carrier_mode: np.ndarray  # [carrier] index into MODES
    route: np.ndarray  # [location, carrier, method]
    route_lead: np.ndarray  # [location, carrier] usual transit days
    country_effect: np.ndarray
    country_lead: np.ndarray
    supplier_location: np.ndarray  # [supplier, location]
    incoterm: np.ndarray
    vendor: np.ndarray
    vendor_lead: np.ndarray
    unit_weight: np.ndarray  # [item] kg per unit


def config(scale: str) -> ScaleConfig:
    return dataclasses.replace(SCALES[scale], **SHAPE[scale])


def simulate_routes(scale: str, seed: int, show_progress: bool = False) -> SimulationResult:
    rngs = streams(seed, 8)
    world = build_world(config(scale), rngs[0])
    hidden, world = _hidden(world, rngs[7])
    demand = build_demand(world, rngs[1])
    lines = draw_lines(world, demand, rngs[2])
    orders, context = _orders(world, demand, lines, hidden, rngs[3])
    wh = run_warehouse(world, demand, orders, rngs[4], cover=STOCK_COVER)
    late, delivered = _deliveries(orders, wh, hidden, rngs[5])
    subs, p_accept, pairs = offers(world, orders, wh, rngs[6])

    tables = master_tables(world)
    tables["customers"]["region"] = COUNTRIES[hidden.country]
    tables["carriers"]["mode"] = MODES[hidden.carrier_mode]
    table = tb.orders_table(world, orders)
    table["ship_method"] = METHODS[context["method"]]
    table["x_incoterm"] = INCOTERMS[context["incoterm"]]
    table["x_vendor"] = pd.Series(
        np.char.add("V", np.char.zfill(context["vendor"].astype(str), 2))
    ).where(context["vendor"] >= 0)
    table["x_weight_kg"] = context["weight"]
    tables["orders"] = table
    tables["fulfillments"] = tb.fulfillments_table(
        world, orders, wh.shipped, wh.ship_day, delivered
    )
    tables["inventory"] = tb.inventory_table(world, demand, wh)
    tables["demand"] = tb.demand_table(world, demand, orders)
    tables["substitutions"] = subs
    tables["purchase_orders"] = tb.purchase_orders_table(world, demand, wh)
    truth = {
        "order_lines": tb.order_lines_truth(orders, wh.p_short, late, wh.shipped < orders.qty),
        # Customers are seen about once: the reachable oracle integrates their hidden taste.
        "substitutions": pd.DataFrame(
            {
                "event_id": subs["event_id"],
                "p_accept": p_accept,
                "p_accept_population": population_acceptance(world, pairs),
            }
        ),
        "demand": tb.demand_truth(world, demand),
        "level_shifts": tb.level_shifts_truth(world, demand),
        "late_effects": _effects_table(world, hidden, context["intercept"]),
    }
    return SimulationResult(scale=scale, seed=seed, tables=tables, truth=truth, regime="routes")


def _hidden(world: World, rng: np.random.Generator) -> tuple[Routes, World]:
    n_l, n_k = len(world.location_ids), len(world.carrier_ids)
    n_c, n_i = len(world.customer_ids), len(world.item_ids)
    foreign = rng.dirichlet(np.full(len(COUNTRIES) - 1, 2.0))
    country = np.where(
        rng.random(n_c) < DOMESTIC_SHARE, 0, 1 + rng.choice(len(COUNTRIES) - 1, n_c, p=foreign)
    )
    mode = np.arange(n_k) % len(MODES)
    lo, hi = MODE_LEAD[mode, 0], MODE_LEAD[mode, 1]
    country_effect = np.concatenate([[0.0], rng.normal(0.2, 0.5, len(COUNTRIES) - 1)])
    hidden = Routes(
        country=country,
        carrier_mode=mode,
        route=rng.normal(0, 0.9, (n_l, n_k, len(METHODS))),
        route_lead=rng.uniform(lo, hi, (n_l, n_k)),
        country_effect=country_effect,
        country_lead=np.concatenate([[0.0], rng.uniform(1, 6, len(COUNTRIES) - 1)]),
        supplier_location=rng.normal(0, 0.5, (world.config.n_suppliers, n_l)),
        incoterm=rng.normal(0, 0.4, len(INCOTERMS)),
        vendor=rng.normal(0, 0.8, N_VENDORS),
        vendor_lead=rng.uniform(3, 10, N_VENDORS),
        unit_weight=np.round(rng.lognormal(0.5, 1.0, n_i), 2),
    )
    # Customers are many and alike in size: each is seen rarely. Every item is active
    # (replenished), so that no series runs dry.
    weight = rng.lognormal(0, 0.4, n_c)
    return hidden, dataclasses.replace(world, customer_weight=weight, active=np.ones(n_i, bool))


def _orders(
    world: World, demand, lines, h: Routes, rng: np.random.Generator
) -> tuple[Orders, dict[str, np.ndarray]]:
    n = len(lines.qty)
    n_d = world.n_days
    location = demand.series_location[lines.series]
    key, order_idx, first = group_lines(lines.day, location, rng, 0.6)
    o_day, o_loc = lines.day[key][first], location[key][first]
    n_orders = len(first)

    cdf = np.cumsum(world.customer_weight) / world.customer_weight.sum()
    o_cust = np.minimum(np.searchsorted(cdf, rng.random(n_orders)), len(cdf) - 1)
    o_country = h.country[o_cust]
    seconds = rng.integers(7 * 3600, 18 * 3600, n_orders)
    o_ts = world.dates.to_numpy()[o_day] + seconds.astype("timedelta64[s]")

    # Domestic orders go by parcel or LTL; exports by any mode, per the location's mix.
    n_k = len(world.carrier_ids)
    mix = rng.dirichlet(np.full(n_k, 1.5), world.config.n_locations)
    domestic_mix = mix * (h.carrier_mode < 2)[None, :] + 1e-9
    u = rng.random(n_orders)
    o_car = np.empty(n_orders, dtype=np.int64)
    for l_idx in range(world.config.n_locations):
        for dom, table in ((True, domestic_mix), (False, mix)):
            mask = (o_loc == l_idx) & ((o_country == 0) == dom)
            c = np.cumsum(table[l_idx]) / table[l_idx].sum()
            o_car[mask] = np.minimum(np.searchsorted(c, u[mask]), n_k - 1)
    o_method = rng.choice(len(METHODS), n_orders, p=METHOD_P)
    o_inco = np.where(o_country == 0, rng.choice([4, 5], n_orders), rng.integers(0, 6, n_orders))

    # Lines in time order, numbered within their order.
    line_no = np.arange(n) - first[order_idx] + 1
    ts_sort = np.argsort(o_ts[order_idx], kind="stable")
    perm, oi = key[ts_sort], order_idx[ts_sort]
    item = demand.series_item[lines.series[perm]]
    loc, car, method, cty = o_loc[oi], o_car[oi], o_method[oi], o_country[oi]
    vendor = np.where(rng.random(n) < DROP_SHIP_SHARE, rng.integers(0, N_VENDORS, n), -1)
    qty = lines.qty[perm]
    weight = np.round(qty * h.unit_weight[item], 1)

    # Promises: the route's usual lead time, irregular around it.
    usual = (
        h.route_lead[loc, car] * METHOD_LEAD[method]
        + h.country_lead[cty]
        + np.where(vendor >= 0, h.vendor_lead[np.maximum(vendor, 0)], 0.0)
    )
    day = lines.day[perm]
    lead = np.maximum(1, np.round(usual * rng.lognormal(0, 0.35, n))).astype(np.int64)
    promised = day + lead
    requested = day + np.maximum(1, np.round(usual * rng.uniform(0.6, 1.1, n))).astype(np.int64)

    x = (
        h.route[loc, car, method]
        + h.supplier_location[world.supplier[item], loc]
        + h.country_effect[cty]
        + h.incoterm[o_inco[oi]]
        + np.where(vendor >= 0, h.vendor[np.maximum(vendor, 0)], 0.0)
        + 0.5 * np.clip(np.log(np.maximum(weight, 1) / 150), 0, 3)
        - 1.5 * np.clip(np.log(lead / usual), -1.0, 1.0)
    )
    intercept = _drifting_intercept(x, day, n_d)
    p_late = expit(intercept[day] + x)

    cust = o_cust[oi]
    promo = demand.promo[day, item]
    cut = demand.promo_cut[day, item]
    list_price = world.list_price_on(item, day)
    price = list_price * (1 - world.contract_discount[cust]) * (1 - cut)
    price = np.round(np.maximum(price * (1 + rng.normal(0, 0.004, n)), 0.01), 2)
    discount = np.round(np.clip(100 * (1 - price / list_price), 0, 100), 2)
    orders = Orders(
        order_id=np.array([f"O{k:07d}" for k in range(n_orders)])[oi],
        order_index=oi,
        line_no=line_no[ts_sort],
        day=day,
        ts=o_ts[oi],
        series=lines.series[perm],
        item=item,
        location=loc,
        customer=cust,
        carrier=car,
        qty=qty,
        bulk=lines.bulk[perm],
        unit_price=price,
        discount_pct=discount,
        promo=promo,
        anomaly_kind=np.full(n, ""),
        requested_day=requested,
        promised_day=promised,
        expedited=method == 1,
        priority=np.where(world.customer_tier[cust] == 0, 1, 0),
        p_late=p_late,
    )
    context = {
        "method": method,
        "incoterm": o_inco[oi],
        "vendor": vendor,
        "weight": weight,
        "intercept": intercept,
    }
    return orders, context


def _drifting_intercept(x: np.ndarray, day: np.ndarray, n_d: int) -> np.ndarray:
    """Intercept per day, linear in time, so that P(late) is EARLY_RATE over the first
    30 % of the history and LATE_RATE over the last 30 % (solved on the lines drawn)."""

    def solve(mask: np.ndarray, rate: float) -> float:
        return brentq(lambda a: expit(a + x[mask]).mean() - rate, -15, 15)

    early = solve(day < EDGE * n_d, EARLY_RATE)
    late = solve(day >= (1 - EDGE) * n_d, LATE_RATE)
    t = np.arange(n_d) / n_d
    # The two windows' centres carry their solved intercepts.
    c0, c1 = EDGE / 2, 1 - EDGE / 2
    return early + (late - early) * (t - c0) / (c1 - c0)


def _deliveries(
    orders: Orders, wh, h: Routes, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Late draw per line (drop-shipped lines travel alone) and its delivery day."""
    n = len(orders.qty)
    late = rng.random(n) < orders.p_late
    mode = h.carrier_mode[orders.carrier]
    delay = 1 + rng.geometric(np.array([0.5, 0.35, 0.12, 0.45])[mode])
    lead = orders.promised_day - orders.day
    early = rng.integers(0, np.maximum(1, lead // 4) + 1)
    on_time = np.maximum(orders.promised_day - early, wh.ship_day)
    delivered = np.where(late, np.maximum(orders.promised_day + delay, wh.ship_day), on_time)
    return late, delivered


def _effects_table(world: World, h: Routes, intercept: np.ndarray) -> pd.DataFrame:
    """``truth/late_effects``: every hidden log-odds term, by factor and level."""
    rows: list[tuple[str, str, float]] = [
        ("intercept", "first day", float(intercept[0])),
        ("intercept", "last day", float(intercept[-1])),
    ]
    for (li, k, m), v in np.ndenumerate(h.route):
        level = f"{world.location_ids[li]}/{world.carrier_ids[k]}/{METHODS[m]}"
        rows.append(("route", level, float(v)))
    for (s, li), v in np.ndenumerate(h.supplier_location):
        rows.append(("supplier_location", f"SUP{s:03d}/{world.location_ids[li]}", float(v)))
    rows += [
        ("country", str(c), float(v)) for c, v in zip(COUNTRIES, h.country_effect, strict=True)
    ]
    rows += [("x_incoterm", str(c), float(v)) for c, v in zip(INCOTERMS, h.incoterm, strict=True)]
    rows += [("x_vendor", f"V{k:02d}", float(v)) for k, v in enumerate(h.vendor)]
    return pd.DataFrame(rows, columns=["factor", "level", "log_odds"])
