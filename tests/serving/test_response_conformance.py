"""Every operation's 2xx body is what its OpenAPI entry declares.

Creating endpoints return bytes rendered in the writer process, so FastAPI never checks
them against their ``response_model``: this test does, for every operation of the app.
One scenario calls each operation with a valid request through the real app (real store,
writer process, models); every 2xx body is validated against the route's declared model
(strict: no coercion of a wrong type) and must hold no key the model does not declare.
The last assertion fails when an operation is added without being called here.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter

from tests.serving.conftest import auth, dataset_orders

# Not JSON: Prometheus text (its content type is checked instead).
NOT_JSON = {"GET /metrics"}


def _route(client, method: str, path: str) -> APIRoute:
    for route in client.app.routes:
        if isinstance(route, APIRoute) and route.path == path and method in route.methods:
            return route
    raise AssertionError(f"{method} {path} is not a route of the app")


def _declared(route: APIRoute, status: int) -> Any:
    extra = route.responses.get(status) or route.responses.get(str(status)) or {}
    if "model" in extra:
        return extra["model"]
    assert status == (route.status_code or 200), f"{route.path}: {status} is not declared"
    return route.response_model


def _undeclared_keys(model: Any, body: Any, where: str = "") -> list[str]:
    """Keys of ``body`` that the validated model would not give back (recursively)."""
    dumped = TypeAdapter(model).dump_python(
        TypeAdapter(model).validate_python(body), mode="json", by_alias=True
    )
    return _extra(dumped, body, where)


def _extra(dumped: Any, body: Any, where: str) -> list[str]:
    if isinstance(body, dict) and isinstance(dumped, dict):
        out = [f"{where}.{k}" for k in body if k not in dumped]
        for key in body.keys() & dumped.keys():
            out += _extra(dumped[key], body[key], f"{where}.{key}")
        return out
    if isinstance(body, list) and isinstance(dumped, list):
        return [
            x
            for i, (d, b) in enumerate(zip(dumped, body, strict=True))
            for x in _extra(d, b, where + f"[{i}]")
        ]
    return []


class Conformance:
    """Calls operations and checks every 2xx body against its declaration."""

    def __init__(self, client) -> None:
        self.client = client
        self.checked: set[str] = set()

    def call(self, method: str, path: str, *, params: dict[str, str] | None = None, **kw):
        url = path.format(**(params or {}))
        response: httpx.Response = self.client.request(method, url, **kw)
        assert 200 <= response.status_code < 300, f"{method} {url}: {response.text[:500]}"
        operation = f"{method} {path}"
        if operation in NOT_JSON:
            assert response.headers["content-type"].startswith("text/plain")
        else:
            route = _route(self.client, method, path)
            model = _declared(route, response.status_code)
            assert model is not None, f"{operation} declares no response model"
            # Strict from JSON: a number sent as text, or a missing field, fails here.
            TypeAdapter(model).validate_json(response.content, strict=True)
            extra = _undeclared_keys(model, response.json())
            assert not extra, f"{operation} answers keys its schema does not declare: {extra}"
        self.checked.add(operation)
        return response.json() if operation not in NOT_JSON else response.text


def test_every_2xx_body_of_every_operation_is_its_declared_model(client, keys, serving_settings):
    check = Conformance(client)
    order_system, sales, planner = (auth(keys[r]) for r in ("order_system", "sales", "planner"))
    supervisor, admin = auth(keys["supervisor"]), auth(keys["admin"])

    check.call("GET", "/health/live")
    check.call("GET", "/health/ready")
    check.call("GET", "/metrics")

    orders = dataset_orders(serving_settings, n=8)
    scored = check.call("POST", "/v1/orders/risk", json={"orders": orders}, headers=order_system)
    queued = [r for r in scored["results"] if r["decision"]["queue_item_id"]]
    assert queued, "some of the orders should need review under the default policy"
    line = orders[0]["lines"][0]
    where = {"item_id": line["item_id"], "location_id": line["location_id"]}
    check.call(
        "POST",
        "/v1/events/inventory",
        json={"events": [{**where, "on_hand": 50, "allocated": 0}]},
        headers=order_system,
    )
    check.call(
        "POST",
        "/v1/outcomes",
        json={
            "outcomes": [
                {"order_id": orders[0]["order_id"], "line_no": line["line_no"], "shipped_qty": 1}
            ]
        },
        headers=order_system,
    )

    request = {
        "customer_id": orders[0]["customer_id"],
        **where,
        "qty": 1.0,
        "unit_price": line["unit_price"],
    }
    offered = check.call("POST", "/v1/substitutes", json=request, headers=sales)
    assert offered["substitutes"], "the small dataset should offer a substitute here"
    check.call(
        "POST",
        "/v1/substitutes/{recommendation_id}/feedback",
        params={"recommendation_id": offered["recommendation_id"]},
        json={"accepted_item_ids": [offered["substitutes"][0]["item_id"]]},
        headers=sales,
    )

    check.call("POST", "/v1/replenishment/run", json={}, headers=planner)
    check.call("GET", "/v1/replenishment/suggestions", headers=planner)

    item = queued[0]["decision"]
    check.call(
        "GET", "/v1/queues/{queue}/items", params={"queue": item["queue"]}, headers=supervisor
    )
    check.call(
        "GET",
        "/v1/queue-items/{item_id}",
        params={"item_id": item["queue_item_id"]},
        headers=supervisor,
    )
    check.call(
        "POST",
        "/v1/queue-items/{item_id}/decision",
        params={"item_id": item["queue_item_id"]},
        json={"action": "approve", "reason": "checked with the carrier"},
        headers=supervisor,
    )

    check.call("GET", "/v1/audit", headers=admin)
    check.call("GET", "/v1/audit/verify", headers=admin)
    check.call("GET", "/v1/models", headers=admin)
    check.call("POST", "/v1/models/reload", headers=admin)
    check.call("GET", "/v1/policy", headers=admin)
    kpis = check.call("GET", "/v1/kpis", headers=supervisor)
    kpi = next(k for k in kpis["kpis"] if k.get("rows_url"))
    check.call("GET", "/v1/kpis/{kpi_id}/rows", params={"kpi_id": kpi["id"]}, headers=supervisor)

    operations = {
        f"{method.upper()} {path}"
        for path, entry in client.app.openapi()["paths"].items()
        for method in entry
    }
    assert check.checked == operations, f"not called here: {sorted(operations - check.checked)}"


def test_an_undeclared_key_or_a_wrong_type_is_caught():
    """The checks themselves can fail: a key outside the model, a number as text."""

    class Out(BaseModel):
        n: int
        inner: dict[str, Any]

    assert _undeclared_keys(Out, {"n": 1, "inner": {"a": 1}, "extra": 2}) == [".extra"]
    try:
        TypeAdapter(Out).validate_json(b'{"n": "1", "inner": {}}', strict=True)
    except ValueError:
        pass
    else:
        raise AssertionError("a number sent as text passed strict validation")
