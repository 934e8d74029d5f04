"""The world a replenishment policy is replayed in, and one policy's replay through it.

:class:`World` holds what every policy shares over the backtest period: the days, the
series (item × location with their lead times and order rules), realised daily demand,
the starting stock and open purchase orders, and one realised lead time per day and
series for an order placed that day. :func:`run_policy` walks the days: receipts arrive,
demand is served from stock (lost when it runs out), then the policy decides what to
order. :mod:`training.demand.policy` builds the two policies compared on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.inventory import latest_positions
from models.replenishment import ReplenishmentPolicy, lead_times
from training.demand.backtest import BacktestResult

MA_DAYS = 28  # days of demand history the baseline's moving average reads


@dataclass
class Outcome:
    """Service and stock from day ``warm_up_days`` on; ``*_all`` over the whole replay."""

    fill_rate: float
    avg_inventory: float
    avg_inventory_value: float
    stockout_days: int
    orders: int
    units_ordered: float
    daily_inventory: np.ndarray
    warm_up_days: int = 0
    fill_rate_all: float = float("nan")
    avg_inventory_all: float = float("nan")
    daily_served: np.ndarray | None = None  # [T, S] units served per day and series

    def to_dict(self) -> dict[str, float]:
        return {
            "fill_rate": self.fill_rate,
            "avg_inventory": self.avg_inventory,
            "avg_inventory_value": self.avg_inventory_value,
            "stockout_days": self.stockout_days,
            "orders": self.orders,
            "units_ordered": self.units_ordered,
            "warm_up_days": self.warm_up_days,
            "fill_rate_all": self.fill_rate_all,
            "avg_inventory_all": self.avg_inventory_all,
        }


@dataclass
class World:
    """Everything both policies share: days, series, demand, stock, supplier."""

    dates: pd.DatetimeIndex
    series: pd.DataFrame  # unique_id, item_id, location_id, lead_time_days, lead_time_std, ...
    demand: np.ndarray  # [T, S]
    history: np.ndarray  # [MA_DAYS, S] demand before the first day
    start_stock: np.ndarray  # [S]
    open_orders: pd.DataFrame  # s, qty, expected (day index), arrival (day index)
    lead_draws: np.ndarray  # [T, S] realised lead time of an order placed that day

    @property
    def protection(self) -> np.ndarray:
        return np.ceil(self.series["lead_time_days"].to_numpy(float)).astype(int)

    def warm_up_days(self, review_days: int) -> int:
        """Days before every series' first own order is due: the longest lead time plus a
        review. Until then stock-outs come from the starting stock, which no policy chose
        (the initial transient of a simulation); at most half the replay."""
        if not len(self.series):
            return 0
        return min(int(self.protection.max()) + review_days, len(self.dates) // 2)


Decide = Callable[[int, np.ndarray, pd.DataFrame], np.ndarray]


def build_world(
    bt: BacktestResult,
    daily: pd.DataFrame,
    ds: Dataset,
    policy: ReplenishmentPolicy,
    seed: int = 0,
) -> World:
    eval_windows = bt.eval_windows
    start = bt.cutoffs[eval_windows[0]] + pd.Timedelta(days=1)
    end = pd.Timestamp(daily["date"].max())
    dates = pd.date_range(start, end, freq="D")
    per_window = [set(bt.series.loc[bt.series["window"] == w, "unique_id"]) for w in eval_windows]
    ids = sorted(set.intersection(*per_window))
    info = daily[daily["unique_id"].isin(ids)].drop_duplicates("unique_id")
    series = (
        info[["unique_id", "item_id", "location_id"]].set_index("unique_id").loc[ids].reset_index()
    )
    po = ds.purchase_orders
    known_po = po[po["order_date"] < start] if po is not None else None  # what planners knew
    lt = lead_times(ds.items, known_po, policy.default_lead_time_days)
    series = series.merge(lt, on="item_id", how="left")
    series["lead_time_days"] = series["lead_time_days"].fillna(policy.default_lead_time_days)
    series["lead_time_std"] = series["lead_time_std"].fillna(0.0)
    cols = [c for c in ("moq", "order_multiple", "unit_cost") if c in ds.items.columns]
    master = ds.items.drop_duplicates("item_id")[["item_id", *cols]]
    series = series.merge(
        master.assign(item_id=master["item_id"].astype(str)), on="item_id", how="left"
    )

    wide = daily.pivot(index="date", columns="unique_id", values="qty").reindex(columns=ids)
    demand = wide.reindex(dates).fillna(0.0).to_numpy()
    before = pd.date_range(start - pd.Timedelta(days=MA_DAYS), start - pd.Timedelta(days=1))
    history = wide.reindex(before).fillna(0.0).to_numpy()

    pos = latest_positions(ds.inventory, start)
    pos_key = pos["item_id"].astype(str) + "\x1f" + pos["location_id"].astype(str)
    key = series["item_id"] + "\x1f" + series["location_id"]
    start_stock = key.map(dict(zip(pos_key, pos["available"], strict=True))).fillna(0.0).to_numpy()

    # Typed even when empty: the replay indexes series with ``s`` (without purchase
    # orders an untyped frame held object columns, and indexing with them failed).
    open_orders = pd.DataFrame(
        {
            "s": np.array([], dtype=int),
            "qty": np.array([], dtype=float),
            "expected": np.array([], dtype=int),
            "arrival": np.array([], dtype=int),
        }
    )
    if po is not None and not po.empty:
        received = (
            po["received_date"] if "received_date" in po else pd.Series(pd.NaT, index=po.index)
        )
        is_open = (po["order_date"] < start) & (received.isna() | (received >= start))
        po = po[is_open]
        index = dict(zip(key, range(len(key)), strict=True))
        s = (po["item_id"].astype(str) + "\x1f" + po["location_id"].astype(str)).map(index)
        qty = po["received_qty"].fillna(po["qty"]) if "received_qty" in po else po["qty"]
        arrival = ((received[is_open] - start).dt.days).fillna(10**6)
        open_orders = pd.DataFrame(
            {
                "s": s,
                "qty": qty.astype(float),
                "expected": (po["expected_date"] - start).dt.days,
                "arrival": arrival,
            }
        ).dropna(subset=["s"])
        open_orders = open_orders.astype({"s": int, "expected": int, "arrival": int})

    lead_draws = _lead_draws(series, ds.purchase_orders, len(dates), seed)
    return World(dates, series, demand, history, start_stock, open_orders, lead_draws)


def _lead_draws(
    series: pd.DataFrame, po: pd.DataFrame | None, n_days: int, seed: int
) -> np.ndarray:
    """Realised lead times per day and series, resampled from the item's own receipts."""
    rng = np.random.default_rng(seed)
    nominal = np.maximum(np.round(series["lead_time_days"].to_numpy(float)), 1).astype(int)
    draws = np.repeat(nominal[None, :], n_days, axis=0)
    if po is None or po.empty or "received_date" not in po:
        return draws
    done = po.dropna(subset=["received_date"])
    days = (done["received_date"] - done["order_date"]).dt.days
    pool = days[days >= 1].groupby(done["item_id"].astype(str)).apply(np.asarray).to_dict()
    for s, item in enumerate(series["item_id"]):
        sample = pool.get(item)
        if sample is not None and len(sample):
            draws[:, s] = rng.choice(sample, size=n_days)
    return draws


def run_policy(world: World, decide: Decide, warm_up_days: int = 0) -> Outcome:
    """Day by day: receive, serve demand (lost sales), then let the policy order.

    Fill rate, inventory and stock-out days count from day ``warm_up_days`` on; the
    whole-period fill rate and inventory are kept alongside.
    """
    n_days = world.demand.shape[0]
    if not 0 <= warm_up_days < max(n_days, 1):
        raise ValueError(f"warm_up_days must be in [0, {n_days}), got {warm_up_days}")
    on_hand = world.start_stock.astype(float).copy()
    orders = world.open_orders.copy()
    served = np.zeros(n_days)
    served_by_series = np.zeros_like(world.demand, dtype=float)
    lost = np.zeros(n_days)
    inventory = np.zeros(n_days)
    value = np.zeros(n_days)
    cost = np.nan_to_num(world.series.get("unit_cost", pd.Series(0.0)).to_numpy(float), nan=0.0)
    placed = units = 0.0
    for t in range(n_days):
        arriving = orders[orders["arrival"] == t]
        if not arriving.empty:
            np.add.at(on_hand, arriving["s"].to_numpy(), arriving["qty"].to_numpy())
        orders = orders[orders["arrival"] > t]
        shipped = np.minimum(on_hand, world.demand[t])
        on_hand -= shipped
        served[t] = shipped.sum()
        served_by_series[t] = shipped
        lost[t] = float((world.demand[t] - shipped > 0).sum())
        inventory[t] = on_hand.sum()
        value[t] = (on_hand * cost).sum()
        qty = decide(t, on_hand, orders)
        new = np.nonzero(qty > 0)[0]
        if len(new):
            placed += len(new)
            units += float(qty[new].sum())
            add = pd.DataFrame(
                {
                    "s": new,
                    "qty": qty[new],
                    "expected": t + world.protection[new],
                    "arrival": t + world.lead_draws[t, new],
                }
            )
            orders = pd.concat([orders, add], ignore_index=True)

    def fill(start: int) -> float:
        total = world.demand[start:].sum()
        return float(served[start:].sum() / total) if total > 0 else float("nan")

    w = warm_up_days
    return Outcome(
        fill_rate=fill(w),
        avg_inventory=float(inventory[w:].mean()),
        avg_inventory_value=float(value[w:].mean()),
        stockout_days=int(lost[w:].sum()),
        orders=int(placed),
        units_ordered=units,
        daily_inventory=inventory,
        warm_up_days=w,
        fill_rate_all=fill(0),
        avg_inventory_all=float(inventory.mean()),
        daily_served=served_by_series,
    )


def projected_stock(
    world: World, t: int, on_hand: np.ndarray, orders: pd.DataFrame, review: int
) -> np.ndarray:
    horizon = t + world.protection + review
    due = orders[orders["expected"].to_numpy() <= horizon[orders["s"].to_numpy()]]
    inbound = np.zeros(len(on_hand))
    np.add.at(inbound, due["s"].to_numpy(), due["qty"].to_numpy())
    return on_hand + inbound
