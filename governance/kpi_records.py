"""Reads of the governance store that the KPIs need: a read repository.

Everything the KPIs take from the store goes through :class:`KpiRecords`, so callers
(the KPI cache, the CLI) never hold a session. Reads are incremental: each returns what
is new after a high-water mark — the last line outcome id, the last inventory event id
and the last audit sequence number. Outcomes and inventory events are append-only with
increasing ids; recommendations and queue decisions all leave audit events, so the audit
sequence says which of them changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson
import pandas as pd
from sqlalchemy import func, select

from features.kpis.records import ITEM_COLUMNS, RECOMMENDATION_COLUMNS
from governance.store.engine import Database
from governance.store.tables import (
    AuditEventRow,
    InventoryEventRow,
    LineOutcomeRow,
    QueueItemRow,
    RecommendationRow,
)

CHUNK = 500  # ids per IN (...) query
INVENTORY_FIELDS = ("on_hand", "allocated", "reserved", "quarantined")


@dataclass(frozen=True, slots=True)
class HighWater:
    outcome_id: int = 0
    inventory_id: int = 0
    audit_seq: int = 0


@dataclass(frozen=True, slots=True)
class RecordChanges:
    """Queue items and recommendations created or changed after an audit sequence."""

    items: pd.DataFrame  # features.kpis.records.ITEM_COLUMNS
    recommendations: pd.DataFrame  # RECOMMENDATION_COLUMNS
    audit_seq: int


class KpiRecords:
    """Query functions over one governance store; every call is its own read transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def high_water(self) -> HighWater:
        with self.db.read() as s:
            outcome = s.scalar(select(func.max(LineOutcomeRow.id))) or 0
            inventory = s.scalar(select(func.max(InventoryEventRow.id))) or 0
            seq = s.scalar(select(func.max(AuditEventRow.seq))) or 0
        return HighWater(int(outcome), int(inventory), int(seq))

    def outcomes_after(self, last_id: int, up_to: int) -> pd.DataFrame:
        """Line outcomes ``last_id < id <= up_to`` as contract fulfillments rows, the latest
        report per line."""
        query = (
            select(
                LineOutcomeRow.order_id,
                LineOutcomeRow.line_no,
                LineOutcomeRow.shipped_qty,
                LineOutcomeRow.ship_date,
                LineOutcomeRow.delivered_date,
                LineOutcomeRow.status,
            )
            .where(LineOutcomeRow.id > last_id, LineOutcomeRow.id <= up_to)
            .order_by(LineOutcomeRow.id)
        )
        with self.db.read() as s:
            frame = pd.DataFrame(
                s.execute(query).all(), columns=list(query.selected_columns.keys())
            )
        for column in ("ship_date", "delivered_date"):
            frame[column] = _days(frame[column])
        return frame.drop_duplicates(["order_id", "line_no"], keep="last").reset_index(drop=True)

    def inventory_after(self, last_id: int, up_to: int) -> pd.DataFrame:
        """Inventory events ``last_id < id <= up_to`` in arrival order: snapshot_date,
        item_id, location_id and the quantity fields they set (NaN where not set)."""
        query = (
            select(
                InventoryEventRow.snapshot_date,
                InventoryEventRow.item_id,
                InventoryEventRow.location_id,
                InventoryEventRow.fields,
            )
            .where(InventoryEventRow.id > last_id, InventoryEventRow.id <= up_to)
            .order_by(InventoryEventRow.id)
        )
        with self.db.read() as s:
            rows = s.execute(query).all()
        frame = pd.DataFrame(
            {
                "snapshot_date": _days(pd.Series([r.snapshot_date for r in rows], dtype=object)),
                "item_id": [r.item_id for r in rows],
                "location_id": [r.location_id for r in rows],
                **{
                    f: pd.Series([(r.fields or {}).get(f) for r in rows], dtype=float)
                    for f in INVENTORY_FIELDS
                },
            }
        )
        return frame

    def records_after(self, seq: int, up_to: int) -> RecordChanges:
        """Recommendations and queue items touched by audit events ``seq < n <= up_to``
        (all of them when ``seq`` is 0)."""
        with self.db.read() as s:
            if seq == 0:
                items = list(s.execute(_ITEMS))
                recs = list(s.execute(_RECS))
            else:
                item_ids, rec_ids = set(), set()
                events = s.execute(
                    select(AuditEventRow.kind, AuditEventRow.subject_type, AuditEventRow.subject_id)
                    .where(AuditEventRow.seq > seq, AuditEventRow.seq <= up_to)
                    .where(AuditEventRow.subject_type.in_(("recommendation", "queue_item")))
                )
                created: list[str] = []
                for kind, subject_type, subject_id in events:
                    if subject_type == "queue_item":
                        item_ids.add(subject_id)
                    elif kind == "recommendation.created":
                        rec_ids.add(subject_id)
                        created.append(subject_id)
                item_ids |= set(_created_items(s, created, seq, up_to))
                items = [
                    row
                    for ids in _chunks(item_ids)
                    for row in s.execute(_ITEMS.where(QueueItemRow.id.in_(ids)))
                ]
                recs = [
                    row
                    for ids in _chunks(rec_ids)
                    for row in s.execute(_RECS.where(RecommendationRow.id.in_(ids)))
                ]
        return RecordChanges(_item_frame(items), _rec_frame(recs), up_to)


_ITEMS = select(
    QueueItemRow.id,
    QueueItemRow.queue,
    QueueItemRow.kind,
    QueueItemRow.subject,
    QueueItemRow.action,
    QueueItemRow.status,
    QueueItemRow.created_at,
    QueueItemRow.due_at,
    QueueItemRow.decided_at,
    QueueItemRow.decided_by,
    QueueItemRow.details,
)
_RECS = select(
    RecommendationRow.id,
    RecommendationRow.kind,
    RecommendationRow.subject,
    RecommendationRow.created_at,
)


def _created_items(session, rec_ids: list[str], seq: int, up_to: int) -> Iterator[str]:
    """Queue items opened with new recommendations: their id is in the creating event."""
    for ids in _chunks(rec_ids):
        payloads = session.scalars(
            select(AuditEventRow.payload).where(
                AuditEventRow.seq > seq,
                AuditEventRow.seq <= up_to,
                AuditEventRow.kind == "recommendation.created",
                AuditEventRow.subject_id.in_(ids),
            )
        )
        for payload in payloads:
            item = orjson.loads(payload).get("queue_item_id")
            if item:
                yield item


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    values = sorted(values)
    for k in range(0, len(values), CHUNK):
        yield values[k : k + CHUNK]


def _item_frame(rows: list) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            (
                *row[:10],
                (row.details or {}).get("top_family"),
                (row.details or {}).get("customer_id"),
            )
            for row in rows
        ],
        columns=list(ITEM_COLUMNS),
    )
    return frame.astype({c: object for c in ("top_family", "customer_id", "decided_by")})


def _rec_frame(rows: list) -> pd.DataFrame:
    return pd.DataFrame([tuple(r) for r in rows], columns=list(RECOMMENDATION_COLUMNS))


def _days(values: pd.Series) -> pd.Series:
    """Aware UTC datetimes → naive dates (the dataset's day grid); dates pandas cannot
    represent (before 1677 or after 2262: a reporting system's typo) become NaT."""
    ts = pd.to_datetime(values, utc=True, errors="coerce")
    return ts.dt.tz_convert(None).dt.normalize()
