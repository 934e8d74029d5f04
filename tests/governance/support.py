"""Small helpers shared by the governance tests."""

from __future__ import annotations

from governance.access import Principal, Role

ADMIN = Principal(name="cli:test-admin", role=Role.admin)


def principal(name: str, role: Role | str) -> Principal:
    """A principal as authentication would return it (key id = name, for readable tests)."""
    return Principal(name=name, role=Role(role), key_id=name)
