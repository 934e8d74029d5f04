"""What substitution and demand retraining take from the store, on tiny frames."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from features.dataset import Dataset
from governance.evidence import (
    FEEDBACK_COLUMNS,
    ORDER_LINE_COLUMNS,
    SUBSTITUTION_DECISION_COLUMNS,
    SubstitutionEvidence,
)
from training.retrain_evidence import merge_demand_evidence, merge_substitution_evidence


def _served(request_id: str, items: list[str]) -> dict:
    return {
        "recommendation_id": request_id,
        "explanation": {
            "order_id": "O1",
            "result": {
                "request_id": request_id,
                "ts": "2024-03-01T10:00:00",
                "customer_id": "C1",
                "item_id": "A1",
                "qty": 2.0,
                "location_id": "L1",
                "need_by": None,
                "unit_price": 10.0,
                "context": {},
                "n_candidates": len(items),
                "substitutes": [
                    {
                        "item_id": item,
                        "rank": rank,
                        "p_accept": 0.4,
                        "location_id": "L1",
                        "other_location": False,
                        "available": 3.0,
                        "unit_price": 9.0,
                        "price_delta": -1.0,
                        "margin_delta": None,
                        "reasons": [],
                    }
                    for rank, item in enumerate(items, start=1)
                ],
            },
        },
    }


def _dataset(subs: pd.DataFrame | None = None, demand: pd.DataFrame | None = None) -> Dataset:
    empty = pd.DataFrame()
    orders = pd.DataFrame(
        {
            "order_id": ["O1"],
            "line_no": [1],
            "order_ts": [pd.Timestamp("2024-01-01")],
            "item_id": ["A1"],
            "location_id": ["L1"],
            "qty": [1.0],
        }
    )
    items = pd.DataFrame({"item_id": ["A1", "A2", "A3"]})
    return Dataset(items, empty, empty, orders, empty, empty, demand=demand, substitutions=subs)


def test_answers_and_customer_declines_are_labels_other_decisions_are_not() -> None:
    feedback = pd.DataFrame(
        [("R1", ["A2"], None, datetime(2024, 3, 1, tzinfo=UTC), _served("R1", ["A2", "A3"]))],
        columns=FEEDBACK_COLUMNS,
    )
    decisions = pd.DataFrame(
        [
            ("R1", "rejected", "customer_declined", "key:s", None, _served("R1", ["A2", "A3"])),
            ("R2", "rejected", "customer_declined", "key:s", None, _served("R2", ["A3", "A2"])),
            ("R3", "rejected", "not_needed", "key:s", None, _served("R3", ["A2"])),
            ("R4", "approved", None, "key:s", None, _served("R4", ["A2"])),
            ("R5", "rejected", "customer_declined", "key:s", None, None),
        ],
        columns=SUBSTITUTION_DECISION_COLUMNS,
    )
    existing = pd.DataFrame(
        {"event_id": ["R1-2"], "ts": [pd.Timestamp("2024-03-01 10:00")], "accepted": [False]}
    )
    merged, summary = merge_substitution_evidence(
        _dataset(subs=existing), SubstitutionEvidence(feedback, decisions)
    )
    subs = merged.substitutions.set_index("event_id")
    assert bool(subs.loc["R1-1", "accepted"]) and not bool(subs.loc["R1-2", "accepted"])
    assert not bool(subs.loc["R2-1", "accepted"]) and "R2-2" not in subs.index  # the top one
    assert not subs.index.str.startswith(("R3", "R4", "R5")).any()
    assert len(subs) == 3  # R1-2 was in the export already: not twice
    assert summary["rows_already_in_dataset"] == 1 and summary["rows_added"] == 2
    assert summary["declined_by_review"] == 1 and summary["decided_without_label"] == 3
    assert summary["accepted_added"] == 1


def test_nothing_new_leaves_the_dataset_as_it_was() -> None:
    ds = _dataset()
    empty = SubstitutionEvidence(
        pd.DataFrame(columns=FEEDBACK_COLUMNS), pd.DataFrame(columns=SUBSTITUTION_DECISION_COLUMNS)
    )
    merged, summary = merge_substitution_evidence(ds, empty)
    assert merged is ds and merged.substitutions is None and summary["rows_added"] == 0


def test_live_orders_become_demand_only_after_the_export_and_before_today() -> None:
    demand = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-03-01", "2024-03-02"]),
            "item_id": "A1",
            "location_id": "L1",
            "qty": [3.0, 4.0],
        }
    )
    at = lambda day: datetime.fromisoformat(f"{day}T10:00:00+00:00")  # noqa: E731
    lines = pd.DataFrame(
        [
            ("N1", 1, at("2024-03-03"), "A1", "L1", 2.0),  # new order, new day: demand
            ("N2", 1, at("2024-03-03"), "A2", "L1", 5.0),  # the same day, another item
            ("N3", 1, at("2024-03-03"), "A1", "L1", 1.0),  # adds up with N1
            ("N4", 1, at("2024-03-02"), "A1", "L1", 9.0),  # a day the export covers
            ("O1", 1, at("2024-03-04"), "A1", "L1", 9.0),  # an order the export holds
            ("N5", 1, at("2024-03-04"), "ZZ", "L1", 9.0),  # unknown item
            ("N6", 1, at("2024-03-05"), "A1", "L1", 9.0),  # today: incomplete
        ],
        columns=ORDER_LINE_COLUMNS,
    )
    merged, summary = merge_demand_evidence(
        _dataset(demand=demand), lines, now=datetime(2024, 3, 5, 12, tzinfo=UTC)
    )
    added = merged.demand[merged.demand["date"] == "2024-03-03"].set_index("item_id")["qty"]
    assert added.to_dict() == {"A1": 3.0, "A2": 5.0}
    assert merged.demand["date"].max() == pd.Timestamp("2024-03-03")
    assert summary == {
        **summary,
        "lines_used": 3,
        "lines_on_days_the_export_covers": 1,
        "lines_of_orders_in_export": 1,
        "lines_unknown_item": 1,
        "lines_of_today": 1,
        "days_added": 1,
        "export_last_day": "2024-03-02",
    }
