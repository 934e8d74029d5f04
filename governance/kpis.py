"""The KPI cache: facts from the dataset, kept current with live events and governance.

Building the dataset facts means loading and validating the whole export (seconds to
minutes), so they are built once per dataset and kept: in memory and on disk under
``cache_dir``, keyed by the dataset's fingerprint (its table files' names, sizes and
modification times) and by the code that builds them. What arrives later is applied
incrementally, keyed by the store's high-water mark (last line outcome, last inventory
event, last audit sequence number): a new outcome recomputes its line's weights, a queue
decision re-reads its item. Computed dashboards are memoised per query and high-water
mark, so a dashboard re-read by many supervisors is computed once.

When the dataset changes (a new export, substitution feedback appended to it) the old
facts keep answering — marked ``stale`` — while new ones are built in the background.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.kpis.base import KpiFacts
from features.kpis.compute import Computed, compute
from features.kpis.dims import Dims
from features.kpis.lines import LineFacts, build_lines, with_outcomes
from features.kpis.query import Grain, Period, Query, auto_grain, day_date, day_number
from features.kpis.records import RecordFacts, build_records
from features.kpis.rows import Outcome, Page, rows
from features.kpis.stock import StockFacts, build_stock, with_events
from features.kpis.weights import patched_weights, weights
from governance.kpi_records import HighWater, KpiRecords
from stockpilot.errors import InvalidInput, NotFound, NotReady

log = logging.getLogger(__name__)
TABLE_SUFFIXES = (".parquet", ".csv")
MEMO_ENTRIES = 256
EARLIEST, LATEST = date(1900, 1, 1), date(2199, 12, 31)  # a period outside is a typo
MAX_BUCKETS = 1000
CURRENT_DAYS = 28
EVENT_REACH_DAYS = 366  # inventory positions may correct up to a year before the data
FACT_MODULES = ("dims.py", "lines.py", "stock.py", "weights.py")


def dataset_fingerprint(directory: Path) -> str:
    """Names, sizes and modification times of the table files (not ``truth/``)."""
    digest = hashlib.sha256()
    for path in sorted(Path(directory).iterdir()):
        if path.is_file() and path.suffix in TABLE_SUFFIXES and not path.name.startswith("."):
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def facts_code_version() -> str:
    """A hash of the code that builds the facts: cached facts of older code are rebuilt."""
    digest = hashlib.sha256()
    for name in FACT_MODULES:
        digest.update((files("features") / "kpis" / name).read_bytes())
    return digest.hexdigest()[:12]


@dataclass
class Base:
    """The dataset's facts before anything live is applied."""

    fingerprint: str
    dims: Dims
    lines: LineFacts
    stock: StockFacts
    segment_of_customer: pd.Series
    seconds: float
    source: str  # "built" or "disk cache"


@dataclass
class Snapshot:
    facts: KpiFacts
    base: Base
    high_water: HighWater
    stale: bool
    unmatched_outcomes: int
    ignored_inventory_events: int = 0

    @property
    def version(self) -> tuple[str, HighWater]:
        return (self.base.fingerprint, self.high_water)


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
        self._live: _Live | None = None
        self._rebuilding: threading.Thread | None = None
        self._memo: OrderedDict[tuple, Any] = OrderedDict()

    # --- facts ----------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The current facts: built on first use (blocking), then brought up to date."""
        with self._lock:
            if self._live is None:
                self._live = _Live(self._load_base(), self.records)
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
                self._live = _Live(base, self.records)
                self._memo.clear()
            self._rebuilding = None

    def _load_base(self) -> Base:
        from stockpilot.data import load_dataset

        if not self.data_dir.is_dir():
            raise NotReady(f"KPIs need a dataset: {self.data_dir} does not exist")
        fingerprint = dataset_fingerprint(self.data_dir)
        cached = self._read_cache(fingerprint)
        if cached is not None:
            return cached
        t0 = time.perf_counter()
        ds = load_dataset(self.data_dir)
        dims = Dims.from_dataset(ds)
        customers = ds.customers.drop_duplicates("customer_id")
        segment = (
            pd.Series(customers["segment"].to_numpy(), index=customers["customer_id"].astype(str))
            if "segment" in customers.columns
            else pd.Series(dtype=object)
        )
        base = Base(
            fingerprint,
            dims,
            build_lines(ds, dims),
            build_stock(ds, dims),
            segment,
            time.perf_counter() - t0,
            "built",
        )
        self._write_cache(base)
        return base

    # --- disk cache -------------------------------------------------------------------

    def _cache_path(self, fingerprint: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"kpis-{facts_code_version()}-{fingerprint}.npz"

    def _read_cache(self, fingerprint: str) -> Base | None:
        path = self._cache_path(fingerprint)
        if path is None or not path.exists():
            return None
        t0 = time.perf_counter()
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
            dims = Dims(
                {
                    k.split(".", 1)[1]: _objects(v)
                    for k, v in arrays.items()
                    if k.startswith("dims.")
                }
            )
            segment = pd.Series(
                _objects(arrays["segment.values"]), index=_objects(arrays["segment.index"])
            )
            return Base(
                fingerprint,
                dims,
                _unpack(LineFacts, arrays, "lines."),
                _unpack(StockFacts, arrays, "stock."),
                segment,
                time.perf_counter() - t0,
                "disk cache",
            )
        except (OSError, KeyError, ValueError) as err:
            log.warning("KPI cache %s unreadable (%s); rebuilding", path, err)
            return None

    def _write_cache(self, base: Base) -> None:
        path = self._cache_path(base.fingerprint)
        if path is None:
            return
        arrays = {
            **{f"dims.{k}": v.astype(str) for k, v in base.dims.labels.items()},
            **_pack(base.lines, "lines."),
            **_pack(base.stock, "stock."),
            "segment.index": base.segment_of_customer.index.to_numpy().astype(str),
            "segment.values": base.segment_of_customer.fillna("")
            .astype(str)
            .to_numpy()
            .astype(str),
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            with tmp.open("wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
            for old in path.parent.glob("kpis-*.npz"):
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError as err:  # a cache that cannot be written only costs the next start
            log.warning("KPI cache not written to %s: %s", path, err)

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


class _Live:
    """The dataset's facts with the store's events and records applied, incrementally."""

    def __init__(self, base: Base, records: KpiRecords | None) -> None:
        self.base, self.records = base, records
        self.lines, self.stock = base.lines, base.stock
        self.high_water = HighWater()
        self.items = RecordFacts.empty().items
        self.recs = RecordFacts.empty().recommendations
        self.facts_records = RecordFacts.empty()
        weights(self.lines)  # the first dashboard should not pay for them
        self.unmatched = 0
        self.ignored_events = 0

    def refresh(self, stale: bool) -> Snapshot:
        if self.records is not None:
            now = self.records.high_water()
            if now != self.high_water:
                self._apply(now)
        facts = KpiFacts(
            self.base.dims, self.lines, self.stock, self.facts_records, self.records is not None
        )
        return Snapshot(
            facts, self.base, self.high_water, stale, self.unmatched, self.ignored_events
        )

    def _apply(self, now: HighWater) -> None:
        assert self.records is not None
        before = self.high_water
        lines = self.lines
        tomorrow = day_number(datetime.now(UTC).date()) + 1
        if now.outcome_id > before.outcome_id:
            outcomes = self.records.outcomes_after(before.outcome_id, now.outcome_id)
            lines, unmatched, changed = with_outcomes(self.lines, outcomes, latest=tomorrow)
            patched_weights(self.lines, lines, changed)
            self.unmatched += unmatched
        if now.inventory_id > before.inventory_id:
            events = self.records.inventory_after(before.inventory_id, now.inventory_id)
            # Positions dated far from the data or in the future are typos: they would
            # stretch the day grid over centuries. They are counted and left out.
            day = (events["snapshot_date"] - pd.Timestamp(0)).dt.days.to_numpy(dtype=float)
            first = self.base.stock.day0 - EVENT_REACH_DAYS
            usable = (day >= first) & (day <= tomorrow)
            self.ignored_events += int((~usable).sum())
            self.stock = with_events(self.stock, events[usable], self.base.dims)
        if now.audit_seq > before.audit_seq or lines is not self.lines:
            changes = self.records.records_after(before.audit_seq, now.audit_seq)
            self.items = _merge(self.items, changes.items)
            self.recs = _merge(self.recs, changes.recommendations)
            # Slices of every item follow the lines; their outcomes are read at compute time.
            self.facts_records = build_records(
                self.items, self.recs, lines, self.base.dims, self.base.segment_of_customer
            )
        self.lines = lines
        self.high_water = now


def _merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``new`` replace the rows of ``old`` with the same id."""
    if new.empty:
        return old
    base = old[~old["id"].isin(new["id"])] if len(old) else old
    columns = list(new.columns)
    return pd.concat([base[columns], new], ignore_index=True) if len(base) else new


def _pack(obj: Any, prefix: str) -> dict[str, np.ndarray]:
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        array = np.asarray(value)
        out[prefix + f.name] = array.astype(str) if array.dtype == object else array
    return out


def _unpack(cls: type, arrays: dict[str, np.ndarray], prefix: str) -> Any:
    values = {}
    for f in fields(cls):
        array = arrays[prefix + f.name]
        values[f.name] = array.item() if array.ndim == 0 else _objects(array)
    return cls(**values)


def _objects(array: np.ndarray) -> np.ndarray:
    return array.astype(object) if array.dtype.kind == "U" else array
