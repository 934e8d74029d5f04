"""Schemathesis against the real server, as a user would run it: ``schemathesis run
--checks all`` over real HTTP, with a key per role (each operation is called with the key
of a role holding its permission, so the cases reach the handlers; ``ignored_auth`` tries
them without one), every phase including the stateful one, which follows the OpenAPI links
from the creating operations to the items they created (score an order → read and decide
its queue item; offer substitutes → feedback).

Every check must pass: no 5xx, every status an operation answers in its OpenAPI entry,
bodies and headers (``Retry-After``) as declared, schema-violating input refused and
schema-valid input accepted. Bounded (``--max-examples``), about a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from governance.access import PERMISSIONS, Permission, Role

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_PER_OPERATION = 8
# The role whose key calls an operation needing a permission. A supervisor reads and
# decides every queue of the default policy; the others are the permission's first role.
PREFERRED = (Role.supervisor, Role.order_system, Role.sales, Role.planner, Role.data_scientist)


def role_for(permission: Permission) -> Role:
    if permission in (Permission.queues_read, Permission.queues_decide):
        return Role.supervisor
    if permission in (Permission.policy_read, Permission.audit_read, Permission.audit_verify):
        return Role.admin
    return next(r for r in (*PREFERRED[1:], Role.admin) if permission in PERMISSIONS[r])


# Rules about the data a request refers to, which no JSON Schema can state: a schema-valid
# request may break them and gets a 422 naming the rule. For these operations only, the
# positive-data check accepts that 422 (every other check, and every other operation, as is).
BEYOND_THE_SCHEMA = {
    "POST /v1/replenishment/run": "as_of must lie within the dataset, after the model's data",
    "POST /v1/orders/risk": "promised_date not before the order day (today without order_ts)",
    "POST /v1/substitutes/{recommendation_id}/feedback": "accepted items were offered",
    "POST /v1/queue-items/{item_id}/decision": "edited_qty only for an item with a quantity",
    "GET /v1/kpis": "slice values occur in the data; to not before from; <= 1000 trend points",
    "GET /v1/kpis/{kpi_id}/rows": "slice values occur in the data; to not before from",
}
ACCEPTED = '["2xx", "401", "403", "404", "409", "422", "429"]'


def keys_by_operation(spec: dict, keys: dict[str, str]) -> dict[str, str]:
    """Per operation, the API key of the role that may call it (for the auth hook)."""
    chosen = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            permission = operation.get("x-permission")
            if permission is not None:
                chosen[f"{method.upper()} {path}"] = role_for(Permission(permission))
    unused = set(Role) - set(chosen.values())
    assert not unused, f"a key per role: unused {unused}"
    return {label: keys[role.value] for label, role in chosen.items()}


def config() -> str:
    """schemathesis.toml: the positive-data exceptions of BEYOND_THE_SCHEMA."""
    return "\n".join(
        "[[operations]]\n"
        f'include-name = "{name}"\n'
        f"checks = {{ positive_data_acceptance = {{ expected-statuses = {ACCEPTED} }} }}\n"
        for name in BEYOND_THE_SCHEMA
    )


def test_schemathesis_run_with_all_checks_and_a_key_per_role(live_url, keys, tmp_path):
    spec = httpx.get(f"{live_url}/openapi.json").json()
    assert len([op for item in spec["paths"].values() for op in item]) >= 18
    settings = tmp_path / "schemathesis.toml"
    settings.write_text(config())
    by_operation = tmp_path / "keys.json"
    by_operation.write_text(json.dumps(keys_by_operation(spec, keys)))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "SCHEMATHESIS_HOOKS": "tests.serving.schemathesis_hooks",
        "STOCKPILOT_FUZZ_KEYS": str(by_operation),
    }
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(settings),
            "run",
            f"{live_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            "20",
            "--request-timeout",
            "60",
            "--workers",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    (tmp_path / "schemathesis.txt").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
    assert not re.search(r"\d+ (failures?|errors?)\b", run.stdout), run.stdout[-12000:]
    generated = int(re.search(r"(\d+) generated", run.stdout).group(1))
    links = int(re.search(r"API Links:\s+(\d+) covered", run.stdout).group(1))
    # The stateful phase ran and followed links: create → read/decide, KPIs → their rows.
    assert generated >= 500 and links >= 3, (generated, links)
