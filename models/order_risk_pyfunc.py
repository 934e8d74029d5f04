"""MLflow pyfunc wrapper of the order-risk model (one of the two places that import mlflow).

``mlflow.pyfunc.load_model("models:/order-risk@champion").predict(lines)`` takes order
lines in the contract's ``orders`` shape and returns P(miss) per line, computing
features against the :class:`~features.risk_state.RiskState` snapshot saved with the
model. Serving uses the richer in-process API on the unwrapped model:
``model.unwrap_python_model().scorer.score_order(lines, state)`` with
``.state`` (or its own live copy) — see ``docs/order-risk.md``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema, TensorSpec

from features.risk_state import RiskState
from models.order_risk_scorer import OrderRiskScorer

SCORER_ARTIFACT = "scorer"
STATE_ARTIFACT = "state"

REQUIRED_COLUMNS: dict[str, DataType] = {
    "order_id": DataType.string,
    "line_no": DataType.long,
    "order_ts": DataType.datetime,
    "customer_id": DataType.string,
    "item_id": DataType.string,
    "location_id": DataType.string,
    "qty": DataType.double,
    "unit_price": DataType.double,
    "promised_date": DataType.datetime,
}
OPTIONAL_COLUMNS: dict[str, DataType] = {
    "discount_pct": DataType.double,
    "requested_date": DataType.datetime,
    "carrier_id": DataType.string,
    "ship_method": DataType.string,
    "priority": DataType.string,
}


def save_artifacts(scorer: OrderRiskScorer, state: RiskState, directory: Path) -> dict[str, str]:
    """Pickle the scorer and the state snapshot; returns the pyfunc ``artifacts`` mapping."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {SCORER_ARTIFACT: directory / "scorer.pkl", STATE_ARTIFACT: directory / "state.pkl"}
    for name, obj in ((SCORER_ARTIFACT, scorer), (STATE_ARTIFACT, state)):
        with open(paths[name], "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {name: str(path) for name, path in paths.items()}


def model_signature(free_columns: dict[str, str]) -> ModelSignature:
    """Contract ``orders`` columns in; one probability per line out.

    ``free_columns`` maps the ``x_*`` columns the model was trained with to
    ``"double"`` or ``"string"``; like every optional column they may be absent.
    """
    inputs = [ColSpec(t, name) for name, t in REQUIRED_COLUMNS.items()]
    inputs += [ColSpec(t, name, required=False) for name, t in OPTIONAL_COLUMNS.items()]
    inputs += [
        ColSpec(DataType.double if kind == "double" else DataType.string, name, required=False)
        for name, kind in free_columns.items()
    ]
    return ModelSignature(Schema(inputs), Schema([TensorSpec(np.dtype("float64"), (-1,))]))


class OrderRiskModel(mlflow.pyfunc.PythonModel):
    """Loads the scorer and the state snapshot once; ``predict`` returns P(miss) per line."""

    scorer: OrderRiskScorer
    state: RiskState

    def load_context(self, context: Any) -> None:
        with open(context.artifacts[SCORER_ARTIFACT], "rb") as fh:
            self.scorer = pickle.load(fh)
        with open(context.artifacts[STATE_ARTIFACT], "rb") as fh:
            self.state = pickle.load(fh)
        self.scorer.warm_up()

    # No type hints on predict: MLflow would read them as a competing signature.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """P(miss) per row of ``model_input`` (a frame of order lines, contract shape)."""
        frame = pd.DataFrame(model_input)
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"order lines lack required column(s): {missing}")
        for column in ("order_ts", "promised_date", "requested_date"):
            if column in frame.columns:
                frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_localize(None)
        for column in ("order_id", "customer_id", "item_id", "location_id", "carrier_id"):
            if column in frame.columns:
                frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
                frame[column] = frame[column].map(lambda v: None if v is None else str(v))
        return self.scorer.predict_frame(frame, self.state)
