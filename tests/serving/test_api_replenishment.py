"""Replenishment runs from live stock, routed by value, decided by other planners."""

from __future__ import annotations

import os

from tests.serving.conftest import auth


def test_run_routes_suggestions_and_lists_them(client, keys):
    response = client.post("/v1/replenishment/run", json={}, headers=auth(keys["planner"]))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["model"]["name"] == "demand"
    suggestions = body["suggestions"]
    assert suggestions, "the small dataset should need some orders"
    for s in suggestions:
        assert s["suggested_qty"] > 0
        assert s["projected_available"] <= s["reorder_point"] + 1e-9
        assert s["reason"]
        action = s["decision"]["action"]
        assert action in {"auto_approve", "review"}
        assert (s["decision"]["queue_item_id"] is not None) == (action == "review")
    assert body["queued"] + body["auto_approved"] == len(suggestions)
    listed = client.get(
        "/v1/replenishment/suggestions", params={"limit": 1000}, headers=auth(keys["supervisor"])
    ).json()["suggestions"]
    assert {s["recommendation_id"] for s in suggestions} <= {s["recommendation_id"] for s in listed}


def test_planner_cannot_approve_own_suggestion_but_edits_and_another_approves(client, keys):
    body = client.post("/v1/replenishment/run", json={}, headers=auth(keys["planner"])).json()
    queued = [s for s in body["suggestions"] if s["decision"]["queue_item_id"]]
    assert queued, "some suggestion should need approval under the default policy"
    item_id = queued[0]["decision"]["queue_item_id"]
    own = client.post(
        f"/v1/queue-items/{item_id}/decision",
        json={"action": "approve"},
        headers=auth(keys["planner"]),
    )
    assert own.status_code == 403
    edited = max(1.0, queued[0]["suggested_qty"] // 2)
    approved = client.post(
        f"/v1/queue-items/{item_id}/decision",
        json={"action": "approve", "edited_qty": edited},
        headers=auth(keys["supervisor"]),
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["quantity"] == edited
    reject = client.post(
        f"/v1/queue-items/{item_id}/decision",
        json={"action": "reject"},
        headers=auth(keys["supervisor2"]),
    )
    assert reject.status_code in (409, 422)


def test_a_planning_day_before_the_model_is_refused_with_a_422(client, keys):
    response = client.post(
        "/v1/replenishment/run", json={"as_of": "2000-01-01"}, headers=auth(keys["planner"])
    )
    assert response.status_code == 422
    assert "as-of" in response.json()["error"]["message"] or "as_of" in response.text


def test_runs_reuse_the_dataset_and_forecast_and_follow_stock_and_new_files(client, keys, services):
    """The dataset is loaded once and the forecast kept per day; live stock still counts
    on every run, and a changed dataset file is loaded again."""
    planner = auth(keys["planner"])
    first = client.post("/v1/replenishment/run", json={}, headers=planner).json()
    view = services.planning
    loaded, forecasts = view._loaded, dict(view._forecasts)
    assert loaded is not None and len(forecasts) == 1
    top = first["suggestions"][0]
    where = {"item_id": top["item_id"], "location_id": top["location_id"]}
    event = {"events": [{**where, "on_hand": 1_000_000, "allocated": 0}]}
    stocked = client.post("/v1/events/inventory", json=event, headers=auth(keys["order_system"]))
    assert stocked.status_code == 202
    second = client.post("/v1/replenishment/run", json={}, headers=planner).json()
    assert view._loaded is loaded and view._forecasts == forecasts  # nothing recomputed
    assert where not in [
        {"item_id": s["item_id"], "location_id": s["location_id"]} for s in second["suggestions"]
    ], "a location with a million units on hand needs no order"
    items = next(services.settings.data_dir.glob("items.*"))
    items.write_bytes(items.read_bytes())  # a new export of the same table
    stat = items.stat()
    os.utime(items, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    client.post("/v1/replenishment/run", json={}, headers=planner)
    assert view._loaded is not loaded
