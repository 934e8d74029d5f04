"""Substitutes from live stock, routed by policy; feedback lands in the training data."""

from __future__ import annotations

import pandas as pd

from tests.serving.conftest import auth, dataset_orders


def request_for(settings, qty: float = 1.0) -> dict:
    order = dataset_orders(settings, 1)[0]
    line = order["lines"][0]
    return {
        "customer_id": order["customer_id"],
        "item_id": line["item_id"],
        "qty": qty,
        "location_id": line["location_id"],
        "unit_price": line["unit_price"],
    }


def test_substitutes_cover_the_quantity_from_live_stock(client, keys, serving_settings):
    request = request_for(serving_settings, qty=3)
    response = client.post("/v1/substitutes", json=request, headers=auth(keys["sales"]))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["model"]["name"] == "substitution"
    for sub in body["substitutes"]:
        assert sub["available"] >= 3
        assert sub["other_location"] == (sub["location_id"] != request["location_id"])
        assert sub["offer"] in {"auto_offer", "review"}
        assert sub["item_id"] != request["item_id"]
    ranks = [s["rank"] for s in body["substitutes"]]
    assert ranks == sorted(ranks)


def test_emptied_stock_is_never_offered(client, keys, serving_settings, services):
    request = request_for(serving_settings, qty=2)
    first = client.post("/v1/substitutes", json=request, headers=auth(keys["sales"])).json()
    assert first["substitutes"], "the small dataset should offer something"
    top = first["substitutes"][0]
    event = {
        "events": [{"item_id": top["item_id"], "location_id": top["location_id"], "on_hand": 0}]
    }
    assert (
        client.post(
            "/v1/events/inventory", json=event, headers=auth(keys["order_system"])
        ).status_code
        == 202
    )
    second = client.post("/v1/substitutes", json=request, headers=auth(keys["sales"])).json()
    assert (top["item_id"], top["location_id"]) not in {
        (s["item_id"], s["location_id"]) for s in second["substitutes"]
    }


def test_feedback_is_appended_to_the_dataset_and_audited(client, keys, serving_settings):
    created = client.post(
        "/v1/substitutes", json=request_for(serving_settings), headers=auth(keys["sales"])
    ).json()
    offered = [s["item_id"] for s in created["substitutes"]]
    assert offered
    path = serving_settings.data_dir / "substitutions.parquet"
    before = len(pd.read_parquet(path))
    feedback = {"accepted_item_ids": offered[:1]}
    url = f"/v1/substitutes/{created['recommendation_id']}/feedback"
    response = client.post(url, json=feedback, headers=auth(keys["sales"]))
    assert response.status_code == 201, response.text
    assert response.json()["rows_written"] == len(offered)
    rows = pd.read_parquet(path)
    assert len(rows) == before + len(offered)
    assert rows.tail(len(offered))["accepted"].tolist() == [True] + [False] * (len(offered) - 1)
    # The same outcome again writes nothing; an unknown recommendation is a 404.
    again = client.post(url, json=feedback, headers=auth(keys["sales"]))
    assert again.status_code == 201 and again.json()["rows_written"] == 0
    missing = client.post(
        "/v1/substitutes/nope/feedback", json=feedback, headers=auth(keys["sales"])
    )
    assert missing.status_code == 404
    stray = client.post(
        url, json={"accepted_item_ids": ["not-offered"]}, headers=auth(keys["sales"])
    )
    assert stray.status_code == 422
