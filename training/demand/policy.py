"""Replay the backtest period with realised demand and lead times: our policy vs a baseline.

The replay itself (the world both policies share, one policy's days) is
:mod:`training.demand.replay`; this module holds the two policies and their comparison.
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

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from features.dataset import Dataset
from features.inventory import InventoryPositions
from models.replenishment import ReplenishmentPolicy, order_decision, suggest
from training.demand.backtest import BacktestResult
from training.demand.replay import (
    MA_DAYS,
    Decide,
    Outcome,
    World,
    build_world,
    projected_stock,
    run_policy,
)

TRADE_OFF_LEVELS = (0.90, 0.93, 0.95, 0.97, 0.99)


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
        projected = projected_stock(world, t, on_hand, orders, policy.review_days)
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
