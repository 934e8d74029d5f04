"""Replay the backtest period with realised demand and lead times: our policy vs a baseline.

Both policies start from the same stock (the inventory snapshot and open purchase
orders on the first day of the evaluated windows), face the same daily demand (lost
sales when stock runs out) and the same supplier: an order placed on day t for an
item arrives after a lead time drawn from that item's realised purchase-order lead
times (one draw per day and series, shared by both policies). Each evening each
policy may order; MOQ, order multiple, review period, cover days and service level
are identical. They differ only in how they see demand:

- **ours** calls :func:`models.replenishment.suggest` — the very function serving
  calls — with the backtest forecast issued at the latest origin (the model fitted
  before the window, fed with actuals since) and its calibrated distribution;
- **baseline**: the textbook ERP rule, a 28-day moving average and standard
  deviation with a normal reorder point ``μ·P + z·sqrt(P·σ² + μ²·σ_L²)``.

One service target says little on its own: the same nominal 95 % buys different real
fill rates from different demand models (the baseline's i.i.d. variance understates
the error of a lead-time sum, so its nominal target buys less stock and less service).
So both policies are also replayed over a grid of service targets, giving each its
fill-rate / inventory trade-off curve, and :func:`matched` reads them the way
inventory studies compare policies: the stock each needs for the same achieved fill.

Service and stock are measured after a warm-up (the longest lead time plus a review):
before the first orders a policy places can arrive, stock-outs come from the starting
stock, which is the same for both and chosen by neither. Whole-period figures are kept
alongside (``fill_rate_all``, ``avg_inventory_all``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from features.dataset import Dataset
from features.inventory import InventoryPositions, latest_positions
from models.replenishment import ReplenishmentPolicy, lead_times, order_decision, suggest
from training.demand.backtest import BacktestResult

MA_DAYS = 28
TRADE_OFF_LEVELS = (0.90, 0.93, 0.95, 0.97, 0.99)


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


def _projected(
    world: World, t: int, on_hand: np.ndarray, orders: pd.DataFrame, review: int
) -> np.ndarray:
    horizon = t + world.protection + review
    due = orders[orders["expected"].to_numpy() <= horizon[orders["s"].to_numpy()]]
    inbound = np.zeros(len(on_hand))
    np.add.at(inbound, due["s"].to_numpy(), due["qty"].to_numpy())
    return on_hand + inbound


def baseline_decider(world: World, policy: ReplenishmentPolicy) -> Decide:
    """Moving-average reorder point with a normal approximation (the ERP default)."""
    z = stats.norm.ppf(policy.service_level)
    full = np.vstack([world.history, world.demand])
    lt_std = world.series["lead_time_std"].to_numpy(float)
    p = world.protection + policy.review_days
    moq = world.series.get("moq", pd.Series(0.0, index=world.series.index)).to_numpy(float)
    mult = world.series.get("order_multiple", pd.Series(1.0, index=world.series.index)).to_numpy(
        float
    )

    def decide(t: int, on_hand: np.ndarray, orders: pd.DataFrame) -> np.ndarray:
        recent = full[t + 1 : t + 1 + MA_DAYS]  # the 28 days up to and including day t
        mu, sigma = recent.mean(axis=0), recent.std(axis=0, ddof=1)
        rop = np.ceil(mu * p + z * np.sqrt(p * sigma**2 + mu**2 * lt_std**2))
        up_to = rop + mu * policy.cover_days
        projected = _projected(world, t, on_hand, orders, policy.review_days)
        return order_decision(projected, rop, up_to, moq, mult)

    return decide


def forecast_decider(world: World, bt: BacktestResult, policy: ReplenishmentPolicy) -> Decide:
    """Our policy: :func:`suggest` on the latest backtest forecast and its calibration."""
    f = bt.forecasts[bt.forecasts["unique_id"].isin(set(world.series["unique_id"]))]
    # With windows closer together than their horizon, a day is the origin of more
    # than one window's forecast: the planner uses the newest model's.
    f = f[f["window"] == f.groupby("origin")["window"].transform("max")]
    origins = np.array(sorted(f["origin"].unique()))
    by_origin = {o: g for o, g in f.groupby("origin", sort=False)}
    window_of = f.drop_duplicates("origin").set_index("origin")["window"].to_dict()
    info = bt.series.set_index(["window", "unique_id"])
    items = world.series.drop(columns=["unique_id", "location_id"]).drop_duplicates("item_id")
    ids = world.series["unique_id"].to_numpy()
    key_index = {
        (i, loc): s
        for s, (i, loc) in enumerate(
            zip(world.series["item_id"], world.series["location_id"], strict=True)
        )
    }

    def decide(t: int, on_hand: np.ndarray, orders: pd.DataFrame) -> np.ndarray:
        day = world.dates[t]
        usable = origins[origins <= np.datetime64(day)]
        if not len(usable):
            return np.zeros(len(on_hand))
        origin = pd.Timestamp(usable[-1])
        w = window_of[origin]
        rows = by_origin[origin]
        rows = rows[rows["date"] > day].copy()
        rows["horizon"] = (rows["date"] - day).dt.days
        meta = info.loc[w].reindex(rows["unique_id"])
        rows["segment"] = meta["segment"].fillna("intermittent").to_numpy()
        rows["phi"] = meta["phi"].fillna(1.0).to_numpy()
        rows = rows.sort_values(["unique_id", "horizon"])
        rows["cum_forecast"] = rows.groupby("unique_id", sort=False)["mean"].cumsum()
        factor = bt.calibration_for(w).cumulative_factor(
            rows["segment"].to_numpy(), rows["horizon"].to_numpy()
        )
        rows["cum_variance"] = factor * rows["phi"].to_numpy() * rows["cum_forecast"].to_numpy()
        s_of = rows["unique_id"].map(dict(zip(ids, range(len(ids)), strict=True))).to_numpy()
        rows["item_id"] = world.series["item_id"].to_numpy()[s_of]
        rows["location_id"] = world.series["location_id"].to_numpy()[s_of]
        positions = InventoryPositions(
            pd.DataFrame(
                {
                    "item_id": world.series["item_id"],
                    "location_id": world.series["location_id"],
                    "on_hand": on_hand,
                }
            )
        )
        open_pos = pd.DataFrame(
            {
                "item_id": world.series["item_id"].to_numpy()[orders["s"].to_numpy(int)],
                "location_id": world.series["location_id"].to_numpy()[orders["s"].to_numpy(int)],
                "qty": orders["qty"].to_numpy(float),
                "expected_date": day
                + pd.to_timedelta(orders["expected"].to_numpy(int) - t, unit="D"),
            }
        )
        out = suggest(
            rows.rename(columns={"mean": "forecast"}),
            positions,
            items,
            open_pos,
            day,
            service_level=policy.service_level,
            policy=policy,
        )
        qty = np.zeros(len(on_hand))
        for i, loc, q in zip(out["item_id"], out["location_id"], out["suggested_qty"], strict=True):
            qty[key_index[(i, loc)]] = q
        return qty

    return decide


def simulate_policies(
    bt: BacktestResult,
    daily: pd.DataFrame,
    ds: Dataset,
    policy: ReplenishmentPolicy,
    seed: int = 0,
    levels: Sequence[float] = (),
) -> tuple[dict[str, Outcome], list[dict[str, float | str]]]:
    """Both policies at ``policy``'s service target, and their trade-off over ``levels``.

    The trade-off is a list of points (policy, service_level, fill_rate, avg_inventory)
    that includes the configured target.
    """
    world = build_world(bt, daily, ds, policy, seed)
    warm_up = world.warm_up_days(policy.review_days)
    outcomes: dict[str, Outcome] = {}
    points: list[dict[str, float | str]] = []
    for level in sorted({*levels, policy.service_level}):
        at = replace(policy, service_level=level)
        for name, decide in (
            ("ours", forecast_decider(world, bt, at)),
            ("baseline", baseline_decider(world, at)),
        ):
            outcome = run_policy(world, decide, warm_up)
            points.append(
                {
                    "policy": name,
                    "service_level": level,
                    "fill_rate": outcome.fill_rate,
                    "avg_inventory": outcome.avg_inventory,
                }
            )
            if level == policy.service_level:
                outcomes[name] = outcome
    return outcomes, points


def matched(points: list[dict[str, float | str]], service_level: float) -> dict[str, float] | None:
    """Our stock for the baseline's achieved fill rate at ``service_level``.

    ``at_equal_fill``: our average inventory at exactly the baseline's fill rate, linear
    between the two grid points of our curve around it. ``grid_point``: the cheapest of
    our grid points whose fill rate is at least the baseline's. None when our curve
    does not reach the baseline's fill rate.
    """
    base = next(
        (p for p in points if p["policy"] == "baseline" and p["service_level"] == service_level),
        None,
    )
    ours = sorted((p for p in points if p["policy"] == "ours"), key=lambda p: p["fill_rate"])
    if base is None or not ours:
        return None
    target = float(base["fill_rate"])
    reaching = [p for p in ours if p["fill_rate"] >= target]
    if not reaching:
        return None
    cheapest = min(reaching, key=lambda p: p["avg_inventory"])
    fills = np.array([p["fill_rate"] for p in ours], dtype=float)
    stock = np.array([p["avg_inventory"] for p in ours], dtype=float)
    at_fill = float(np.interp(target, fills, stock)) if fills[0] <= target else float(stock[0])
    base_stock = float(base["avg_inventory"])
    return {
        "baseline_service_level": service_level,
        "baseline_fill_rate": target,
        "baseline_avg_inventory": base_stock,
        "at_equal_fill": {
            "avg_inventory": at_fill,
            "inventory_saving": 1 - at_fill / base_stock if base_stock else float("nan"),
        },
        "grid_point": {
            "service_level": float(cheapest["service_level"]),
            "fill_rate": float(cheapest["fill_rate"]),
            "avg_inventory": float(cheapest["avg_inventory"]),
            "inventory_saving": 1 - float(cheapest["avg_inventory"]) / base_stock
            if base_stock
            else float("nan"),
        },
    }
