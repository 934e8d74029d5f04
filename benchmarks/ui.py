"""Workbench speed: a queue page over 10,000 pending items and an item page (server time).

A fresh store under a temporary home gets ``--items`` pending held orders, written by the
real write path (``governance.recommendations.record``: recommendation, queue item, audit
event with per-line features and SHAP values like a scored order's), and a ``customers``
table with tiers. The real app (``create_app``; no models are needed for these pages) is
driven in-process, so each timing is the server's work for one request: authentication of
the session, the reads, ranking all pending items by expected cost, rendering.

    .venv/bin/python benchmarks/ui.py            # 10,000 items, 60 requests per page

Targets (issue 17): queue page p95 ≤ 300 ms, item page p95 ≤ 150 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run as a script, this folder is first on sys.path, and its serving.py (the API benchmark)
# would shadow the serving package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

COLUMNS = [f"f{k:03d}" for k in range(120)]
FAMILIES = ["inventory_shortfall", "carrier_delay", "route", "customer", "margin_erosion"]


def _fill(db, n: int, customers: list[str], seed: int) -> list[str]:
    from governance import policy_versions as policies
    from governance.access import Principal, Role
    from governance.recommendations import ModelOutput, record
    from governance.routing import OrderRisk, route

    rng = random.Random(seed)
    system = Principal("bench:order-system", Role.order_system, key_id="k_bench")
    with db.read() as session:
        policy = policies.active_policy(session).policy
    ids = []
    start = datetime.now(UTC)
    for chunk in range(0, n, 1000):
        with db.write() as session:
            for k in range(chunk, min(n, chunk + 1000)):
                lines = rng.randint(1, 6)
                order_lines = [
                    {
                        "line_no": j + 1,
                        "item_id": f"I{rng.randint(1, 400):05d}",
                        "location_id": rng.choice(["ATL", "CHI", "DAL"]),
                        "qty": float(rng.randint(1, 40)),
                        "unit_price": round(rng.uniform(2, 200), 2),
                    }
                    for j in range(lines)
                ]
                value = sum(li["qty"] * li["unit_price"] for li in order_lines)
                p = rng.uniform(0.7, 0.99)
                families = {f: rng.gauss(0, 1) for f in FAMILIES}
                decision = route(OrderRisk(p, families, value=value), policy)
                per_line = {
                    str(li["line_no"]): [rng.random() for _ in COLUMNS] for li in order_lines
                }
                recorded = record(
                    session,
                    ModelOutput(
                        subject=f"order:BENCH-{k:06d}",
                        model_name="order-risk",
                        model_version="1",
                        score=p,
                        features={"columns": COLUMNS, "lines": per_line},
                        contributions={"columns": COLUMNS, "lines": per_line},
                        explanation={
                            "top_family": max(families, key=families.get),
                            "reasons": [
                                {
                                    "family": "inventory_shortfall",
                                    "contribution": 1.2,
                                    "text": "only 3 of 17 available at CHI",
                                }
                            ],
                            "lines": [
                                {
                                    "line_no": li["line_no"],
                                    "item_id": li["item_id"],
                                    "probability": p,
                                    "families": families,
                                    "reasons": [],
                                }
                                for li in order_lines
                            ],
                            "order_lines": order_lines,
                            "promised_date": (start + timedelta(days=rng.randint(-2, 5)))
                            .date()
                            .isoformat(),
                        },
                    ),
                    decision,
                    principal=system,
                    summary={
                        "customer_id": rng.choice(customers),
                        "top_family": max(families, key=families.get),
                        "reasons": ["only 3 of 17 available at CHI"],
                        "lines": lines,
                        "value": value,
                        "promised_date": None,
                        "locations": sorted({li["location_id"] for li in order_lines}),
                    },
                    now=start - timedelta(minutes=rng.randint(0, 100)),
                )
                if recorded.item is not None:
                    ids.append(recorded.item.id)
    return ids


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ui-bench-"))
    (home / "data").mkdir()
    customers = [f"C{k:05d}" for k in range(500)]
    rng = random.Random(args.seed)
    (home / "data" / "customers.csv").write_text(
        "customer_id,tier,segment\n"
        + "".join(f"{c},{rng.choice('ABC')},retail\n" for c in customers)
    )
    os.environ.update(
        {
            "STOCKPILOT_HOME": str(home),
            "STOCKPILOT_MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "STOCKPILOT_UI_POLL_SECONDS": "3600",
        }
    )
    os.environ.pop("STOCKPILOT_DATABASE_URL", None)
    import logging

    logging.disable(logging.WARNING)  # no models are registered: that is expected here
    from fastapi.testclient import TestClient

    from governance import keys
    from governance import policy_versions as policies
    from governance.access import Principal, Role
    from governance.store import migrate as schema
    from governance.store.engine import Database
    from serving.app import create_app
    from stockpilot.settings import get_settings

    settings = get_settings()
    db = Database.from_settings(settings)
    schema.upgrade(db)
    admin = Principal("bench:admin", Role.admin)
    with db.write() as session:
        policies.ensure_policy(session, actor=admin, policy_file=None)
        _, token = keys.create_key(session, role=Role.supervisor, name="bench", actor=admin)
    t0 = time.perf_counter()
    ids = _fill(db, args.items, customers, args.seed)
    print(
        f"store: {len(ids):,} pending items in order-hold (written in "
        f"{time.perf_counter() - t0:.0f} s)"
    )

    with TestClient(create_app(settings)) as client:
        form = client.get("/ui/login")
        login = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        client.post("/ui/login", data={"api_key": token, "csrf_token": login})
        cases = {
            "queue page (rank 10,000, first page)": lambda k: "/ui/queues/order-hold",
            "queue page, filtered by location": lambda k: "/ui/queues/order-hold?location=CHI",
            "queue page, later page": lambda k: f"/ui/queues/order-hold?page={1 + k % 300}",
            "queue table refresh (htmx poll)": lambda k: "/ui/queues/order-hold?partial=1",
            "item page": lambda k: f"/ui/items/{ids[(k * 7919) % len(ids)]}",
        }
        print(f"{'page':<40} {'requests':>8} {'median ms':>10} {'p95 ms':>8}")
        results = {}
        for name, path in cases.items():
            assert client.get(path(0)).status_code == 200, name  # warm
            times = []
            for k in range(args.requests):
                start = time.perf_counter()
                response = client.get(path(k))
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, (name, response.status_code)
            results[name] = (statistics.median(times), _percentile(times, 0.95))
            print(
                f"{name:<40} {args.requests:>8} {results[name][0]:>10.1f} {results[name][1]:>8.1f}"
            )
        # After a decision (not timed) the page reads every pending (id, version) again.
        from governance import queues

        decider = Principal("bench:supervisor", Role.supervisor, key_id="k_sup")
        times = []
        for k in range(args.requests):
            with db.write() as session:
                policy = policies.active_policy(session).policy
                queues.decide(
                    session,
                    ids[-1 - k],
                    principal=decider,
                    action="reject",
                    policy=policy,
                    reason="bench",
                )
            start = time.perf_counter()
            assert client.get("/ui/queues/order-hold").status_code == 200
            times.append((time.perf_counter() - start) * 1000)
        name = "queue page after each decision"
        results[name] = (statistics.median(times), _percentile(times, 0.95))
        print(f"{name:<40} {args.requests:>8} {results[name][0]:>10.1f} {results[name][1]:>8.1f}")
    queue_p95 = max(
        results["queue page (rank 10,000, first page)"][1],
        results["queue page after each decision"][1],
    )
    item_p95 = results["item page"][1]
    met = queue_p95 <= 300 and item_p95 <= 150
    db.dispose()
    print(f"target (queue p95 <= 300 ms, item p95 <= 150 ms): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
