"""GET /v1/monitoring/{model}: data scientists and admins read the latest run and the
open alerts; other roles get 403, an unknown model 404, a model never monitored says so."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from governance import command_units as units
from governance.routing import monitoring_decision
from tests.serving.conftest import auth
from training.monitor_run import MONITOR, monitor


def test_roles_unknown_model_and_no_report(client, keys):
    for role in ("order_system", "sales", "planner", "supervisor"):
        assert client.get("/v1/monitoring/order-risk", headers=auth(keys[role])).status_code == 403
    body = client.get("/v1/monitoring/order-risk", headers=auth(keys["data_scientist"])).json()
    assert body == {
        **body,
        "model": "order-risk",
        "status": "no_report",
        "drift": None,
        "open_alerts": [],
    }
    missing = client.get("/v1/monitoring/churn", headers=auth(keys["admin"]))
    assert missing.status_code == 404
    assert "unknown model 'churn'" in missing.json()["error"]["message"]


def test_a_monitoring_run_and_its_open_alert_are_served(client, keys, services, serving_settings):
    orders = pd.read_parquet(serving_settings.data_dir / "orders.parquet")
    since = pd.to_datetime(orders["order_ts"]).max().date() - timedelta(days=45)
    report = monitor("order-risk", serving_settings.data_dir, since=since, alerts=False)
    alert = {
        "model": "order-risk",
        "model_version": report["model_version"],
        "kind": "drift",
        "feature": "lane_late_rate",
        "days": [str(since), str(since + timedelta(days=1))],
        "evidence": {"max_psi": 0.3},
    }
    with services.db.write() as session:
        opened = units.open_monitoring_alerts(
            session,
            alerts=[alert],
            decision=monitoring_decision(services.policy.get()),
            principal=MONITOR,
        )[1]["opened"]
    body = client.get("/v1/monitoring/order-risk", headers=auth(keys["admin"])).json()
    assert body["status"] == "ok"
    assert body["model_version"] == report["model_version"]
    assert body["since"] == str(since) and date.fromisoformat(body["since"]) == since
    assert body["drift"]["feature_days"] == report["drift"]["feature_days"] > 0
    assert len(body["drift"]["by_feature"]) == report["reference"]["features"]
    assert [w["week"] for w in body["performance"]["weeks"]] == [
        w["week"] for w in report["performance"]["weeks"]
    ]
    assert body["open_alerts"] == [
        {
            "queue_item_id": opened[0]["queue_item_id"],
            "status": "pending",
            "kind": "drift",
            "feature": "lane_late_rate",
            "days": 2,
            "first_day": str(since),
            "last_day": str(since + timedelta(days=1)),
            "due_at": body["open_alerts"][0]["due_at"],
        }
    ]
    queue = client.get(
        "/v1/queues/model-monitoring/items", headers=auth(keys["data_scientist"])
    ).json()
    assert [i["id"] for i in queue["items"]] == [opened[0]["queue_item_id"]]


def test_metrics_export_the_latest_run_as_gauges(client, serving_settings):
    orders = pd.read_parquet(serving_settings.data_dir / "orders.parquet")
    since = pd.to_datetime(orders["order_ts"]).max().date() - timedelta(days=30)
    assert "stockpilot_drift_psi{" not in client.get("/metrics").text  # no run yet
    report = monitor("order-risk", serving_settings.data_dir, since=since, alerts=False)
    text = client.get("/metrics").text
    feature = report["drift"]["by_feature"][0]
    assert f'stockpilot_drift_psi{{feature="{feature["feature"]}",model="order-risk"}}' in text
    week = [w for w in report["performance"]["weeks"] if w["expected_auc"] is not None][-1]
    estimated = (
        f'stockpilot_model_auc{{kind="estimated",model="order-risk",'
        f'version="{report["model_version"]}",week="{week["week"]}"}}'
    )
    line = next(li for li in text.splitlines() if li.startswith(estimated))
    assert abs(float(line.split()[-1]) - week["expected_auc"]) < 1e-9


def test_an_event_batch_with_unknown_items_opens_one_data_quality_alert(client, keys):
    from tests.serving.conftest import dataset_orders

    line = dataset_orders(client.app.state.services.settings, n=1)[0]["lines"][0]
    batch = {
        "events": [
            {"item_id": "NO-SUCH-ITEM", "location_id": line["location_id"], "on_hand": 5},
            {"item_id": line["item_id"], "location_id": line["location_id"], "on_hand": 9},
        ]
    }
    for _ in range(2):  # the same check on the same day: one alert
        posted = client.post("/v1/events/inventory", json=batch, headers=auth(keys["order_system"]))
        assert posted.status_code == 202
    alerts = client.get("/v1/monitoring/order-risk", headers=auth(keys["admin"])).json()
    quality = [a for a in alerts["open_alerts"] if a["kind"] == "data_quality"]
    assert [a["feature"] for a in quality] == ["inventory_events.item_id: not in the item master"]
    item = client.get(
        f"/v1/queue-items/{quality[0]['queue_item_id']}", headers=auth(keys["data_scientist"])
    ).json()
    assert "NO-SUCH-ITEM" in str(item)
    clean = {"events": batch["events"][1:]}
    assert client.post("/v1/events/inventory", json=clean, headers=auth(keys["order_system"]))
    again = client.get("/v1/monitoring/order-risk", headers=auth(keys["admin"])).json()
    assert len(again["open_alerts"]) == 1
