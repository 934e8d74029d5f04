"""A queue ranked by expected cost, kept between requests (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from governance import queues, worklists
from governance.access import Role
from governance.policy import Policy
from governance.reads import Reads
from governance.recommendations import ModelOutput, record
from governance.routing import OrderRisk, route
from governance.store.engine import Database
from serving.ui.ranking import Filters, QueueCache
from tests.governance.support import principal

pytestmark = pytest.mark.postgres
NOW = datetime.now(UTC)
ERP = principal("erp", Role.order_system)
TIERS = {"C1": "A", "C2": "C"}


def _order(
    db: Database,
    policy: Policy,
    name: str,
    p: float,
    value: float,
    customer: str,
    location: str = "DAL",
) -> str:
    decision = route(OrderRisk(p, {"carrier_delay": 1.0}, value=value), policy)
    with db.write() as session:
        recorded = record(
            session,
            ModelOutput(
                subject=f"order:{name}", model_name="order-risk", model_version="1", score=p
            ),
            decision,
            principal=ERP,
            summary={
                "customer_id": customer,
                "value": value,
                "top_family": "carrier_delay",
                "locations": [location],
            },
            now=NOW,
        )
    assert recorded.item is not None and recorded.item.queue == "order-hold"
    return recorded.item.id


def test_ranked_by_cost_and_kept_up_to_date(db: Database, policy: Policy):
    cheap = _order(db, policy, "SO-1", 0.95, 100.0, "C2")
    dear = _order(db, policy, "SO-2", 0.75, 1_000.0, "C2", "ATL")
    key_account = _order(db, policy, "SO-3", 0.75, 500.0, "C1")  # tier A: × 3
    cache = QueueCache()
    page = cache.page(Reads(db), "order-hold", policy, TIERS, Filters(), 1, now=NOW)
    assert [r.item.id for r in page.rows] == [key_account, dear, cheap]
    assert page.rows[0].priority.cost == pytest.approx(0.75 * 500 * 3.0)
    assert page.rows[2].low_impact and not page.rows[0].low_impact  # cost < 100
    assert page.choices["location"] == ["ATL", "DAL"]

    with db.write() as session:
        queues.decide(
            session,
            dear,
            principal=principal("sup", Role.supervisor),
            action="approve",
            policy=policy,
        )
    newest = _order(db, policy, "SO-4", 0.99, 5_000.0, "C2")
    page = cache.page(Reads(db), "order-hold", policy, TIERS, Filters(), 1, now=NOW)
    assert [r.item.id for r in page.rows] == [newest, key_account, cheap]

    found = cache.page(Reads(db), "order-hold", policy, TIERS, Filters(q="so-3"), 1, now=NOW)
    assert [r.item.id for r in found.rows] == [key_account] and found.pending == 3
    by_band = cache.page(Reads(db), "order-hold", policy, TIERS, Filters(band="small"), 1, now=NOW)
    assert {r.item.id for r in by_band.rows} == {cheap, key_account}
    later = cache.page(
        Reads(db), "order-hold", policy, TIERS, Filters(), 1, now=NOW + timedelta(hours=1.9)
    )
    assert later.rows[0].priority.urgency > page.rows[0].priority.urgency


def test_pages_and_counts(db: Database, policy: Policy):
    ids = [_order(db, policy, f"SO-{k}", 0.8, 10.0 * (k + 1), "C2") for k in range(30)]
    cache = QueueCache()
    first = cache.page(Reads(db), "order-hold", policy, TIERS, Filters(), 1, now=NOW, size=25)
    second = cache.page(Reads(db), "order-hold", policy, TIERS, Filters(), 2, now=NOW, size=25)
    assert (first.pages, len(first.rows), len(second.rows)) == (2, 25, 5)
    assert second.first_rank == 26
    assert {r.item.id for r in first.rows + second.rows} == set(ids)
    beyond = cache.page(Reads(db), "order-hold", policy, TIERS, Filters(), 99, now=NOW, size=25)
    assert beyond.number == 2
    with db.read() as session:
        assert worklists.pending_counts(session)["order-hold"] == 30
        due = worklists.due_before(session, ["order-hold"], NOW + timedelta(days=1), limit=5)
    assert len(due) == 5


def test_changes_are_read_incrementally_and_checked(db: Database, policy: Policy, monkeypatch):
    kept = _order(db, policy, "SO-1", 0.9, 100.0, "C2")
    gone = _order(db, policy, "SO-2", 0.9, 200.0, "C2")
    cache = QueueCache(recheck_seconds=3600)
    assert len(cache.page(Reads(db), "order-hold", policy, TIERS, Filters(), 1, now=NOW).rows) == 2

    def no_full_read(*args, **kwargs):
        raise AssertionError("read every pending item again")

    monkeypatch.setattr(worklists, "pending_versions", no_full_read)
    with db.write() as session:
        queues.decide(
            session,
            gone,
            principal=principal("sup", Role.supervisor),
            action="reject",
            policy=policy,
            reason="not needed",
        )
    decision = route(OrderRisk(0.9, {}, value=300.0), policy)
    with db.write() as session:
        new = record(
            session,
            ModelOutput(
                subject="order:SO-3", model_name="order-risk", model_version="1", score=0.9
            ),
            decision,
            principal=ERP,
            summary={"customer_id": "C2", "value": 300.0},
        ).item.id  # created now: after the last read
    page = cache.page(Reads(db), "order-hold", policy, TIERS, Filters(), 1, now=NOW)
    assert [r.item.id for r in page.rows] == [new, kept]
    # A change the incremental read cannot see (an item back-dated before the last read)
    # fails the check against the aggregate, and everything is read again.
    monkeypatch.undo()
    _order(db, policy, "SO-4", 0.9, 50.0, "C2")  # created_at = NOW, before the last read
    page = cache.page(Reads(db), "order-hold", policy, TIERS, Filters(), 1, now=NOW)
    assert len(page.rows) == 3
