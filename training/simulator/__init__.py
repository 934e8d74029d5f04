"""The distributor simulator (SPEC §4): contract tables plus the generative ground truth.

``simulate(scale, seed)`` is deterministic for a seed: every component draws from its
own child of one ``SeedSequence``, and the output files are byte-identical.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.data import write_tables
from training.simulator.demand import build_demand, draw_lines
from training.simulator.operations import build_orders, deliveries, run_warehouse
from training.simulator.substitution import offers
from training.simulator.world import SCALES, ScaleConfig, World, build_world, master_tables

__all__ = ["SCALES", "ScaleConfig", "SimulationResult", "simulate", "write"]

PRIORITY = np.array(["normal", "high", "urgent"])


@dataclass
class SimulationResult:
    scale: str
    seed: int
    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]


def _ids(labels: np.ndarray, codes: np.ndarray) -> pd.Categorical:
    """Identifier column by code: dictionary-encoded, cheap at millions of rows."""
    return pd.Categorical.from_codes(codes, categories=labels)


def _dates(world: World, days: np.ndarray) -> np.ndarray:
    """Dates of day indices, also beyond the simulated horizon."""
    return (world.dates[0] + pd.to_timedelta(days, unit="D")).to_numpy()


def simulate(scale: str = "small", seed: int = 0, show_progress: bool = False) -> SimulationResult:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    world = build_world(SCALES[scale], streams[0])
    demand = build_demand(world, streams[1])
    lines = draw_lines(world, demand, streams[2])
    orders = build_orders(world, demand, lines, streams[3])
    if show_progress:
        from stockpilot.progress import progress

        with progress() as bar:
            task = bar.add_task(f"simulating {scale} ({world.n_days} days)", total=world.n_days)
            wh = run_warehouse(
                world, demand, orders, streams[4], lambda d: bar.update(task, completed=d)
            )
    else:
        wh = run_warehouse(world, demand, orders, streams[4])
    late, delivered = deliveries(world, orders, wh, streams[5])
    subs, p_accept = offers(world, orders, wh, streams[6])

    tables = master_tables(world)
    tables["orders"] = _orders_table(world, orders)
    tables["fulfillments"] = _fulfillments_table(world, orders, wh, delivered)
    tables["inventory"] = _inventory_table(world, demand, wh)
    tables["demand"] = _demand_table(world, demand, orders)
    tables["substitutions"] = subs
    tables["purchase_orders"] = _purchase_orders_table(world, demand, wh)
    truth = _truth(world, demand, orders, wh, late, subs, p_accept)
    return SimulationResult(scale=scale, seed=seed, tables=tables, truth=truth)


def write(result: SimulationResult, out: Path | str, fmt: str = "parquet") -> None:
    """Write tables to ``out`` and truth to ``out/truth`` (replacing a previous run)."""
    out = Path(out)
    if out.exists():
        for name in [*list(result.tables), "truth"]:
            for path in (out / f"{name}.parquet", out / f"{name}.csv"):
                path.unlink(missing_ok=True)
        shutil.rmtree(out / "truth", ignore_errors=True)
    write_tables(result.tables, out, fmt=fmt)
    write_tables(result.truth, out / "truth", fmt="parquet")


def _orders_table(world: World, o) -> pd.DataFrame:
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
            "promised_date": _dates(world, o.promised_day),
            "discount_pct": o.discount_pct,
            "requested_date": _dates(world, o.requested_day),
            "carrier_id": world.carrier_ids[o.carrier],
            "ship_method": np.where(o.expedited, "expedited", "standard"),
            "priority": PRIORITY[o.priority],
            "x_promo": o.promo.astype(np.int64),
        }
    )


def _fulfillments_table(world: World, o, wh, delivered: np.ndarray) -> pd.DataFrame:
    last = world.n_days - 1
    known = wh.ship_day <= last  # lines still to ship at the export are open
    cancelled = wh.shipped == 0
    arrived = (delivered <= last) & ~cancelled
    status = np.where(cancelled, "cancelled", np.where(arrived, "delivered", "in_transit"))
    frame = pd.DataFrame(
        {
            "order_id": o.order_id,
            "line_no": o.line_no,
            "shipped_qty": wh.shipped,
            "ship_date": pd.Series(_dates(world, wh.ship_day)).where(~cancelled).to_numpy(),
            "delivered_date": pd.Series(_dates(world, delivered)).where(arrived).to_numpy(),
            "status": status,
        }
    )
    return frame[known].reset_index(drop=True)


def _inventory_table(world: World, demand, wh) -> pd.DataFrame:
    n_d, n_s = wh.on_hand.shape
    eta = wh.eta_day.ravel()
    return pd.DataFrame(
        {
            "snapshot_date": np.repeat(world.dates.to_numpy(), n_s),
            "item_id": _ids(world.item_ids, np.tile(demand.series_item, n_d)),
            "location_id": _ids(world.location_ids, np.tile(demand.series_location, n_d)),
            "on_hand": wh.on_hand.ravel().astype(np.int64),
            "allocated": wh.allocated.ravel().astype(np.int64),
            "reserved": wh.reserved.ravel().astype(np.int64),
            "quarantined": wh.quarantined.ravel().astype(np.int64),
            "in_transit": wh.in_transit.ravel().astype(np.int64),
            "in_transit_eta": pd.Series(_dates(world, np.maximum(eta, 0)))
            .where(eta >= 0)
            .to_numpy(),
        }
    )


def _demand_table(world: World, demand, o) -> pd.DataFrame:
    n_d, n_s = demand.intensity.shape
    qty = np.bincount(o.day * n_s + o.series, weights=o.qty, minlength=n_d * n_s)
    item = demand.series_item
    return pd.DataFrame(
        {
            "date": np.repeat(world.dates.to_numpy(), n_s),
            "item_id": _ids(world.item_ids, np.tile(item, n_d)),
            "location_id": _ids(world.location_ids, np.tile(demand.series_location, n_d)),
            "qty": qty.astype(np.int64),
            "price": np.round(
                world.list_price[item][None, :] * (1 - demand.promo_cut[:, item]), 2
            ).ravel(),
            "promo": demand.promo[:, item].ravel(),
            "x_holiday": np.repeat(demand.holiday.astype(np.int64), n_s),
        }
    )


def _purchase_orders_table(world: World, demand, wh) -> pd.DataFrame:
    po = wh.purchase_orders
    s = po["series"].to_numpy(dtype=np.int64)
    arrived = po["arrival_day"].to_numpy() >= 0
    return pd.DataFrame(
        {
            "po_id": [f"PO{k:07d}" for k in range(len(po))],
            "item_id": world.item_ids[demand.series_item[s]],
            "location_id": world.location_ids[demand.series_location[s]],
            "qty": po["qty"].to_numpy(dtype=np.int64),
            "order_date": _dates(world, po["order_day"].to_numpy(dtype=np.int64)),
            "expected_date": _dates(world, po["expected_day"].to_numpy(dtype=np.int64)),
            "received_date": pd.Series(
                _dates(world, np.maximum(po["arrival_day"].to_numpy(dtype=np.int64), 0))
            )
            .where(arrived)
            .to_numpy(),
            "received_qty": np.where(arrived, po["received_qty"].to_numpy(), np.nan),
        }
    )


def _truth(world: World, demand, o, wh, late, subs, p_accept) -> dict[str, pd.DataFrame]:
    short = wh.shipped < o.qty
    n_d, n_s = demand.intensity.shape
    shifted = demand.shift_day >= 0
    return {
        "order_lines": pd.DataFrame(
            {
                "order_id": o.order_id,
                "line_no": o.line_no,
                "p_late": o.p_late,
                "p_short": wh.p_short,
                "p_miss": 1 - (1 - o.p_late) * (1 - wh.p_short),
                "late": late,
                "short": short,
                "margin_anomaly": o.anomaly_kind != "",
                "anomaly_kind": o.anomaly_kind,
                "bulk_order": o.bulk,
            }
        ),
        "substitutions": pd.DataFrame({"event_id": subs["event_id"], "p_accept": p_accept}),
        "demand": pd.DataFrame(
            {
                "date": np.repeat(world.dates.to_numpy(), n_s),
                "item_id": _ids(world.item_ids, np.tile(demand.series_item, n_d)),
                "location_id": _ids(world.location_ids, np.tile(demand.series_location, n_d)),
                "expected_qty": demand.expected_qty.ravel(),
            }
        ),
        "level_shifts": pd.DataFrame(
            {
                "item_id": world.item_ids[demand.series_item[shifted]],
                "location_id": world.location_ids[demand.series_location[shifted]],
                "date": world.dates.to_numpy()[demand.shift_day[shifted]],
                "factor": demand.shift_factor[shifted],
            }
        ),
    }
