"""A queue as the workbench shows it: pending items ranked by expected cost, filtered, paged.

Ranking needs every pending item of the queue (the cost is computed from each item's
details, not a column the database can sort by). :class:`QueueCache` keeps each queue's
pending items between requests and, per request, reads only ``(id, version)`` of the
pending ones to find what changed: new or changed items are read again, decided ones
dropped. Each item's time-independent part of the cost (P(miss) × value × tier weight) is
computed once; the urgency, which moves with the clock, is computed for all items at once
on every request (:func:`governance.priority.urgencies`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from governance.policy import Policy, ReviewPolicy
from governance.priority import Priority, miss_probability, priority, promise_moment, urgencies
from governance.reads import Reads
from governance.worklists import PendingItem, PendingSnapshot

PAGE_SIZE = 25
VALUE_BANDS: dict[str, tuple[str, float, float]] = {
    "small": ("under 1,000", 0.0, 1_000.0),
    "medium": ("1,000 – 10,000", 1_000.0, 10_000.0),
    "large": ("10,000 – 100,000", 10_000.0, 100_000.0),
    "huge": ("100,000 and more", 100_000.0, math.inf),
}


@dataclass(frozen=True, slots=True)
class Ranked:
    item: PendingItem
    priority: Priority
    reference: str  # what a person calls it: the order id, the item@location
    customer: str | None
    driver: str | None
    locations: tuple[str, ...]
    low_impact: bool  # the policy lets it be approved in bulk


def reference(item: PendingItem | Any) -> str:
    subject = item.subject
    if item.kind == "order_risk":
        return subject.removeprefix("order:")
    if item.kind == "substitution":
        order_id = (item.details or {}).get("order_id")
        return str(order_id) if order_id else subject.removeprefix("substitution:")
    return subject.removeprefix("replenishment:")


@dataclass(frozen=True, slots=True)
class _Entry:
    """One pending item with what ranking and filtering read, computed once."""

    item: PendingItem
    reference: str
    customer: str | None
    tier: str | None
    driver: str | None
    locations: tuple[str, ...]
    value: float | None
    base: float  # P(miss) × value × tier weight (0 when the value is unknown)
    created: float
    due: float
    promised: float  # NaN: no promised date


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _entry(item: PendingItem, review: ReviewPolicy, tiers: Mapping[str, str]) -> _Entry:
    details = item.details or {}
    customer = details.get("customer_id")
    customer = str(customer) if customer is not None else None
    tier = tiers.get(customer) if customer else None
    weight = review.tier_weights.get(tier, review.default_tier_weight) if tier else None
    weight = weight if weight is not None else review.default_tier_weight
    value = details.get("value")
    value = float(value) if isinstance(value, int | float) and value == value else None
    locations = details.get("locations") or []
    if not locations and details.get("location_id"):
        locations = [details["location_id"]]
    promised = promise_moment(details.get("promised_date"))
    p = miss_probability(item.kind, details.get("score"))
    return _Entry(
        item,
        reference(item),
        customer,
        tier,
        details.get("top_family"),
        tuple(str(v) for v in locations),
        value,
        p * value * weight if value is not None else 0.0,
        _epoch(item.created_at),
        _epoch(item.due_at),
        promised.timestamp() if promised is not None else math.nan,
    )


class _Ranking:
    """The entries of one queue with their arrays, for one policy and tier table."""

    def __init__(self, entries: list[_Entry]) -> None:
        self.entries = entries
        self.base = np.array([e.base for e in entries], dtype=float)
        self.created = np.array([e.created for e in entries], dtype=float)
        self.due = np.array([e.due for e in entries], dtype=float)
        self.promised = np.array([e.promised for e in entries], dtype=float)
        self.choices = {
            "location": sorted({loc for e in entries for loc in e.locations}),
            "driver": sorted({e.driver for e in entries if e.driver}),
        }

    def order(self, review: ReviewPolicy, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Indices, highest cost first (ties: the earliest due, then the oldest), and costs."""
        if not self.entries:
            return np.empty(0, dtype=int), np.empty(0)
        cost = self.base * urgencies(self.created, self.due, self.promised, review, now)
        return np.lexsort((self.created, self.due, -cost)), cost


@dataclass(frozen=True, slots=True)
class Filters:
    q: str = ""  # order id (or item@location) contains
    location: str = ""
    customer: str = ""
    driver: str = ""
    band: str = ""

    def active(self) -> dict[str, str]:
        """The filters set, as query parameters (for links that keep them)."""
        fields = ("q", "location", "customer", "driver", "band")
        return {f: getattr(self, f) for f in fields if getattr(self, f)}

    def keeps(self, e: _Entry) -> bool:
        q = self.q.strip().lower()
        if q and q not in e.reference.lower() and q not in e.item.id.lower():
            return False
        if self.location and self.location not in e.locations:
            return False
        if self.customer and self.customer != (e.customer or ""):
            return False
        if self.driver and self.driver != (e.driver or ""):
            return False
        band = VALUE_BANDS.get(self.band)
        return band is None or (e.value is not None and band[1] <= e.value < band[2])


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Ranked]
    number: int
    pages: int
    total: int  # items that pass the filters
    first_rank: int
    pending: int  # items in the queue
    choices: dict[str, list[str]]  # filter values that occur in the queue


class QueueCache:
    """Each queue's pending items between requests, brought up to date on every read.

    A request first reads one aggregate of the queue's pending items
    (:func:`governance.worklists.refresh_pending`, through :meth:`Reads.pending`). When it
    moved, the items created, decided or approved since the last read are fetched again,
    and the result must match the aggregate; otherwise, and every ``recheck_seconds``
    regardless, every pending ``(id, version)`` is read and the new or changed items
    fetched.
    """

    def __init__(self, recheck_seconds: float = 30.0) -> None:
        self.recheck_seconds = recheck_seconds
        # queue → (its pending items as last read, when every pending item was last read)
        self._queues: dict[str, tuple[PendingSnapshot, float]] = {}
        self._rankings: dict[str, tuple[tuple, _Ranking]] = {}
        self._lock = threading.Lock()

    def _items(self, reads: Reads, queue: str) -> tuple[tuple, dict[str, PendingItem]]:
        with self._lock:
            cached = self._queues.get(queue)
        fresh_enough = cached is not None and time.monotonic() - cached[1] < self.recheck_seconds
        known = cached[0] if cached is not None else None
        snapshot = reads.pending(queue, known, incremental=fresh_enough)
        if snapshot is not known:
            checked = time.monotonic() if snapshot.full or cached is None else cached[1]
            with self._lock:
                self._queues[queue] = (snapshot, checked)
        return snapshot.fingerprint, snapshot.items

    def ranking(
        self, reads: Reads, queue: str, policy: Policy, tiers: Mapping[str, str]
    ) -> _Ranking:
        fingerprint, items = self._items(reads, queue)
        key = (policy.version, id(tiers), fingerprint, len(items))
        with self._lock:
            hit = self._rankings.get(queue)
            if hit is not None and hit[0] == key:
                return hit[1]
            previous = {e.item.id: e for e in hit[1].entries} if hit else {}
            same_rules = hit is not None and hit[0][:2] == key[:2]
        entries = [
            previous[i]
            if same_rules and i in previous and previous[i].item.version == it.version
            else _entry(it, policy.review, tiers)
            for i, it in items.items()
        ]
        ranking = _Ranking(entries)
        with self._lock:
            self._rankings[queue] = (key, ranking)
        return ranking

    def page(
        self,
        reads: Reads,
        queue: str,
        policy: Policy,
        tiers: Mapping[str, str],
        filters: Filters,
        number: int,
        *,
        now: datetime,
        size: int = PAGE_SIZE,
    ) -> Page:
        ranking = self.ranking(reads, queue, policy, tiers)
        order, _ = ranking.order(policy.review, now.timestamp())
        entries = ranking.entries
        if filters.active():
            order = np.array([k for k in order if filters.keeps(entries[k])], dtype=int)
        total = len(order)
        pages = max(1, math.ceil(total / size))
        number = min(max(1, number), pages)
        start = (number - 1) * size
        rows = [_ranked(entries[k], policy.review, now) for k in order[start : start + size]]
        return Page(rows, number, pages, total, start + 1, len(entries), ranking.choices)


def _ranked(e: _Entry, review: ReviewPolicy, now: datetime) -> Ranked:
    p = priority(
        kind=e.item.kind,
        details=e.item.details or {},
        created_at=e.item.created_at,
        due_at=e.item.due_at,
        tier=e.tier,
        review=review,
        now=now,
    )
    low = p.known and p.cost < review.bulk_approve_below
    return Ranked(e.item, p, e.reference, e.customer, e.driver, e.locations, low)


def rank(
    items: list[PendingItem], review: ReviewPolicy, tiers: Mapping[str, str], now: datetime
) -> list[Ranked]:
    """These items, highest expected cost first (the order a queue page shows them in)."""
    ranking = _Ranking([_entry(i, review, tiers) for i in items])
    order, _ = ranking.order(review, now.timestamp())
    return [_ranked(ranking.entries[k], review, now) for k in order]
