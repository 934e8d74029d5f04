"""Monitoring alerts as work: a breach opens one model-monitoring item with its evidence,
a re-run opens nothing twice, data scientists decide it and other roles cannot."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from governance import command_units as units
from governance import queues
from governance.access import Principal, Role
from governance.policy import parse_policy
from governance.routing import monitoring_decision
from governance.store.tables import AuditEventRow, MonitoringAlertRow
from stockpilot.errors import Forbidden, InvalidInput
from tests.governance.support import principal

MONITOR = Principal(name="system:monitor", role=Role.data_scientist)


def _alert(days: list[str], feature: str = "carrier_recent_late_rate") -> dict:
    return {
        "model": "order-risk",
        "model_version": "3",
        "kind": "drift",
        "feature": feature,
        "days": days,
        "evidence": {"max_psi": 0.41, "min_p_adjusted": 1e-6, "days_alarmed": len(days)},
    }


def _open(db, policy, alerts):
    with db.write() as session:
        return units.open_monitoring_alerts(
            session, alerts=alerts, decision=monitoring_decision(policy), principal=MONITOR
        )[1]


def test_an_alert_opens_one_item_with_its_evidence(db, policy):
    body = _open(db, policy, [_alert(["2025-03-20", "2025-03-21", "2025-03-22"])])
    assert len(body["opened"]) == 1
    with db.read() as session:
        items = queues.list_items(session, queue="model-monitoring")
        assert [i.id for i in items] == [body["opened"][0]["queue_item_id"]]
        item = items[0]
        assert item.kind == "monitoring"
        assert item.details["feature"] == "carrier_recent_late_rate"
        assert item.details["days"] == 3
        assert (item.due_at - item.created_at).total_seconds() == 72 * 3600  # policy SLA
        event = session.scalars(
            select(AuditEventRow).where(AuditEventRow.subject_id == item.recommendation_id)
        ).one()
        assert '"max_psi":0.41' in event.payload
        assert '"2025-03-21"' in event.payload


def test_a_rerun_opens_only_new_days(db, policy):
    _open(db, policy, [_alert(["2025-03-20", "2025-03-21"])])
    again = _open(db, policy, [_alert(["2025-03-20", "2025-03-21"])])
    assert again["opened"] == [] and len(again["already_open"]) == 1
    later = _open(db, policy, [_alert(["2025-03-21", "2025-03-22"])])
    assert later["opened"][0]["days"] == ["2025-03-22"]
    with db.read() as session:
        assert len(queues.list_items(session, queue="model-monitoring")) == 2
        days = session.scalars(select(MonitoringAlertRow.day).order_by(MonitoringAlertRow.day))
        assert list(days) == ["2025-03-20", "2025-03-21", "2025-03-22"]


def test_data_scientists_decide_monitoring_items_and_sales_cannot(db, policy):
    item_id = _open(db, policy, [_alert(["2025-03-20"])])["opened"][0]["queue_item_id"]
    with db.write() as session, pytest.raises(Forbidden):
        queues.decide(
            session, item_id, principal=principal("sally", "sales"), action="approve", policy=policy
        )
    with db.write() as session:
        decided = queues.decide(
            session,
            item_id,
            principal=principal("dana", "data_scientist"),
            action="approve",
            policy=policy,
            reason="risk_accepted",
        )
    assert decided.status.value == "approved"


def test_a_policy_without_the_monitoring_queue_is_refused_clearly(policy):
    text = policy.model_dump(mode="json")
    del text["queues"]["model-monitoring"]
    text.pop("monitoring")
    import yaml

    reduced = parse_policy(yaml.safe_dump(text))
    with pytest.raises(InvalidInput, match=r"monitoring\.queue: queue 'model-monitoring' is not"):
        monitoring_decision(reduced)
