"""Demo work for the review workbench: orders, substitute searches and a replenishment run
sent through the real API, so that after ``make run`` every role finds items to decide.

The requests are what the order system, a sales rep and a planner would send: orders from
the tail of the served dataset (their own timestamps and promised dates), a substitute
search for a line whose stock is short, a replenishment run. ``post`` is any function
that POSTs JSON with an API key and returns the decoded answer (urllib against the
running server in ``make run``, the test client in tests).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

Post = Callable[[str, str, dict[str, Any]], dict[str, Any]]


def _table(data_dir: Path, name: str) -> pd.DataFrame:
    parquet = data_dir / f"{name}.parquet"
    return pd.read_parquet(parquet) if parquet.exists() else pd.read_csv(data_dir / f"{name}.csv")


def dataset_orders(data_dir: Path, n: int, *, skip: int = 0) -> list[dict[str, Any]]:
    """``n`` orders from the end of the dataset's ``orders`` as the order system sends them."""
    orders = _table(data_dir, "orders")
    groups = list(orders.groupby("order_id", sort=False))
    chosen = groups[max(0, len(groups) - skip - n) : len(groups) - skip]
    out = []
    for order_id, lines in chosen:
        first = lines.iloc[0]
        order: dict[str, Any] = {
            "order_id": f"DEMO-{order_id}",
            "customer_id": str(first["customer_id"]),
            "order_ts": pd.Timestamp(first["order_ts"]).isoformat(),
            "promised_date": pd.Timestamp(first["promised_date"]).date().isoformat(),
            "lines": [
                {
                    "line_no": int(r.line_no),
                    "item_id": str(r.item_id),
                    "location_id": str(r.location_id),
                    "qty": float(r.qty),
                    "unit_price": float(r.unit_price),
                }
                for r in lines.itertuples()
            ],
        }
        if "carrier_id" in lines.columns and pd.notna(first["carrier_id"]):
            order["carrier_id"] = str(first["carrier_id"])
        out.append(order)
    return json.loads(json.dumps(out))


def substitute_request(order: dict[str, Any]) -> dict[str, Any]:
    """The substitute search a sales rep makes for an order's first line."""
    line = order["lines"][0]
    return {
        "customer_id": order["customer_id"],
        "item_id": line["item_id"],
        "qty": line["qty"],
        "location_id": line["location_id"],
        "unit_price": line["unit_price"],
        "order_id": order["order_id"],
        "need_by": order["promised_date"],
    }


def searchable(orders: list[dict[str, Any]], data_dir: Path) -> list[dict[str, Any]]:
    """The orders whose first line's item is in the item master: a real export can hold
    order lines of items the master no longer lists, and their search is a 404."""
    known = set(_table(data_dir, "items")["item_id"].astype(str))
    return [order for order in orders if order["lines"][0]["item_id"] in known]


def seed(
    post: Post,
    tokens: dict[str, str],
    data_dir: Path,
    *,
    orders: int = 60,
    substitutes: int = 4,
    replenish: bool = True,
) -> dict[str, int]:
    """Send the demo requests; how many of each were made."""
    made = {"orders": 0, "substitute_searches": 0, "replenishment_runs": 0}
    batch = dataset_orders(data_dir, orders)
    for start in range(0, len(batch), 20):
        post("/v1/orders/risk", tokens["order_system"], {"orders": batch[start : start + 20]})
        made["orders"] += len(batch[start : start + 20])
    for order in searchable(batch, data_dir)[:substitutes]:
        post("/v1/substitutes", tokens["sales"], substitute_request(order))
        made["substitute_searches"] += 1
    if replenish:
        post("/v1/replenishment/run", tokens["planner"], {})
        made["replenishment_runs"] += 1
    return made


def feed_tokens(settings: Any, order_system: str) -> dict[str, str]:
    """Keys that send the demo work: the order system's demo key, and a planner and a sales
    key of their own (expiring in a day), so that the demo planner and sales rep did not
    request the items they are to decide — four-eyes would refuse their approval."""
    from datetime import timedelta

    from governance.access import Principal, Role
    from governance.direct_writes import create_keys
    from governance.store.engine import Database

    db = Database.from_settings(settings)
    try:
        made = create_keys(
            db,
            (Role.planner, Role.sales),
            name="demo-feed",
            actor=Principal("cli:make-run", Role.admin),
            lifetime=timedelta(days=1),
        )
    finally:
        db.dispose()
    return {"order_system": order_system, **{role.value: token for role, token in made.items()}}


def http_post(base_url: str) -> Post:
    """``post`` over HTTP with the standard library (no client library at run time)."""

    def post(path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            base_url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": token},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read() or b"{}")

    return post


def wait_ready(base_url: str, seconds: float = 600.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base_url + "/health/ready", timeout=5) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1.0)
    return False
