"""The write use cases: one function per use case, behind them idempotency and group commit.

A caller (an API router, a server-rendered page, a CLI) hands :class:`Commands` plain data
and gets the committed result back: a :class:`Committed` response body for the creating
use cases, the decided :class:`~governance.queues.QueueItem` for a decision. How it gets
there is not the caller's business:

- each use case is a **unit**, a module-level function of the session below bound with
  :func:`functools.partial` to plain values (dicts, lists, bytes, the governance
  dataclasses), never to models or NumPy arrays, because it is pickled to the group
  committer's writer process (:mod:`governance.store.committer`), which imports this module at
  start and never the models;
- with a :class:`RetryKey` (from an ``Idempotency-Key``), the unit runs once per caller and key:
  a retry with the same request gets the stored response, ``replayed`` set, and nothing is
  created twice; the claim, the effect and the stored response commit together;
- the writer renders each response body as JSON (:func:`render_json`), so the caller only
  sends bytes. The body is what the operation's response model declares
  (``tests/serving/test_response_conformance.py`` checks every one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from governance import audit, queues
from governance import events as event_store
from governance.access import Principal
from governance.chain import format_time
from governance.events import InventoryEvent, LineOutcome
from governance.idempotency import idempotent
from governance.policy import Policy
from governance.recommendations import ModelOutput, Recorded, record
from governance.routing import Decision
from governance.store.committer import GroupCommitter

Effect = Callable[[Session], tuple[int, Any]]
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATETIME


@dataclass(frozen=True, slots=True)
class RetryKey:
    """A retry-safe request: the same ``caller`` and ``key`` with the same request
    (``fingerprint``) get the stored response; with another request, 409."""

    caller: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Committed:
    """A creating use case's committed response: status, JSON body, replayed or not."""

    status_code: int
    content: bytes  # JSON
    replayed: bool = False


def render_json(content: Any) -> bytes:
    """A response body as JSON: aware datetimes as the audit log writes them, NaN as null."""
    return orjson.dumps(content, default=_default, option=_JSON_OPTIONS)


def plain(value: Any) -> Any:
    """``value`` as the JSON it will be written as: plain Python (no NumPy scalars, no
    datetimes), so it pickles into the writer without NumPy and reads back the same."""
    return orjson.loads(render_json(value))


def _default(value: Any) -> Any:
    # As the idempotency record stores them, so a replay reads exactly like the original.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return format_time(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"response: {type(value).__name__} is not JSON-serialisable")


class Commands:
    """The write use cases of one process, on its group committer."""

    def __init__(self, committer: GroupCommitter, *, idempotency_retention: timedelta) -> None:
        self.committer = committer
        self.retention = idempotency_retention

    async def _commit(self, effect: Effect, retry: RetryKey | None) -> Committed:
        if retry is None:
            unit = partial(_respond, effect=effect)
        else:
            unit = partial(
                _respond_once,
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
            _record_order_risks,
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
            _record_substitution,
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
            _record_feedback,
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
            _record_suggestions, suggestions=suggestions, principal=principal, response=response
        )
        return await self._commit(effect, retry)

    async def accept_inventory(
        self, events: list[InventoryEvent], *, actor: str, retry: RetryKey | None = None
    ) -> Committed:
        """Inventory positions from another system: stored (a restart replays them), 202."""
        effect = partial(
            _accept_facts, write=event_store.record_inventory, facts=events, actor=actor
        )
        return await self._commit(effect, retry)

    async def accept_outcomes(
        self, outcomes: list[LineOutcome], *, actor: str, retry: RetryKey | None = None
    ) -> Committed:
        """Shipped/delivered outcomes of order lines: stored, 202."""
        effect = partial(
            _accept_facts, write=event_store.record_outcomes, facts=outcomes, actor=actor
        )
        return await self._commit(effect, retry)

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


# --- the units: what the writer runs, in a session -------------------------------------


def _respond(session: Session, effect: Effect) -> Committed:
    status, content = effect(session)
    return Committed(status, render_json(content))


def _respond_once(
    session: Session,
    effect: Effect,
    *,
    caller: str,
    key: str,
    fingerprint: str,
    retention: timedelta,
) -> Committed:
    """The effect once per (caller, key); a retry gets the stored response."""
    stored = idempotent(
        session,
        caller=caller,
        key=key,
        fingerprint=fingerprint,
        retention=retention,
        effect=effect,
    )
    return Committed(stored.status_code, render_json(stored.body), stored.replayed)


def decision_body(decision: Decision, recorded: Recorded) -> dict[str, Any]:
    """How the policy routed a recorded recommendation, as every response shows it."""
    return {
        "action": decision.action.value,
        "queue": decision.queue,
        "queue_item_id": recorded.item.id if recorded.item else None,
        "threshold_name": decision.threshold_name,
        "threshold": decision.threshold,
        "policy_version": decision.policy_version,
        "required_approvals": decision.required_approvals,
        "reason": decision.reason,
    }


def _record_order_risks(
    session: Session,
    *,
    orders: bytes,
    matrices: list[tuple[bytes, bytes]],
    decisions: list[Decision],
    columns: list[str],
    model: str,
    model_version: str,
    principal: Principal,
) -> tuple[int, dict[str, Any]]:
    """Features and exact SHAP values are audited per line in the model's column order (one
    name list, not names per value); ``GET /v1/queue-items/{id}`` expands them by name."""
    results = []
    for order, (features, contributions), decision in zip(
        orjson.loads(orders), matrices, decisions, strict=True
    ):
        risk = order["risk"]
        line_nos = [str(line["line_no"]) for line in risk["lines"]]
        recorded = record(
            session,
            ModelOutput(
                subject=f"order:{order['order_id']}",
                model_name=model,
                model_version=model_version,
                score=risk["score"],
                features={"columns": columns, "lines": _by_line(line_nos, features, columns)},
                contributions={
                    "columns": columns,
                    "lines": _by_line(line_nos, contributions, columns),
                },
                explanation={
                    "expected_value": order["expected_value"],
                    "aggregation": order["aggregation"],
                    "top_family": risk["top_family"],
                    "reasons": risk["reasons"],
                    "lines": risk["lines"],
                },
            ),
            decision,
            principal=principal,
            summary={
                "customer_id": order["customer_id"],
                "top_family": risk["top_family"],
                "reasons": [r["text"] for r in risk["reasons"]],
                "lines": len(risk["lines"]),
            },
        )
        results.append(
            {
                "order_id": order["order_id"],
                "recommendation_id": recorded.recommendation_id,
                **risk,
                "decision": decision_body(decision, recorded),
                "model": {"name": model, "version": model_version},
            }
        )
    return 201, {"results": results}


def _by_line(line_nos: list[str], matrix: bytes, columns: list[str]) -> dict[str, list[float]]:
    """Rows of a float64 ``(lines, columns)`` matrix by line number (NaN is stored as null)."""
    values = memoryview(matrix).cast("d").tolist()
    width = len(columns)
    if len(values) != width * len(line_nos):
        raise ValueError(f"{len(values)} values for {len(line_nos)} lines of {width} columns")
    return {n: values[k * width : (k + 1) * width] for k, n in enumerate(line_nos)}


def _record_substitution(
    session: Session,
    *,
    output: ModelOutput,
    decision: Decision,
    principal: Principal,
    summary: Mapping[str, Any],
    response: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    recorded = record(session, output, decision, principal=principal, summary=summary)
    return 201, {
        "recommendation_id": recorded.recommendation_id,
        **response,
        "decision": decision_body(decision, recorded),
    }


def _record_feedback(
    session: Session,
    *,
    recommendation_id: str,
    principal: Principal,
    payload: Mapping[str, Any],
    response: dict[str, Any],
    at: datetime,
) -> tuple[int, dict[str, Any]]:
    audit.append(
        session,
        kind="substitution.feedback",
        actor=principal,
        subject_type="recommendation",
        subject_id=recommendation_id,
        payload=payload,
        at=at,
    )
    return 201, response


def _record_suggestions(
    session: Session,
    *,
    suggestions: list[tuple[ModelOutput, Decision, dict[str, Any], dict[str, Any]]],
    principal: Principal,
    response: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    out = []
    for output, decision, summary, row in suggestions:
        recorded = record(session, output, decision, principal=principal, summary=summary)
        out.append(
            {
                "recommendation_id": recorded.recommendation_id,
                **row,
                "decision": decision_body(decision, recorded),
            }
        )
    return 201, {**response, "suggestions": out}


def _accept_facts(
    session: Session,
    *,
    write: Callable[..., int],
    facts: Iterable[Any],
    actor: str,
) -> tuple[int, dict[str, Any]]:
    facts = list(facts)
    write(session, facts, actor=actor)
    return 202, {"accepted": len(facts)}
