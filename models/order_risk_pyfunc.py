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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec
from mlflow.types.schema import AnyType

from features.contract import TABLES, validate_table
from features.risk_state import RiskState
from models.order_risk_scorer import OrderRiskScorer

SCORER_ARTIFACT = "scorer"
STATE_ARTIFACT = "state"

# The contract's ``orders`` columns (features/contract.py). The signature declares them
# with MLflow's AnyType: real exports bring integers for quantities, text for dates and
# numbers for identifiers, and ``predict`` coerces them exactly as the data contract does
# when a dataset is loaded — MLflow's own enforcement would refuse ``int64`` as ``double``.
REQUIRED_COLUMNS = TABLES["orders"].required_columns
OPTIONAL_COLUMNS = tuple(c.name for c in TABLES["orders"].columns if not c.required)


def save_artifacts(scorer: OrderRiskScorer, state: RiskState, directory: Path) -> dict[str, str]:
    """Pickle the scorer and the state snapshot; returns the pyfunc ``artifacts`` mapping."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {SCORER_ARTIFACT: directory / "scorer.pkl", STATE_ARTIFACT: directory / "state.pkl"}
    for name, obj in ((SCORER_ARTIFACT, scorer), (STATE_ARTIFACT, state)):
        with open(paths[name], "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {name: str(path) for name, path in paths.items()}


def model_signature(free_columns: Sequence[str]) -> ModelSignature:
    """Contract ``orders`` columns in (optional ones may be absent); P(miss) per line out.

    ``free_columns``: the ``x_*`` columns the model was trained with.
    """
    inputs = [ColSpec(AnyType(), name) for name in REQUIRED_COLUMNS]
    inputs += [ColSpec(AnyType(), name, required=False) for name in OPTIONAL_COLUMNS]
    inputs += [ColSpec(AnyType(), name, required=False) for name in free_columns]
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
        typed, violations = validate_table("orders", frame)
        if typed is None:
            raise ValueError(
                "order lines break the data contract: " + "; ".join(str(v) for v in violations)
            )
        frame = typed
        return self.scorer.predict_frame(frame, self.state)
