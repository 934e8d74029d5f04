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


def test_monitoring_bodies_of_every_model_are_declared(client, keys, serving_settings):
    """Order risk with its served block, substitution with its served block, demand: each
    report as GET /v1/monitoring/{model} serves it is its declared model, no key undeclared."""
    from datetime import timedelta

    import pandas as pd

    from governance.policy import MonitoringPolicy
    from stockpilot.monitoring_reports import write_report
    from training.monitor_demand import demand_block
    from training.monitor_run import monitor

    check = Conformance(client)
    orders = dataset_orders(serving_settings, n=4)
    check.call(
        "POST", "/v1/orders/risk", json={"orders": orders}, headers=auth(keys["order_system"])
    )
    line = orders[0]["lines"][0]
    delivered = {
        "order_id": orders[0]["order_id"],
        "line_no": line["line_no"],
        "shipped_qty": line["qty"],
        "delivered_date": orders[0]["promised_date"],
    }
    outcomes = {"outcomes": [delivered]}
    check.call("POST", "/v1/outcomes", json=outcomes, headers=auth(keys["order_system"]))
    last = pd.to_datetime(pd.read_parquet(serving_settings.data_dir / "orders.parquet")["order_ts"])
    since = last.max().date() - timedelta(days=10)
    monitor("order-risk", serving_settings.data_dir, since=since, alerts=False, served=True)
    monitor("substitution", serving_settings.data_dir, since=since, alerts=False, served=True)
    frame = pd.DataFrame(
        {
            "unique_id": ["a", "a", "b"],
            "date": pd.to_datetime(["2025-01-06", "2025-01-13", "2025-01-06"]),
            "y": [3.0, 2.0, 1.0],
            "mean": [2.0, 0.5, 1.5],
            "pit80": [1.0, 1.0, 0.5],
            "segment": ["slow", "slow", "intermittent"],
            "location_id": ["ATL", "ATL", "CHI"],
            "category": ["c1", "c1", None],
        }
    )
    block = demand_block(
        frame, trained_until="2025-01-05", backtest={"wape": 0.5}, rules=MonitoringPolicy()
    )
    report = {"model": "demand", "model_version": "1", "generated_at": "2025-01-14T00:00:00",
              "since": "2025-01-06", "days": 2, "lines": 3, "reference": None,
              "demand": block, "data_quality": []}  # fmt: skip
    write_report(serving_settings.home, "demand", report)
    admin = auth(keys["admin"])
    bodies = {
        model: check.call("GET", "/v1/monitoring/{model}", params={"model": model}, headers=admin)
        for model in ("order-risk", "substitution", "demand")
    }
    assert bodies["order-risk"]["served"]["recommendations"] == 4
    assert bodies["order-risk"]["served"]["with_outcome"] == 1
    assert bodies["substitution"]["substitution"]["weeks"]
    assert [w["week"] for w in bodies["demand"]["demand"]["weeks"]] == ["2025-W02", "2025-W03"]
    metrics = client.get("/metrics").text
    assert (
        'stockpilot_demand_metric{metric="wape",model="demand",version="1",week="2025-W03"}'
        in metrics
    )
    assert (
        'stockpilot_substitution_metric{kind="estimated",metric="hit1",model="substitution"'
        in metrics
    )
