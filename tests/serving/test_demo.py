"""The demo work of ``make run`` only asks what a real user could get an answer to."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from serving.demo import seed


def _export(tmp_path: Path) -> Path:
    pd.DataFrame({"item_id": ["A", "B"], "category": ["c", "c"]}).to_csv(
        tmp_path / "items.csv", index=False
    )
    rows = [
        # order, line, item — O1's first line is an item the master no longer lists
        ("O1", 1, "GONE"),
        ("O1", 2, "A"),
        ("O2", 1, "A"),
        ("O3", 1, "B"),
    ]
    pd.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "line_no": [r[1] for r in rows],
            "item_id": [r[2] for r in rows],
            "customer_id": "C1",
            "location_id": "L1",
            "order_ts": "2025-01-02T10:00:00",
            "promised_date": "2025-01-05",
            "qty": 2.0,
            "unit_price": 3.5,
        }
    ).to_csv(tmp_path / "orders.csv", index=False)
    return tmp_path


def test_substitute_searches_skip_items_missing_from_the_master(tmp_path: Path) -> None:
    sent: list[tuple[str, dict]] = []

    def post(path: str, token: str, body: dict) -> dict:
        sent.append((path, body))
        return {}

    made = seed(
        post, {"order_system": "o", "sales": "s"}, _export(tmp_path), substitutes=5, replenish=False
    )

    searched = [body["item_id"] for path, body in sent if path == "/v1/substitutes"]
    assert searched == ["A", "B"]
    assert made == {"orders": 3, "substitute_searches": 2, "replenishment_runs": 0}
