"""POST /v1/outcomes beyond its schema, through the real app and store.

Hard errors (a delivery before the shipment, an unknown status) refuse the whole batch
with 422 naming each row and field, and nothing is stored; soft findings (a line the
served model does not hold open, a ship date before the order, more shipped than
ordered, a date in the future) are accepted and open one data-quality alert per kind and
day in the model-monitoring queue.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from governance.events import outcomes_since
from tests.serving.conftest import auth, dataset_orders


def _scored(client, keys, n: int = 1) -> list[dict]:
    orders = dataset_orders(client.app.state.services.settings, n=n)
    posted = client.post(
        "/v1/orders/risk", json={"orders": orders}, headers=auth(keys["order_system"])
    )
    assert posted.status_code == 201, posted.text
    return orders


def _stored(services) -> int:
    with services.db.read() as session:
        return len(outcomes_since(session))


def _quality_alerts(client, keys) -> dict[str, dict]:
    body = client.get("/v1/monitoring/order-risk", headers=auth(keys["admin"])).json()
    return {a["feature"]: a for a in body["open_alerts"] if a["kind"] == "data_quality"}


def test_a_batch_with_hard_errors_is_refused_whole_naming_row_and_field(client, keys, services):
    (order,) = _scored(client, keys)
    line = order["lines"][0]
    good = {"order_id": order["order_id"], "line_no": line["line_no"], "shipped_qty": 1}
    batch = {
        "outcomes": [
            {
                **good,
                "ship_date": "2024-03-02",
                "delivered_date": "2024-03-04",
                "status": "delivered",
            },
            {**good, "ship_date": "2024-03-05", "delivered_date": "2024-03-01"},
            {**good, "ship_date": "2024-03-07", "delivered_date": "2024-03-06"},
        ]
    }
    refused = client.post("/v1/outcomes", json=batch, headers=auth(keys["order_system"]))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    fields = [f["field"] for f in error["details"]["fields"]]
    assert fields == ["outcomes[1].delivered_date", "outcomes[2].delivered_date"]
    assert "2024-03-01 is before its ship_date 2024-03-05" in error["message"]
    assert "nothing of the batch was stored" in error["message"]
    for bad, field in (
        ({**good, "shipped_qty": -1}, "shipped_qty"),
        ({**good, "status": "x"}, "status"),
    ):
        schema = client.post(
            "/v1/outcomes",
            json={"outcomes": [batch["outcomes"][0], bad]},
            headers=auth(keys["order_system"]),
        )  # the schema refuses these (the status list is in the OpenAPI)
        assert schema.status_code == 422
        fields = {f["field"] for f in schema.json()["error"]["details"]["fields"]}
        assert f"body.outcomes[1].{field}" in fields, fields
    assert _stored(services) == 0
    assert _quality_alerts(client, keys) == {}


def test_the_schema_lists_the_statuses_the_check_knows(client):
    from features.outcome_quality import KNOWN_STATUSES

    spec = client.get("/openapi.json").json()
    status = spec["components"]["schemas"]["OutcomeIn"]["properties"]["status"]
    listed = next(s["enum"] for s in status["anyOf"] if "enum" in s)
    assert set(listed) == KNOWN_STATUSES


def test_soft_findings_are_accepted_and_open_one_alert_per_kind(client, keys, services):
    order, other = _scored(client, keys, n=2)
    first = order["lines"][0]
    ordered = datetime.fromisoformat(order["order_ts"]).date()
    future = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    batch = {
        "outcomes": [
            {  # more shipped than ordered, shipped the day before the order
                "order_id": order["order_id"],
                "line_no": first["line_no"],
                "shipped_qty": first["qty"] + 5,
                "ship_date": (ordered - timedelta(days=1)).isoformat(),
                "status": "shipped",
            },
            {  # nobody scored this line
                "order_id": "NEVER-SCORED",
                "line_no": 1,
                "shipped_qty": 1,
                "delivered_date": future,
                "status": "delivered",
            },
        ]
    }
    for _ in range(2):  # the same findings on the same day: one alert each
        accepted = client.post("/v1/outcomes", json=batch, headers=auth(keys["order_system"]))
        assert accepted.status_code == 202, accepted.text
    assert _stored(services) == 4
    alerts = _quality_alerts(client, keys)
    assert set(alerts) == {
        "outcomes.shipped_qty: more than ordered",
        "outcomes.ship_date: before the order date",
        "outcomes.line: not open in the served model (never scored, final or aged out)",
        "outcomes.date: in the future",
    }
    item = client.get(
        f"/v1/queue-items/{alerts['outcomes.date: in the future']['queue_item_id']}",
        headers=auth(keys["data_scientist"]),
    )
    assert item.status_code == 200 and "NEVER-SCORED" in item.text

    clean = {
        "outcomes": [
            {
                "order_id": other["order_id"],
                "line_no": line["line_no"],
                "shipped_qty": line["qty"],
                "ship_date": other["promised_date"],
                "delivered_date": other["promised_date"],
                "status": "delivered",
            }
            for line in other["lines"]
        ]
    }
    posted = client.post("/v1/outcomes", json=clean, headers=auth(keys["order_system"]))
    assert posted.status_code == 202, posted.text
    assert set(_quality_alerts(client, keys)) == set(alerts)  # a clean batch opens nothing
