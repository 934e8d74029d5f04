"""MLflow pyfunc wrapper of the substitution recommender.

``predict`` is the plain MLflow entry point: candidate pairs in the ``substitutions``
shape in, calibrated acceptance probability out. Serving uses the richer request path
through ``unwrap_python_model().recommender.recommend(...)``, loaded once by
``load_context`` from one artifact (the fitted, precomputed recommender).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema

from models.substitution_recommender import SubstitutionRecommender

ARTIFACT = "recommender"
REQUIRED_INPUTS = {
    "customer_id": DataType.string,
    "original_item_id": DataType.string,
    "offered_item_id": DataType.string,
    "ts": DataType.datetime,
}
# Contract columns plus the line context the features use when it is known.
OPTIONAL_INPUTS = {
    "location_id": DataType.string,
    "order_id": DataType.string,
    "need_by": DataType.datetime,
    "qty": DataType.double,
    "available": DataType.double,
    # Offer-set context: the offers of one line are compared with each other.
    "position": DataType.double,
    "original_unit_price": DataType.double,
    "offered_unit_price": DataType.double,
}


def save_recommender(recommender: SubstitutionRecommender, path: Path) -> Path:
    """Write the recommender artifact (pickle: it is our own code, shipped as code_paths)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(recommender, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def signature(recommender: SubstitutionRecommender) -> ModelSignature:
    """Input: candidate pairs (``x_*`` columns of the training data are optional inputs)."""
    fs = recommender.features
    columns = [ColSpec(t, name) for name, t in REQUIRED_INPUTS.items()]
    columns += [ColSpec(t, name, required=False) for name, t in OPTIONAL_INPUTS.items()]
    columns += [ColSpec(DataType.double, c, required=False) for c in fs.x_numeric_]
    columns += [ColSpec(DataType.string, c, required=False) for c in fs.x_vocab_]
    return ModelSignature(
        inputs=Schema(columns), outputs=Schema([ColSpec(DataType.double, "p_accept")])
    )


class SubstitutionModel(mlflow.pyfunc.PythonModel):
    """P(accept) for candidate pairs; ``recommender`` for the serving request path."""

    def load_context(self, context: Any) -> None:
        with Path(context.artifacts[ARTIFACT]).open("rb") as fh:
            self.recommender: SubstitutionRecommender = pickle.load(fh)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        if "ts" in frame.columns:
            frame["ts"] = pd.to_datetime(frame["ts"])
        X = self.recommender.features.transform(frame, point_in_time=False)
        p = self.recommender.model.predict_proba(X)[:, 1]
        return pd.DataFrame({"p_accept": p}, index=frame.index)
