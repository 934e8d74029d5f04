"""POST /v1/orders/risk through the real app: explained, routed, audited, idempotent."""

from __future__ import annotations

import copy

import pytest

from tests.serving.conftest import auth, dataset_orders


def score(client, token, orders, **headers):
    return client.post("/v1/orders/risk", json={"orders": orders}, headers=auth(token, **headers))


def test_scored_order_is_explained_routed_and_audited(client, keys, serving_settings):
    orders = dataset_orders(serving_settings, 2)
    response = score(client, keys["order_system"], orders)
    assert response.status_code == 201, response.text
    results = response.json()["results"]
    assert [r["order_id"] for r in results] == [o["order_id"] for o in orders]
    for result, order in zip(results, orders, strict=True):
        assert 0.0 <= result["score"] <= 1.0
        assert result["score"] == max(line["probability"] for line in result["lines"])
        assert len(result["lines"]) == len(order["lines"])
        assert result["decision"]["action"] in {"release", "review", "hold"}
        assert result["decision"]["policy_version"] == 1
        assert result["model"]["name"] == "order-risk"
        for line in result["lines"]:
            assert set(line["families"]) >= {"inventory_shortfall", "carrier_delay"}
            assert all(r["text"] for r in line["reasons"])
        if result["decision"]["action"] == "release":
            assert result["decision"]["queue_item_id"] is None
        else:
            assert result["decision"]["queue_item_id"]
    audit = client.get(
        "/v1/audit", params={"kind": "recommendation.created"}, headers=auth(keys["admin"])
    ).json()["events"]
    recorded = {e["subject_id"] for e in audit}
    assert {r["recommendation_id"] for r in results} <= recorded
    payload = next(e for e in audit if e["subject_id"] == results[0]["recommendation_id"])[
        "payload"
    ]
    assert payload["model"] == {"name": "order-risk", "version": results[0]["model"]["version"]}
    # Features and exact SHAP values as arrays in the model's column order; the record
    # alone reproduces every line's margin.
    features, contributions = payload["features"], payload["contributions"]
    assert features["columns"] == contributions["columns"] and features["columns"]
    for line in payload["explanation"]["lines"]:
        values = contributions["lines"][str(line["line_no"])]
        assert len(values) == len(features["lines"][str(line["line_no"])])
        assert len(values) == len(features["columns"])
        margin = payload["explanation"]["expected_value"] + sum(values)
        assert margin == pytest.approx(line["margin"], abs=1e-9)
    assert payload["decision"]["threshold_name"].startswith("order_risk.")
    verify = client.get("/v1/audit/verify", headers=auth(keys["admin"])).json()
    assert verify["ok"] and verify["count"] >= len(results)
    metrics = client.get("/metrics").text
    commits = _counter(metrics, "stockpilot_commits_total")
    units = _counter(metrics, "stockpilot_committed_units_total")
    assert 1 <= commits <= units  # the scoring request was one unit of at most one commit
    passes = _counter(metrics, "stockpilot_scoring_passes_total")
    assert 1 <= passes <= _counter(metrics, "stockpilot_scored_requests_total")
    # Where a request's time went: waiting for its pass, for its commit (which includes the
    # writer's batch).
    assert _counter(metrics, "stockpilot_scoring_wait_seconds_total") > 0
    waited = _counter(metrics, "stockpilot_commit_wait_seconds_total")
    assert waited >= _counter(metrics, "stockpilot_commit_batch_seconds_total") > 0
    assert _counter(metrics, "stockpilot_commit_waits_total") >= units


def _counter(text: str, name: str) -> float:
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " "))


def test_idempotent_retry_replays_and_a_changed_body_is_refused(client, keys, serving_settings):
    orders = dataset_orders(serving_settings, 1)
    first = score(client, keys["order_system"], orders, **{"Idempotency-Key": "order-1"})
    again = score(client, keys["order_system"], orders, **{"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    changed = copy.deepcopy(orders)
    changed[0]["lines"][0]["qty"] += 1
    refused = score(client, keys["order_system"], changed, **{"Idempotency-Key": "order-1"})
    assert refused.status_code == 422
    assert "Idempotency-Key" in refused.json()["error"]["message"]
    events = client.get(
        "/v1/audit", params={"kind": "recommendation.created"}, headers=auth(keys["admin"])
    ).json()["events"]
    rid = first.json()["results"][0]["recommendation_id"]
    assert sum(e["subject_id"] == rid for e in events) == 1


def test_bad_input_is_a_422_naming_the_field(client, keys, serving_settings):
    order = dataset_orders(serving_settings, 1)[0]
    order["lines"][0]["qty"] = -3
    response = score(client, keys["order_system"], [order])
    assert response.status_code == 422
    assert "orders[0].lines[0].qty" in response.json()["error"]["message"]
    missing = {k: v for k, v in order.items() if k != "promised_date"}
    response = score(client, keys["order_system"], [missing])
    assert response.status_code == 422
    assert "orders[0].promised_date" in response.json()["error"]["message"]
    for not_a_day in ("0", "2026-03-02T00:00:00"):  # no Unix time, no datetime for a day
        response = score(client, keys["order_system"], [{**order, "promised_date": not_a_day}])
        assert response.status_code == 422, not_a_day
        assert "orders[0].promised_date: Value error, a day is ISO 8601" in response.text
    response = client.post(
        "/v1/orders/risk",
        content=b"{not json",
        headers=auth(keys["order_system"], **{"content-type": "application/json"}),
    )
    assert response.status_code == 422


def test_more_stock_from_an_inventory_event_lowers_the_next_score(client, keys, serving_settings):
    order = dataset_orders(serving_settings, 1)[0]
    order["lines"] = order["lines"][:1]
    line = order["lines"][0]
    line["qty"] = 50.0
    where = {"item_id": line["item_id"], "location_id": line["location_id"]}
    scores = []
    for n, on_hand in enumerate((0.0, 10_000.0)):
        event = {
            "events": [
                {**where, "on_hand": on_hand, "allocated": 0, "reserved": 0, "quarantined": 0}
            ]
        }
        put = client.post("/v1/events/inventory", json=event, headers=auth(keys["order_system"]))
        assert put.status_code == 202, put.text
        scored = score(client, keys["order_system"], [{**order, "order_id": f"inv-{n}"}])
        assert scored.status_code == 201, scored.text
        scores.append(scored.json()["results"][0]["lines"][0]["families"]["inventory_shortfall"])
    assert scores[1] < scores[0]


def test_a_batch_above_500_orders_is_refused(client, keys, serving_settings):
    order = dataset_orders(serving_settings, 1)[0]
    orders = [{**order, "order_id": f"b-{i}"} for i in range(501)]
    response = score(client, keys["order_system"], orders)
    assert response.status_code == 422
    assert "orders" in response.json()["error"]["message"]


def test_the_audit_keeps_each_lines_features_with_missing_values_as_null(
    client, keys, serving_settings
):
    order = copy.deepcopy(dataset_orders(serving_settings, 1)[0])
    order["order_id"] = "AUDIT-FEATURES"
    order["lines"][0]["item_id"] = "NO-SUCH-ITEM"  # unknown: no usual price, no cost
    response = score(client, keys["order_system"], [order])
    assert response.status_code == 201, response.text
    result = response.json()["results"][0]
    audit = client.get(
        "/v1/audit", params={"kind": "recommendation.created"}, headers=auth(keys["admin"])
    ).json()["events"]
    payload = next(e for e in audit if e["subject_id"] == result["recommendation_id"])["payload"]
    columns = payload["features"]["columns"]
    lines = payload["features"]["lines"]
    assert set(lines) == {str(line["line_no"]) for line in order["lines"]}
    unknown = dict(zip(columns, lines[str(order["lines"][0]["line_no"])], strict=True))
    assert unknown["item_unknown"] == 1.0
    assert unknown["order_lines"] == len(order["lines"])
    assert None in unknown.values()  # NaN (not known) is stored as JSON null
    if len(order["lines"]) > 1:
        known = dict(zip(columns, lines[str(order["lines"][1]["line_no"])], strict=True))
        assert known["item_unknown"] == 0.0
