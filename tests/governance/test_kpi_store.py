"""The KPI store over a real governance store (SQLite and PostgreSQL): live outcomes,
inventory events, recommendations and decisions are applied incrementally, and the
result equals a store that reads everything from scratch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from features.kpis.report import kpi_dict
from governance import queues
from governance.access import Role
from governance.events import InventoryEvent, LineOutcome, record_inventory, record_outcomes
from governance.kpi_records import KpiRecords
from governance.kpis import KpiStore
from governance.routing import OrderRisk
from stockpilot.data import write_tables
from tests.governance.support import principal
from tests.kpis import tiny

SUPERVISOR = principal("sup", Role.supervisor)
NOW = datetime(2025, 1, 15, 12, tzinfo=UTC)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    ds = tiny.dataset()
    write_tables(ds.tables(), tmp_path / "data")
    return tmp_path / "data"


def values(store: KpiStore) -> dict[str, dict]:
    snapshot = store.snapshot()
    query = store.query(snapshot, date(2025, 1, 1), date(2025, 1, 31))  # lines due in January
    return {c.definition.id: kpi_dict(c, query.period) for c in store.dashboard(snapshot, query)}


def decide(db, policy, item_id: str, action: str, at: datetime) -> None:
    with db.write() as session:
        queues.decide(
            session, item_id, principal=SUPERVISOR, action=action, policy=policy,
            reason="checked with the customer", now=at,
        )  # fmt: skip


def test_live_records_are_applied_incrementally_and_equal_a_fresh_read(
    db, policy, open_item, data_dir, tmp_path
):
    store = KpiStore(data_dir, tmp_path / "cache", KpiRecords(db))
    first = values(store)
    assert first["exception_volume"]["value"] == 0
    assert first["promise_accuracy"]["numerator"] == 4  # tests/kpis/tiny.py

    held = open_item(OrderRisk(probability=0.9), subject="order:O4", now=NOW)
    reviewed = open_item(OrderRisk(probability=0.5), subject="order:O6", now=NOW)
    open_item(OrderRisk(probability=0.1), subject="order:O1", now=NOW)  # released: no item
    decide(db, policy, held.item.id, "override", NOW + timedelta(minutes=30))
    decide(db, policy, reviewed.item.id, "override", NOW + timedelta(hours=3))
    open_item(OrderRisk(probability=0.95), subject="order:O9", now=NOW)  # nobody decides
    with db.write() as session:
        queues.expire_due(session, now=NOW + timedelta(hours=3))  # the 2 h hold SLA passed
    with db.write() as session:
        record_outcomes(
            session,
            [LineOutcome("O6", 1, 3.0, NOW, NOW + timedelta(days=1), "delivered")],
            actor="key:erp",
        )
        record_inventory(
            session,
            [InventoryEvent(NOW, "I2", "L1", {"on_hand": 9.0})],  # allocated 3 stays
            actor="key:erp",
        )
    live = values(store)
    assert live["exception_volume"]["value"] == 3
    assert live["exception_volume"]["components"]["share_of_recommendations"] == pytest.approx(
        3 / 4
    )
    override = live["manual_override_rate"]
    assert override["value"] == 1.0
    # O4 was late: its override proved wrong; O6 was then delivered on time: right.
    assert (
        override["components"]["proved_wrong"] == 1 and override["components"]["proved_right"] == 1
    )
    assert live["approval_turnaround"]["value"] == pytest.approx(2 / 3)  # one expired
    # 0.5 h, 3 h and the expired item at 3 h (expired when the sweep ran).
    assert live["approval_turnaround"]["components"]["p50_hours"] == pytest.approx(3)
    assert live["promise_accuracy"]["numerator"] == 5
    assert live["stockout_frequency"]["numerator"] == 1  # 01-15 now has 6 available

    fresh = KpiStore(data_dir, tmp_path / "cache", KpiRecords(db))
    assert values(fresh) == live
    assert fresh.snapshot().base.source == "disk cache"


def test_a_changed_dataset_is_rebuilt_in_the_background(db, data_dir, tmp_path):
    store = KpiStore(data_dir, None, KpiRecords(db))
    before = store.snapshot()
    orders = tiny.orders()
    orders = orders[orders["order_id"] != "O7"]  # a new export without O7
    write_tables({"orders": orders}, data_dir)
    during = store.snapshot()
    assert during.stale and during.base.fingerprint == before.base.fingerprint
    assert store.wait_for_rebuild(timeout=60)
    after = store.snapshot()
    assert not after.stale and after.base.fingerprint != before.base.fingerprint
    assert values(store)["promise_accuracy"]["denominator"] == 6  # O7 is gone


def test_bad_queries_are_invalid_input_naming_the_field(db, data_dir):
    from stockpilot.errors import InvalidInput, NotFound

    store = KpiStore(data_dir, None, KpiRecords(db))
    snapshot = store.snapshot()
    with pytest.raises(InvalidInput, match="location: 'MARS' does not occur"):
        store.query(snapshot, filters={"location": "MARS"})
    with pytest.raises(InvalidInput, match="before from"):
        store.query(snapshot, start=NOW.date(), end=(NOW - timedelta(days=3)).date())
    with pytest.raises(NotFound, match="unknown KPI"):
        store.rows(snapshot, "fill_rate", store.query(snapshot))


def test_dates_from_the_far_future_are_typos_not_knowledge(db, data_dir):
    store = KpiStore(data_dir, None, KpiRecords(db))
    far = datetime(2199, 1, 1, tzinfo=UTC)
    with db.write() as session:
        record_outcomes(session, [LineOutcome("O6", 1, 3.0, NOW, far, "delivered")], actor="e")
        record_inventory(session, [InventoryEvent(far, "I1", "L1", {"on_hand": 1.0})], actor="e")
    snapshot = store.snapshot()
    tomorrow = (datetime.now(UTC).date() - date(1970, 1, 1)).days + 1
    assert snapshot.facts.lines.horizon <= tomorrow  # records reach today at most, not 2199
    assert snapshot.ignored_inventory_events == 1
    assert snapshot.facts.stock.n_days == 5  # the grid was not stretched
