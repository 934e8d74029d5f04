"""`stockpilot monitor MODEL --home` joins what the service recommended (the store's
recommendations and their audit records) to what happened (POST /v1/outcomes, substitution
feedback): real orders and substitutes through the real app, a real store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from governance.served import Served
from tests.serving.conftest import auth, dataset_orders
from training.monitor_run import monitor
from training.monitor_served import order_risk_block


def _since(settings, days: int) -> date:
    orders = pd.read_parquet(settings.data_dir / "orders.parquet")
    return pd.to_datetime(orders["order_ts"]).max().date() - timedelta(days=days)


def test_served_order_lines_are_joined_to_their_posted_outcomes(client, keys, serving_settings):
    orders = dataset_orders(serving_settings, n=12)
    scored = client.post(
        "/v1/orders/risk", json={"orders": orders}, headers=auth(keys["order_system"])
    )
    assert scored.status_code == 201, scored.text
    results = {r["order_id"]: r for r in scored.json()["results"]}
    outcomes, late = [], {}
    for k, order in enumerate(orders):
        promised = date.fromisoformat(order["promised_date"])
        for line in order["lines"]:
            days = 2 if k % 2 == 0 else -1  # even orders arrive late
            outcomes.append(
                {
                    "order_id": order["order_id"],
                    "line_no": line["line_no"],
                    "shipped_qty": line["qty"],
                    "ship_date": str(promised - timedelta(days=2)),
                    "delivered_date": str(promised + timedelta(days=days)),
                    "status": "delivered",
                }
            )
            late[(order["order_id"], line["line_no"])] = float(days > 0)
    posted = client.post(
        "/v1/outcomes", json={"outcomes": outcomes}, headers=auth(keys["order_system"])
    )
    assert posted.status_code == 202, posted.text

    report = monitor(
        "order-risk",
        serving_settings.data_dir,
        since=_since(serving_settings, 10),
        alerts=False,
        served=True,
    )
    served = report["served"]
    assert served["recommendations"] == len(orders)
    assert served["lines"] == served["with_outcome"] == len(outcomes)
    reviewed = {o for o, r in results.items() if r["decision"]["queue_item_id"] is not None}
    reviewed_lines = [key for key in late if key[0] in reviewed]
    assert served["reviewed_lines"] == len(reviewed_lines)
    (week,) = served["weeks"]  # every order scored now, by one model version
    assert week["week"] == datetime.now(UTC).strftime("%G-W%V")
    assert week["n"] == len(outcomes)
    tracked = len(reviewed_lines) + served["audit_slice_lines"]
    assert week["labelled"] == tracked
    assert served["untracked_with_outcome"] == len(outcomes) - tracked
    if served["audit_slice_lines"] == 0 and reviewed_lines:
        observed = np.mean([late[key] for key in reviewed_lines])
        assert week["miss_rate"] == pytest.approx(observed, abs=1e-6)
    # The dataset replay is still there, beside it.
    assert report["performance"]["weeks"]


def _served(order_id: str, p: float, *, reviewed: bool, audit_slice: bool) -> Served:
    return Served(
        recommendation_id=f"R{order_id}",
        kind="order_risk",
        subject=f"order:{order_id}",
        model_name="order-risk",
        model_version="3",
        score=p,
        action="hold" if reviewed else "release",
        created_at=datetime(2025, 3, 4, tzinfo=UTC),
        reviewed=reviewed,
        review_status="approved" if reviewed else None,
        payload={
            "explanation": {
                "promised_date": "2025-03-10",
                "audit_slice": audit_slice,
                "order_lines": [{"line_no": 1, "location_id": "ATL", "qty": 10.0}],
                "lines": [{"line_no": 1, "item_id": "I1", "probability": p}],
            }
        },
        feedback=[],
    )


def test_the_audit_slice_weighs_by_its_inverse_share():
    served = [
        _served("A", 0.8, reviewed=True, audit_slice=False),  # late: a miss
        _served("B", 0.1, reviewed=False, audit_slice=True),  # on time
        _served("C", 0.2, reviewed=False, audit_slice=False),  # untracked, late
        _served("D", 0.3, reviewed=False, audit_slice=False),  # no outcome yet
    ]
    outcomes = pd.DataFrame(
        {
            "order_id": ["A", "B", "C"],
            "line_no": [1, 1, 1],
            "shipped_qty": [10.0, 10.0, 10.0],
            "ship_date": pd.to_datetime(["2025-03-08"] * 3),
            "delivered_date": pd.to_datetime(["2025-03-12", "2025-03-09", "2025-03-12"]),
        }
    )
    block = order_risk_block(served, outcomes, share=0.05)
    assert block["with_outcome"] == 3 and block["untracked_with_outcome"] == 1
    (week,) = block["weeks"]
    assert week["n"] == 4 and week["labelled"] == 2  # A and B: C is untracked, D unknown
    assert week["miss_rate"] == pytest.approx(1 / (1 + 20), abs=1e-6)  # B stands for 20 orders
    assert week["brier"] == pytest.approx((0.2**2 + 20 * 0.1**2) / 21, abs=1e-6)
    assert week["expected_brier"] == pytest.approx(
        np.mean([p * (1 - p) for p in (0.8, 0.1, 0.2, 0.3)]), abs=1e-6
    )
    # A short shipment is a known miss before delivery.
    short = outcomes.iloc[:1].assign(shipped_qty=4.0, delivered_date=pd.NaT)
    (week,) = order_risk_block(served[:1], short, share=0.05)["weeks"]
    assert week["labelled"] == 1 and week["miss_rate"] == 1.0


def test_served_substitutes_are_joined_to_their_feedback(client, keys, serving_settings):
    from tests.serving.test_api_substitutes import request_for

    first, second = (
        client.post(
            "/v1/substitutes",
            json=request_for(serving_settings, qty=q),
            headers=auth(keys["sales"]),
        ).json()
        for q in (1.0, 2.0)
    )
    offered = [s["item_id"] for s in first["substitutes"]]
    assert offered and second["substitutes"]
    url = f"/v1/substitutes/{first['recommendation_id']}/feedback"
    response = client.post(
        url, json={"accepted_item_ids": offered[:1]}, headers=auth(keys["sales"])
    )
    assert response.status_code == 201, response.text

    subs = pd.read_parquet(serving_settings.data_dir / "substitutions.parquet")
    since = pd.to_datetime(subs["ts"]).max().date() - timedelta(days=30)
    report = monitor(
        "substitution", serving_settings.data_dir, since=since, alerts=False, served=True
    )
    served = report["served"]
    assert served["recommendations"] == 2 and served["with_feedback"] == 1
    assert served["offers"] == len(offered) + len(second["substitutes"])
    (week,) = served["weeks"]
    assert week["labelled"] == len(offered)
    assert week["accept_rate"] == pytest.approx(1 / len(offered), abs=1e-6)
    shown = [s["p_accept"] for s in first["substitutes"] + second["substitutes"]]
    assert week["expected_accept_rate"] == pytest.approx(np.mean(shown), abs=1e-6)
    top_accepted = max(first["substitutes"], key=lambda s: s["p_accept"])["item_id"] == offered[0]
    assert week["hit1"] == (1.0 if top_accepted else 0.0)


def _offer_set(rid: str, p: dict[str, float], accepted: list[str] | None, **tags) -> Served:
    return Served(
        recommendation_id=rid,
        kind="substitution",
        subject="substitution:C1:I0@ATL",
        model_name="substitution",
        model_version="2",
        score=max(p.values()),
        action="review" if tags["reviewed"] else "auto_offer",
        created_at=datetime(2025, 3, 4, tzinfo=UTC),
        reviewed=tags["reviewed"],
        review_status=None,
        payload={
            "features": {"request": {"item_id": "I0", "location_id": "ATL"}},
            "explanation": {
                "audit_slice": tags["audit_slice"],
                "result": {"substitutes": [{"item_id": i, "p_accept": v} for i, v in p.items()]},
            },
        },
        feedback=[] if accepted is None else [{"offered": list(p), "accepted": accepted}],
    )


def test_substitution_tracked_figures_weigh_the_audit_slice_by_its_inverse_share():
    from training.monitor_served import substitution_block

    served = [
        # reviewed: the customer took the second-ranked substitute (a switch, not a hit)
        _offer_set("R1", {"A": 0.7, "B": 0.2}, ["B"], reviewed=True, audit_slice=False),
        # auto-offered in the audit slice: the top one taken (a hit), stands for 1/share sets
        _offer_set("R2", {"A": 0.6, "B": 0.3}, ["A"], reviewed=False, audit_slice=True),
        # auto-offered outside the slice, answered: counted in all feedback, not tracked
        _offer_set("R3", {"A": 0.5, "B": 0.4}, [], reviewed=False, audit_slice=False),
        # in the slice, no answer yet
        _offer_set("R4", {"A": 0.5}, None, reviewed=False, audit_slice=True),
    ]
    block = substitution_block(served, None, share=0.25)
    assert block["reviewed_sets"] == 1 and block["audit_slice_sets"] == 2
    assert block["tracked_sets"] == 2  # R1 and R2: R3 untracked, R4 unanswered
    # accept rate over offers, R2's two offers weigh 4 each: (1 + 0 + 4 + 0) / (1 + 1 + 4 + 4)
    assert block["tracked_accept_rate"] == pytest.approx(5 / 10)
    # switch occasions R1 (miss) and R2 (hit, weight 4): 4 / 5
    assert block["tracked_hit1"] == pytest.approx(4 / 5)
    (week,) = block["weeks"]
    assert week["tracked_hit1"] == pytest.approx(4 / 5)
    assert week["labelled"] == 6  # every answered offer, unweighted, beside the tracked figures
    # ECE over the tracked offers, one per bin: R1's weigh 1 (|0.7 − 0|, |0.2 − 1|), R2's 4
    # (|0.6 − 1|, |0.3 − 0|); unweighted it would be (0.7 + 0.8 + 0.4 + 0.3) / 4 = 0.55.
    assert block["tracked_ece"] == pytest.approx((0.7 + 0.8 + 4 * 0.4 + 4 * 0.3) / 10)
    assert week["tracked_ece"] == pytest.approx(block["tracked_ece"])
    # The calibration test: Σ w (y − p) = −0.7 + 0.8 + 4·0.4 − 4·0.3 = 0.5 over
    # √Σ w² p (1 − p) = √(0.21 + 0.16 + 16·0.24 + 16·0.21); unweighted z would be 0.2 / √0.82.
    assert block["tracked_calibration_gap"] == pytest.approx(0.5 / 10)
    assert block["tracked_calibration_z"] == pytest.approx(0.5 / np.sqrt(0.37 + 16 * 0.45))
    untagged = substitution_block(served, None, share=0.0)  # no slice: reviewed only
    assert untagged["tracked_sets"] == 1 and untagged["tracked_hit1"] == 0.0


def test_only_auto_offered_substitutes_enter_the_audit_slice():
    from governance.policy import default_policy_text, parse_policy
    from governance.routing import Substitution, route
    from serving.routers.substitutes import audit_slice

    text = default_policy_text()
    everyone = parse_policy(text.replace("audit_slice_share: 0.02", "audit_slice_share: 1.0"))
    nobody = parse_policy(text.replace("audit_slice_share: 0.02", "audit_slice_share: 0.0"))
    cfg = everyone.substitution
    offered = route(Substitution(min(1.0, cfg.auto_offer_at + 0.01), 0.0), everyone)
    reviewed = route(Substitution(max(0.0, cfg.auto_offer_at - 0.3), 0.0), everyone)
    assert offered.action.value == "auto_offer" and reviewed.action.value == "review"
    assert audit_slice(offered, "substitution:C1:I0@ATL", "O1", everyone)
    assert not audit_slice(reviewed, "substitution:C1:I0@ATL", "O1", everyone)
    assert not audit_slice(offered, "substitution:C1:I0@ATL", "O1", nobody)
    # a share between: the same request is always tagged the same way, about share of them
    half = parse_policy(text.replace("audit_slice_share: 0.02", "audit_slice_share: 0.5"))
    tags = [audit_slice(offered, f"substitution:C{i}:I0@ATL", None, half) for i in range(400)]
    assert tags == [
        audit_slice(offered, f"substitution:C{i}:I0@ATL", None, half) for i in range(400)
    ]
    assert 150 < sum(tags) < 250
