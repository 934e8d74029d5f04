"""Every operation's 2xx body is what its OpenAPI entry declares.

Creating endpoints return bytes rendered in the writer process, so FastAPI never checks
them against their ``response_model``: this test does, for every operation of the app.
One scenario calls each operation with a valid request through the real app (real store,
writer process, models); every 2xx body is validated against the JSON Schema its OpenAPI
entry declares for that status (JSON Schema does not coerce: a number sent as text fails)
and must hold no key the schema does not declare.
The last assertion fails when an operation is added without being called here.
"""

from __future__ import annotations

from typing import Any

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from tests.serving.conftest import auth, dataset_orders

# Not JSON: Prometheus text (its content type is checked instead).
NOT_JSON = {"GET /metrics"}


def declared_schema(spec: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    """The JSON Schema the OpenAPI document declares for ``status`` of an operation."""
    operation = spec["paths"][path][method.lower()]
    response = operation["responses"].get(str(status))
    assert response is not None, f"{method} {path}: {status} is not a documented status"
    content = response.get("content", {}).get("application/json")
    assert content and content.get("schema"), f"{method} {path} {status}: no JSON schema"
    return content["schema"]


def validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    # ``#/components/...`` references resolve against the root: carry the components.
    return Draft202012Validator({**schema, "components": spec.get("components", {})})


def undeclared_keys(
    spec: dict[str, Any], schema: dict[str, Any], body: Any, at: str = ""
) -> list[str]:
    """Keys of ``body`` that its schema does not declare (where it declares properties)."""
    schema = _resolve(spec, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            fits = [s for s in schema[key] if validator(spec, s).is_valid(body)]
            return undeclared_keys(spec, fits[0], body, at) if fits else []
    if "allOf" in schema:
        return [k for s in schema["allOf"] for k in undeclared_keys(spec, s, body, at)]
    out: list[str] = []
    if isinstance(body, dict) and "properties" in schema:
        properties = schema["properties"]
        if not schema.get("additionalProperties"):
            out += [f"{at}.{k}" for k in body if k not in properties]
        for k, v in body.items():
            if k in properties:
                out += undeclared_keys(spec, properties[k], v, f"{at}.{k}")
    elif isinstance(body, dict) and isinstance(schema.get("additionalProperties"), dict):
        for k, v in body.items():
            out += undeclared_keys(spec, schema["additionalProperties"], v, f"{at}.{k}")
    elif isinstance(body, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(body):
            out += undeclared_keys(spec, schema["items"], v, f"{at}[{i}]")
    return out


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


class Conformance:
    """Calls operations and checks every 2xx body against its OpenAPI declaration."""

    def __init__(self, client) -> None:
        self.client = client
        self.spec = client.app.openapi()
        self.checked: set[str] = set()

    def call(self, method: str, path: str, *, params: dict[str, str] | None = None, **kw):
        url = path.format(**(params or {}))
        response: httpx.Response = self.client.request(method, url, **kw)
        assert 200 <= response.status_code < 300, f"{method} {url}: {response.text[:500]}"
        operation = f"{method} {path}"
        self.checked.add(operation)
        if operation in NOT_JSON:
            assert response.headers["content-type"].startswith("text/plain")
            return response.text
        schema = declared_schema(self.spec, method, path, response.status_code)
        body = response.json()
        errors = [e.message for e in validator(self.spec, schema).iter_errors(body)]
        assert not errors, f"{operation} answers a body its schema refuses: {errors[:5]}"
        extra = undeclared_keys(self.spec, schema, body)
        assert not extra, f"{operation} answers keys its schema does not declare: {extra}"
        return body


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
    check.call("GET", "/v1/monitoring/{model}", params={"model": "order-risk"}, headers=admin)

    operations = {
        f"{method.upper()} {path}"
        for path, entry in client.app.openapi()["paths"].items()
        for method in entry
    }
    assert check.checked == operations, f"not called here: {sorted(operations - check.checked)}"


def test_an_undeclared_key_or_a_wrong_type_is_caught():
    """The checks themselves can fail: a key outside the schema, a number as text."""
    spec = {
        "components": {
            "schemas": {
                "Out": {
                    "type": "object",
                    "properties": {"n": {"type": "integer"}, "inner": {"type": "object"}},
                    "required": ["n"],
                }
            }
        }
    }
    schema = {"$ref": "#/components/schemas/Out"}
    assert undeclared_keys(spec, schema, {"n": 1, "inner": {"a": 1}, "extra": 2}) == [".extra"]
    assert not validator(spec, schema).is_valid({"n": "1"})
    try:
        validator(spec, schema).validate({"n": 1.5})
    except ValidationError:
        pass
    else:
        raise AssertionError("a float passed as an integer")
