"""Contract tables and truth tables built from the simulator's arrays.

Shared by the regimes: a story produces ``World``/``Demand``/``Orders``/``Warehouse``
arrays and these functions turn them into the frames that are written.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.simulator.demand import Demand
from training.simulator.operations import Orders, Warehouse
from training.simulator.world import World

PRIORITY = np.array(["normal", "high", "urgent"])


def ids(labels: np.ndarray, codes: np.ndarray) -> pd.Categorical:
    """Identifier column by code: dictionary-encoded, cheap at millions of rows."""
    return pd.Categorical.from_codes(codes, categories=labels)


def dates(world: World, days: np.ndarray) -> np.ndarray:
    """Dates of day indices, also beyond the simulated horizon."""
    return (world.dates[0] + pd.to_timedelta(days, unit="D")).to_numpy()


def orders_table(world: World, o: Orders) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": o.order_id,
            "line_no": o.line_no,
            "order_ts": o.ts,
            "customer_id": world.customer_ids[o.customer],
            "item_id": world.item_ids[o.item],
            "location_id": world.location_ids[o.location],
            "qty": o.qty,
            "unit_price": o.unit_price,
            "promised_date": dates(world, o.promised_day),
            "discount_pct": o.discount_pct,
            "requested_date": dates(world, o.requested_day),
            "carrier_id": world.carrier_ids[o.carrier],
            "ship_method": np.where(o.expedited, "expedited", "standard"),
            "priority": PRIORITY[o.priority],
            "x_promo": o.promo.astype(np.int64),
        }
    )


def fulfillments_table(
    world: World, o: Orders, shipped: np.ndarray, ship_day: np.ndarray, delivered: np.ndarray
) -> pd.DataFrame:
    last = world.n_days - 1
    known = ship_day <= last  # lines still to ship at the export are open
    cancelled = shipped == 0
    arrived = (delivered <= last) & ~cancelled
    status = np.where(cancelled, "cancelled", np.where(arrived, "delivered", "in_transit"))
    frame = pd.DataFrame(
        {
            "order_id": o.order_id,
            "line_no": o.line_no,
            "shipped_qty": shipped,
            "ship_date": pd.Series(dates(world, ship_day)).where(~cancelled).to_numpy(),
            "delivered_date": pd.Series(dates(world, delivered)).where(arrived).to_numpy(),
            "status": status,
        }
    )
    return frame[known].reset_index(drop=True)


def inventory_table(world: World, demand: Demand, wh: Warehouse) -> pd.DataFrame:
    n_d, n_s = wh.on_hand.shape
    eta = wh.eta_day.ravel()
    return pd.DataFrame(
        {
            "snapshot_date": np.repeat(world.dates.to_numpy(), n_s),
            "item_id": ids(world.item_ids, np.tile(demand.series_item, n_d)),
            "location_id": ids(world.location_ids, np.tile(demand.series_location, n_d)),
            "on_hand": wh.on_hand.ravel().astype(np.int64),
            "allocated": wh.allocated.ravel().astype(np.int64),
            "reserved": wh.reserved.ravel().astype(np.int64),
            "quarantined": wh.quarantined.ravel().astype(np.int64),
            "in_transit": wh.in_transit.ravel().astype(np.int64),
            "in_transit_eta": pd.Series(dates(world, np.maximum(eta, 0)))
            .where(eta >= 0)
            .to_numpy(),
        }
    )


def demand_table(world: World, demand: Demand, o: Orders) -> pd.DataFrame:
    n_d, n_s = demand.intensity.shape
    qty = np.bincount(o.day * n_s + o.series, weights=o.qty, minlength=n_d * n_s)
    item = demand.series_item
    return pd.DataFrame(
        {
            "date": np.repeat(world.dates.to_numpy(), n_s),
            "item_id": ids(world.item_ids, np.tile(item, n_d)),
            "location_id": ids(world.location_ids, np.tile(demand.series_location, n_d)),
            "qty": qty.astype(np.int64),
            "price": np.round(
                world.list_price_on(item[None, :], np.arange(n_d)[:, None])
                * (1 - demand.promo_cut[:, item]),
                2,
            ).ravel(),
            "promo": demand.promo[:, item].ravel(),
            "x_holiday": np.repeat(demand.holiday.astype(np.int64), n_s),
        }
    )


def purchase_orders_table(world: World, demand: Demand, wh: Warehouse) -> pd.DataFrame:
    po = wh.purchase_orders
    s = po["series"].to_numpy(dtype=np.int64)
    arrived = po["arrival_day"].to_numpy() >= 0
    return pd.DataFrame(
        {
            "po_id": [f"PO{k:07d}" for k in range(len(po))],
            "item_id": world.item_ids[demand.series_item[s]],
            "location_id": world.location_ids[demand.series_location[s]],
            "qty": po["qty"].to_numpy(dtype=np.int64),
            "order_date": dates(world, po["order_day"].to_numpy(dtype=np.int64)),
            "expected_date": dates(world, po["expected_day"].to_numpy(dtype=np.int64)),
            "received_date": pd.Series(
                dates(world, np.maximum(po["arrival_day"].to_numpy(dtype=np.int64), 0))
            )
            .where(arrived)
            .to_numpy(),
            "received_qty": np.where(arrived, po["received_qty"].to_numpy(), np.nan),
        }
    )


def order_lines_truth(
    o: Orders, p_short: np.ndarray, late: np.ndarray, short: np.ndarray
) -> pd.DataFrame:
    """``truth/order_lines``: the true P(late), P(short) and P(miss) of every line."""
    return pd.DataFrame(
        {
            "order_id": o.order_id,
            "line_no": o.line_no,
            "p_late": o.p_late,
            "p_short": p_short,
            "p_miss": 1 - (1 - o.p_late) * (1 - p_short),
            "late": late,
            "short": short,
            "margin_anomaly": o.anomaly_kind != "",
            "anomaly_kind": o.anomaly_kind,
            "bulk_order": o.bulk,
        }
    )


def demand_truth(world: World, demand: Demand) -> pd.DataFrame:
    """``truth/demand``: expected units per item × location × day."""
    n_d, n_s = demand.expected_qty.shape
    return pd.DataFrame(
        {
            "date": np.repeat(world.dates.to_numpy(), n_s),
            "item_id": ids(world.item_ids, np.tile(demand.series_item, n_d)),
            "location_id": ids(world.location_ids, np.tile(demand.series_location, n_d)),
            "expected_qty": demand.expected_qty.ravel(),
        }
    )


def level_shifts_truth(world: World, demand: Demand) -> pd.DataFrame:
    """``truth/level_shifts``: series whose demand level steps by ``factor`` at ``date``."""
    shifted = demand.shift_day >= 0
    return pd.DataFrame(
        {
            "item_id": world.item_ids[demand.series_item[shifted]],
            "location_id": world.location_ids[demand.series_location[shifted]],
            "date": world.dates.to_numpy()[demand.shift_day[shifted]],
            "factor": demand.shift_factor[shifted],
        }
    )
