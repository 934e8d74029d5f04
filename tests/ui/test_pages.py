"""The workbench through the real app (TestClient): sign-in, CSRF, roles, ranking, actions."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from governance import keys as key_store
from governance import queues, worklists
from governance.access import Role
from serving.services import Services
from tests.ui.conftest import CSRF, sign_in
from tests.ui.support import ADMIN, SCRIPT, seed

ROW = re.compile(r'<tr data-item="([^"]+)"')
COST = re.compile(r'<td class="num"><strong>([^<]+)</strong>')


def _pending(services: Services, queue: str) -> list[worklists.PendingItem]:
    with services.db.read() as session:
        return worklists.pending_items(session, [queue])


def test_signed_out_is_sent_to_the_login_page(client: TestClient):
    for path in ("/ui/", "/ui/home", "/ui/queues/order-hold", "/ui/kpis"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/ui/login")
    assert "API key" in client.get("/ui/login").text


def test_sign_in_sets_a_strict_http_only_expiring_cookie_and_logout_ends_it(
    client: TestClient, keys: dict[str, str]
):
    form = client.get("/ui/login")
    token = CSRF.search(form.text).group(1)
    response = client.post(
        "/ui/login",
        data={"api_key": keys["supervisor"], "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/ui/home"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("sp_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    assert "Path=/ui" in cookie and "Secure" not in cookie  # plain HTTP here
    assert keys["supervisor"] not in cookie  # the key never leaves the server
    home = client.get("/ui/home")
    assert "supervisor" in home.text and "order-hold" in home.text
    csrf = CSRF.search(home.text).group(1)
    out = client.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert client.get("/ui/home", follow_redirects=False).status_code == 303


def test_the_cookie_is_secure_behind_https(serving_settings, services, keys):
    from serving.app import create_app

    with TestClient(create_app(serving_settings, services=services), base_url="https://sp") as c:
        token = CSRF.search(c.get("/ui/login").text).group(1)
        response = c.post(
            "/ui/login",
            data={"api_key": keys["sales"], "csrf_token": token},
            follow_redirects=False,
        )
        cookie = response.headers.get_list("set-cookie")
        assert any(v.startswith("sp_session=") and "Secure" in v for v in cookie)


def test_a_wrong_key_is_refused_with_a_message(client: TestClient):
    token = CSRF.search(client.get("/ui/login").text).group(1)
    response = client.post("/ui/login", data={"api_key": "spk_nope", "csrf_token": token})
    assert response.status_code == 401
    assert "not valid" in response.text
    assert "sp_session=" not in response.headers.get("set-cookie", "")


def test_posts_without_the_csrf_token_are_403(client: TestClient, keys: dict[str, str]):
    login = client.post("/ui/login", data={"api_key": keys["sales"]})
    assert login.status_code == 403 and "reload" in login.text
    csrf = sign_in(client, keys["supervisor"])
    for path in ("/ui/logout", "/ui/items/x/decision", "/ui/queues/order-hold/bulk-approve"):
        response = client.post(path, data={"action": "approve"})
        assert response.status_code == 403, path
        assert "CSRF" in response.text and "Traceback" not in response.text
        wrong = client.post(path, data={"action": "approve", "csrf_token": csrf + "x"})
        assert wrong.status_code == 403, path
    assert client.get("/ui/home").status_code == 200  # still signed in


def test_revoking_the_key_ends_its_sessions(
    client: TestClient, services: Services, keys: dict[str, str]
):
    sign_in(client, keys["planner"])
    with services.db.write() as session:
        key_id = next(k.id for k in key_store.list_keys(session) if k.name == "t-planner")
        key_store.revoke_key(session, key_id, actor=ADMIN)
    services.keys.clear()  # the 5 s cache, as if it had passed
    response = client.get("/ui/home", follow_redirects=False)
    assert response.status_code == 303 and "why=expired" in response.headers["location"]


def test_roles_are_checked_on_every_page(client: TestClient, keys: dict[str, str]):
    sign_in(client, keys["sales"])
    assert client.get("/ui/queues/order-hold").status_code == 403
    assert client.get("/ui/queues/replenishment").status_code == 403
    assert client.get("/ui/kpis").status_code == 403
    assert client.get("/ui/queues/order-review").status_code == 200
    missing = client.get("/ui/queues/no-such-queue")
    assert missing.status_code == 404 and "not defined" in missing.text
    bad = client.get("/ui/queues/order-review?page=0")
    assert bad.status_code == 422 and "page" in bad.text and "Traceback" not in bad.text


def test_queue_is_ranked_by_expected_cost_and_filters_work(
    client: TestClient, services: Services, keys: dict[str, str]
):
    seeded = seed(client, services, keys)
    sign_in(client, keys["supervisor"])
    page = client.get("/ui/queues/order-hold")
    assert page.status_code == 200
    shown = ROW.findall(page.text)
    assert len(shown) == len(seeded["held"]) == 8
    costs = [float(c.replace(",", "")) for c in COST.findall(page.text)]
    assert costs == sorted(costs, reverse=True) and costs[0] > 0
    first = seeded["held"][0]["order_id"]
    found = client.get("/ui/queues/order-hold", params={"q": first})
    assert ROW.findall(found.text) and first in found.text
    assert len(ROW.findall(found.text)) < 8
    none = client.get("/ui/queues/order-hold", params={"band": "huge", "driver": "no_such"})
    assert ROW.findall(none.text) == [] and "Nothing pending" in none.text


def test_a_script_in_an_order_id_or_comment_is_shown_as_text(
    client: TestClient, services: Services, keys: dict[str, str]
):
    seed(client, services, keys)
    csrf = sign_in(client, keys["supervisor"])
    page = client.get("/ui/queues/order-review")
    assert SCRIPT not in page.text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page.text
    item = next(i for i in _pending(services, "order-review") if SCRIPT in i.subject)
    response = client.post(
        f"/ui/items/{item.id}/decision",
        data={
            "action": "reject",
            "reason_code": "data_error",
            "comment": SCRIPT,
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 200  # redirected to the item page
    assert SCRIPT not in response.text and "&lt;script&gt;" in response.text
    assert "Content-Security-Policy" in response.headers


def test_decisions_go_through_the_governed_use_case(
    client: TestClient, services: Services, keys: dict[str, str]
):
    seed(client, services, keys)
    csrf = sign_in(client, keys["supervisor"])
    item = _pending(services, "order-hold")[0]
    no_reason = client.post(
        f"/ui/items/{item.id}/decision",
        data={"action": "reject", "csrf_token": csrf, "expected_version": item.version},
    )
    assert no_reason.status_code == 422 and "reason_code" in no_reason.text
    unknown = client.post(
        f"/ui/items/{item.id}/decision",
        data={"action": "reject", "reason_code": "because", "csrf_token": csrf},
    )
    assert unknown.status_code == 422 and "not one of" in unknown.text
    done = client.post(
        f"/ui/items/{item.id}/decision",
        data={
            "action": "override",
            "reason_code": "customer_priority",
            "comment": "key account",
            "csrf_token": csrf,
            "expected_version": item.version,
        },
    )
    assert done.status_code == 200 and "Overridden." in done.text
    with services.db.read() as session:
        after = queues.get_item(session, item.id)
    assert after.status.value == "overridden" and after.reason == "customer_priority: key account"
    page = client.get(f"/ui/items/{item.id}").text  # people by their key's name, not its id
    assert f'<strong title="{after.decided_by}">t-supervisor</strong>' in page
    assert f'by <span title="{after.decided_by}">t-supervisor</span>' in page
    assert after.decided_by.startswith("key:") and f">{after.decided_by}<" not in page
    stale = client.post(
        f"/ui/items/{item.id}/decision",
        data={"action": "approve", "csrf_token": csrf, "expected_version": item.version},
    )
    assert stale.status_code == 409 and "Someone else was first" in stale.text
    home = client.get("/ui/home")
    assert "overridden" in home.text  # what I decided today


def test_bulk_approve_takes_only_low_impact_items(
    client: TestClient, services: Services, keys: dict[str, str]
):
    from tests.ui.support import apply, policy_text

    seeded = seed(client, services, keys)
    # Low-impact below an expected cost that splits the held orders.
    items = _pending(services, "order-hold")
    csrf = sign_in(client, keys["supervisor"])
    page = client.get("/ui/queues/order-hold")
    costs = sorted(float(c.replace(",", "")) for c in COST.findall(page.text))
    middle = (costs[3] + costs[4]) / 2
    apply(
        services,
        policy_text(
            4, review_at=0.0001, hold_at=0.99999, two_approvers_above=seeded["two_approvers_above"]
        ).replace("bulk_approve_below: 100", f"bulk_approve_below: {middle:.4f}"),
    )
    page = client.get("/ui/queues/order-hold")
    boxes = re.findall(r'name="item" value="([^"]+)"', page.text)
    assert 0 < len(boxes) <= 4
    every = [f"{i.id}:{i.version}" for i in items]
    response = client.post(
        "/ui/queues/order-hold/bulk-approve", data={"item": every, "csrf_token": csrf}
    )
    assert response.status_code == 200
    assert "not low-impact" in response.text
    approved = {i.id for i in items} - {i.id for i in _pending(services, "order-hold")}
    low = {b.split(":")[0] for b in boxes}
    single = {i.id for i in items if i.required_approvals == 1}
    assert approved == low & single  # high-value ones only collect a first approval


def test_planner_quantity_must_respect_moq_and_multiple(
    client: TestClient, services: Services, keys: dict[str, str]
):
    seed(client, services, keys)  # the planner key ran replenishment: it requested the items
    with services.db.write() as session:
        _, second = key_store.create_key(session, role=Role.planner, name="p2", actor=ADMIN)
    csrf = sign_in(client, keys["planner"])
    items = _pending(services, "replenishment")
    assert items
    page = client.get(f"/ui/items/{items[0].id}")
    assert page.status_code == 200 and "<svg" in page.text and "reorder point" in page.text
    step = float(re.search(r'id="edited_qty"[^>]*step="([^"]+)"', page.text).group(1))
    minimum = float(re.search(r'id="edited_qty"[^>]*min="([^"]+)"', page.text).group(1))
    bad = max(minimum, step) + (step / 2 if step > 1 else 0.5)
    response = client.post(
        f"/ui/items/{items[0].id}/decision",
        data={"action": "approve", "edited_qty": bad, "csrf_token": csrf},
    )
    assert response.status_code == 422 and "try" in response.text
    good = max(step, minimum)
    if step > 0:
        good = -(-good // step) * step
    mine = client.post(
        f"/ui/items/{items[0].id}/decision",
        data={"action": "approve", "edited_qty": good, "csrf_token": csrf},
    )
    assert mine.status_code == 403 and "requested" in mine.text  # four-eyes
    csrf = sign_in(client, second)
    response = client.post(
        f"/ui/items/{items[0].id}/decision",
        data={
            "action": "approve",
            "edited_qty": good,
            "csrf_token": csrf,
            "expected_version": items[0].version,
        },
    )
    assert response.status_code == 200
    with services.db.read() as session:
        after = queues.get_item(session, items[0].id)
    assert after.quantity == good


def test_an_emptied_date_field_on_the_kpi_pages_means_the_default_period(
    client: TestClient, keys: dict[str, str]
):
    sign_in(client, keys["supervisor"])
    heading = re.compile(r'<span class="count">([^<]+)</span>')
    default = client.get("/ui/kpis")
    assert default.status_code == 200
    # What the picker's form sends when the user clears both dates and clicks Show.
    form = "from=&to=&grain=&location=&segment=&category=&carrier="
    emptied = client.get(f"/ui/kpis?{form}")
    assert emptied.status_code == 200, emptied.text[:300]
    assert heading.search(emptied.text).group(1) == heading.search(default.text).group(1)
    one_side = client.get(f"/ui/kpis?from=&to={heading.search(default.text).group(1)[-10:]}")
    assert one_side.status_code == 200
    rows = client.get("/ui/kpis/fill_rate_line?from=&to=")
    assert rows.status_code == 200 and "Line fill rate" in rows.text
    typo = client.get("/ui/kpis?from=2025-13-01")
    assert typo.status_code == 422 and "from" in typo.text and "Traceback" not in typo.text
