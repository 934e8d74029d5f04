"""Roles and permissions (pure) and API keys in storage: create, authenticate, revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from governance import audit
from governance.access import PERMISSIONS, Permission, Principal, Role, hash_token, require
from governance.keys import (
    DEFAULT_LIFETIME,
    authenticate,
    authenticate_until,
    create_key,
    list_keys,
    revoke_key,
    rotate_key,
)
from governance.store.tables import ApiKeyRow
from stockpilot.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from tests.governance.support import ADMIN

# The table from the issue, written out independently of governance/access.py.
EXPECTED = {
    "orders:score": {"order_system"},
    "inventory:write": {"order_system"},
    "outcomes:write": {"order_system"},
    "substitutes:request": {"sales", "order_system"},
    "substitutes:feedback": {"sales"},
    "replenishment:run": {"planner"},
    "replenishment:read": {"planner", "supervisor"},
    # data scientists work the model-monitoring and model-promotion queues (issue 19)
    "queues:read": {"sales", "planner", "supervisor", "data_scientist", "admin"},
    "queues:decide": {"sales", "planner", "supervisor", "data_scientist"},
    "audit:read": {"supervisor", "data_scientist", "admin"},
    "audit:verify": {"admin", "supervisor"},
    "models:read": {r.value for r in Role},
    "models:reload": {"data_scientist", "admin"},
    "policy:read": {r.value for r in Role},
    "policy:apply": {"admin"},
    "keys:manage": {"admin"},
    "kpis:read": {"supervisor", "planner", "data_scientist", "admin"},  # issue 18
    "monitoring:read": {"data_scientist", "admin"},  # issue 19
}


@pytest.mark.parametrize("permission", sorted(EXPECTED))
def test_permission_table_matches_the_specification(permission):
    granted = {role.value for role, perms in PERMISSIONS.items() if Permission(permission) in perms}
    assert granted == EXPECTED[permission]


def test_every_permission_is_specified():
    assert {p.value for p in Permission} == set(EXPECTED)


def test_require_raises_forbidden_naming_role_and_permission():
    sales = Principal("sally", Role.sales, key_id="k_1")
    require(sales, "queues:decide")
    with pytest.raises(Forbidden, match="'sales' lacks permission 'keys:manage'") as caught:
        require(sales, Permission.keys_manage)
    assert caught.value.status_code == 403


def test_keys_are_stored_hashed_and_authenticate_to_their_role(db):
    with db.write() as session:
        key, token = create_key(session, role="planner", name="Pat (planner)", actor=ADMIN)
    assert token.startswith("spk_") and len(token) > 40
    with db.read() as session:
        stored = session.scalars(select(ApiKeyRow)).one()
        who = authenticate(session, token)
    assert stored.token_hash == hash_token(token) and token not in stored.token_hash
    assert (who.role, who.key_id, who.name, who.actor) == (
        Role.planner,
        key.id,
        "Pat (planner)",
        f"key:{key.id}",
    )


@pytest.mark.parametrize("token", [None, "", "Bearer x", "spk_wrong", "spk_" + "a" * 300])
def test_unknown_tokens_are_unauthorized(db, token):
    with db.read() as session, pytest.raises(Unauthorized) as caught:
        authenticate(session, token)
    assert caught.value.status_code == 401


def test_revoked_keys_stop_working_and_changes_are_audited(db):
    with db.write() as session:
        key, token = create_key(session, role=Role.sales, name="sally", actor=ADMIN)
    with db.write() as session:
        revoked = revoke_key(session, key.id, actor=ADMIN)
    assert not revoked.active
    with db.read() as session, pytest.raises(Unauthorized):
        authenticate(session, token)
    with db.write() as session, pytest.raises(Conflict, match="already revoked"):
        revoke_key(session, key.id, actor=ADMIN)
    with db.write() as session, pytest.raises(NotFound):
        revoke_key(session, "k_missing", actor=ADMIN)
    with db.read() as session:
        events = audit.list_events(session, subject_type="api_key", subject_id=key.id)
        listed = list_keys(session)
        active = list_keys(session, include_revoked=False)
    assert [e.kind for e in events] == ["key.created", "key.revoked"]
    assert token not in str(events) and hash_token(token) not in str(events)
    assert [k.id for k in listed] == [key.id] and active == []


def test_bad_roles_and_names_are_invalid(db):
    with db.write() as session, pytest.raises(InvalidInput, match="role: 'root'"):
        create_key(session, role="root", name="x", actor=ADMIN)
    with db.write() as session, pytest.raises(InvalidInput, match="name"):
        create_key(session, role="admin", name="  ", actor=ADMIN)


def _expire(db, key_id: str, when: datetime) -> None:
    with db.write() as session:
        session.get(ApiKeyRow, key_id).expires_at = when


def test_keys_expire(db):
    with db.write() as session:
        key, token = create_key(session, role=Role.sales, name="sally", actor=ADMIN)
        forever, forever_token = create_key(
            session, role=Role.sales, name="svc", actor=ADMIN, lifetime=None
        )
    assert key.expires_at - key.created_at == DEFAULT_LIFETIME and forever.expires_at is None
    with db.read() as session:
        principal, until = authenticate_until(session, token)
    assert (principal.key_id, until) == (key.id, key.expires_at)
    _expire(db, key.id, datetime.now(UTC) - timedelta(seconds=1))
    with db.read() as session, pytest.raises(Unauthorized, match="expired at") as caught:
        authenticate(session, token)
    assert caught.value.status_code == 401
    with db.read() as session:
        assert authenticate(session, forever_token).key_id == forever.id
        assert [k.active for k in list_keys(session)] == [False, True]
    with db.write() as session, pytest.raises(InvalidInput, match="lifetime"):
        create_key(session, role="sales", name="x", actor=ADMIN, lifetime=timedelta(0))


def test_rotation_issues_a_successor_and_cuts_the_old_key_to_its_grace(db):
    with db.write() as session:
        key, token = create_key(session, role=Role.planner, name="pat", actor=ADMIN)
    with db.write() as session:
        old, new, new_token = rotate_key(session, key.id, actor=ADMIN, grace=timedelta(hours=2))
    assert (new.name, new.role, new.id != old.id, new_token != token) == (
        "pat",
        Role.planner,
        True,
        True,
    )
    assert timedelta(hours=1.9) < old.expires_at - datetime.now(UTC) <= timedelta(hours=2)
    with db.read() as session:  # both work during the grace period
        assert authenticate(session, token).key_id == old.id
        assert authenticate(session, new_token).key_id == new.id
    _expire(db, old.id, datetime.now(UTC) - timedelta(seconds=1))
    with db.read() as session:
        with pytest.raises(Unauthorized):
            authenticate(session, token)
        assert authenticate(session, new_token).key_id == new.id
        events = audit.list_events(session, subject_type="api_key", subject_id=old.id)
    assert [e.kind for e in events] == ["key.created", "key.rotated"]
    assert events[-1].payload["successor"] == new.id
    assert new_token not in str(events) and token not in str(events)
    with db.write() as session, pytest.raises(Conflict, match="expired"):
        rotate_key(session, old.id, actor=ADMIN)
    with db.write() as session, pytest.raises(NotFound):
        rotate_key(session, "k_missing", actor=ADMIN)
