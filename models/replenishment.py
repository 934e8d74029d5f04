"""Replenishment suggestions from the demand forecast (pure: frames and numbers in and out).

The policy is a daily-review reorder point / order-up-to rule a planner can check by
hand:

- **protection period** P = supplier lead time + review period (1 day): an order
  placed now arrives after the lead time, and the next chance to order is tomorrow;
- **projected available** = available now (single inventory truth) + stock arriving
  within P (open purchase orders, or in-transit stock when there are none: in-transit
  stock is the shipped part of open purchase orders, so the larger of the two counts,
  never both);
- **reorder point** = the service-level quantile of demand over P, from the forecast
  distribution (negative binomial with the calibrated variance of the P-day sum, plus
  lead-time variability when the purchase-order history shows it);
- when projected available ≤ reorder point, order up to reorder point + ``cover_days``
  of forecast demand, then respect the MOQ and round up to the order multiple;
- items the item master marks inactive are never reordered (they are being phased out).

``suggest`` is what serving calls with its live :class:`InventoryPositions`;
``stockpilot replenish`` calls it on a dataset. ``docs/demand.md`` documents both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.inventory import InventoryPositions
from models.distribution import quantile

TAIL_DAYS = 7


@dataclass(frozen=True)
class ReplenishmentPolicy:
    service_level: float = 0.95
    review_days: int = 1
    cover_days: int = 14
    default_lead_time_days: float = 14.0

    def __post_init__(self) -> None:
        if not 0.5 <= self.service_level < 1:
            raise ValueError(f"service_level must be in [0.5, 1), got {self.service_level}")
        if self.review_days < 0:
            raise ValueError(f"review_days must be >= 0, got {self.review_days}")
        if self.cover_days < 0:
            raise ValueError(f"cover_days must be >= 0, got {self.cover_days}")
        if self.default_lead_time_days <= 0:
            raise ValueError(
                f"default_lead_time_days must be > 0, got {self.default_lead_time_days}"
            )


def round_order_qty(qty: np.ndarray, moq: np.ndarray, multiple: np.ndarray) -> np.ndarray:
    """Raise a positive quantity to the MOQ, then up to a whole order multiple; 0 stays 0."""
    qty = np.asarray(qty, dtype=float)
    moq = np.nan_to_num(np.broadcast_to(np.asarray(moq, dtype=float), qty.shape), nan=0.0)
    mult = np.broadcast_to(np.asarray(multiple, dtype=float), qty.shape)
    mult = np.where(np.isfinite(mult) & (mult > 0), mult, 1.0)
    raised = np.maximum(qty, moq)
    rounded = np.ceil(raised / mult - 1e-9) * mult
    return np.where(qty > 0, rounded, 0.0)


def reorder_point(mean: np.ndarray, var: np.ndarray, service_level: float) -> np.ndarray:
    """The service-level quantile of demand over the protection period."""
    if not 0 < service_level < 1:
        raise ValueError(f"service_level must be in (0, 1), got {service_level}")
    return quantile(np.asarray(mean, dtype=float), np.asarray(var, dtype=float), service_level)


def order_decision(
    projected: np.ndarray,
    rop: np.ndarray,
    order_up_to: np.ndarray,
    moq: np.ndarray,
    multiple: np.ndarray,
) -> np.ndarray:
    """Order quantity: up to ``order_up_to`` when projected ≤ reorder point (> 0), else 0."""
    projected = np.asarray(projected, dtype=float)
    rop = np.asarray(rop, dtype=float)
    need = (projected <= rop) & (rop > 0)
    raw = np.where(need, np.maximum(np.asarray(order_up_to) - projected, 1.0), 0.0)
    return round_order_qty(raw, moq, multiple)


def lead_times(
    items: pd.DataFrame,
    purchase_orders: pd.DataFrame | None = None,
    default_days: float = ReplenishmentPolicy.default_lead_time_days,
) -> pd.DataFrame:
    """Lead time per item: item master, else purchase-order history, else the default.

    ``lead_time_std`` (days) comes from received purchase orders of the item when there
    are at least three, else 0. ``lead_time_source`` says where the figure came from.
    """
    out = pd.DataFrame({"item_id": items["item_id"].astype(str).drop_duplicates()})
    master = pd.Series(np.nan, index=out.index)
    if "lead_time_days" in items.columns:
        lookup = items.drop_duplicates("item_id").set_index(items["item_id"].astype(str))
        master = out["item_id"].map(lookup["lead_time_days"]).astype(float)
    hist_median = pd.Series(np.nan, index=out.index)
    hist_std = pd.Series(0.0, index=out.index)
    if purchase_orders is not None and {"received_date", "order_date"} <= set(
        purchase_orders.columns
    ):
        po = purchase_orders.dropna(subset=["received_date", "order_date"])
        days = (po["received_date"] - po["order_date"]).dt.days.astype(float)
        g = days[days >= 0].groupby(po["item_id"].astype(str))
        stats = pd.DataFrame({"median": g.median(), "std": g.std(), "n": g.size()})
        hist_median = out["item_id"].map(stats["median"])
        hist_std = out["item_id"].map(stats["std"].where(stats["n"] >= 3)).fillna(0.0)
    days = master.where(master.notna() & (master > 0), hist_median)
    source = np.where(
        master.notna() & (master > 0),
        "item master",
        np.where(hist_median.notna(), "purchase-order history", f"default ({default_days:g} days)"),
    )
    out["lead_time_days"] = days.fillna(default_days).clip(lower=1.0).to_numpy()
    out["lead_time_std"] = hist_std.to_numpy(dtype=float)
    out["lead_time_source"] = source
    return out.reset_index(drop=True)


def lead_time_demand(forecast: pd.DataFrame, protection: pd.DataFrame) -> pd.DataFrame:
    """Mean and variance of total demand over each series' protection period.

    ``forecast`` rows: item_id, location_id, horizon, forecast, cum_forecast, cum_variance;
    ``protection``: item_id, location_id, days. Beyond the forecast horizon the mean
    continues at the last week's daily rate and the variance grows with the square of
    the mean (errors beyond the horizon are assumed as correlated as can be: prudent).
    """
    keys = ["item_id", "location_id"]
    f = forecast.merge(protection[[*keys, "days"]], on=keys, how="inner")
    h_max = f.groupby(keys, sort=False)["horizon"].transform("max")
    at = np.minimum(f["days"].to_numpy(), h_max.to_numpy())
    chosen = f[f["horizon"].to_numpy() == at].drop_duplicates(keys)
    tail = (
        f[f["horizon"] > h_max - TAIL_DAYS]
        .groupby(keys, sort=False)["forecast"]
        .mean()
        .rename("tail")
    )
    chosen = chosen.merge(tail, left_on=keys, right_index=True, how="left")
    extra = np.maximum(chosen["days"].to_numpy() - chosen["horizon"].to_numpy(), 0)
    cum = chosen["cum_forecast"].to_numpy(dtype=float)
    mean = cum + extra * chosen["tail"].fillna(0.0).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(cum > 0, (mean / cum) ** 2, 0.0)
    var = chosen["cum_variance"].to_numpy(dtype=float) * growth
    return pd.DataFrame(
        {
            "item_id": chosen["item_id"].to_numpy(),
            "location_id": chosen["location_id"].to_numpy(),
            "lt_mean": mean,
            "lt_var": var,
        }
    )


def _inbound(
    keys: pd.DataFrame,
    positions: InventoryPositions,
    open_pos: pd.DataFrame | None,
    by: pd.Series,
) -> tuple[np.ndarray, np.ndarray]:
    """In-transit (single truth) and open purchase-order quantity due by each series' date."""
    transit = np.array(
        [
            positions.in_transit_by(str(i), str(loc), pd.Timestamp(b))
            for i, loc, b in zip(keys["item_id"], keys["location_id"], by, strict=True)
        ]
    )
    po_due = np.zeros(len(keys))
    if open_pos is not None and not open_pos.empty:
        po = open_pos
        if "received_date" in po.columns:
            po = po[po["received_date"].isna()]
        outstanding = po["qty"].astype(float)
        if "received_qty" in po.columns:
            outstanding = (outstanding - po["received_qty"].fillna(0.0)).clip(lower=0.0)
        po = pd.DataFrame(
            {
                "item_id": po["item_id"].astype(str).to_numpy(),
                "location_id": po["location_id"].astype(str).to_numpy(),
                "expected_date": po["expected_date"].to_numpy(),
                "qty": outstanding.to_numpy(),
            }
        )
        merged = keys.assign(_by=by.to_numpy(), _k=np.arange(len(keys))).merge(
            po, on=["item_id", "location_id"], how="inner"
        )
        due = merged[merged["expected_date"] <= merged["_by"]]
        np.add.at(po_due, due["_k"].to_numpy(), due["qty"].to_numpy())
    return transit, po_due


def _rebase(f: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Re-anchor a forecast issued before ``as_of`` (a model a few days old) at ``as_of``.

    Rows on or before ``as_of`` are dropped, horizons count from ``as_of`` and the
    cumulative mean restarts; the cumulative variance keeps each row's variance-to-mean
    ratio (slightly prudent: that ratio belongs to a longer sum).
    """
    f = f[pd.to_datetime(f["date"]) > as_of].copy()
    f["horizon"] = (pd.to_datetime(f["date"]) - as_of).dt.days.astype(int)
    f = f.sort_values(["item_id", "location_id", "horizon"])
    cum = f["cum_forecast"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cum > 0, f["cum_variance"].to_numpy(float) / cum, 0.0)
    f["cum_forecast"] = f.groupby(["item_id", "location_id"], sort=False)["forecast"].cumsum()
    f["cum_variance"] = ratio * f["cum_forecast"].to_numpy(float)
    return f


def _column(table: pd.DataFrame, name: str, default: float) -> np.ndarray:
    """A numeric item-master column, or ``default`` everywhere when the column is absent."""
    if name in table.columns:
        return table[name].astype(float).to_numpy()
    return np.full(len(table), default)


def _inactive(table: pd.DataFrame) -> np.ndarray:
    """Items the master marks inactive (``active`` false) are never reordered."""
    if "active" not in table.columns:
        return np.zeros(len(table), dtype=bool)
    return ~table["active"].astype("boolean").fillna(True).to_numpy(bool)


def _reason(r: Any, service_level: float) -> str:
    head = (
        f"projected {r.projected_available:g} available ({r.available:g} available + "
        f"{r.inbound:g} inbound) vs reorder point {r.reorder_point:g} over "
        f"{r.lead_time_days:g}-day lead time (forecast {r.lead_time_demand:.1f} in "
        f"{r.protection_days:g} days, {service_level:.0%} service)"
    )
    if r.suggested_qty <= 0:
        return head + "; no order"
    cover = (
        ""
        if not np.isfinite(r.days_of_cover_after)
        else f", {r.days_of_cover_after:.0f} days of cover"
    )
    return (
        head + f"; order {r.suggested_qty:g} (MOQ {r.moq:g}, multiple {r.order_multiple:g}){cover}"
    )


def suggest(
    forecast: pd.DataFrame,
    positions: InventoryPositions,
    items: pd.DataFrame,
    open_pos: pd.DataFrame | None,
    as_of: pd.Timestamp,
    service_level: float = ReplenishmentPolicy.service_level,
    policy: ReplenishmentPolicy | None = None,
    include_all: bool = False,
) -> pd.DataFrame:
    """Replenishment suggestions per item × location (see module docstring and docs/demand.md).

    ``forecast``: the demand model's output for horizons 1..H from ``as_of`` (item_id,
    location_id, horizon, forecast, cum_forecast, cum_variance). ``items``: item_id and
    optionally unit_cost, moq, order_multiple, lead_time_days, lead_time_std (see
    :func:`lead_times`). ``open_pos``: purchase orders not yet received. Returns the
    series that need an order (all series with ``include_all``), largest value first.
    """
    policy = policy or ReplenishmentPolicy(service_level=service_level)
    if policy.service_level != service_level:
        policy = ReplenishmentPolicy(
            service_level=service_level,
            review_days=policy.review_days,
            cover_days=policy.cover_days,
            default_lead_time_days=policy.default_lead_time_days,
        )
    need = {"item_id", "location_id", "horizon", "forecast", "cum_forecast", "cum_variance"}
    missing = need - set(forecast.columns)
    if missing:
        raise ValueError(f"forecast lacks column(s) {sorted(missing)}")
    as_of = pd.Timestamp(as_of).normalize()
    keys = forecast[["item_id", "location_id"]].astype(str).drop_duplicates().reset_index(drop=True)
    f = forecast.assign(
        item_id=forecast["item_id"].astype(str), location_id=forecast["location_id"].astype(str)
    )
    if "date" in f.columns:
        f = _rebase(f, as_of)
    master = items.drop_duplicates("item_id").assign(item_id=lambda d: d["item_id"].astype(str))
    table = keys.merge(master, on="item_id", how="left")
    lt = (
        table["lead_time_days"]
        if "lead_time_days" in table
        else pd.Series(np.nan, index=table.index)
    )
    lt = lt.astype(float).where(lambda s: s > 0).fillna(policy.default_lead_time_days)
    lt_std = (
        table["lead_time_std"].astype(float).fillna(0.0)
        if "lead_time_std" in table
        else pd.Series(0.0, index=table.index)
    )
    protection = np.ceil(lt.to_numpy()).astype(int) + policy.review_days
    ltd = lead_time_demand(f, keys.assign(days=protection))
    table = table.assign(protection_days=protection).merge(
        ltd, on=["item_id", "location_id"], how="left"
    )
    mean = table["lt_mean"].fillna(0.0).to_numpy()
    rate = mean / np.maximum(protection, 1)
    var = table["lt_var"].fillna(0.0).to_numpy() + rate**2 * lt_std.to_numpy() ** 2
    rop = reorder_point(mean, var, policy.service_level)
    order_up_to = rop + rate * policy.cover_days

    by = as_of + pd.to_timedelta(protection, unit="D")
    transit, po_due = _inbound(keys, positions, open_pos, pd.Series(by))
    available = np.array(
        [
            positions.available(i, loc)
            for i, loc in zip(keys["item_id"], keys["location_id"], strict=True)
        ]
    )
    inbound = np.maximum(transit, po_due)
    projected = available + inbound
    moq = np.nan_to_num(_column(table, "moq", 0.0), nan=0.0)
    mult = _column(table, "order_multiple", 1.0)
    mult = np.where(np.isfinite(mult) & (mult > 0), mult, 1.0)
    qty = order_decision(projected, rop, order_up_to, moq, mult)
    inactive = _inactive(table)
    qty = np.where(inactive, 0.0, qty)
    unit_cost = _column(table, "unit_cost", np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(rate > 0, projected / rate, np.inf)
        cover_after = np.where(rate > 0, (projected + qty) / rate, np.inf)
    out = pd.DataFrame(
        {
            "item_id": keys["item_id"],
            "location_id": keys["location_id"],
            "as_of": as_of,
            "available": available,
            "inbound": inbound,
            "projected_available": projected,
            "lead_time_days": lt.to_numpy(),
            "protection_days": protection,
            "service_level": policy.service_level,
            "lead_time_demand": mean,
            "lead_time_std_demand": np.sqrt(var),
            "reorder_point": rop,
            "safety_stock": rop - mean,
            "order_up_to": np.ceil(order_up_to),
            "suggested_qty": qty,
            "moq": moq,
            "order_multiple": mult,
            "unit_cost": unit_cost,
            "value": qty * unit_cost,
            "daily_forecast": rate,
            "days_of_cover": cover,
            "days_of_cover_after": cover_after,
        }
    )
    if "lead_time_source" in table:
        out.insert(7, "lead_time_source", table["lead_time_source"].fillna("default").to_numpy())
    out["reason"] = [_reason(r, policy.service_level) for r in out.itertuples(index=False)]
    out.loc[inactive, "reason"] = "item is inactive in the item master; no order"
    if not include_all:
        out = out[out["suggested_qty"] > 0]
    return out.sort_values("value", ascending=False, na_position="last").reset_index(drop=True)
