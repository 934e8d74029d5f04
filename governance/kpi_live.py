"""The dataset's KPI facts with the governance store's live records applied, incrementally.

What arrives after the facts were built is read by high-water mark (last line outcome,
last inventory event, last audit sequence number) and applied to just what it changes:
a new outcome patches its lines, their weight columns and the per-day partial sums of
the days they are due (:mod:`features.kpis.partials`); a queue decision or a new
recommendation re-reads and re-slices only the items its audit events name. What does
not depend on outcomes — the index of lines by id, orders' rows and categories, lines'
stock series — is carried from one patch to the next instead of rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from features.kpis.base import KpiFacts
from features.kpis.lines import with_outcomes
from features.kpis.partials import day_partials, patched_partials
from features.kpis.query import day_number
from features.kpis.records import RecordFacts, build_records, order_category
from features.kpis.stock import with_events
from features.kpis.weights import patched_weights, weights
from governance.kpi_cache import Base
from governance.kpi_records import HighWater, KpiRecords

EVENT_REACH_DAYS = 366  # inventory positions may correct up to a year before the data


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


class LiveFacts:
    """One dataset's facts, brought up to a store's high-water mark on each refresh."""

    def __init__(self, base: Base, records: KpiRecords | None) -> None:
        self.base, self.records = base, records
        self.lines, self.stock = base.lines, base.stock
        self.high_water = HighWater()
        self.facts_records = RecordFacts.empty()
        # The first dashboard and the first outcome should not pay for these.
        weights(self.lines)
        day_partials(self.lines)
        self.lines.row_of([], [])
        self.lines.order_rows()
        order_category(self.lines)
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
        tomorrow = day_number(datetime.now(UTC).date()) + 1
        if now.outcome_id > before.outcome_id:
            outcomes = self.records.outcomes_after(before.outcome_id, now.outcome_id)
            lines, unmatched, changed = with_outcomes(self.lines, outcomes, latest=tomorrow)
            if lines is not self.lines:
                patched_weights(self.lines, lines, changed)
                patched_partials(self.lines, lines, changed)
            self.lines = lines
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
        if now.audit_seq > before.audit_seq:
            changes = self.records.records_after(before.audit_seq, now.audit_seq)
            # Only the items and recommendations the new audit events name are sliced;
            # slices follow the lines' identity, which outcomes never change.
            fresh = build_records(
                changes.items,
                changes.recommendations,
                self.lines,
                self.base.dims,
                self.base.segment_of_customer,
            )
            self.facts_records = RecordFacts(
                merged(self.facts_records.items, fresh.items),
                merged(self.facts_records.recommendations, fresh.recommendations),
            )
        self.high_water = now


def merged(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``new`` replace the rows of ``old`` with the same id."""
    if new.empty:
        return old
    base = old[~old["id"].isin(new["id"])] if len(old) else old
    columns = list(new.columns)
    return pd.concat([base[columns], new], ignore_index=True) if len(base) else new
