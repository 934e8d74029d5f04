"""`stockpilot replenish`: replenishment suggestions for a dataset from the registered model.

The champion ``demand`` model is loaded from the registry; the dataset's demand up
to the planning date is appended to it (demand sensing without retraining: the
forecast starts from the latest actuals), then :func:`models.replenishment.suggest`
turns the forecast, the inventory positions (single truth) and the open purchase
orders as of that date into suggestions.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from features.demand import daily_demand
from features.inventory import InventoryPositions
from models.demand import DemandForecaster
from models.replenishment import ReplenishmentPolicy, lead_times, suggest
from stockpilot.errors import InvalidInput
from training import tracking
from training.data import load_dataset

MODEL_NAME = "demand"


def load_forecaster(alias: str = "champion") -> DemandForecaster:
    """The forecaster behind ``models:/demand@<alias>``."""
    model = tracking.load_pyfunc(f"models:/{MODEL_NAME}@{alias}")
    return model.unwrap_python_model().forecaster


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


def replenish(
    data: Path | str,
    as_of: date | None = None,
    out: Path | None = None,
    alias: str = "champion",
    policy: ReplenishmentPolicy | None = None,
    forecaster: DemandForecaster | None = None,
    positions: InventoryPositions | None = None,
) -> pd.DataFrame:
    """Suggestions per item × location needing an order on ``as_of`` (default: last day).

    ``positions`` replaces the dataset's inventory snapshot as of ``as_of`` (serving passes
    its live positions); ``forecaster`` is updated in place with the actuals.
    """
    policy = policy or ReplenishmentPolicy()
    ds = load_dataset(data)
    daily = daily_demand(ds.demand, ds.orders)
    planning = pd.Timestamp(as_of) if as_of else pd.Timestamp(daily["date"].max())
    model = forecaster or load_forecaster(alias)
    if planning < model.last_date_:
        raise InvalidInput(
            f"--as-of {planning.date()} is before the model's last training day "
            f"{model.last_date_.date()}: retrain on data up to that day to plan in the past",
            as_of=str(planning.date()),
        )
    model.update(daily[daily["date"] <= planning])
    if model.last_date_ < planning:
        raise InvalidInput(
            f"no demand data up to {planning.date()} (last day {model.last_date_.date()})",
            as_of=str(planning.date()),
        )
    known = daily[daily["date"] > planning]  # known-future exogenous rows, if exported
    forecast = model.predict(model.horizon, future=known)
    po = ds.purchase_orders
    history = po[po["order_date"] <= planning] if po is not None else None
    resolved = lead_times(ds.items, history, policy.default_lead_time_days)
    items = (
        ds.items.drop(columns=["lead_time_days"], errors="ignore")
        .assign(item_id=ds.items["item_id"].astype(str))
        .merge(resolved, on="item_id", how="left")
    )
    if positions is None:
        positions = InventoryPositions.from_inventory(ds.inventory, planning)
    suggestions = suggest(
        forecast,
        positions,
        items,
        open_purchase_orders(ds.purchase_orders, planning),
        planning,
        service_level=policy.service_level,
        policy=policy,
    )
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".parquet":
            suggestions.to_parquet(out, index=False)
        else:
            suggestions.to_csv(out, index=False)
    return suggestions
