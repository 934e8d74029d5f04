"""Schemathesis against the real app: no input to any operation yields a server error.

Each operation gets generated cases (valid and invalid bodies, parameters and headers)
sent with a key whose role holds the operation's permission, so the cases reach the
handlers instead of stopping at the 403.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from governance.access import PERMISSIONS, Permission, Role
from serving.app import create_app

EXAMPLES_PER_OPERATION = 25


def key_for(keys: dict[str, str], operation) -> str | None:
    permission = operation.definition.raw.get("x-permission")
    if permission is None:
        return None
    return next(keys[r.value] for r in Role if Permission(permission) in PERMISSIONS[r])


def test_no_input_yields_a_server_error(serving_settings, services, keys):
    app = create_app(serving_settings, services=services)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    failures: list[str] = []
    for operation in operations:
        fuzz(operation, key_for(keys, operation), failures)
    assert failures == []


def fuzz(operation, token: str | None, failures: list[str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        headers = dict(case.headers or {})
        if token is not None:
            headers["X-API-Key"] = token
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{operation.label} → {response.status_code}: "
                f"{response.text[:300]} (case {case.body!r:.300})"
            )

    check()
