"""Workbench fixtures: the serving fixtures (real models, a fresh store per test), plus a
signed-in client. Browser tests start their own server (tests/ui/test_browser.py)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.governance.conftest import (  # noqa: F401  (fixtures: a store on SQLite and PG)
    db,
    db_url,
    pg_database,
    policy,
    sqlite_template,
)
from tests.serving.conftest import (  # noqa: F401  (fixtures)
    client,
    keys,
    live_url,
    services,
    serving_settings,
    trained_home,
)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(http: TestClient, token: str) -> str:
    """Sign ``http`` in with ``token``; the session's CSRF token."""
    form = http.get("/ui/login")
    login_csrf = CSRF.search(form.text).group(1)
    response = http.post(
        "/ui/login", data={"api_key": token, "csrf_token": login_csrf}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    home = http.get("/ui/home")
    assert home.status_code == 200
    return CSRF.search(home.text).group(1)
