"""Order lines accepted but not final yet, with a bound on how many a live state keeps.

A live :class:`~features.risk_state.RiskState` keeps each accepted line until its outcome
arrives (``record_outcome``), because the outcome's statistics need the line's item,
location, customer, carrier and identity keys. An outcome that never comes — an order
system that sends none, a line cancelled without a word — would keep its line forever,
and a long-running server grows by the size of every such line (the soak of issue 20
measured ~2.8 KiB per scored order). Two bounds keep it finite:

* **age**: a line still open past its promised day + :data:`OPEN_DAYS` is *aged out*: it
  is forgotten and counted, never as a hit nor a miss (nothing about it is known). Half a
  year past the promise, an outcome that still arrives is news of a different kind (a
  dispute, a return), not what the features learn from.
* **count**: at most ``max_lines`` lines; past them the oldest accepted are aged out,
  in batches of 1/64 of the bound (one scan of the oldest per batch, not one per line).

An open line costs ~1.6 KiB as recorded from a request (its own copies of the ids, a
dozen identity-key tuples); :meth:`OpenLines.shared` gives lines with the same values one
object (a bounded memo), which roughly halves that.

A line aged out and then given an outcome is not counted (``close`` answers None), as an
outcome of a line the state never saw. Plain data only; the state's clock moves it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")

OPEN_DAYS = 182  # a line is forgotten this many days past its promised day
MAX_OPEN_LINES = 200_000  # the default bound (settings: STOCKPILOT_MAX_OPEN_LINES)
SHARED_LIMIT = 100_000  # distinct values :meth:`OpenLines.shared` remembers before starting over


class OpenLines:
    """Open lines by key (order id, line no), each with the whole day it was promised.

    ``aged_out`` counts every line forgotten; ``over_cap`` the part of them dropped
    because the bound was reached (the rest passed their promise + :data:`OPEN_DAYS`).
    """

    def __init__(self, max_lines: int = MAX_OPEN_LINES, open_days: int = OPEN_DAYS) -> None:
        if max_lines < 1:
            raise ValueError(f"max_lines must be at least 1, got {max_lines}")
        self.max_lines = max_lines
        self.open_days = open_days
        self.aged_out = 0
        self.over_cap = 0
        self._day = -(10**9)
        self._lines: dict[tuple, tuple] = {}  # key → (line, due day), oldest accepted first
        self._due: dict[int, set[tuple]] = {}  # due day → keys of the lines due then
        self._due_days: list[int] = []  # heap of the due days in _due
        self._shared: dict[object, object] = {}

    @classmethod
    def of(cls, lines: Iterable[tuple[tuple, tuple, float]], **bounds: int) -> OpenLines:
        """Open lines from ``(key, line, promised day)`` triples, oldest first."""
        opened = cls(**bounds)
        for key, line, promised in lines:
            opened.open(key, line, promised)
        return opened

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, key: object) -> bool:
        return key in self._lines

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._lines)

    def get(self, key: tuple) -> tuple | None:
        entry = self._lines.get(key)
        return None if entry is None else entry[0]

    def shared(self, value: T) -> T:
        """The one object kept for values equal to ``value`` (ids, key tuples): open lines
        with the same item or customer hold it once, not once per request that named it."""
        kept = self._shared.get(value)
        if kept is None:
            if len(self._shared) >= SHARED_LIMIT:
                self._shared.clear()  # a memo, not a registry: starting over is safe
            kept = self._shared[value] = value
        return kept  # type: ignore[return-value]

    def open(self, key: tuple, line: tuple, promised_day: float) -> None:
        """Keep ``line`` open under ``key`` (a key seen before is replaced, and newest)."""
        if key in self._lines:
            self._forget(key)
        due = int(promised_day) + self.open_days
        if due < self._day:  # already past its age: never kept
            self.aged_out += 1
            return
        self._lines[key] = (line, due)
        keys = self._due.get(due)
        if keys is None:
            keys = self._due[due] = set()
            heapq.heappush(self._due_days, due)
        keys.add(key)
        if len(self._lines) > self.max_lines:
            self.shrink()

    def close(self, key: tuple) -> tuple | None:
        """Take a line out (its outcome is final); None for a line not open."""
        if key not in self._lines:
            return None
        return self._forget(key)

    def advance(self, day: int) -> int:
        """The clock is at ``day``: age out the lines past their due day; how many."""
        if day <= self._day:
            return 0
        self._day = day
        aged = 0
        while self._due_days and self._due_days[0] < day:
            keys = self._due.pop(heapq.heappop(self._due_days), ())
            for key in keys:
                del self._lines[key]
            aged += len(keys)
        self.aged_out += aged
        return aged

    def _forget(self, key: tuple) -> tuple:
        line, due = self._lines.pop(key)
        self._due[due].discard(key)  # an emptied set waits for its day, in the heap
        return line

    def shrink(self) -> None:
        """Past ``max_lines``, age out the oldest accepted, down to 63/64 of the bound."""
        if len(self._lines) > self.max_lines:
            self._drop_oldest(len(self._lines) - self.max_lines + self.max_lines // 64)

    def _drop_oldest(self, n: int) -> None:
        for key in list(islice(self._lines, n)):
            self._forget(key)
        self.aged_out += n
        self.over_cap += n
