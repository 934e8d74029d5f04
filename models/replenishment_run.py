"""One replenishment run: a dataset's planning tables + a forecaster → suggestions.

Pure (frames in, frames out, no I/O): ``stockpilot replenish`` calls :func:`plan` on a
dataset it loads, serving on a :class:`PlanningData` it keeps loaded (``serving/planning.py``)
with its live inventory positions. The demand up to the planning date is appended to the
forecaster (demand sensing without retraining: the forecast starts from the latest
actuals), then :func:`models.replenishment.suggest` turns the forecast, the inventory
positions and the open purchase orders as of that date into suggestions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from features.dataset import Dataset
from features.demand import daily_demand
from features.inventory import InventoryPositions
from models.demand import DemandForecaster
from models.replenishment import ReplenishmentPolicy, lead_times, suggest
from stockpilot.errors import InvalidInput


@dataclass(frozen=True)
class PlanningData:
    """What a run reads from a dataset, derived once: daily demand and the master data."""

    daily: pd.DataFrame
    items: pd.DataFrame
    purchase_orders: pd.DataFrame | None
    inventory: pd.DataFrame

    @classmethod
    def from_dataset(cls, ds: Dataset) -> PlanningData:
        return cls(
            daily=daily_demand(ds.demand, ds.orders),
            items=ds.items,
            purchase_orders=ds.purchase_orders,
            inventory=ds.inventory,
        )


def open_purchase_orders(po: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame | None:
    """Purchase orders placed by ``as_of`` and not received by then (as that day saw them)."""
    if po is None or po.empty:
        return None
    placed = po[po["order_date"] <= as_of].copy()
    if "received_date" in placed.columns:
        placed = placed[placed["received_date"].isna() | (placed["received_date"] > as_of)]
        placed["received_date"] = pd.NaT
        if "received_qty" in placed.columns:
            placed["received_qty"] = float("nan")
    return placed


def plan(
    data: PlanningData,
    forecaster: DemandForecaster,
    as_of: date | None = None,
    policy: ReplenishmentPolicy | None = None,
    positions: InventoryPositions | None = None,
) -> pd.DataFrame:
    """Suggestions per item × location needing an order on ``as_of`` (default: last day).

    ``positions`` replaces the dataset's inventory snapshot as of ``as_of`` (serving passes
    its live positions); ``forecaster`` is updated in place with the actuals.
    """
    policy = policy or ReplenishmentPolicy()
    daily = data.daily
    planning = pd.Timestamp(as_of) if as_of else pd.Timestamp(daily["date"].max())
    if planning < forecaster.last_date_:
        raise InvalidInput(
            f"--as-of {planning.date()} is before the model's last training day "
            f"{forecaster.last_date_.date()}: retrain on data up to that day to plan in the past",
            as_of=str(planning.date()),
        )
    forecaster.update(daily[daily["date"] <= planning])
    if forecaster.last_date_ < planning:
        raise InvalidInput(
            f"no demand data up to {planning.date()} (last day {forecaster.last_date_.date()})",
            as_of=str(planning.date()),
        )
    known = daily[daily["date"] > planning]  # known-future exogenous rows, if exported
    forecast = forecaster.predict(forecaster.horizon, future=known)
    po = data.purchase_orders
    history = po[po["order_date"] <= planning] if po is not None else None
    resolved = lead_times(data.items, history, policy.default_lead_time_days)
    items = (
        data.items.drop(columns=["lead_time_days"], errors="ignore")
        .assign(item_id=data.items["item_id"].astype(str))
        .merge(resolved, on="item_id", how="left")
    )
    if positions is None:
        positions = InventoryPositions.from_inventory(data.inventory, planning)
    return suggest(
        forecast,
        positions,
        items,
        open_purchase_orders(po, planning),
        planning,
        service_level=policy.service_level,
        policy=policy,
    )
