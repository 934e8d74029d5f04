"""KPI dashboard speed through the real app: ``GET /v1/kpis`` and its drill-down.

The medium dataset (``stockpilot simulate --scale medium --seed 7``: ~390 k order lines,
730 days) plus a governance store seeded with order-risk recommendations routed by the
default policy from the simulator's true miss probabilities (queue items decided,
overridden, rejected or expired over the two years), served by ``stockpilot serve``.
One client asks, as a dashboard does, one request at a time:

* the two-year dashboard, repeated (memoised per query and high-water mark);
* the two-year dashboard with a new line outcome posted before each request (every
  request sees a new high-water mark: the outcome's lines patched, their days' partial
  sums re-summed, and a dashboard computed from the partial sums — no memo hit);
* random periods (≥ 30 days), slices and grains (never the same query twice);
* drill-down pages of random KPIs, periods, slices and offsets.

The peer, side by side: the same first dashboard before any facts exist — built from the
dataset (load, validate, facts) — which every request would pay without the cache.

    .venv/bin/stockpilot simulate --scale medium --seed 7 --out var/data   # once
    .venv/bin/python benchmarks/kpis.py [--home var] [--items 20000] [--requests 100]

Target (issue 18): a dashboard over 2 years of the medium dataset in ≤ 500 ms p95.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

BIN = Path(sys.executable).parent
TARGET_MS = 500.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_store(url: str, data: Path, n_items: int, seed: int) -> dict[str, str]:
    """Migrate, apply the default policy, record ``n_items`` routed order-risk
    recommendations with their decisions; returns a supervisor and an order-system key."""
    from governance import keys, policy_versions, queues
    from governance.access import Principal, Role
    from governance.recommendations import ModelOutput, record
    from governance.routing import OrderRisk, route
    from governance.store import migrate
    from governance.store.engine import Database

    db = Database(url)
    migrate.upgrade(db)
    admin = Principal("bench", Role.admin)
    with db.write() as s:
        policy = policy_versions.ensure_policy(s, actor=admin, policy_file=None).policy
        supervisor_key = keys.create_key(s, role=Role.supervisor, name="bench-sup", actor=admin)[1]
        erp_key = keys.create_key(s, role=Role.order_system, name="bench-erp", actor=admin)[1]
    truth = pd.read_parquet(data / "truth" / "order_lines.parquet")
    orders = pd.read_parquet(
        data / "orders.parquet", columns=["order_id", "order_ts", "customer_id"]
    )
    risk = truth.groupby("order_id")["p_miss"].max()
    first = orders.drop_duplicates("order_id").set_index("order_id")
    rng = np.random.default_rng(seed)
    picked = rng.choice(risk.index.to_numpy(), size=min(n_items * 3, len(risk)), replace=False)
    erp = Principal("erp", Role.order_system, key_id="bench-erp")
    sup = Principal("sup", Role.supervisor, key_id="bench-sup")
    opened = 0
    with db.write() as s:
        for order_id in picked:
            if opened >= n_items:
                break
            p = float(risk[order_id])
            at = pd.Timestamp(first.loc[order_id, "order_ts"]).tz_localize(UTC).to_pydatetime()
            decision = route(OrderRisk(probability=p), policy)
            rec = record(
                s,
                ModelOutput(f"order:{order_id}", "order-risk", "bench", p),
                decision,
                principal=erp,
                summary={"customer_id": str(first.loc[order_id, "customer_id"]),
                         "top_family": str(rng.choice(["carrier_delay", "inventory_shortfall"]))},
                now=at,
            )  # fmt: skip
            if rec.item is None:
                continue
            opened += 1
            roll = rng.random()
            sla = (rec.item.due_at - rec.item.created_at).total_seconds()
            when = at + timedelta(seconds=float(rng.uniform(0.05, 0.95)) * sla)
            if roll < 0.85:
                action = "approve" if roll < 0.6 else "override" if roll < 0.75 else "reject"
                queues.decide(
                    s, rec.item.id, principal=sup, action=action, policy=policy,
                    reason="bench", now=when,
                )  # fmt: skip
    with db.write() as s:
        queues.expire_due(s, now=datetime.now(UTC), limit=10 * n_items)
    db.dispose()
    return {"supervisor": supervisor_key, "order_system": erp_key}


def timed(client: httpx.Client, url: str, **params: object) -> float:
    t0 = time.perf_counter()
    response = client.get(url, params=params)
    elapsed = (time.perf_counter() - t0) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {url} {params} → {response.status_code}: {response.text[:300]}")
    return elapsed


def summary(name: str, ms: list[float]) -> str:
    p95 = float(np.percentile(ms, 95))
    mark = "ok" if p95 <= TARGET_MS else "MISSED"
    return f"{name:52} {len(ms):5d} {statistics.median(ms):8.1f} {p95:8.1f} {max(ms):8.1f}  {mark}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, default=Path("var"))
    parser.add_argument("--items", type=int, default=20_000, help="queue items to seed")
    parser.add_argument("--requests", type=int, default=100, help="requests per row")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = (args.home / "data").resolve()
    if not (data / "truth" / "order_lines.parquet").exists():
        sys.exit(f"{data}: no simulated dataset (stockpilot simulate --scale medium --seed 7)")
    work = Path(tempfile.mkdtemp(prefix="sp-kpi-bench-"))
    url = f"sqlite:///{work / 'bench.db'}"
    t0 = time.perf_counter()
    tokens = seed_store(url, data, args.items, args.seed)
    print(f"seeded {args.items:,} queue items in {time.perf_counter() - t0:.0f} s")
    env = {
        **os.environ,
        "STOCKPILOT_HOME": str(work),
        "STOCKPILOT_DATA_DIR": str(data),
        "STOCKPILOT_DATABASE_URL": url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{(args.home / 'mlflow.db').resolve()}",
        "STOCKPILOT_LGBM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "stockpilot"), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(
            base_url=base, timeout=600, headers={"X-API-Key": tokens["supervisor"]}
        ) as client:
            for _ in range(600):
                try:
                    if client.get("/health/live").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.5)
            run(client, tokens, data, args)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def run(client: httpx.Client, tokens: dict[str, str], data: Path, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    cold = timed(client, "/v1/kpis")  # the facts do not exist yet: built from the dataset
    body = client.get("/v1/kpis").json()
    first, last = (
        date.fromisoformat(body["period"]["from"]),
        date.fromisoformat(body["period"]["to"]),
    )
    span = (last - first).days
    print(
        f"period {first} – {last} ({span + 1} days), {len(body['kpis'])} KPIs, "
        f"facts {body['sources']['facts_source']} in {body['sources']['facts_seconds']:.1f} s, "
        f"governance audit seq {body['sources']['high_water']['audit_seq']:,}"
    )

    def values_of(dim: str) -> list[str]:
        params = {"kpi": "fill_rate_line", "by": dim}
        return [g["key"] for g in client.get("/v1/kpis", params=params).json()["kpis"][0]["groups"]]

    slices = {dim: values_of(dim) for dim in ("location", "segment", "category", "carrier")}
    n = args.requests
    rows: dict[str, list[float]] = {}
    rows["GET /v1/kpis, 2 years, repeated"] = [timed(client, "/v1/kpis") for _ in range(n)]

    orders = pd.read_parquet(data / "fulfillments.parquet").tail(n)
    erp = {"X-API-Key": tokens["order_system"]}
    live = []
    for k, row in enumerate(orders.itertuples()):
        delivered = date(2025, 12, 30) + timedelta(days=k % 3)
        outcome = {
            "order_id": row.order_id,
            "line_no": int(row.line_no),
            "shipped_qty": float(row.shipped_qty),
            "status": "delivered",
            "delivered_date": delivered.isoformat(),
        }
        posted = client.post("/v1/outcomes", json={"outcomes": [outcome]}, headers=erp)
        assert posted.status_code == 202, posted.text
        live.append(timed(client, "/v1/kpis"))
    rows["GET /v1/kpis, 2 years, a new outcome before each"] = live

    def random_query() -> dict[str, object]:
        length = rng.randint(30, span)
        start = first + timedelta(days=rng.randint(0, span - length))
        params: dict[str, object] = {
            "from": start.isoformat(),
            "to": (start + timedelta(days=length)).isoformat(),
        }
        params["grain"] = rng.choice(["week", "month"] if length > 62 else ["day", "week"])
        dim = rng.choice([None, *slices])
        if dim:
            params[dim] = rng.choice(slices[dim])
        return params

    rows["GET /v1/kpis, random period, slice, grain"] = [
        timed(client, "/v1/kpis", **random_query()) for _ in range(n)
    ]
    ids = [k["id"] for k in body["kpis"]]
    drill = []
    for _ in range(n):
        params = random_query()
        params.pop("grain")
        params.update(
            outcome=rng.choice(["all", "missed"]), limit=100, offset=rng.choice([0, 0, 100, 1000])
        )
        drill.append(timed(client, f"/v1/kpis/{rng.choice(ids)}/rows", **params))
    rows["GET /v1/kpis/{id}/rows, random KPI, period, slice, page"] = drill

    print(
        f"\n{'request':52} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  "
        f"(target p95 ≤ {TARGET_MS:.0f} ms)"
    )
    for name, ms in rows.items():
        print(summary(name, ms))
    warm = statistics.median(rows["GET /v1/kpis, random period, slice, grain"])
    print(
        f"\npeer: the first dashboard, facts built from the dataset: {cold:,.0f} ms "
        f"({cold / warm:,.0f}× a random uncached query's median)"
    )


if __name__ == "__main__":
    main()
