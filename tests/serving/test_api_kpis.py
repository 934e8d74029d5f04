"""GET /v1/kpis and its drill-down through the real app: values over the served dataset
and this test's governance store, role-scoped, bodies as their schemas say."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from features.kpis.definitions import CATALOG
from serving.app import create_app
from tests.serving.conftest import auth, dataset_orders


def test_every_kpi_with_its_version_target_and_trend(client, keys):
    response = client.get("/v1/kpis", headers=auth(keys["supervisor"]))
    assert response.status_code == 200, response.text
    body = response.json()
    by_id = {k["id"]: k for k in body["kpis"]}
    assert list(by_id) == [d.id for d in CATALOG]
    for d in CATALOG:
        kpi = by_id[d.id]
        assert kpi["version"] == d.version == kpi["definition"]["version"]
        assert len(kpi["trend"]["values"]) == len(kpi["trend"]["buckets"]) >= 1
        assert kpi["rows_url"].startswith(f"/v1/kpis/{d.id}/rows?from=")
    assert 0 < by_id["fill_rate_line"]["value"] <= 1
    assert body["sources"]["governance"] is True
    assert body["period"]["from"] == body["sources"]["data_from"]


def test_a_scored_order_shows_up_as_an_exception_after_routing(client, keys):
    before = client.get("/v1/kpis?kpi=exception_volume", headers=auth(keys["planner"])).json()
    orders = dataset_orders(client.app.state.services.settings, n=20)
    scored = client.post(
        "/v1/orders/risk", json={"orders": orders}, headers=auth(keys["order_system"])
    )
    assert scored.status_code == 201, scored.text
    queued = sum(r["decision"]["queue_item_id"] is not None for r in scored.json()["results"])
    after = client.get("/v1/kpis?kpi=exception_volume", headers=auth(keys["planner"])).json()
    kpi = after["kpis"][0]
    assert kpi["value"] == before["kpis"][0]["value"] + queued
    assert kpi["denominator"] == before["kpis"][0]["denominator"] + 20
    assert (
        after["sources"]["high_water"]["audit_seq"] > before["sources"]["high_water"]["audit_seq"]
    )


def test_slices_groups_and_drill_down(client, keys):
    headers = auth(keys["data_scientist"])
    full = client.get("/v1/kpis?kpi=fill_rate_line&by=location", headers=headers).json()["kpis"][0]
    groups = full["groups"]
    assert len(groups) >= 2 and sum(g["denominator"] for g in groups) == full["denominator"]
    location = groups[0]["key"]
    sliced = client.get(f"/v1/kpis?kpi=fill_rate_line&location={location}", headers=headers)
    assert sliced.json()["kpis"][0]["value"] == groups[0]["value"]
    rows_url = sliced.json()["kpis"][0]["rows_url"]
    page = client.get(rows_url + "&outcome=missed&limit=5", headers=headers).json()
    assert page["grain"] == "line" and len(page["rows"]) == min(5, page["total"])
    assert all(r["location_id"] == location and r["met"] is False for r in page["rows"])
    assert page["total"] == groups[0]["denominator"] - groups[0]["numerator"]
    assert page["next_offset"] == (5 if page["total"] > 5 else None)


def test_bad_input_is_a_422_or_404_naming_what_is_wrong(client, keys):
    headers = auth(keys["admin"])
    mars = client.get("/v1/kpis?location=MARS", headers=headers)
    assert mars.status_code == 422 and "MARS" in mars.json()["error"]["message"]
    backwards = client.get("/v1/kpis?from=2025-06-01&to=2025-01-01", headers=headers)
    assert backwards.status_code == 422 and "before from" in backwards.json()["error"]["message"]
    assert client.get("/v1/kpis?by=planet", headers=headers).status_code == 422
    for path in ("/v1/kpis", "/v1/kpis/fill_rate_line/rows"):
        epoch = client.get(f"{path}?from=0", headers=headers)  # not read as a Unix time
        assert epoch.status_code == 422 and "from: Value error, a day" in epoch.text, epoch.text
    unknown = client.get("/v1/kpis/fill_rate/rows", headers=headers)
    assert unknown.status_code == 404 and "fill_rate_line" in unknown.json()["error"]["message"]


def test_only_the_kpi_roles_read_them(client, keys):
    for role in ("supervisor", "planner", "data_scientist", "admin"):
        assert (
            client.get("/v1/kpis?kpi=promise_accuracy", headers=auth(keys[role])).status_code == 200
        )
    for role in ("sales", "order_system"):
        response = client.get("/v1/kpis", headers=auth(keys[role]))
        assert response.status_code == 403 and "kpis:read" in response.json()["error"]["message"]
    assert client.get("/v1/kpis/promise_accuracy/rows").status_code == 401


def test_prometheus_gauges_once_the_kpis_are_computed(client, keys):
    client.get("/v1/kpis?kpi=fill_rate_line", headers=auth(keys["supervisor"]))
    text = client.get("/metrics").text
    assert 'stockpilot_kpi_value{kpi="fill_rate_line"' in text
    assert 'stockpilot_kpi_target_met{kpi="fill_rate_line"}' in text


def test_responses_conform_to_their_schemas(serving_settings, services, keys):
    app = create_app(serving_settings, services=services)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    token = keys["supervisor"]
    for path in ("/v1/kpis", "/v1/kpis/{kpi_id}/rows"):
        operation = schema[path]["GET"]

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case) -> None:
            response = case.call(headers={"X-API-Key": token})
            assert response.status_code < 500, response.text
            if response.status_code == 200:
                case.validate_response(response)

        check()
