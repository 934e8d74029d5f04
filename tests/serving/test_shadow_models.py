"""Shadow scoring of substitution and demand through the real app, registry and store.

The champion of each model is registered again as its ``challenger`` (the same model: a
flip or a gap would be the snapshot's fault), and a policy shadows every request.
"""

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
from governance.routing import Action, Substitution, route
from serving.app import create_app
from serving.services import Services
from serving.shadow import routing
from serving.shadow_substitution import decide
from stockpilot import tracking
from stockpilot.settings import Settings, get_settings
from tests.serving.conftest import auth
from tests.serving.test_api_substitutes import request_for
from training.promotion_gate import shadow_report

ADMIN = Principal("test:admin", Role.admin)


@pytest.fixture
def shadowed(
    serving_settings: Settings, trained_home: Path, tmp_path: Path, monkeypatch
) -> Iterator[tuple[Services, TestClient, dict[str, str], dict[str, str]]]:
    registry = tmp_path / "mlflow.db"
    shutil.copyfile(trained_home / "mlflow.db", registry)
    monkeypatch.setenv("STOCKPILOT_MLFLOW_TRACKING_URI", f"sqlite:///{registry}")
    get_settings.cache_clear()
    settings = get_settings()
    versions = {}
    for model in ("substitution", "demand"):
        champion = tracking.resolve(model, "champion")
        versions[model] = tracking.register(champion.source, model, "challenger", {"test": "s"})
    data = yaml.safe_load(default_policy_text())
    data["version"] = 2
    data["promotion"]["shadow_share"] = 1.0
    services = Services.open(settings)
    tokens = {}
    with services.db.write() as session:
        apply_policy(session, yaml.safe_dump(data), actor=ADMIN, origin="test")
        for role in (Role.sales, Role.planner):
            _, tokens[role.value] = create_key(session, role=role, name=f"t-{role}", actor=ADMIN)
    services.policy.refresh(services.reads)
    app = create_app(settings, services=services)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield services, client, versions, tokens
    services.close()


def test_substitute_searches_are_searched_again_by_the_challenger_after_the_response(shadowed):
    services, client, versions, tokens = shadowed
    shadow = services.shadows["substitution"]
    assert shadow.active and shadow.version == versions["substitution"]
    assert not services.shadows["order-risk"].active  # no order-risk challenger registered
    request = request_for(services.settings, qty=1)
    for k in range(3):
        body = {**request, "order_id": f"SO-SHADOW-{k}"}
        headers = auth(tokens["sales"], **{"Idempotency-Key": f"shadow-{k}"})
        response = client.post("/v1/substitutes", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["substitutes"], "the small dataset should offer something"
    assert shadow.scored == 3 and shadow.errors == 0
    # The same model on the same request, moment and stock: the same list, no flips.
    assert shadow.flips == 0 and shadow.mean_top_k_overlap == 1.0
    assert shadow.max_top_p_accept_gap == 0.0
    replayed = client.post("/v1/substitutes", json=body, headers=headers)
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert shadow.scored == 3  # a replayed response is not searched again
    written = shadow_report("substitution", versions["substitution"])
    assert written is not None and written["model"] == "substitution"
    assert written["scored"] == 3 and written["flip_rate"] == 0.0 and "kept" not in written
    metrics = client.get("/metrics").text
    labels = f'model="substitution",version="{versions["substitution"]}"'
    assert f"stockpilot_shadow_cases_total{{{labels}}} 3.0" in metrics
    assert f"stockpilot_shadow_case_flips_total{{{labels}}} 0.0" in metrics


def test_the_challenger_searches_the_stock_the_champion_saw_and_a_new_routing_is_a_flip(
    shadowed,
):
    from serving.schemas.substitutes import SubstitutesIn

    services, _, _, _ = shadowed
    shadow = services.shadows["substitution"]
    recommender = services.models.get("substitution").impl.recommender
    inventory = services.live.inventory
    body = SubstitutesIn(**request_for(services.settings, qty=1))
    result = recommender.recommend(
        body.customer_id,
        body.item_id,
        body.qty,
        body.location_id,
        inventory=inventory,
        unit_price=body.unit_price,
    )
    assert result.substitutes
    policy = services.policy.get()
    _, actual = decide(result, policy)
    # A champion that routed the request the other way.
    offered = actual.action is Action.auto_offer
    pretend = route(Substitution(0.0, None) if offered else Substitution(1.0, 0.0), policy)
    subject = f"substitution:{body.customer_id}:{body.item_id}@{body.location_id}"
    snap = shadow.snapshot(body, subject, result, pretend, inventory, share=1.0)
    assert shadow.snapshot(body, subject, result, pretend, inventory, share=0.0) is None
    # Stock emptied after the request: the challenger still sees what the champion saw.
    best = result.substitutes[0]
    before = inventory.position(best.item_id, best.location_id)["on_hand"]
    inventory.update(best.item_id, best.location_id, on_hand=0.0)
    try:
        shadow.score([snap], policy)
    finally:
        inventory.update(best.item_id, best.location_id, on_hand=before)
    assert shadow.scored == 1 and shadow.flips == 1 and shadow.errors == 0
    assert dict(shadow.transitions) == {f"{routing(pretend)}→{routing(actual)}": 1}
    assert shadow.mean_top_k_overlap == 1.0  # the same ranked list, on the copied stock
    # The same routing, another best substitute (and one item more in the champion's list).
    other = replace(snap, ranked=["ANOTHER", *snap.ranked], decision=actual)
    shadow.score([other], policy)
    assert shadow.transitions["another best substitute"] == 1 and shadow.flips == 2
    n = len(snap.ranked)
    assert shadow.mean_top_k_overlap == pytest.approx((1.0 + n / (n + 1)) / 2)


def test_replenishment_runs_are_planned_again_by_the_challenger_after_the_response(shadowed):
    services, client, versions, tokens = shadowed
    shadow = services.shadows["demand"]
    assert shadow.active and shadow.version == versions["demand"]
    response = client.post("/v1/replenishment/run", json={}, headers=auth(tokens["planner"]))
    assert response.status_code == 201, response.text
    suggested = [s for s in response.json()["suggestions"] if s["suggested_qty"] > 0]
    assert suggested, "the small dataset should need orders"
    assert shadow.errors == 0
    # Every series either version orders is a case; the same forecaster orders the same.
    assert shadow.scored == len(suggested) and shadow.flips == 0
    assert shadow.median_relative_qty_change == 0.0
    written = shadow_report("demand", versions["demand"])
    assert written is not None and written["scored"] == len(suggested)
    assert written["flip_rate"] == 0.0 and written["median_relative_qty_change"] == 0.0
