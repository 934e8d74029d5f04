"""Schemathesis against the real app: no input to any operation yields a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from governance.access import PERMISSIONS, Permission, Role
from serving.app import create_app


@pytest.fixture
def api_schema(serving_settings, services, keys):
    app = create_app(serving_settings, services=services)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.keys = keys  # type: ignore[attr-defined]
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


def key_for(keys: dict[str, str], operation) -> str | None:
    permission = operation.definition.raw.get("x-permission")
    if permission is None:
        return None
    for role in Role:
        if Permission(permission) in PERMISSIONS[role]:
            return keys[role.value]
    return None


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_no_input_yields_a_server_error(case, api_schema):
    token = key_for(api_schema.keys, case.operation)
    headers = dict(case.headers or {})
    if token is not None:
        headers["X-API-Key"] = token
    response = case.call(headers=headers)
    assert response.status_code < 500, (
        case.operation.label,
        response.status_code,
        response.text[:500],
    )
