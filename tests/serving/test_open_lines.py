"""Through the real app: the live state keeps at most STOCKPILOT_MAX_OPEN_LINES open lines.

Scored orders stay open until their outcome arrives; past the bound the oldest are
forgotten, counted in /health/ready and /metrics, and an outcome closes a line still open.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.services import Services
from stockpilot.settings import Settings, get_settings
from tests.serving.conftest import auth, dataset_orders


@pytest.fixture
def orders(serving_settings: Settings) -> list[dict]:
    return dataset_orders(serving_settings, 6)


@pytest.fixture
def bound(orders: list[dict]) -> int:
    """Room for the largest order and one line more, less than all of them together."""
    largest = max(len(o["lines"]) for o in orders)
    assert sum(len(o["lines"]) for o in orders) > largest + 1
    return largest + 1


@pytest.fixture
def bounded_client(
    serving_settings: Settings, bound: int, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("STOCKPILOT_MAX_OPEN_LINES", str(bound))
    get_settings.cache_clear()
    settings = get_settings()
    services = Services.open(settings)
    try:
        with TestClient(create_app(settings, services=services)) as client:
            yield client
    finally:
        services.close()


def live(client: TestClient) -> dict:
    return client.get("/health/ready").json()["live_state"]


def metric(client: TestClient, name: str) -> float:
    text = client.get("/metrics").text
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith(name))


def outcome(order: dict) -> dict:
    day = order["promised_date"]
    return {
        "outcomes": [
            {
                "order_id": order["order_id"],
                "line_no": line["line_no"],
                "shipped_qty": line["qty"],
                "ship_date": day,
                "delivered_date": day,
                "status": "delivered",
            }
            for line in order["lines"]
        ]
    }


def test_scored_orders_past_the_bound_forget_the_oldest_lines(
    bounded_client: TestClient, keys: dict[str, str], orders: list[dict], bound: int
):
    client, key = bounded_client, keys["order_system"]
    started = live(client)
    assert started["open_lines"] <= bound  # the model's snapshot, cut to the bound at start
    for order in orders:
        scored = client.post("/v1/orders/risk", json={"orders": [order]}, headers=auth(key))
        assert scored.status_code == 201, scored.text
        assert live(client)["open_lines"] <= bound
    state = live(client)
    assert state["aged_out"] > started["aged_out"]
    assert metric(client, "stockpilot_open_lines ") == state["open_lines"]
    aged = 'stockpilot_open_lines_aged_out_total{reason="%s"}'
    over_cap, past_promise = (
        metric(client, aged % "over_cap"),
        metric(client, aged % "past_promise"),
    )
    assert over_cap > 0 and over_cap + past_promise == state["aged_out"]

    newest, oldest = orders[-1], orders[0]
    accepted = client.post("/v1/outcomes", json=outcome(newest), headers=auth(key))
    assert accepted.status_code == 202, accepted.text
    assert live(client)["open_lines"] == state["open_lines"] - len(newest["lines"])
    accepted = client.post("/v1/outcomes", json=outcome(oldest), headers=auth(key))
    assert accepted.status_code == 202, accepted.text  # stored, though its lines were forgotten
    assert live(client)["open_lines"] == state["open_lines"] - len(newest["lines"])
