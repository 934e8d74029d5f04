"""The API against the OWASP API Security Top 10 (2023), through the real app: object-level
access to queue items, expired and rotated keys, property-level exposure, per-key rate
limits and pagination caps, what the app never takes (URLs) or tells (secrets, traces).
`docs/security.md` maps each risk to these tests and the others that cover it."""

from __future__ import annotations

import ast
import logging
import os
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from governance import keys as key_store
from governance.access import Principal, Role
from governance.recommendations import ModelOutput, record
from governance.routing import OrderRisk, Replenishment, route
from governance.store.engine import Database
from serving.app import create_app
from serving.ratelimit import RateLimiter
from stockpilot.errors import RateLimited
from tests.serving.conftest import ADMIN, auth

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def _queued(services, recommendation, subject: str) -> str:
    """A queue item recorded as the order system would have it recorded."""
    policy = services.policy.get()
    requester = Principal("erp", Role.order_system, key_id="k_erp")
    with services.db.write() as session:
        recorded = record(
            session,
            ModelOutput(subject, "test", "1", 0.5, quantity=10.0, unit_value=500.0),
            route(recommendation, policy),
            principal=requester,
        )
    assert recorded.item is not None
    return recorded.item.id


# --- API1 broken object-level authorisation ---------------------------------------------


def test_queue_items_are_read_only_by_the_roles_of_their_queue(client, keys, services):
    restock = _queued(services, Replenishment(5000.0), "restock:I1@DAL")  # planner queue
    held = _queued(services, OrderRisk(0.95), "order:HELD-1")  # supervisor-only queue
    readers = {
        restock: ("planner", "supervisor", "admin"),
        held: ("supervisor", "admin"),
    }
    for item_id, allowed in readers.items():
        for role in ("sales", "planner", "supervisor", "admin"):
            response = client.get(f"/v1/queue-items/{item_id}", headers=auth(keys[role]))
            if role in allowed:
                assert response.status_code == 200, (role, response.text)
                assert response.json()["id"] == item_id
            else:
                assert response.status_code == 403, (role, item_id, response.text)
                assert response.json()["error"]["code"] == "forbidden"
                assert "may not read queue" in response.json()["error"]["message"]
                assert item_id not in response.text.replace(f"/{item_id}", "")  # nothing leaks
    listing = client.get("/v1/queues/replenishment/items", headers=auth(keys["sales"]))
    assert listing.status_code == 403
    mine = client.get("/v1/queues/replenishment/items", headers=auth(keys["planner"]))
    assert [i["id"] for i in mine.json()["items"]] == [restock]
    decide = client.post(
        f"/v1/queue-items/{restock}/decision",
        json={"action": "approve"},
        headers=auth(keys["sales"]),
    )
    assert decide.status_code == 403


# --- API2 broken authentication -----------------------------------------------------------


def test_an_expired_or_rotated_away_key_stops_at_its_expiry(client, services):
    with services.db.write() as session:
        key, token = key_store.create_key(session, role=Role.data_scientist, name="ds", actor=ADMIN)
        _, _, successor = key_store.rotate_key(
            session, key.id, actor=ADMIN, grace=timedelta(seconds=1)
        )
    assert client.get("/v1/models", headers=auth(token)).status_code == 200  # grace; cached
    time.sleep(1.2)
    # The cache (5 s) never outlives the key: the old token is refused at its expiry.
    expired = client.get("/v1/models", headers=auth(token))
    assert expired.status_code == 401
    assert "expired at" in expired.json()["error"]["message"]
    assert client.get("/v1/models", headers=auth(successor)).status_code == 200
    bearer = client.get("/v1/models", headers={"Authorization": f"Bearer {successor}"})
    assert bearer.status_code == 200


# --- API3 broken object property level authorisation ------------------------------------


def test_responses_carry_no_secret_and_requests_no_extra_property(client, keys, services):
    item_id = _queued(services, OrderRisk(0.5), "order:PROP-1")
    detail = client.get(f"/v1/queue-items/{item_id}", headers=auth(keys["supervisor"])).json()
    schema = client.app.openapi()["components"]["schemas"]["QueueItemDetailOut"]
    assert set(detail) <= set(schema["properties"])  # only what the schema declares
    with services.db.read() as session:
        hashes = [k for k in key_store.list_keys(session)]
    assert hashes and all(not hasattr(k, "token_hash") for k in hashes)
    page = client.get("/v1/audit", params={"limit": 1000}, headers=auth(keys["admin"])).text
    for token in keys.values():
        assert token not in page and key_store.hash_token(token) not in page
    # Mass assignment: a client cannot set what only the workflow sets.
    forged = client.post(
        f"/v1/queue-items/{item_id}/decision",
        json={"action": "approve", "status": "approved", "approvals": 2},
        headers=auth(keys["supervisor"]),
    )
    assert forged.status_code == 422
    assert {f["field"] for f in forged.json()["error"]["details"]["fields"]} == {
        "body.status",
        "body.approvals",
    }


# --- API4 unrestricted resource consumption ---------------------------------------------


def test_a_key_past_its_rate_gets_429_with_retry_after(client, keys, services):
    now = [100.0]
    limiter = services.limiter  # the live one, configured as the settings would: 2/s, bursts of 3
    limiter.rate, limiter.burst, limiter.clock = 2.0, 3, lambda: now[0]
    ds = auth(keys["data_scientist"])
    assert [client.get("/v1/models", headers=ds).status_code for _ in range(3)] == [200] * 3
    limited = client.get("/v1/models", headers=ds)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"  # one token at 2/s: 0.5 s, rounded up
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.json()["error"]["details"] == {"limit_per_second": 2.0, "burst": 3}
    # Forbidden calls spend the budget too; other keys have their own.
    assert client.post("/v1/orders/risk", json={}, headers=ds).status_code == 429
    assert client.get("/v1/models", headers=auth(keys["planner"])).status_code == 200
    now[0] += 0.5
    assert client.get("/v1/models", headers=ds).status_code == 200
    assert client.get("/v1/models", headers=ds).status_code == 429
    metrics = client.get("/metrics").text
    assert re.search(r"^stockpilot_rate_limited_total 3\.0$", metrics, re.M)


def test_the_rate_limit_comes_from_the_settings(services, serving_settings):
    assert (services.limiter.rate, services.limiter.burst) == (
        serving_settings.rate_limit_per_second,
        serving_settings.rate_limit_burst,
    )


def test_token_buckets_refill_at_their_rate():
    now = [0.0]
    limiter = RateLimiter(rate=10.0, burst=2, clock=lambda: now[0])
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(RateLimited) as caught:
        limiter.take("a")
    assert caught.value.status_code == 429 and caught.value.retry_after == pytest.approx(0.1)
    limiter.take("b")  # per key
    now[0] = 0.1
    limiter.take("a")
    now[0] = 100.0  # a long pause refills to the burst, not beyond
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(RateLimited):
        limiter.take("a")
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate=0, burst=1)


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/v1/audit", 1001),
        ("/v1/queues/order-review/items", 501),
        ("/v1/kpis/fill_rate_line/rows", 501),
    ],
)
def test_pages_are_capped(client, keys, path, limit):
    over = client.get(path, params={"limit": limit}, headers=auth(keys["admin"]))
    assert over.status_code == 422 and "limit" in over.json()["error"]["message"]
    assert client.get(path, params={"limit": limit - 1}, headers=auth(keys["admin"])).is_success


# --- API7 server-side request forgery ---------------------------------------------------


def test_no_operation_takes_a_url(client):
    """The one outbound call (the MLflow registry) goes where the settings say, never where
    a request says: no parameter or body property is a URL, host or callback."""
    spec = client.app.openapi()
    suspicious = re.compile(r"url|uri|host|callback|webhook|endpoint|href", re.I)
    found = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            if node.get("format") in ("uri", "url", "hostname", "ipv4", "ipv6"):
                found.append(where)
            for name, child in node.get("properties", {}).items():
                if suspicious.search(name):
                    found.append(f"{where}.{name}")
                walk(child, f"{where}.{name}")
            for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
                value = node.get(key)
                for child in value if isinstance(value, list) else [value]:
                    walk(child, where)

    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if suspicious.search(parameter["name"]) and parameter["name"] != "X-API-Key":
                    found.append(f"{method} {path} {parameter['name']}")
    for name, schema in spec["components"]["schemas"].items():
        if name.endswith("In") or name in ("OrderIn", "LineIn"):
            walk(schema, name)
    assert found == []


# --- API8 security misconfiguration -------------------------------------------------------


def test_unexpected_errors_tell_nothing_and_no_cross_origin_access(serving_settings, services):
    app = create_app(serving_settings, services=services)

    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("secret internals: /etc/shadow")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"Origin": "https://evil.example"})
        assert response.status_code == 500
        assert response.json() == {"error": {"code": "internal", "message": "internal error"}}
        assert "access-control-allow-origin" not in response.headers
        missing = client.get("/nope")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        wrong = client.delete("/v1/models")
        assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
        assert "GET" in wrong.headers["allow"]
        raw = client.post(
            "/v1/orders/risk",
            content=b'{"orders": "\xff\xfe"}',
            headers={"content-type": "application/json"},
        )
        assert raw.status_code in (400, 401) and raw.json()["error"]["code"] != "error"


def test_a_body_that_is_not_utf8_is_a_400_malformed_body_on_every_operation(client, keys):
    """Every operation that takes a body answers bytes that are not UTF-8 with a 400 whose
    code says so (not a generic ``error``), and documents that 400 in its OpenAPI entry."""
    spec = client.app.openapi()
    with_body = [
        (method, path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert len(with_body) >= 7
    headers = {**auth(keys["admin"]), "content-type": "application/json"}
    for method, path in with_body:
        assert "400" in spec["paths"][path][method]["responses"], (method, path)
        url = re.sub(r"\{[^}]+\}", "x1", path)
        raw = client.request(method, url, content=b'{"orders": "\xff\xfe"}', headers=headers)
        assert raw.status_code == 400, (method, path, raw.text)
        assert raw.json()["error"]["code"] == "malformed_body", (method, path, raw.text)


def test_every_error_the_api_can_raise_has_a_specific_code():
    """Error bodies carry a code a client can branch on: no class of the one error
    hierarchy falls back to the base class's generic ``error``."""
    import serving.app  # noqa: F401  (every module that defines an error class)
    from stockpilot.errors import StockPilotError

    def family(cls: type) -> list[type]:
        return [cls, *(d for sub in cls.__subclasses__() for d in family(sub))]

    classes = family(StockPilotError)[1:]
    assert len(classes) >= 8
    generic = [c.__qualname__ for c in classes if c.code == StockPilotError.code]
    assert generic == []


def test_no_secret_reaches_the_logs_or_the_command_line(client, keys, services, caplog):
    caplog.set_level(logging.DEBUG)
    token = keys["order_system"]
    client.get("/v1/models", headers=auth(token))
    client.get("/v1/models", headers=auth(token + "x"))  # unknown key
    client.post("/v1/orders/risk", json={"orders": "x"}, headers=auth(token))
    client.get("/v1/audit", headers=auth(keys["admin"]))
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in keys.values():
        assert secret not in logged and key_store.hash_token(secret) not in logged
    # The writer process gets the store URL (which may carry a password) over its pipe.
    pid = services.committer._writer.process.pid
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    assert services.db.url not in cmdline and "sqlite" not in cmdline
    assert "postgresql" not in os.environ.get("PYTHONPATH", "")
    db = Database("postgresql+psycopg://app:s3cr3t@127.0.0.1:9/x")
    assert "s3cr3t" not in repr(db)
    db.dispose()


# --- API9 improper inventory management ---------------------------------------------------


def test_every_route_is_in_the_documented_inventory(client):
    """docs/security.md lists every method and path the app answers; a new endpoint must be
    added there (and declare its permission, test_api_access) before this passes."""
    documented = set(re.findall(r"^\| `([A-Z]+) (/[^`]*)` \|", DOCS.read_text(), re.M))
    served = {
        (method.upper(), path)
        for path, item in client.app.openapi()["paths"].items()
        for method in item
    }
    # Routes outside the schema (the docs pages themselves) are the app's own top-level ones.
    served |= {
        (method, route.path)
        for route in client.app.routes
        if isinstance(getattr(route, "path", None), str)
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    assert served == documented


def test_the_security_map_names_tests_that_exist():
    """Every test docs/security.md names is a test function in the file it names."""
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOCS.read_text()))
    assert len(named) >= 25
    root = DOCS.parents[1]
    missing = []
    for path, name in sorted(named):
        tree = ast.parse((root / path).read_text())
        functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        if name not in functions or not name.startswith("test_"):
            missing.append(f"{path}::{name}")
    assert missing == []
