"""The writes that do not go through the writer process, each one transaction of its own.

A serving process applies the first policy version before its writer process exists, and
an operator's tools (``make run``'s demo keys) write as the ``stockpilot`` command line
does: directly, with no group commit to share. Everything a request writes goes through
:mod:`governance.commands` instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from governance import keys, policy_versions
from governance.access import Principal, Role
from governance.policy_versions import AppliedPolicy
from governance.routing import Decision
from governance.store.engine import Database


def ensure_policy(db: Database, *, actor: Principal, policy_file: Path | None) -> AppliedPolicy:
    """At start-up: apply ``policy_file`` (or the shipped default) if none is active yet."""
    with db.write() as session:
        return policy_versions.ensure_policy(session, actor=actor, policy_file=policy_file)


def create_keys(
    db: Database,
    roles: Iterable[Role],
    *,
    name: str,
    actor: Principal,
    lifetime: timedelta | None,
) -> dict[Role, str]:
    """One key per role, named ``{name}-{role}``, in one transaction: role → token."""
    tokens = {}
    with db.write() as session:
        for role in roles:
            _, tokens[role] = keys.create_key(
                session, role=role, name=f"{name}-{role.value}", actor=actor, lifetime=lifetime
            )
    return tokens


def open_monitoring_alerts(
    db: Database, alerts: list[dict], *, decision: Decision, principal: Principal
) -> dict:
    """``stockpilot monitor``'s alerts as model-monitoring items, in one transaction
    (:func:`governance.command_units.open_monitoring_alerts`)."""
    from governance import command_units as units

    with db.write() as session:
        return units.open_monitoring_alerts(
            session, alerts=units.plain(alerts), decision=decision, principal=principal
        )[1]
