"""The write use cases: one function per use case, behind them idempotency and group commit.

A caller (an API router, a server-rendered page, a CLI) hands :class:`Commands` plain data
and gets the committed result back: a :class:`Committed` response body for the creating
use cases, the decided :class:`~governance.queues.QueueItem` for a decision. How it gets
there is not the caller's business:

- each use case is a **unit** of :mod:`governance.command_units`, a module-level
  function of the session bound with :func:`functools.partial` to plain values (dicts,
  lists, bytes, the governance dataclasses), never to models or NumPy arrays: it is
  pickled to the group committer's writer process (:mod:`governance.store.committer`),
  which imports that module at start and never the models;
- with a :class:`RetryKey` (from an ``Idempotency-Key``), the unit runs once per caller
  and key: a retry with the same request gets the stored response, ``replayed`` set, and
  nothing is created twice; the claim, the effect and the stored response commit together;
- the writer renders each response body as JSON, so the caller only sends bytes. The
  body is what the operation's OpenAPI entry declares
  (``tests/serving/test_response_conformance.py`` checks every one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from governance import command_units as units
from governance import events as event_store
from governance import queues
from governance.access import Principal
from governance.command_units import Committed, Effect
from governance.events import InventoryEvent, LineOutcome
from governance.policy import Policy
from governance.recommendations import ModelOutput
from governance.routing import Decision, monitoring_decision
from governance.store.committer import GroupCommitter


@dataclass(frozen=True, slots=True)
class RetryKey:
    """A retry-safe request: the same ``caller`` and ``key`` with the same request
    (``fingerprint``) get the stored response; with another request, 409."""

    caller: str
    key: str
    fingerprint: str


class Commands:
    """The write use cases of one process, on its group committer."""

    def __init__(self, committer: GroupCommitter, *, idempotency_retention: timedelta) -> None:
        self.committer = committer
        self.retention = idempotency_retention

    async def _commit(self, effect: Effect, retry: RetryKey | None) -> Committed:
        if retry is None:
            unit = partial(units.respond, effect=effect)
        else:
            unit = partial(
                units.respond_once,
                effect=effect,
                caller=retry.caller,
                key=retry.key,
                fingerprint=retry.fingerprint,
                retention=self.retention,
            )
        return await self.committer.run_async(unit)

    async def record_order_risks(
        self,
        *,
        orders: bytes,
        matrices: list[tuple[bytes, bytes]],
        decisions: list[Decision],
        columns: list[str],
        model: str,
        model_version: str,
        principal: Principal,
        retry: RetryKey | None = None,
    ) -> Committed:
        """Scored orders and their routing: recommendation, queue item, audit event each.

        ``orders`` is the JSON of a list of scored orders (``order_id``, ``customer_id``,
        ``risk``, ``expected_value``, ``aggregation``), ``matrices`` per order its features
        and SHAP values as float64 ``(lines, columns)`` bytes: JSON and raw floats, not
        pickled structures, are ~10x cheaper to hand over and are what the audit keeps.
        """
        effect = partial(
            units.record_order_risks,
            orders=orders,
            matrices=matrices,
            decisions=decisions,
            columns=columns,
            model=model,
            model_version=model_version,
            principal=principal,
        )
        return await self._commit(effect, retry)

    async def record_substitutes(
        self,
        *,
        output: ModelOutput,
        decision: Decision,
        principal: Principal,
        summary: Mapping[str, Any],
        response: dict[str, Any],
        retry: RetryKey | None = None,
    ) -> Committed:
        """A substitute search: audited, routed by its best substitute, answered."""
        effect = partial(
            units.record_substitution,
            output=output,
            decision=decision,
            principal=principal,
            summary=summary,
            response=response,
        )
        return await self._commit(effect, retry)

    async def record_substitution_feedback(
        self,
        *,
        recommendation_id: str,
        rows: Any,
        accepted: list[str],
        data_dir: Path,
        principal: Principal,
        retry: RetryKey | None = None,
    ) -> Committed:
        """What the customer accepted: contract rows appended to the dataset's
        ``substitutions`` (a retry of rows already there is a no-op), then audited."""
        from stockpilot.feedback import append_substitutions  # pandas: not in the writer

        data_dir.mkdir(parents=True, exist_ok=True)
        written = await asyncio.to_thread(append_substitutions, data_dir, rows)
        now = datetime.now(UTC)
        effect = partial(
            units.record_feedback,
            recommendation_id=recommendation_id,
            principal=principal,
            payload={
                "accepted": accepted,
                "offered": rows["offered_item_id"].tolist(),
                "rows_written": written,
            },
            response={
                "recommendation_id": recommendation_id,
                "rows_written": written,
                "accepted": accepted,
                "recorded_at": now,
            },
            at=now,
        )
        return await self._commit(effect, retry)

    async def record_suggestions(
        self,
        *,
        suggestions: list[tuple[ModelOutput, Decision, dict[str, Any], dict[str, Any]]],
        principal: Principal,
        response: dict[str, Any],
        retry: RetryKey | None = None,
    ) -> Committed:
        """Replenishment suggestions: (output, decision, queue summary, response row) each."""
        effect = partial(
            units.record_suggestions,
            suggestions=suggestions,
            principal=principal,
            response=response,
        )
        return await self._commit(effect, retry)

    async def accept_inventory(
        self, events: list[InventoryEvent], *, actor: str, retry: RetryKey | None = None
    ) -> Committed:
        """Inventory positions from another system: stored (a restart replays them), 202."""
        effect = partial(
            units.accept_facts, write=event_store.record_inventory, facts=events, actor=actor
        )
        return await self._commit(effect, retry)

    async def accept_outcomes(
        self, outcomes: list[LineOutcome], *, actor: str, retry: RetryKey | None = None
    ) -> Committed:
        """Shipped/delivered outcomes of order lines: stored, 202."""
        effect = partial(
            units.accept_facts, write=event_store.record_outcomes, facts=outcomes, actor=actor
        )
        return await self._commit(effect, retry)

    async def open_monitoring_alerts(
        self,
        alerts: list[dict[str, Any]],
        *,
        policy: Policy,
        principal: Principal,
    ) -> Committed:
        """Monitoring alerts as ``model-monitoring`` queue items (one per alert, its new
        days listed; days alerted before are not opened again)."""
        effect = partial(
            units.open_monitoring_alerts,
            alerts=units.plain(alerts),
            decision=monitoring_decision(policy),
            principal=principal,
        )
        return await self._commit(effect, None)

    async def decide(
        self,
        item_id: str,
        *,
        principal: Principal,
        action: str,
        policy: Policy,
        reason: str | None = None,
        edited_qty: float | None = None,
        expected_version: int | None = None,
    ) -> queues.QueueItem:
        """Approve, reject or override a queue item (:func:`governance.queues.decide`)."""
        return await self.committer.run_async(
            partial(
                queues.decide,
                item_id=item_id,
                principal=principal,
                action=action,
                policy=policy,
                reason=reason,
                edited_qty=edited_qty,
                expected_version=expected_version,
            )
        )
