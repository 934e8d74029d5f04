"""Models: served versions with evaluation, hot reload of a new champion, degraded start."""

from __future__ import annotations

from serving.services import Services
from stockpilot import tracking
from stockpilot.settings import get_settings
from tests.serving.conftest import auth, dataset_orders


def test_models_lists_the_three_champions_with_their_evaluation(client, keys):
    body = client.get("/v1/models", headers=auth(keys["data_scientist"])).json()
    assert {m["name"] for m in body["models"]} == {"order-risk", "substitution", "demand"}
    for model in body["models"]:
        assert model["source"] == "registry"
        assert model["evaluation"]["model"] == model["name"]
    assert body["degraded"] is False


def test_reload_swaps_in_a_new_champion_without_dropping_requests(client, keys, serving_settings):
    served = client.get("/v1/models", headers=auth(keys["data_scientist"])).json()["models"]
    old = next(m for m in served if m["name"] == "order-risk")
    # A new registered version of the same artifacts becomes champion.
    source = tracking.resolve("order-risk", "champion").source
    new_version = tracking.register(source, "order-risk", None, {})
    orders = dataset_orders(serving_settings, 1)
    try:
        tracking.set_alias("order-risk", "champion", new_version)
        reloaded = client.post("/v1/models/reload", headers=auth(keys["data_scientist"]))
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["loaded"] == {"order-risk": new_version}
        scored = client.post(
            "/v1/orders/risk", json={"orders": orders}, headers=auth(keys["order_system"])
        )
        assert scored.status_code == 201
        assert scored.json()["results"][0]["model"]["version"] == new_version
        again = client.post("/v1/models/reload", headers=auth(keys["data_scientist"])).json()
        assert again["unchanged"]["order-risk"] == new_version
    finally:
        tracking.set_alias("order-risk", "champion", old["version"])


def test_unreachable_registry_serves_the_cached_versions_degraded(services, monkeypatch):
    # `services` has cached every champion; a new process now cannot reach the registry.
    monkeypatch.setenv("STOCKPILOT_MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    get_settings.cache_clear()
    cold = Services.open(get_settings())
    try:
        readiness = cold.readiness()
        assert readiness["ready"] is True
        assert readiness["degraded"] is True
        assert {m["source"] for m in readiness["models"].values()} == {"cache"}
    finally:
        cold.close()
