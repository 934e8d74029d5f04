"""The KPI store: current facts per dataset, the queries over them, memoised results.

``KpiStore`` ties three parts together: the dataset's facts, built once and kept on disk
(:mod:`governance.kpi_cache`), the live records applied to them incrementally
(:mod:`governance.kpi_live`), and the results, memoised per query and high-water mark so
a dashboard re-read by many supervisors is computed once.

When the dataset changes (a new export, substitution feedback appended to it) the old
facts keep answering — marked ``stale`` — while new ones are built in the background.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from features.kpis.base import KpiFacts
from features.kpis.compute import Computed, compute
from features.kpis.query import Grain, Period, Query, auto_grain, day_date, day_number
from features.kpis.rows import Outcome, Page, rows
from governance.kpi_cache import Base, dataset_fingerprint, load_base
from governance.kpi_live import LiveFacts, Snapshot
from governance.kpi_records import KpiRecords
from stockpilot.errors import InvalidInput, NotFound, NotReady

log = logging.getLogger(__name__)
MEMO_ENTRIES = 256
EARLIEST, LATEST = date(1900, 1, 1), date(2199, 12, 31)  # a period outside is a typo
MAX_BUCKETS = 1000
CURRENT_DAYS = 28


class KpiStore:
    """Current KPI facts for one dataset directory and (optionally) one governance store."""

    def __init__(
        self, data_dir: Path, cache_dir: Path | None = None, records: KpiRecords | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.cache_dir = cache_dir
        self.records = records
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._live: LiveFacts | None = None
        self._rebuilding: threading.Thread | None = None
        self._memo: OrderedDict[tuple, Any] = OrderedDict()

    # --- facts ----------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The current facts: built on first use (blocking), then brought up to date."""
        with self._lock:
            if self._live is None:
                self._live = LiveFacts(self._load_base(), self.records)
            else:
                self._check_dataset()
            self._snapshot = self._live.refresh(stale=self._rebuilding is not None)
            return self._snapshot

    def wait_for_rebuild(self, timeout: float | None = None) -> bool:
        """Block until a background rebuild (if any) is done; False on timeout."""
        thread = self._rebuilding
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _check_dataset(self) -> None:
        if self._rebuilding is not None or self._live is None:
            return
        try:
            fingerprint = dataset_fingerprint(self.data_dir)
        except OSError:
            return
        if fingerprint != self._live.base.fingerprint:
            self._rebuilding = threading.Thread(target=self._rebuild, daemon=True)
            self._rebuilding.start()

    def _rebuild(self) -> None:
        try:
            base = self._load_base()
        except Exception:
            log.exception("rebuilding KPI facts failed; the previous facts stay in use")
            base = None
        with self._lock:
            if base is not None:
                self._live = LiveFacts(base, self.records)
                self._memo.clear()
            self._rebuilding = None

    def _load_base(self) -> Base:
        return load_base(self.data_dir, self.cache_dir)

    # --- queries ----------------------------------------------------------------------

    def query(
        self,
        snapshot: Snapshot,
        start: date | None = None,
        end: date | None = None,
        grain: Grain | None = None,
        filters: dict[str, str | None] | None = None,
    ) -> Query:
        """A query over the snapshot: the whole span of the data by default; slice values
        must occur in the data (InvalidInput naming the value and the known ones)."""
        first, last = data_span(snapshot.facts)
        lo = day_number(start) if start is not None else first
        hi = day_number(end) if end is not None else last
        if hi < lo:
            raise InvalidInput(
                f"period: to ({day_date(hi)}) is before from ({day_date(lo)})", field="to"
            )
        for name, day in (("from", lo), ("to", hi)):
            if not EARLIEST <= day_date(day) <= LATEST:
                raise InvalidInput(
                    f"{name}: {day_date(day)} is outside {EARLIEST} to {LATEST}", field=name
                )
        grain = grain or auto_grain(hi - lo + 1)
        buckets = len(Period(lo, hi, grain).edges) - 1
        if buckets > MAX_BUCKETS:
            raise InvalidInput(
                f"grain: {grain} over {hi - lo + 1} days gives {buckets} trend points "
                f"(at most {MAX_BUCKETS}); choose a coarser grain or a shorter period",
                field="grain",
            )
        codes = {}
        for dim, label in (filters or {}).items():
            if label is None:
                continue
            try:
                codes[dim] = snapshot.facts.dims.code(dim, label)
            except ValueError as err:
                raise InvalidInput(str(err), field=dim) from None
        return Query(Period(lo, hi, grain), codes)

    def dashboard(
        self, snapshot: Snapshot, query: Query, ids: list[str] | None = None, by: str | None = None
    ) -> list[Computed]:
        key = ("dashboard", snapshot.version, query.key, tuple(ids or ()), by)
        return self._memoised(key, lambda: self._checked(compute, snapshot.facts, query, ids, by))

    def rows(
        self,
        snapshot: Snapshot,
        kpi_id: str,
        query: Query,
        outcome: Outcome = "all",
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        key = ("rows", snapshot.version, kpi_id, query.key, outcome, limit, offset)
        return self._memoised(
            key, lambda: self._checked(rows, snapshot.facts, kpi_id, query, outcome, limit, offset)
        )

    def current(self) -> tuple[Snapshot, list[Computed]] | None:
        """Every KPI over the last :data:`CURRENT_DAYS` days of data — what monitoring
        shows — or None while the facts have not been built (nothing is built for it)."""
        if self._live is None:
            return None
        snapshot = self.snapshot()
        _, last = data_span(snapshot.facts)
        query = Query(Period(last - CURRENT_DAYS + 1, last, "day"))
        return snapshot, self.dashboard(snapshot, query)

    @staticmethod
    def _checked(function, *args):  # type: ignore[no-untyped-def]
        try:
            return function(*args)
        except KeyError as err:  # unknown KPI id
            raise NotFound(str(err.args[0]), kpi=str(args[1] if len(args) > 1 else "")) from None
        except ValueError as err:
            raise InvalidInput(str(err)) from None

    def _memoised(self, key: tuple, make) -> Any:  # type: ignore[no-untyped-def]
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = make()
        with self._lock:
            self._memo[key] = value
            while len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)
        return value


def sources_dict(snapshot: Snapshot) -> dict[str, Any]:
    """Where the numbers come from: dataset, live records up to their high-water mark."""
    first, last = data_span(snapshot.facts)
    hw = snapshot.high_water
    return {
        "dataset_fingerprint": snapshot.base.fingerprint,
        "facts_source": snapshot.base.source,
        "facts_seconds": round(snapshot.base.seconds, 3),
        "high_water": {
            "outcome_id": hw.outcome_id,
            "inventory_id": hw.inventory_id,
            "audit_seq": hw.audit_seq,
        },
        "stale": snapshot.stale,
        "unmatched_outcomes": snapshot.unmatched_outcomes,
        "ignored_inventory_events": snapshot.ignored_inventory_events,
        "governance": snapshot.facts.has_records,
        "data_from": day_date(first),
        "data_to": day_date(last),
    }


def data_span(facts: KpiFacts) -> tuple[int, int]:
    """First and last day the facts know about (due days, snapshots, governance)."""
    due = facts.lines.due_day[np.isfinite(facts.lines.due_day)]
    firsts = [due.min()] if len(due) else []
    lasts = [facts.lines.horizon]
    if facts.stock.n_days:
        firsts.append(facts.stock.day0)
        lasts.append(facts.stock.last_day)
    for frame, column in ((facts.records.items, "decided"), (facts.records.items, "created")):
        days = frame[column].to_numpy(dtype=float) if len(frame) else np.zeros(0)
        days = days[np.isfinite(days)]
        if len(days):
            lasts.append(np.floor(days.max()))
    lasts = [x for x in lasts if np.isfinite(x)]
    if not firsts:
        raise NotReady("the dataset holds no order lines and no inventory: no KPIs to compute")
    return int(min(firsts)), int(max(lasts))


__all__ = ["KpiStore", "Snapshot", "data_span", "dataset_fingerprint", "sources_dict"]
