"""Shadow scoring: while a challenger exists, a sample of order-risk requests is scored by it too.

The challenger (the registry's ``challenger`` alias of ``order-risk``, loaded at start-up and
by ``POST /v1/models/reload``) never decides anything. For a share of orders
(``promotion.shadow_share``, chosen by a hash of the order id, so a retried order is
sampled the same way) the request keeps a snapshot of what the champion was scored on —
the line fields and the live-state values *before* the order is recorded in the state —
and the challenger scores that snapshot **after the response is sent** (a background task,
in a worker thread: it only reads the snapshot and its own model). Its order score is
routed by the same policy and compared with the champion's decision: a **flip** is a
different action or queue.

The counts are kept per challenger version, exported on ``/metrics`` and written to
``<home>/shadow/<model>-v<version>.json``, which ``stockpilot models gate`` puts in the
gate report (the decision-flip rate).
"""

from __future__ import annotations

import json
import logging
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.order_fields import record_fields
from features.risk_state import RiskState
from governance.policy import Policy
from governance.routing import Decision, OrderRisk, route
from models.order_risk_scorer import ScoredOrder

log = logging.getLogger(__name__)
MODEL = "order-risk"
Lines = Sequence[Mapping[str, Any]]


def sampled(order_id: str, share: float) -> bool:
    """Whether ``order_id`` is in the shadow sample (stable across retries and processes)."""
    return zlib.crc32(order_id.encode()) < share * 2**32


def order_risk_of(risk: ScoredOrder, value: float) -> OrderRisk:
    """What routing reads of a scored order (the same for champion and challenger)."""
    riskiest = max(risk.lines, key=lambda line: line.probability)
    return OrderRisk(
        probability=min(1.0, max(0.0, float(risk.score))),
        drivers=riskiest.families,
        flags=frozenset({"margin_erosion"}) if risk.margin_erosion else frozenset(),
        value=value,
    )


@dataclass
class Snapshot:
    """What the champion was scored on, kept for the challenger."""

    lines: Lines
    fields: dict[str, Any]
    rows: list[dict[str, Any]]
    value: float
    decision: Decision
    score: float  # the champion's order score


@dataclass
class Shadow:
    """The loaded challenger (or none) and its flip counts."""

    directory: Path
    version: str | None = None
    scorer: Any = None
    scored: int = 0
    flips: int = 0
    errors: int = 0
    max_score_gap: float = 0.0  # largest |challenger − champion| order score seen
    transitions: Counter = field(default_factory=Counter)  # "release→review" etc.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def active(self) -> bool:
        return self.scorer is not None

    def load(self, resolve: Callable[[], Any | None], champion: str | None) -> None:
        """Load the challenger ``resolve`` returns (a served model or None); a challenger
        equal to the champion is no challenger."""
        try:
            served = resolve()
        except Exception as exc:  # registry unreachable: shadowing is optional
            log.warning("shadow: challenger not loaded: %s", exc)
            served = None
        with self._lock:
            if served is None or served.version == champion:
                self.version, self.scorer = None, None
                return
            if served.version != self.version:
                self.version, self.scorer = served.version, served.impl.scorer
                self.scored = self.flips = self.errors = 0
                self.max_score_gap = 0.0
                self.transitions = Counter()
                previous = self._read()
                if previous:  # a restart continues the counts of this version
                    self.scored, self.flips = previous["scored"], previous["flips"]
                    self.transitions = Counter(previous.get("transitions", {}))

    def snapshot(
        self,
        lines: Lines,
        state: RiskState,
        champion: ScoredOrder,
        decision: Decision,
        value: float,
        share: float,
    ) -> Snapshot | None:
        """On the request path, before the order is recorded: a snapshot if sampled."""
        if self.scorer is None or not lines or not sampled(str(lines[0]["order_id"]), share):
            return None
        fields = record_fields(lines)
        rows = state.value_rows(fields)
        return Snapshot(lines, fields, rows, value, decision, float(champion.score))

    def score(self, snapshots: list[Snapshot], policy: Policy) -> None:
        """After the response: the challenger's decisions and the flips (a background task)."""
        from features.risk_state import value_arrays

        with self._lock:
            scorer, version = self.scorer, self.version
            if scorer is None:
                return
            for snap in snapshots:
                try:
                    risk = scorer.score_snapshot(snap.lines, snap.fields, value_arrays(snap.rows))
                    decision = route(order_risk_of(risk, snap.value), policy)
                except Exception:  # the challenger's failure never touches the request
                    self.errors += 1
                    log.exception("shadow scoring with %s v%s failed", MODEL, version)
                    continue
                self.scored += 1
                self.max_score_gap = max(self.max_score_gap, abs(float(risk.score) - snap.score))
                before = (snap.decision.action.value, snap.decision.queue)
                after = (decision.action.value, decision.queue)
                if before != after:
                    self.flips += 1
                    moved = f"{before[0]}→{after[0]}" if before[0] != after[0] else None
                    self.transitions[moved or f"{before[0]} {before[1]}→{after[1]}"] += 1
            self._write()

    def report(self) -> dict[str, Any] | None:
        if self.version is None:
            return None
        return {
            "model": MODEL,
            "challenger_version": self.version,
            "scored": self.scored,
            "flips": self.flips,
            "flip_rate": self.flips / self.scored if self.scored else None,
            "transitions": dict(self.transitions),
            "max_score_gap": self.max_score_gap,
            "errors": self.errors,
        }

    def _path(self) -> Path:
        return self.directory / f"{MODEL}-v{self.version}.json"

    def _read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self._path().read_text())
        except (OSError, ValueError):
            return None

    def _write(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self._path().with_suffix(".tmp")
            tmp.write_text(json.dumps(self.report()))
            tmp.replace(self._path())
        except OSError as err:
            log.warning("shadow counts not written: %s", err)
