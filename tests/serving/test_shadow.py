"""Shadow scoring through the real app: a challenger scores sampled orders after the response."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from governance.access import Principal, Role
from governance.keys import create_key
from governance.policy import default_policy_text
from governance.policy_versions import apply_policy
from governance.routing import OrderRisk, route
from serving.app import create_app
from serving.services import Services
from serving.shadow import order_risk_of, sampled
from stockpilot import tracking
from stockpilot.settings import Settings, get_settings
from tests.serving.conftest import auth, dataset_orders
from training.promotion_gate import shadow_report

ADMIN = Principal("test:admin", Role.admin)


@pytest.fixture
def shadowed(
    serving_settings: Settings, trained_home: Path, tmp_path: Path, monkeypatch
) -> Iterator[tuple[Services, TestClient, str, str]]:
    """The shared models in a private registry copy, with the champion's model registered
    again as ``challenger`` (the same model: any flip would be the snapshot's fault), and a
    policy that shadows every order."""
    registry = tmp_path / "mlflow.db"
    shutil.copyfile(trained_home / "mlflow.db", registry)
    monkeypatch.setenv("STOCKPILOT_MLFLOW_TRACKING_URI", f"sqlite:///{registry}")
    get_settings.cache_clear()
    settings = get_settings()
    champion = tracking.resolve("order-risk", "champion")
    challenger = tracking.register(champion.source, "order-risk", "challenger", {"test": "shadow"})
    data = yaml.safe_load(default_policy_text())
    data["version"] = 2
    data["promotion"]["shadow_share"] = 1.0
    services = Services.open(settings)
    with services.db.write() as session:
        apply_policy(session, yaml.safe_dump(data), actor=ADMIN, origin="test")
        _, token = create_key(session, role=Role.order_system, name="t-erp", actor=ADMIN)
    services.policy.refresh(services.reads)
    app = create_app(settings, services=services)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield services, client, challenger, token
    services.close()


def test_the_challenger_scores_what_the_champion_saw_after_the_response(shadowed):
    services, client, challenger, token = shadowed
    shadow = services.shadow
    assert shadow is not None and shadow.active and shadow.version == challenger
    orders = dataset_orders(services.settings, n=6)
    for order in orders:
        response = client.post(
            "/v1/orders/risk",
            json={"orders": [order]},
            headers=auth(token, **{"Idempotency-Key": order["order_id"]}),
        )
        assert response.status_code == 201, response.text
    assert shadow.scored == 6 and shadow.errors == 0
    # The same model on the same snapshot: identical scores, no flips. Had the snapshot been
    # taken after the order was recorded in the live state, its own units would count.
    assert shadow.max_score_gap == 0.0 and shadow.flips == 0
    retry = client.post(
        "/v1/orders/risk",
        json={"orders": [orders[0]]},
        headers=auth(token, **{"Idempotency-Key": orders[0]["order_id"]}),
    )
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert shadow.scored == 6  # a replayed response is not scored again
    written = shadow_report("order-risk", challenger)
    assert written is not None and written["scored"] == 6 and written["flip_rate"] == 0.0
    metrics = client.get("/metrics").text
    assert "stockpilot_shadow_scored_total 6.0" in metrics


def test_a_different_decision_is_a_flip_and_unsampled_orders_are_not_scored(shadowed):
    services, _, _, _ = shadowed
    shadow = services.shadow
    model = services.models.get("order-risk")
    order = dataset_orders(services.settings, n=1)[0]
    lines = [
        {
            **line,
            "order_id": order["order_id"],
            "customer_id": order["customer_id"],
            "order_ts": order["order_ts"],
            "promised_date": order["promised_date"],
            "carrier_id": order["carrier_id"],
        }
        for line in order["lines"]
    ]
    state = services.live.risk
    risk = model.impl.scorer.score_orders([lines], state)[0]
    policy = services.policy.get()
    released = route(OrderRisk(probability=0.0), policy)
    held = route(OrderRisk(probability=1.0), policy)
    snap = shadow.snapshot(lines, state, risk, released, 0.0, share=1.0)
    assert snap is not None
    assert shadow.snapshot(lines, state, risk, released, 0.0, share=0.0) is None
    actual = route(order_risk_of(risk, 0.0), policy).action
    pretend = held if actual != held.action else released  # a champion that decided otherwise
    shadow.score([replace(snap, decision=pretend)], policy)
    assert shadow.flips == 1 and shadow.scored == 1
    assert list(shadow.transitions) == [f"{pretend.action.value}→{actual.value}"]


def test_the_sample_is_a_stable_share_of_order_ids():
    ids = [f"SO-{k}" for k in range(20_000)]
    share = sum(sampled(i, 0.1) for i in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert [sampled(i, 0.1) for i in ids[:50]] == [sampled(i, 0.1) for i in ids[:50]]
    assert not any(sampled(i, 0.0) for i in ids) and all(sampled(i, 1.0) for i in ids)
