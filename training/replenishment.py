"""`stockpilot replenish`: replenishment suggestions for a dataset from the registered model.

The champion ``demand`` model is loaded from the registry and the dataset from its
directory; :func:`models.replenishment_run.plan` does the rest (the same function serving
runs on its kept dataset view and live stock).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from models.demand import DemandForecaster
from models.replenishment import ReplenishmentPolicy
from models.replenishment_run import PlanningData, plan
from stockpilot import tracking
from stockpilot.data import load_dataset

MODEL_NAME = "demand"


def load_forecaster(alias: str = "champion") -> DemandForecaster:
    """The forecaster behind ``models:/demand@<alias>``."""
    model = tracking.load_pyfunc(f"models:/{MODEL_NAME}@{alias}")
    return model.unwrap_python_model().forecaster


def replenish(
    data: Path | str,
    as_of: date | None = None,
    out: Path | None = None,
    alias: str = "champion",
    policy: ReplenishmentPolicy | None = None,
) -> pd.DataFrame:
    """Suggestions per item × location needing an order on ``as_of`` (default: last day)."""
    planning = PlanningData.from_dataset(load_dataset(data))
    suggestions = plan(planning, load_forecaster(alias), as_of, policy)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".parquet":
            suggestions.to_parquet(out, index=False)
        else:
            suggestions.to_csv(out, index=False)
    return suggestions
