"""Test support for the workbench: a store with work in every queue, built through the API.

Policies are applied in phases so that every queue a role works gets items whatever the
small models score: all orders held (supervisor), then reviewed (sales), substitutes
always reviewed, every replenishment suggestion queued. High-value orders (above
the median value of the held ones) need two supervisors.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from governance import policy_versions as policies
from governance.access import Principal, Role
from governance.policy import default_policy_text
from serving.demo import dataset_orders, substitute_request
from serving.services import Services

ADMIN = Principal("cli:test", Role.admin)
SCRIPT = "<script>window.__pwned = 1</script>"


def policy_text(
    version: int,
    *,
    review_at: float,
    hold_at: float,
    two_approvers_above: float = 2_000.0,
    **extra: str,
) -> str:
    text = default_policy_text()
    text = text.replace("version: 1\n", f"version: {version}\n", 1)
    text = text.replace("  review_at: 0.35\n", f"  review_at: {review_at}\n")
    text = text.replace("  hold_at: 0.7\n", f"  hold_at: {hold_at}\n")
    text = text.replace("two_approvers_above: 50000", f"two_approvers_above: {two_approvers_above}")
    # Reviews go to order-review (sales), not to the queues of their driver family.
    text = re.sub(r"  driver_queues:\n(    .*\n)+", "  driver_queues: {}\n", text)
    text = re.sub(r"  flag_queues:\n(    .*\n)+", "  flag_queues: {}\n", text)
    text = text.replace("  auto_offer_at: 0.6 ", "  auto_offer_at: 1.0 ")
    text = text.replace("  auto_approve_below: 1000 ", "  auto_approve_below: 0 ")
    for old, new in extra.items():
        text = text.replace(old, new)
    return text


def apply(services: Services, text: str) -> None:
    with services.db.write() as session:
        policies.apply_policy(session, text, actor=ADMIN, origin="test")
    services.policy.refresh(services.reads)


def post(client: TestClient, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers={"X-API-Key": token})
    assert response.status_code in (200, 201), (path, response.status_code, response.text)
    return response.json()


def seed(client: TestClient, services: Services, tokens: dict[str, str]) -> dict[str, Any]:
    """Held orders, reviewed orders, substitution reviews and replenishment suggestions."""
    data_dir = services.settings.data_dir
    orders = dataset_orders(data_dir, 14)
    values = sorted(sum(li["qty"] * li["unit_price"] for li in o["lines"]) for o in orders[:8])
    high = (values[3] + values[4]) / 2  # half the held orders need two approvers
    apply(services, policy_text(2, review_at=0.0001, hold_at=0.0002, two_approvers_above=high))
    held = post(client, "/v1/orders/risk", tokens["order_system"], {"orders": orders[:8]})
    apply(services, policy_text(3, review_at=0.0001, hold_at=0.99999, two_approvers_above=high))
    reviewed = orders[8:]
    reviewed[0] = {**reviewed[0], "order_id": SCRIPT}
    post(client, "/v1/orders/risk", tokens["order_system"], {"orders": reviewed})
    for order in orders[:2]:
        request = {k: v for k, v in substitute_request(order).items() if k != "need_by"}
        post(client, "/v1/substitutes", tokens["sales"], request)
    post(client, "/v1/replenishment/run", tokens["planner"], {})
    return {"held": held["results"], "orders": orders, "two_approvers_above": high}
