"""Model store: alias → local cache → load once; degraded from cache; atomic reload."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow.models import infer_signature

from serving.model_store import ModelStore
from stockpilot import tracking
from stockpilot.errors import NotReady
from stockpilot.settings import get_settings


class Constant(mlflow.pyfunc.PythonModel):
    """A real pyfunc returning a constant probability: enough to exercise the store."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, context, model_input, params=None):
        return pd.Series([self.value] * len(model_input))


def register_constant(name: str, value: float, alias: str = "champion") -> str:
    example = pd.DataFrame({"x": [1.0]})
    with tracking.run(name):
        info = tracking.log_model(
            Constant(value),
            model_name=name,
            artifacts=None,
            input_example=example,
            signature=infer_signature(example, pd.Series([value])),
            tags={},
        )
        tracking.log_json({"model": name, "value": value}, "evaluation.json")
        return tracking.register(info.model_uri, name, alias, {})


def test_load_resolve_cache_reload_and_degraded(settings, monkeypatch):
    v1 = register_constant("order-risk", 0.25)
    store = ModelStore(settings.model_cache_dir, names=("order-risk",))
    with pytest.raises(NotReady):
        store.get("order-risk")
    report = store.load()
    assert report.loaded == {"order-risk": v1}
    served = store.get("order-risk")
    assert (served.version, served.source) == (v1, "registry")
    assert served.evaluation == {"model": "order-risk", "value": 0.25}
    assert served.pyfunc.predict(pd.DataFrame({"x": [1.0, 2.0]})).tolist() == [0.25, 0.25]
    assert store.ready and not store.degraded

    # A new champion is picked up by reload; the old object stays usable by its holders.
    v2 = register_constant("order-risk", 0.75)
    assert store.load().loaded == {"order-risk": v2}
    assert store.get("order-risk").pyfunc.predict(pd.DataFrame({"x": [0.0]})).tolist() == [0.75]
    assert served.pyfunc.predict(pd.DataFrame({"x": [0.0]})).tolist() == [0.25]
    assert store.load().unchanged == {"order-risk": v2}

    # Registry unreachable at start-up: a new process serves the newest cached version.
    monkeypatch.setenv("STOCKPILOT_MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    get_settings.cache_clear()
    cold = ModelStore(settings.model_cache_dir, names=("order-risk",))
    report = cold.load()
    assert report.loaded == {"order-risk": v2}
    assert cold.get("order-risk").source == "cache"
    assert cold.ready and cold.degraded
    assert "registry" in cold.errors["order-risk"]


def test_nothing_registered_and_nothing_cached_is_not_ready(settings):
    store = ModelStore(settings.model_cache_dir, names=("demand",))
    report = store.load()
    assert "no cached version" in report.errors["demand"]
    assert not store.ready
