"""A model-promotion item in the workbench: listed and shown to data scientists; approving
it there is refused with the command that moves the alias (the page itself never 500s)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from governance.access import Principal, Role
from governance.keys import create_key
from governance.promotion import open_promotion
from governance.queues import get_item
from serving.services import Services
from tests.ui.conftest import sign_in

ADMIN = Principal("test:admin", Role.admin)
REPORT = {
    "improvement": {"mean": 0.05, "ci95": [0.02, 0.08]},
    "holdout": {"lines": 2500},
    "passed": True,
}


def test_a_promotion_is_listed_shown_and_only_rejected_in_the_workbench(
    client: TestClient, services: Services, keys: dict[str, str]
):
    with services.db.write() as session:
        requester, _ = create_key(session, role="data_scientist", name="alice", actor=ADMIN)
    alice = Principal("alice", Role.data_scientist, requester.id)
    policy = services.policy.get()
    item = open_promotion(
        services.db,
        model="order-risk",
        champion="1",
        challenger="2",
        report=REPORT,
        report_sha256="ab" * 32,
        principal=alice,
        policy=policy,
    )
    csrf = sign_in(client, keys["data_scientist"])
    assert "model-promotion" in client.get("/ui/home").text
    listing = client.get("/ui/queues/model-promotion")
    assert listing.status_code == 200 and "order-risk" in listing.text
    page = client.get(f"/ui/items/{item.id}")
    assert page.status_code == 200 and "model:order-risk" in page.text
    approve = client.post(
        f"/ui/items/{item.id}/decision", data={"action": "approve", "csrf_token": csrf}
    )
    assert approve.status_code == 409 and "stockpilot models approve order-risk" in approve.text
    reject = client.post(
        f"/ui/items/{item.id}/decision",
        data={"action": "reject", "reason_code": "not_needed", "csrf_token": csrf},
    )
    assert reject.status_code == 200, reject.text
    with services.db.read() as session:
        assert get_item(session, item.id).status.value == "rejected"
