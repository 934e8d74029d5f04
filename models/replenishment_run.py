"""One replenishment run: a dataset's planning tables + a forecaster → suggestions.

Pure (frames in, frames out, no I/O), in two steps: :func:`forecast_demand` appends the
demand up to the planning date to the forecaster and forecasts from there (the costly
step: a recursive forecast of every series); :func:`suggestions` turns the forecast, the
inventory positions and the open purchase orders as of that date into suggestions
(:func:`models.replenishment.suggest`). ``stockpilot replenish`` runs both on a dataset it
loads (:func:`plan`); serving keeps the dataset loaded and the forecast of each planning
day (``serving/planning.py``), so a run there is the second step on its live stock.
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


@dataclass(frozen=True)
class DemandForecast:
    """The forecast a run plans with: a function of the data, the model and the day only
    (stock and the service level come later), so serving computes it once per day."""

    planning: pd.Timestamp
    forecast: pd.DataFrame


def forecast_demand(
    data: PlanningData, forecaster: DemandForecaster, as_of: date | None = None
) -> DemandForecast:
    """The demand forecast from ``as_of`` (default: the data's last day) on.

    ``forecaster`` is updated in place with the actuals up to that day (demand sensing
    without retraining: the forecast starts from the latest actuals).
    """
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
    return DemandForecast(planning, forecaster.predict(forecaster.horizon, future=known))


def suggestions(
    data: PlanningData,
    demand: DemandForecast,
    policy: ReplenishmentPolicy | None = None,
    positions: InventoryPositions | None = None,
) -> pd.DataFrame:
    """Suggestions per item × location needing an order on the forecast's planning day.

    ``positions`` replaces the dataset's inventory snapshot as of that day (serving passes
    its live positions).
    """
    policy = policy or ReplenishmentPolicy()
    planning = demand.planning
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
        demand.forecast,
        positions,
        items,
        open_purchase_orders(po, planning),
        planning,
        service_level=policy.service_level,
        policy=policy,
    )


def plan(
    data: PlanningData,
    forecaster: DemandForecaster,
    as_of: date | None = None,
    policy: ReplenishmentPolicy | None = None,
    positions: InventoryPositions | None = None,
) -> pd.DataFrame:
    """One run: :func:`forecast_demand`, then :func:`suggestions`."""
    return suggestions(data, forecast_demand(data, forecaster, as_of), policy, positions)
