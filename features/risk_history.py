"""Point-in-time state values of every order line of a dataset (the training path).

For each line this computes what a serving process would have held in its
:class:`~features.risk_state.RiskState` at the line's ``order_ts`` — latest inventory
position, units already claimed since the snapshot, carrier/customer/item
statistics from outcomes known before the order — vectorised over the whole history
with :mod:`features.asof`. Nothing here looks at a row that was not known at the
order's time: orders count from their own timestamp, outcomes from their
:func:`~features.order_outcomes.final_events` day, snapshots from their date.
``tests/order_risk`` checks both properties (no leakage; equal to ``RiskState``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.asof import NO_KEY, EventSums, LatestRow, key_codes, to_days
from features.dataset import Dataset
from features.inventory import available, in_transit_by
from features.master import MasterData
from features.order_outcomes import line_outcomes
from features.risk_identities import (
    NET_M,
    NET_N,
    NET_RECENT_M,
    NET_RECENT_N,
    RECENT_DAYS,
    ROUTE_LEAD_N,
    ROUTE_LEAD_SUM,
    choose,
    route_of,
)
from features.risk_state import (
    CARRIER_RECENT_DAYS,
    DEMAND_DAYS,
    LANE_STATS,
    LOAD_BASE_DAYS,
    LOAD_DAYS,
    lane_stat_names,
    log_price_index,
)


def _order_ranks(orders: pd.DataFrame, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each line's order by (order_ts, order_id), and the day of each rank."""
    order_code = pd.factorize(orders["order_id"].astype(str))[0]
    sort = np.lexsort((order_code, ts.astype(np.int64)))
    new = np.ones(len(sort), dtype=bool)
    new[1:] = (ts[sort][1:] != ts[sort][:-1]) | (order_code[sort][1:] != order_code[sort][:-1])
    rank = np.empty(len(sort), dtype=np.int64)
    rank[sort] = np.cumsum(new) - 1
    rank_day = np.zeros(int(rank.max()) + 1 if len(rank) else 0, dtype=np.int64)
    rank_day[rank] = ts.astype("datetime64[D]").astype(np.int64)
    return rank, rank_day


def _earlier_in_order(orders: pd.DataFrame, key: np.ndarray, qty: np.ndarray) -> np.ndarray:
    """Units of the same key on lower-numbered lines of the same order."""
    frame = pd.DataFrame(
        {"o": orders["order_id"].astype(str).to_numpy(), "k": key, "n": orders["line_no"], "q": qty}
    )
    frame = frame.sort_values(["o", "k", "n"])
    before = frame.groupby(["o", "k"], sort=False)["q"].cumsum() - frame["q"]
    return before.reindex(range(len(orders))).to_numpy(dtype=float)


def _inventory_values(
    ds: Dataset, orders: pd.DataFrame, day: np.ndarray, promised: pd.Series
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Latest position on or before the order day; also the snapshot day and item×loc key."""
    inv = ds.inventory.reset_index(drop=True)
    items = pd.factorize(
        np.concatenate([inv["item_id"].astype(str), orders["item_id"].astype(str)])
    )[0]
    locs, loc_names = pd.factorize(
        np.concatenate([inv["location_id"].astype(str), orders["location_id"].astype(str)])
    )
    n_inv, n_loc = len(inv), len(loc_names)
    inv_key = items[:n_inv] * n_loc + locs[:n_inv]
    line_item, line_loc = items[n_inv:], locs[n_inv:]
    snap_day = to_days(inv["snapshot_date"]).astype(np.int64)
    latest = LatestRow(inv_key, snap_day)
    row = latest.at(line_item * n_loc + line_loc, day)
    known = row >= 0
    take = np.maximum(row, 0)
    avail_all = available(inv).to_numpy(dtype=float)
    out = {
        "inv_known": known.astype(float),
        "inv_on_hand": np.where(known, inv["on_hand"].fillna(0.0).to_numpy(float)[take], 0.0),
        "inv_available": np.where(known, avail_all[take], 0.0),
    }
    if "quarantined" in inv.columns:
        quarantined = inv["quarantined"].fillna(0.0).to_numpy(float)[take]
        out["inv_quarantined"] = np.where(known, quarantined, 0.0)
    if {"in_transit", "in_transit_eta"} <= set(inv.columns):
        rows = inv.iloc[take][["in_transit", "in_transit_eta"]].reset_index(drop=True)
        due = in_transit_by(rows, promised.reset_index(drop=True)).to_numpy(dtype=float)
        out["inv_in_transit_due"] = np.where(known, due, 0.0)
        eta = to_days(rows["in_transit_eta"])
        incoming = known & (rows["in_transit"].fillna(0.0).to_numpy(float) > 0)
        out["inv_receipt_day"] = np.where(incoming, eta, np.nan)
    elsewhere = np.zeros(len(orders))
    for loc in np.unique(locs[:n_inv]):
        other = latest.at(line_item * n_loc + loc, day)
        found = (other >= 0) & (line_loc != loc)
        elsewhere[found] += avail_all[other[found]]
    out["inv_elsewhere"] = elsewhere
    snapshot = np.where(known, snap_day[take], NO_KEY)
    return out, snapshot, line_item * n_loc + line_loc


def state_values(ds: Dataset, outcomes: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """State values per line of ``ds.orders`` (positional order), as of each order's time."""
    orders = ds.orders.reset_index(drop=True)
    outcomes = line_outcomes(ds) if outcomes is None else outcomes.reset_index(drop=True)
    n = len(orders)
    ts = orders["order_ts"].to_numpy(dtype="datetime64[ns]")
    day = ts.astype("datetime64[D]").astype(np.int64)
    rank, rank_day = _order_ranks(orders, ts)
    first_rank_today = np.searchsorted(rank_day, day, side="left")
    qty = orders["qty"].to_numpy(dtype=float)
    log_qty = np.log(qty)
    ones = np.ones(n)

    master = MasterData.from_dataset(ds)
    out: dict[str, np.ndarray] = dict(master.lookup(orders))
    inventory, snapshot_day, il = _inventory_values(ds, orders, day, orders["promised_date"])
    out.update(inventory)

    def earlier_orders(key: np.ndarray, values: np.ndarray) -> EventSums:
        return EventSums(key, rank, values)

    def before(sums: EventSums, key: np.ndarray) -> np.ndarray:
        return sums.at(key, rank - 1)

    def today(sums: EventSums, key: np.ndarray) -> np.ndarray:
        return sums.at(key, rank - 1) - sums.at(key, first_rank_today - 1)

    final_day = outcomes["final_day"].to_numpy(dtype=float)
    final = ~np.isnan(final_day)
    event_day = np.where(final, final_day, 0).astype(np.int64)

    def known_outcomes(key: np.ndarray, values: np.ndarray) -> EventSums:
        return EventSums(np.where(final, key, NO_KEY), event_day, values)

    # Item × location: demand, units claimed since the snapshot, shortfall history.
    by_day = EventSums(il, day, qty)
    start = np.maximum(snapshot_day, day - DEMAND_DAYS)
    claimed_days = by_day.at(il, day - 1) - by_day.at(il, start - 1)
    claimed = (
        claimed_days[:, 0]
        + today(earlier_orders(il, qty), il)[:, 0]
        + _earlier_in_order(orders, il, qty)
    )
    out["inv_claimed"] = np.where(snapshot_day != NO_KEY, claimed, 0.0)
    out["il_units_28d"] = by_day.window(il, day - 1, DEMAND_DAYS)[:, 0]
    lines = before(earlier_orders(il, np.column_stack([ones, log_qty])), il)
    out["il_lines"], out["il_logqty_sum"] = lines[:, 0], lines[:, 1]
    shorts = known_outcomes(il, np.column_stack([ones, outcomes["short"].to_numpy(float)]))
    short_sums = shorts.at(il, day)
    out["il_outcomes"], out["il_shorts"] = short_sums[:, 0], short_sums[:, 1]

    # Carrier and lane (carrier × origin × customer region when regions are known).
    if "carrier_id" in orders.columns:
        parts = [orders["carrier_id"], orders["location_id"]]
        if "cust_region" in out:
            parts.append(pd.Series(out["cust_region"]))
        (lane,) = key_codes(parts)
        (carrier,) = key_codes([orders["carrier_id"]])
        late_known = outcomes["late_known"].to_numpy(bool)
        late = np.where(late_known, outcomes["late"].to_numpy(float), 0.0)
        transit = outcomes["transit_days"].to_numpy(float)
        o2d = outcomes["o2d_days"].to_numpy(float)
        lane_sums = known_outcomes(
            lane,
            np.column_stack(
                [
                    late_known,
                    late,
                    ~np.isnan(transit),
                    np.nan_to_num(transit),
                    ~np.isnan(o2d),
                    np.nan_to_num(o2d),
                ]
            ),
        ).at(lane, day)
        supported = lane_stat_names(
            {
                "ship": "ship_date" in ds.fulfillments.columns,
                "delivery": "delivered_date" in ds.fulfillments.columns,
            }
        )
        for k, name in enumerate(LANE_STATS):
            if name in supported:
                out[name] = lane_sums[:, k]
        carrier_sums = known_outcomes(carrier, np.column_stack([late_known, late]))
        total = carrier_sums.at(carrier, day)
        recent = carrier_sums.window(carrier, day, CARRIER_RECENT_DAYS)
        out["carrier_late_n"], out["carrier_late"] = total[:, 0], total[:, 1]
        out["carrier_recent_n"], out["carrier_recent_late"] = recent[:, 0], recent[:, 1]

    # Warehouse load at the shipping location.
    (loc,) = key_codes([orders["location_id"]])
    loc_days = EventSums(loc, day, ones)
    out["loc_lines_3d"] = loc_days.window(loc, day - 1, LOAD_DAYS)[:, 0]
    out["loc_lines_91d"] = loc_days.window(loc, day - 1, LOAD_BASE_DAYS)[:, 0]
    first_day = pd.Series(day).groupby(loc).transform("min").to_numpy()
    out["loc_days_91"] = np.clip(day - first_day, 0, LOAD_BASE_DAYS).astype(float)
    out["loc_lines_today"] = today(earlier_orders(loc, ones), loc)[:, 0]

    # Customer: outcomes, usual quantities, prices and discounts.
    (cust,) = key_codes([orders["customer_id"]])
    misses = known_outcomes(cust, np.column_stack([ones, outcomes["miss_event"].to_numpy(float)]))
    miss_sums = misses.at(cust, day)
    out["cust_outcomes"], out["cust_misses"] = miss_sums[:, 0], miss_sums[:, 1]
    cust_cols = [ones, log_qty]
    if "discount_pct" in orders.columns:
        disc = orders["discount_pct"].to_numpy(dtype=float)
        cust_cols += [~np.isnan(disc), np.nan_to_num(disc)]
    cust_sums = before(earlier_orders(cust, np.column_stack(cust_cols)), cust)
    out["cust_lines"], out["cust_logqty_sum"] = cust_sums[:, 0], cust_sums[:, 1]
    if "discount_pct" in orders.columns:
        out["cust_disc_n"], out["cust_disc_sum"] = cust_sums[:, 2], cust_sums[:, 3]

    logpi = log_price_index(orders["unit_price"].to_numpy(float), out["item_list_price"])
    pi_known = ~np.isnan(logpi)
    (ci,) = key_codes([orders["customer_id"], orders["item_id"]])
    ci_sums = before(
        earlier_orders(ci, np.column_stack([ones, log_qty, pi_known, np.nan_to_num(logpi)])), ci
    )
    for k, name in enumerate(("ci_lines", "ci_logqty_sum", "ci_pi_n", "ci_logpi_sum")):
        out[name] = ci_sums[:, k]
    (cc,) = key_codes([orders["customer_id"], pd.Series(out["item_category"])])
    cc_sums = before(earlier_orders(cc, np.column_stack([pi_known, np.nan_to_num(logpi)])), cc)
    out["cc_pi_n"], out["cc_logpi_sum"] = cc_sums[:, 0], cc_sums[:, 1]

    # Identities (route, supplier, text x_* …): misses among outcomes known by the day.
    miss = np.column_stack([ones, outcomes["miss_event"].to_numpy(float)])
    network = known_outcomes(np.zeros(n, dtype=np.int64), miss)
    total, recent = network.at(np.zeros(n), day), network.window(np.zeros(n), day, RECENT_DAYS)
    out[NET_N], out[NET_M] = total[:, 0], total[:, 1]
    out[NET_RECENT_N], out[NET_RECENT_M] = recent[:, 0], recent[:, 1]
    identities = choose(orders, set(master.names))
    for identity in identities:
        parts = [orders[p] if p in orders.columns else pd.Series(out[p]) for p in identity.parts]
        (key,) = key_codes(parts)
        sums = known_outcomes(key, miss)
        total = sums.at(key, day)
        out[identity.n], out[identity.m] = total[:, 0], total[:, 1]
        if identity.recent:
            recent = sums.window(key, day, RECENT_DAYS)
            out[identity.recent_n], out[identity.recent_m] = recent[:, 0], recent[:, 1]
    route = route_of(identities)
    if route is not None:
        (key,) = key_codes([orders[p] for p in route.parts])
        promised_day = to_days(orders["promised_date"])
        lead = before(earlier_orders(key, np.column_stack([ones, promised_day - day])), key)
        out[ROUTE_LEAD_N], out[ROUTE_LEAD_SUM] = lead[:, 0], lead[:, 1]
    return out
