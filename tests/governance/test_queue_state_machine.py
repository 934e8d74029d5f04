"""Property-based: random create/approve/reject/override/expire sequences by random actors.

A small reference model written independently of ``governance.workflow`` predicts each
outcome (new state or error class); after every step the real store must agree with it,
no item may carry more than one terminal decision, four-eyes must hold and the audit chain
must verify. Runs on a real SQLite store (a copy of a migrated template per example).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from governance import audit, queues
from governance.access import Role
from governance.policy import default_policy_text
from governance.policy_versions import apply_policy
from governance.recommendations import ModelOutput, record
from governance.routing import OrderRisk, Replenishment, route
from governance.store.engine import Database
from governance.store.tables import AuditEventRow
from governance.sweep import sweep
from stockpilot.errors import Conflict, Forbidden, InvalidInput
from tests.governance.support import ADMIN, principal

ACTORS = {
    "erp": Role.order_system,
    "pat": Role.planner,
    "paula": Role.planner,
    "sally": Role.sales,
    "sam": Role.supervisor,
    "sue": Role.supervisor,
    "dana": Role.data_scientist,
}
TERMINAL_EVENTS = {"queue.approved", "queue.rejected", "queue.overridden", "queue.expired"}
PLANNERS = ["pat", "paula", "sam"]
PLANNING = {Role.planner, Role.supervisor}
# kind -> (recommendation, requester candidates, queue roles, SLA hours, quantity)
KINDS = {
    "review": (OrderRisk(0.5), ["erp"], {Role.sales, Role.supervisor}, 4, None),
    "hold": (OrderRisk(0.9), ["erp"], {Role.supervisor}, 2, None),
    "repl-low": (Replenishment(2000.0), PLANNERS, PLANNING, 24, 100.0),
    "repl-high": (Replenishment(30000.0), PLANNERS, PLANNING, 24, 100.0),
}


@dataclass
class Model:
    requester: str
    roles: set[Role]
    due: datetime
    required: int
    quantity: float | None
    unit_value: float | None
    status: str = "pending"
    version: int = 1
    approvers: list[str] = field(default_factory=list)


class QueueMachine(RuleBasedStateMachine):
    items = Bundle("items")

    def __init__(self, template: Path, workdir: Path) -> None:
        super().__init__()
        path = workdir / "store.db"
        shutil.copyfile(template, path)
        self.db = Database(f"sqlite:///{path}")
        self.now = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
        self.models: dict[str, Model] = {}
        self.events = 0

    @initialize()
    def apply_default_policy(self) -> None:
        with self.db.write() as session:
            self.policy = apply_policy(session, default_policy_text(), actor=ADMIN).policy
        self.events += 1

    @rule(target=items, kind=st.sampled_from(sorted(KINDS)), pick=st.integers(0, 2))
    def create(self, kind: str, pick: int) -> str:
        recommendation, requesters, roles, sla, quantity = KINDS[kind]
        requester = requesters[pick % len(requesters)]
        value = getattr(recommendation, "value", None)
        unit_value = value / quantity if value is not None and quantity else None
        output = ModelOutput("s", "m", "1", 0.5, quantity=quantity, unit_value=unit_value)
        with self.db.write() as session:
            recorded = record(
                session,
                output,
                route(recommendation, self.policy),
                principal=principal(requester, ACTORS[requester]),
                now=self.now,
            )
        self.events += 1
        assert recorded.item is not None
        self.models[recorded.item.id] = Model(
            f"key:{requester}",
            roles,
            self.now + timedelta(hours=sla),
            2 if kind == "repl-high" else 1,
            quantity,
            unit_value,
        )
        return recorded.item.id

    @rule(
        item=items,
        actor=st.sampled_from(sorted(ACTORS)),
        edit=st.sampled_from([None, None, 100.0, 50.0, 2000.0]),
        stale=st.sampled_from([False, False, False, True]),
    )
    def approve(self, item: str, actor: str, edit: float | None, stale: bool) -> None:
        self._decide(item, actor, "approve", None, edit, stale)

    @rule(
        item=items,
        actor=st.sampled_from(sorted(ACTORS)),
        action=st.sampled_from(["reject", "override"]),
        reason=st.sampled_from([None, "  ", "customer called"]),
    )
    def reject_or_override(self, item: str, actor: str, action: str, reason: str | None) -> None:
        self._decide(item, actor, action, reason, None, False)

    @rule(hours=st.sampled_from([1, 3, 30]))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule()
    def sla_sweep(self) -> None:
        expired = set(sweep(self.db, now=self.now).expired)
        expected = {
            i for i, m in self.models.items() if m.status == "pending" and m.due <= self.now
        }
        assert expired == expected
        for item_id in expired:
            self.models[item_id].status = "expired"
            self.models[item_id].version += 1
        self.events += len(expired)

    def _decide(self, item_id, actor, action, reason, edit, stale) -> None:
        model = self.models[item_id]
        expected = self._predict(model, actor, action, reason, edit, stale)
        try:
            with self.db.write() as session:
                queues.decide(
                    session,
                    item_id,
                    principal=principal(actor, ACTORS[actor]),
                    action=action,
                    policy=self.policy,
                    reason=reason,
                    edited_qty=edit,
                    expected_version=model.version + 1 if stale else model.version,
                    now=self.now,
                )
        except (Conflict, Forbidden, InvalidInput) as err:
            assert isinstance(err, expected), (err, expected)  # type: ignore[arg-type]
            return
        assert expected is None, f"expected {expected.__name__}, the decision went through"
        self._advance(model, actor, action, edit)
        self.events += 1

    def _predict(self, model, actor, action, reason, edit, stale):
        role = ACTORS[actor]
        if role not in {Role.sales, Role.planner, Role.supervisor, Role.data_scientist}:
            return Forbidden  # no queues:decide (data scientists: model-promotion, -monitoring)
        if action != "approve" and not (reason or "").strip():
            return InvalidInput
        if edit is not None and model.quantity is None:
            return InvalidInput
        if role not in model.roles:
            return Forbidden
        if stale or model.status != "pending":
            return Conflict
        if model.due <= self.now:
            return Conflict
        if action != "reject" and f"key:{actor}" == model.requester:
            return Forbidden
        if action == "approve":
            approvers = [] if edit is not None and edit != model.quantity else model.approvers
            if f"key:{actor}" in approvers:
                return Forbidden
        return None

    def _advance(self, model: Model, actor: str, action: str, edit: float | None) -> None:
        model.version += 1
        if action != "approve":
            model.status = "rejected" if action == "reject" else "overridden"
            return
        if edit is not None and edit != model.quantity:
            model.quantity, model.approvers = edit, []
            if edit * model.unit_value > 25000:
                model.required = 2
        model.approvers.append(f"key:{actor}")
        if len(model.approvers) >= model.required:
            model.status = "approved"

    @invariant()
    def store_matches_model(self) -> None:
        if not self.models:
            return
        with self.db.read() as session:
            for item_id, model in self.models.items():
                item = queues.get_item(session, item_id)
                assert (item.status.value, item.version) == (model.status, model.version)
                assert list(item.approvers) == model.approvers
                assert item.quantity == model.quantity

    @invariant()
    def one_terminal_decision_and_four_eyes(self) -> None:
        with self.db.read() as session:
            kinds = session.execute(
                select(AuditEventRow.subject_id, AuditEventRow.kind).where(
                    AuditEventRow.subject_type == "queue_item"
                )
            ).all()
            terminal: dict[str, int] = {}
            for subject_id, kind in kinds:
                if kind in TERMINAL_EVENTS:
                    terminal[subject_id] = terminal.get(subject_id, 0) + 1
            assert all(n == 1 for n in terminal.values()), terminal
            for item in queues.list_items(session, status=None, limit=1000):
                assert terminal.get(item.id, 0) == (1 if item.status.terminal else 0)
                if item.status.value in ("approved", "overridden"):
                    assert item.requested_by not in item.approvers
                    assert item.decided_by != item.requested_by
                assert len(set(item.approvers)) == len(item.approvers)

    @invariant()
    def audit_chain_verifies(self) -> None:
        with self.db.read() as session:
            result = audit.verify(session)
        assert result.ok, str(result)
        assert result.count == self.events

    def teardown(self) -> None:
        self.db.dispose()


def test_queue_state_machine(sqlite_template: Path, tmp_path: Path) -> None:
    # Hundreds of small write transactions per run (thousands while shrinking a failure):
    # on a RAM disk their fsyncs cost nothing, which keeps the test fast. Same SQLite code.
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    counter = itertools.count()

    def make() -> QueueMachine:
        workdir = base / f"example-{next(counter)}"
        workdir.mkdir()
        return QueueMachine(sqlite_template, workdir)

    try:
        _run(make)
    finally:
        if base != tmp_path:
            shutil.rmtree(base, ignore_errors=True)


def _run(make) -> None:
    run_state_machine_as_test(
        make,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
