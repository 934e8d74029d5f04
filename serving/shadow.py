"""Shadow scoring: while a challenger exists, a sample of requests is decided by it too.

One :class:`Shadow` per model. The challenger (the registry's ``challenger`` alias of the
model, loaded at start-up and by ``POST /v1/models/reload``) never decides anything. For
a share of requests (``promotion.shadow_share``, chosen by a hash of a stable key of the
request, so a retry is sampled the same way) the request keeps a snapshot of what the
champion decided on, and the challenger decides that snapshot **after the response is
sent** (a background task, in a worker thread: it only reads the snapshot and its own
model; its failure is counted and logged, never seen by the request). A **flip** is a
case the challenger would have decided differently.

What a snapshot holds, what a case is and what counts as a flip differ per model, so
they are the shadow's :class:`Kind`: order risk's is here (a case is an order; a flip a
different action or queue), substitution's in ``shadow_substitution.py`` and demand's in
``shadow_demand.py``. Each kind also measures how far the two were apart (order risk: the
largest order-score gap).

The counts are kept per challenger version, exported on ``/metrics`` (with a ``model``
label) and written to ``<home>/shadow/<model>-v<version>.json``, which ``stockpilot
models gate`` puts in the gate report (the decision-flip rate).
"""

from __future__ import annotations

import json
import logging
import statistics
import threading
import zlib
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from features.order_fields import record_fields
from features.risk_state import RiskState
from governance.policy import Policy
from governance.routing import Decision, OrderRisk, route
from models.order_risk_scorer import ScoredOrder

log = logging.getLogger(__name__)
RECENT = 1000  # values a median is taken over (the latest cases)
Lines = Sequence[Mapping[str, Any]]


def sampled(key: str, share: float) -> bool:
    """Whether ``key`` is in the shadow sample (stable across retries and processes)."""
    return zlib.crc32(key.encode()) < share * 2**32


def routing(decision: Decision) -> str:
    """A decision as a flip reads it: the action, and the queue when there is one."""
    return f"{decision.action.value} {decision.queue}" if decision.queue else decision.action.value


@dataclass(frozen=True)
class Verdict:
    """One case the challenger decided too: the flip as "before→after" (None: the same
    decision) and the kind's measures of how far apart the two were."""

    flip: str | None
    measures: Mapping[str, float] = field(default_factory=dict)


class Kind(Protocol):
    """What one model's shadow scoring knows of the model."""

    model: str
    summaries: ClassVar[dict[str, str]]  # measure → "max" | "mean" | "median" (in the report)

    def scorer(self, served: Any) -> Any:
        """The object of a served model that decides (order risk's scorer, ...)."""

    def key(self, *seen: Any) -> str | None:
        """The request's sampling key (None: never sampled)."""

    def snapshot(self, scorer: Any, *seen: Any) -> Any:
        """On the request path: what the champion decided on and what it decided."""

    def judge(self, scorer: Any, snapshot: Any, policy: Policy) -> list[Verdict]:
        """After the response: the challenger's decisions on a snapshot, one per case."""


@dataclass
class Measure:
    """A running summary of one measure: its largest value, mean and recent median."""

    largest: float | None = None
    total: float = 0.0
    count: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=RECENT))

    def add(self, value: float) -> None:
        self.largest = value if self.largest is None else max(self.largest, value)
        self.total += value
        self.count += 1
        self.recent.append(value)

    def summary(self, how: str) -> float | None:
        if not self.count:
            return None
        if how == "max":
            return self.largest
        if how == "mean":
            return self.total / self.count
        return statistics.median(self.recent)

    def state(self) -> dict[str, Any]:
        recent = list(self.recent)
        return {"largest": self.largest, "total": self.total, "count": self.count, "recent": recent}

    @classmethod
    def restore(cls, state: Mapping[str, Any]) -> Measure:
        kept = cls(state.get("largest"), float(state.get("total", 0.0)), int(state.get("count", 0)))
        kept.recent.extend(state.get("recent", ()))
        return kept


@dataclass
class Shadow:
    """One model's loaded challenger (or none) and its flip counts."""

    directory: Path
    kind: Kind
    version: str | None = None
    scorer: Any = None
    scored: int = 0
    flips: int = 0
    errors: int = 0
    transitions: Counter = field(default_factory=Counter)  # "release→review" etc.
    measures: dict[str, Measure] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def model(self) -> str:
        return self.kind.model

    @property
    def active(self) -> bool:
        return self.scorer is not None

    def __getattr__(self, name: str) -> Any:
        """The kind's summaries as attributes, named as in the report (``max_score_gap``)."""
        kind = self.__dict__.get("kind")
        for measure, how in getattr(kind, "summaries", {}).items():
            if name == f"{how}_{measure}":
                return self.__dict__["measures"].get(measure, Measure()).summary(how)
        raise AttributeError(name)

    def load(self, resolve: Callable[[], Any | None], champion: str | None) -> None:
        """Load the challenger ``resolve`` returns (a served model or None); a challenger
        equal to the champion is no challenger."""
        try:
            served = resolve()
        except Exception as exc:  # registry unreachable: shadowing is optional
            log.warning("shadow: %s challenger not loaded: %s", self.model, exc)
            served = None
        with self._lock:
            if served is None or served.version == champion:
                self.version, self.scorer = None, None
                return
            if served.version != self.version:
                self.version, self.scorer = served.version, self.kind.scorer(served)
                self.scored = self.flips = self.errors = 0
                self.transitions, self.measures = Counter(), {}
                previous = self._read()
                if previous:  # a restart continues the counts of this version
                    self.scored, self.flips = previous["scored"], previous["flips"]
                    self.transitions = Counter(previous.get("transitions", {}))
                    kept = previous.get("kept", {})
                    self.measures = {name: Measure.restore(s) for name, s in kept.items()}

    def snapshot(self, *seen: Any, share: float) -> Any | None:
        """On the request path, before anything is recorded: a snapshot if sampled."""
        scorer = self.scorer
        if scorer is None:
            return None
        key = self.kind.key(*seen)
        if key is None or not sampled(key, share):
            return None
        return self.kind.snapshot(scorer, *seen)

    def score(self, snapshots: list[Any], policy: Policy) -> None:
        """After the response: the challenger's decisions and the flips (a background task)."""
        with self._lock:
            scorer, version = self.scorer, self.version
            if scorer is None:
                return
            for snap in snapshots:
                try:
                    verdicts = self.kind.judge(scorer, snap, policy)
                except Exception:  # the challenger's failure never touches the request
                    self.errors += 1
                    log.exception("shadow scoring with %s v%s failed", self.model, version)
                    continue
                for verdict in verdicts:
                    self.scored += 1
                    if verdict.flip is not None:
                        self.flips += 1
                        self.transitions[verdict.flip] += 1
                    for name, value in verdict.measures.items():
                        self.measures.setdefault(name, Measure()).add(float(value))
            self._write()

    def report(self) -> dict[str, Any] | None:
        if self.version is None:
            return None
        return {
            "model": self.model,
            "challenger_version": self.version,
            "scored": self.scored,
            "flips": self.flips,
            "flip_rate": self.flips / self.scored if self.scored else None,
            "transitions": dict(self.transitions),
            **{
                f"{how}_{name}": self.measures.get(name, Measure()).summary(how)
                for name, how in self.kind.summaries.items()
            },
            "errors": self.errors,
        }

    def _path(self) -> Path:
        return self.directory / f"{self.model}-v{self.version}.json"

    def _read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self._path().read_text())
        except (OSError, ValueError):
            return None

    def _write(self) -> None:
        """The report and, under ``kept``, what a restart needs to continue the measures."""
        kept = {name: measure.state() for name, measure in self.measures.items()}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self._path().with_suffix(".tmp")
            tmp.write_text(json.dumps({**(self.report() or {}), "kept": kept}))
            tmp.replace(self._path())
        except OSError as err:
            log.warning("shadow counts not written: %s", err)


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
    """What the order-risk champion was scored on, kept for the challenger."""

    lines: Lines
    fields: dict[str, Any]
    rows: list[dict[str, Any]]
    value: float
    decision: Decision
    score: float  # the champion's order score


class OrderRiskKind:
    """Order risk: a case is an order, a flip a different action or queue. The snapshot
    holds the line fields and the live-state values *before* the order is recorded in the
    state (the order's own units must not count against it)."""

    model = "order-risk"
    # The largest |challenger − champion| order score seen.
    summaries: ClassVar[dict[str, str]] = {"score_gap": "max"}

    def scorer(self, served: Any) -> Any:
        return served.impl.scorer

    def key(self, lines: Lines, *_: Any) -> str | None:
        return str(lines[0]["order_id"]) if lines else None

    def snapshot(
        self,
        scorer: Any,
        lines: Lines,
        state: RiskState,
        champion: ScoredOrder,
        decision: Decision,
        value: float,
    ) -> Snapshot:
        fields = record_fields(lines)
        rows = state.value_rows(fields)
        return Snapshot(lines, fields, rows, value, decision, float(champion.score))

    def judge(self, scorer: Any, snap: Snapshot, policy: Policy) -> list[Verdict]:
        from features.risk_state import value_arrays

        risk = scorer.score_snapshot(snap.lines, snap.fields, value_arrays(snap.rows))
        decision = route(order_risk_of(risk, snap.value), policy)
        before = (snap.decision.action.value, snap.decision.queue)
        after = (decision.action.value, decision.queue)
        flip = None
        if before != after:
            moved = f"{before[0]}→{after[0]}" if before[0] != after[0] else None
            flip = moved or f"{before[0]} {before[1]}→{after[1]}"
        return [Verdict(flip, {"score_gap": abs(float(risk.score) - snap.score)})]
