"""Integration through real HTTP (uvicorn on a loopback port, httpx clients):
an order that must be held → a supervisor approves → the audit chain verifies; the
requester cannot approve its own item; two supervisors at once → one 200, one 409."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from governance.policy import default_policy_text
from governance.policy_versions import apply_policy
from tests.serving.conftest import ADMIN, auth, dataset_orders


@pytest.fixture
def base_url(live_url: str) -> str:
    return live_url


def held_order(settings) -> dict:
    """An order no warehouse can keep: far more units than exist, promised today."""
    order = dataset_orders(settings, 1)[0]
    order["order_id"] = "HOLD-1"
    order["promised_date"] = order["order_ts"][:10]
    # Worth under order_risk.two_approvers_above (50,000): one approval releases it.
    order["lines"] = [{**order["lines"][0], "qty": 250_000.0, "unit_price": 0.1}]
    return order


def test_hold_approve_four_eyes_and_race(base_url, keys, serving_settings):
    order = held_order(serving_settings)
    line = order["lines"][0]
    with httpx.Client(base_url=base_url, timeout=30) as http:
        empty = {
            "events": [
                {
                    "item_id": line["item_id"],
                    "location_id": line["location_id"],
                    "on_hand": 0,
                    "in_transit": 0,
                }
            ]
        }
        assert (
            http.post(
                "/v1/events/inventory", json=empty, headers=auth(keys["order_system"])
            ).status_code
            == 202
        )
        scored = http.post(
            "/v1/orders/risk", json={"orders": [order]}, headers=auth(keys["order_system"])
        )
        assert scored.status_code == 201, scored.text
        decision = scored.json()["results"][0]["decision"]
        assert decision["action"] == "hold", scored.text
        item_id = decision["queue_item_id"]

        # The order system that asked cannot decide; neither can a role the queue refuses.
        own = http.post(
            f"/v1/queue-items/{item_id}/decision",
            json={"action": "approve"},
            headers=auth(keys["order_system"]),
        )
        assert own.status_code == 403
        sales = http.post(
            f"/v1/queue-items/{item_id}/decision",
            json={"action": "approve"},
            headers=auth(keys["sales"]),
        )
        assert sales.status_code == 403

        detail = http.get(f"/v1/queue-items/{item_id}", headers=auth(keys["supervisor"]))
        assert detail.status_code == 200
        body = detail.json()
        assert body["status"] == "pending" and body["queue"] == "order-hold"
        contributions = body["explanation"]["contributions"]  # per line, by feature name
        assert contributions and all(
            isinstance(by_name, dict) and by_name for by_name in contributions.values()
        )

    # Two supervisors decide at the same moment: exactly one wins.
    def decide(token: str) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            return http.post(
                f"/v1/queue-items/{item_id}/decision",
                json={"action": "approve", "expected_version": body["version"]},
                headers=auth(token),
            )

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(decide, [keys["supervisor"], keys["supervisor2"]]))
    assert sorted(r.status_code for r in responses) == [200, 409]
    winner = next(r for r in responses if r.status_code == 200).json()
    assert winner["status"] == "approved"

    with httpx.Client(base_url=base_url, timeout=30) as http:
        verify = http.get("/v1/audit/verify", headers=auth(keys["admin"]))
        assert verify.status_code == 200 and verify.json()["ok"] is True
        history = http.get(f"/v1/queue-items/{item_id}", headers=auth(keys["supervisor"]))
        kinds = [e["kind"] for e in history.json()["history"]]
        assert kinds.count("queue.approved") == 1


def test_requester_cannot_approve_its_own_item(base_url, keys, serving_settings, services):
    """Four-eyes where the role itself is allowed: sales asks, the same sales key decides."""
    strict = (
        default_policy_text()
        .replace("version: 1", "version: 2")
        .replace("auto_offer_at: 0.6", "auto_offer_at: 0.999")
    )
    with services.db.write() as session:
        apply_policy(session, strict, actor=ADMIN)
    services.policy.refresh(services.reads)
    order = dataset_orders(serving_settings, 1)[0]
    line = order["lines"][0]
    with httpx.Client(base_url=base_url, timeout=30) as http:
        request = {
            "customer_id": order["customer_id"],
            "item_id": line["item_id"],
            "qty": 1,
            "location_id": line["location_id"],
            "unit_price": line["unit_price"],
        }
        created = http.post("/v1/substitutes", json=request, headers=auth(keys["sales"]))
        assert created.status_code == 201, created.text
        decision = created.json()["decision"]
        assert decision["action"] == "review" and decision["policy_version"] == 2
        item_id = decision["queue_item_id"]
        own = http.post(
            f"/v1/queue-items/{item_id}/decision",
            json={"action": "approve"},
            headers=auth(keys["sales"]),
        )
        assert own.status_code == 403, own.text
        other = http.post(
            f"/v1/queue-items/{item_id}/decision",
            json={"action": "approve"},
            headers=auth(keys["supervisor"]),
        )
        assert other.status_code == 200, other.text
