"""The workbench in a real browser: Debian's Chromium driven by Playwright.

One server per module: ``stockpilot serve`` in a subprocess on a free port, on a store
seeded through the real API (tests/ui/support.py). Each test signs in as the role whose job
it does. Under ``CI=true`` a missing Chromium or Playwright fails the module, never skips.

Screenshots of each page go to ``$STOCKPILOT_UI_SCREENSHOTS`` when it is set
(``docs/ui/`` holds the committed ones, shown by ``docs/ui.md``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from governance.access import Role
from governance.keys import create_key
from tests.ui.support import ADMIN, SCRIPT, seed

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
SHOTS = os.environ.get("STOCKPILOT_UI_SCREENSHOTS")

if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(home: Path, trained_home: Path) -> dict[str, str]:
    return {
        "STOCKPILOT_HOME": str(home),
        "STOCKPILOT_MLFLOW_TRACKING_URI": f"sqlite:///{trained_home / 'mlflow.db'}",
        "STOCKPILOT_DATABASE_URL": f"sqlite:///{home / 'stockpilot.db'}",
        "STOCKPILOT_DATA_DIR": str(home / "data"),
        "STOCKPILOT_MODEL_CACHE_DIR": str(home / "model-cache"),
        "STOCKPILOT_LGBM_THREADS": "1",
        "STOCKPILOT_UI_POLL_SECONDS": "2",
    }


def _prepare(home: Path, trained_home: Path) -> dict[str, Any]:
    """Keys and seeded work in the store, through the real app, before the server starts."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.services import Services
    from stockpilot.settings import get_settings

    env = _environment(home, trained_home)
    saved = {k: os.environ.get(k) for k in [*env, "MLFLOW_TRACKING_URI"]}
    os.environ.update(env)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        services = Services.open(settings)
        try:
            tokens = {}
            with services.db.write() as session:
                for role in Role:
                    _, tokens[role.value] = create_key(
                        session, role=role, name=f"ui-{role.value}", actor=ADMIN
                    )
                _, tokens["supervisor2"] = create_key(
                    session, role=Role.supervisor, name="ui-supervisor2", actor=ADMIN
                )
                _, tokens["planner2"] = create_key(
                    session, role=Role.planner, name="ui-planner2", actor=ADMIN
                )
            with TestClient(create_app(settings, services=services)) as client:
                seeded = seed(client, services, tokens)
        finally:
            services.close()
        _monitor(settings.data_dir)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
    return {"tokens": tokens, **seeded}


def _monitor(data: Path) -> None:
    """Real `stockpilot monitor` runs over the data's last 45 days: order risk (report,
    alerts, the served orders), substitution (report, the served substitutes)."""
    from datetime import timedelta

    import pandas as pd

    from training.monitor_run import monitor

    last = pd.to_datetime(pd.read_parquet(data / "orders.parquet")["order_ts"]).max().date()
    # The seeded orders are the served recommendations joined to outcomes (--home).
    monitor("order-risk", data, since=last - timedelta(days=45), alerts=True, served=True)
    monitor("substitution", data, since=last - timedelta(days=45), alerts=False, served=True)


@pytest.fixture(scope="module")
def server(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    home = tmp_path_factory.mktemp("workbench")
    shutil.copyfile(trained_home / "template.db", home / "stockpilot.db")
    shutil.copytree(trained_home / "data", home / "data")
    prepared = _prepare(home, trained_home)
    port = _free_port()
    env = {**os.environ, **_environment(home, trained_home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-c", "from stockpilot.cli import main; main()", "serve"]
    log = open(home / "server.log", "w")  # noqa: SIM115  (closed below)
    process = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, (home / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not get ready"
            try:
                with urllib.request.urlopen(url + "/health/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.3)
        yield {"url": url, **prepared}
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def _page(browser: Browser, *, width: int = 1280, height: int = 800) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def sign_in(browser: Browser, server: dict, who: str, **size: int) -> Page:
    page = _page(browser, **size)
    page.goto(server["url"] + "/ui/")
    page.get_by_label("API key").fill(server["tokens"][who])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good day")
    return page


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def api(server: dict, path: str, who: str = "supervisor") -> Any:
    import json

    request = urllib.request.Request(
        server["url"] + path, headers={"X-API-Key": server["tokens"][who]}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def pending(server: dict, queue: str) -> list[dict]:
    return api(server, f"/v1/queues/{queue}/items")["items"]


# --- sign-in and security ----------------------------------------------------------------


def test_sign_in_and_out(browser: Browser, server: dict):
    page = _page(browser)
    page.goto(server["url"] + "/ui/")
    assert page.url.endswith("/ui/login")
    shot(page, "login")
    page.get_by_label("API key").fill("spk_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.get_by_label("API key").fill(server["tokens"]["supervisor"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good day")
    cookie = next(c for c in page.context.cookies() if c["name"] == "sp_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.goto(server["url"] + "/ui/home")
    assert "/ui/login" in page.url


def test_a_post_without_the_csrf_token_is_refused(browser: Browser, server: dict):
    page = sign_in(browser, server, "supervisor")
    item = pending(server, "order-hold")[0]
    for path in ("/ui/logout", f"/ui/items/{item['id']}/decision"):
        response = page.request.post(server["url"] + path, form={"action": "approve"})
        assert response.status == 403 and "CSRF" in response.text()
    assert pending(server, "order-hold")[0]["status"] == "pending"
    page.goto(server["url"] + "/ui/home")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good day")  # still in


def test_a_role_sees_only_its_pages(browser: Browser, server: dict):
    page = sign_in(browser, server, "sales")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="order-hold")).to_have_count(0)
    response = page.goto(server["url"] + "/ui/queues/order-hold")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")


def test_a_script_in_an_order_id_or_a_comment_is_shown_as_text(browser: Browser, server: dict):
    page = sign_in(browser, server, "supervisor")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server["url"] + "/ui/queues/order-review")
    expect(page.get_by_text(SCRIPT, exact=True)).to_be_visible()
    page.get_by_text(SCRIPT, exact=True).click()
    page.get_by_label("Reject because").select_option("data_error")
    page.locator("#reject-comment").fill(SCRIPT)
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_contain_text("Rejected.")
    expect(page.locator(".trail")).to_contain_text(SCRIPT)
    assert page.evaluate("window.__pwned") is None and dialogs == []


# --- each role's job ----------------------------------------------------------------------


def test_supervisor_releases_a_held_order_in_one_keystroke(browser: Browser, server: dict):
    page = sign_in(browser, server, "supervisor")
    page.goto(server["url"] + "/ui/home")
    shot(page, "home-supervisor")
    page.get_by_role("link", name="order-hold").first.click()
    # The queue page and its keyboard script first: a key typed while the page still
    # loads goes to the home page (or to no handler), not to the search box.
    page.wait_for_url("**/ui/queues/order-hold*")
    page.wait_for_load_state("load")
    shot(page, "queue")
    single = [i for i in pending(server, "order-hold") if i["required_approvals"] == 1]
    # Search for one order that needs one approver, then it is the selected row.
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type(single[0]["subject"].removeprefix("order:"))
    page.keyboard.press("Enter")
    expect(page.locator("tr[data-item]")).to_have_count(1)
    page.locator("body").click(position={"x": 5, "y": 400})  # leave the search box
    page.keyboard.press("a")
    expect(page.locator("#queue-notice")).to_contain_text("Approved.")
    item = api(server, f"/v1/queue-items/{single[0]['id']}")
    assert item["status"] == "approved"
    expect(page.locator("tr[data-item]")).to_have_count(0)  # the table reloaded


def test_a_high_value_held_order_needs_a_second_supervisor(browser: Browser, server: dict):
    item = next(i for i in pending(server, "order-hold") if i["required_approvals"] == 2)
    first = sign_in(browser, server, "supervisor")
    first.goto(server["url"] + f"/ui/items/{item['id']}")
    shot(first, "item-order")
    expect(first.get_by_text("two different approvers are needed")).to_be_visible()
    first.get_by_role("button", name="Approve").click()
    expect(first.get_by_role("status")).to_contain_text("another approver is needed")
    expect(first.get_by_role("button", name="Approve")).to_be_disabled()
    expect(first.locator("#four-eyes + p")).to_contain_text("1 of 2")
    second = sign_in(browser, server, "supervisor2")
    second.goto(server["url"] + f"/ui/items/{item['id']}")
    second.get_by_role("button", name="Approve").click()
    expect(second.get_by_role("status")).to_contain_text("Approved.")
    after = api(server, f"/v1/queue-items/{item['id']}")
    assert after["status"] == "approved" and len(after["approvers"]) == 2


def test_a_stale_decision_says_who_was_first(browser: Browser, server: dict):
    item = next(i for i in pending(server, "order-hold") if i["required_approvals"] == 1)
    mine = sign_in(browser, server, "supervisor")
    theirs = sign_in(browser, server, "supervisor2")
    for page in (mine, theirs):
        page.goto(server["url"] + f"/ui/items/{item['id']}")
    theirs.get_by_label("Reject because").select_option("not_needed")
    theirs.get_by_role("button", name="Reject").click()
    expect(theirs.get_by_role("status")).to_contain_text("Rejected.")
    mine.get_by_role("button", name="Approve").click()
    alert = mine.get_by_role("alert")
    expect(alert).to_contain_text("Someone else was first")
    expect(alert).to_contain_text("It is now rejected")
    shot(mine, "stale-decision")
    assert api(server, f"/v1/queue-items/{item['id']}")["status"] == "rejected"


def test_planner_edits_the_quantity_and_approves(browser: Browser, server: dict):
    item = pending(server, "replenishment")[0]
    page = sign_in(browser, server, "planner2")  # planner ran replenishment: four-eyes
    page.goto(server["url"] + f"/ui/items/{item['id']}")
    shot(page, "item-replenishment")
    quantity = page.get_by_label("Quantity")
    step = float(quantity.get_attribute("step") or 1)
    low = float(quantity.get_attribute("min") or 0)
    wanted = max(step, low, float(item["quantity"]) + step)
    wanted = -(-wanted // step) * step
    quantity.fill(f"{wanted + step / 2:g}" if step > 1 else f"{wanted + 0.5:g}")
    # The field steps by the order multiple from the smallest allowed quantity, so the
    # browser refuses what the server would (tests/ui/test_pages.py checks the server).
    assert quantity.evaluate("e => e.validity.stepMismatch") is True
    quantity.fill(f"{wanted:g}")
    assert quantity.evaluate("e => e.validity.valid") is True
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approv")
    after = api(server, f"/v1/queue-items/{item['id']}")
    assert after["quantity"] == wanted


def test_sales_offers_a_substitute_in_one_click(browser: Browser, server: dict):
    page = sign_in(browser, server, "sales")
    shot(page, "home-sales")
    page.goto(server["url"] + "/ui/queues/substitution-review")
    page.locator("tr[data-item] a.ref").first.click()
    offer = page.get_by_role("button", name="customer accepts").first
    label = offer.get_attribute("aria-label") or ""
    offered = label.removeprefix("Offer ").split(":")[0]
    shot(page, "item-substitution")
    offer.click()
    expect(page.get_by_role("status")).to_contain_text(f"the customer accepted {offered}")
    expect(page.locator(".trail")).to_contain_text("substitution.feedback")


def test_sales_finds_substitutes_for_a_line_of_an_order(browser: Browser, server: dict):
    page = sign_in(browser, server, "sales")
    page.goto(server["url"] + "/ui/queues/order-review")
    page.locator("tr[data-item] a.ref").last.click()
    page.get_by_role("button", name="Find substitutes for line").first.click()
    expect(page.get_by_role("heading", name="from live stock")).to_be_visible()


def test_keyboard_moves_and_opens(browser: Browser, server: dict):
    page = sign_in(browser, server, "planner")
    page.goto(server["url"] + "/ui/queues/replenishment")
    rows = page.locator("tr[data-item]")
    expect(rows.first).to_have_class("selected")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class("selected")
    page.keyboard.press("k")
    expect(rows.first).to_have_class("selected")
    target = rows.first.get_attribute("data-href")
    page.keyboard.press("Enter")
    page.wait_for_url("**" + (target or ""))
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reject-code"


def test_kpi_dashboard_drills_down_to_rows(browser: Browser, server: dict):
    page = sign_in(browser, server, "planner")
    page.get_by_role("link", name="KPIs").first.click()
    tiles = page.locator(".tile")
    expect(tiles.first).to_be_visible()
    assert tiles.count() >= 10
    shot(page, "kpis")
    location = page.get_by_label("Location")
    choice = location.locator("option").nth(1).get_attribute("value")
    location.select_option(choice)
    page.get_by_role("button", name="Show").click()
    assert f"location={choice}" in page.url
    page.locator(".tile a").filter(has_text="Line fill rate (first time)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Line fill rate")
    expect(page.locator("table tbody tr").first).to_be_visible()
    shot(page, "kpi-rows")
    page.get_by_role("link", name="Not good").click()
    assert "outcome=missed" in page.url


def test_monitoring_page_shows_the_run_and_its_open_alerts(browser: Browser, server: dict):
    page = sign_in(browser, server, "data_scientist")
    page.get_by_role("link", name="Monitoring", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Model monitoring")
    served = api(server, "/v1/monitoring/order-risk", who="data_scientist")
    assert served["status"] == "ok"
    chart = page.get_by_role("img", name="AUC per week")
    expect(chart).to_be_visible()
    assert chart.locator("polyline").count() == 2  # realised and estimated
    drift = page.locator("table").filter(has_text="Largest PSI").locator("tbody tr")
    assert drift.count() == min(20, len(served["drift"]["by_feature"]))
    alerts = page.locator("table").filter(has_text="Due").locator("tbody tr")
    assert alerts.count() == len(served["open_alerts"])
    stored = page.locator("table").filter(has_text="Expected AUC").filter(has_text="Version")
    assert stored.locator("tbody tr").count() == len(served["served"]["weeks"]) > 0
    shot(page, "monitoring")
    page.get_by_role("link", name="substitution", exact=True).click()
    page.wait_for_url("**/ui/monitoring?model=substitution")
    substitution = api(server, "/v1/monitoring/substitution", who="data_scientist")
    assert substitution["status"] == "ok"
    expect(page.get_by_role("img", name="hit@1 on switch occasions per week")).to_be_visible()
    offers = page.locator("table").filter(has_text="Expected hit@1").filter(has_text="Switch")
    assert offers.locator("tbody tr").count() == len(substitution["substitution"]["weeks"])
    shot(page, "monitoring-substitution")
    page.get_by_role("link", name="demand", exact=True).click()
    expect(page.get_by_text("stockpilot monitor demand --data DIR")).to_be_visible()
    page.get_by_role("link", name="order-risk", exact=True).click()
    page.wait_for_url("**/ui/monitoring?model=order-risk")
    if served["open_alerts"]:
        alerts.first.get_by_role("link").click()
        page.wait_for_url("**/ui/items/**")
    other = sign_in(browser, server, "sales")
    assert other.get_by_role("link", name="Monitoring", exact=True).count() == 0
    assert other.goto(server["url"] + "/ui/monitoring").status == 403


def test_phone_width_labels_and_focus(browser: Browser, server: dict):
    page = sign_in(browser, server, "supervisor", width=390, height=844)
    page.goto(server["url"] + "/ui/queues/order-hold")
    shot(page, "queue-phone")
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 392, f"the page is {overflow} px wide on a 390 px phone"
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, button')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                     && !(e.textContent || '').trim())
        .map(e => e.outerHTML)"""
    )
    assert unlabelled == []
    page.keyboard.press("Tab")  # the skip link first
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert page.evaluate("document.activeElement.className") == "skip" and outline != "none"
