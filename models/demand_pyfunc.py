"""MLflow pyfunc wrapper of the demand forecaster (one of the two modules importing mlflow).

``mlflow.pyfunc.load_model("models:/demand@champion").predict(df)`` takes one row per
wanted forecast and returns one row per request row (same order):

input   item_id, location_id (text), and ``horizon`` (1..28, days after the last
        training day) or ``date``; optionally the known-future ``price``, ``promo``
        and ``x_*`` columns of that day (absent: regular price, no promotion, usual value)
output  item_id, location_id, date, horizon, forecast (expected units), lo_80, hi_80
        (80 % interval), variance, cum_forecast, cum_variance (total demand from
        horizon 1 to this row: what a reorder point needs)
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from models.demand import OUTPUT_COLUMNS, DemandForecaster

ARTIFACT = "forecaster"


class DemandPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        self.forecaster = load_forecaster(Path(context.artifacts[ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return self.forecaster.forecast_requests(pd.DataFrame(model_input))


def save_forecaster(forecaster: DemandForecaster, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(forecaster, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def load_forecaster(path: Path) -> DemandForecaster:
    with path.open("rb") as fh:
        return pickle.load(fh)


def signature(forecaster: DemandForecaster) -> ModelSignature:
    """Input and output schema; the optional exogenous columns are the model's own."""
    spec = forecaster.exog_
    inputs = [
        ColSpec("string", "item_id"),
        ColSpec("string", "location_id"),
        ColSpec("long", "horizon", required=False),
        ColSpec("datetime", "date", required=False),
    ]
    if spec.price:
        inputs.append(ColSpec("double", "price", required=False))
    if spec.promo:
        inputs.append(ColSpec("boolean", "promo", required=False))
    inputs += [ColSpec("double", c, required=False) for c in spec.numeric]
    inputs += [ColSpec("string", c, required=False) for c in spec.text]
    kinds = {"item_id": "string", "location_id": "string", "date": "datetime", "horizon": "long"}
    outputs = [ColSpec(kinds.get(c, "double"), c) for c in OUTPUT_COLUMNS]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def input_example(forecaster: DemandForecaster, n: int = 3) -> pd.DataFrame:
    series = forecaster.series_.head(n)
    return pd.DataFrame(
        {
            "item_id": series["item_id"].astype(str).to_numpy(),
            "location_id": series["location_id"].astype(str).to_numpy(),
            "horizon": [1 + k % forecaster.horizon for k in range(len(series))],
        }
    )
