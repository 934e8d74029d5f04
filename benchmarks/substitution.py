"""Substitution recommender: request latency on the large catalogue, and quality figures.

    .venv/bin/python benchmarks/substitution.py [--data DIR] [--scale large] [--seed 7]
        [--requests 2000] [--n 5]

Without ``--data`` the dataset is simulated first (large, seed 7: ~30 s). The model is
fitted in-process exactly as ``stockpilot train substitution`` does (no MLflow), then
``recommend`` is timed on requests drawn from the last order lines (customer, item,
quantity, location, promised date) against the live ``InventoryPositions``.

Targets (in-process, one thread, 2-core machine): p50 ≤ 5 ms, p99 ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from features.inventory import InventoryPositions
from stockpilot.data import load_dataset, load_truth
from training.substitution import evaluate, fit

P50_TARGET_MS = 5.0
P99_TARGET_MS = 20.0


def _dataset(args: argparse.Namespace, tmp: str) -> Path:
    if args.data is not None:
        return Path(args.data)
    from training.simulator import simulate, write

    out = Path(tmp) / "data"
    t0 = time.perf_counter()
    write(simulate(args.scale, seed=args.seed), out)
    print(f"simulated {args.scale} seed {args.seed} in {time.perf_counter() - t0:.1f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--scale", default="large")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="LightGBM threads for training")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = _dataset(args, tmp)
        t0 = time.perf_counter()
        ds = load_dataset(data)
        t1 = time.perf_counter()
        recommender, prepared = fit(ds, num_threads=args.threads)
        t2 = time.perf_counter()
        recommender.model.num_threads = 1  # serving: one thread per request
        evaluation, _ = evaluate(recommender, prepared, load_truth(data))
    items, offers = len(recommender.features.catalog_), len(prepared.offers)
    print(f"catalogue: {items:,} items, {offers:,} logged offers")
    print(f"load + validate {t1 - t0:.1f} s, fit {t2 - t1:.1f} s")

    inventory = InventoryPositions.from_inventory(ds.inventory)
    lines = ds.orders.tail(50_000)
    rng = np.random.default_rng(args.seed)
    picks = rng.integers(0, len(lines), args.requests + 100)
    requests = [
        (
            str(lines["customer_id"].iat[k]),
            str(lines["item_id"].iat[k]),
            float(lines["qty"].iat[k]),
            str(lines["location_id"].iat[k]),
            lines["promised_date"].iat[k],
            lines["order_ts"].iat[k],
        )
        for k in picks
    ]
    requests = [r for r in requests if r[1] in recommender.features.catalog_.index]
    latencies, returned, other = [], 0, 0
    for k, (customer, item, qty, location, need_by, ts) in enumerate(requests):
        start = time.perf_counter()
        result = recommender.recommend(
            customer, item, qty, location, need_by, inventory=inventory, n=args.n, ts=ts
        )
        elapsed = time.perf_counter() - start
        if k >= 100:  # warm-up excluded
            latencies.append(elapsed * 1000)
            returned += len(result.substitutes)
            other += sum(s.other_location for s in result.substitutes)
    p50, p99 = np.percentile(latencies, [50, 99])
    print(
        f"recommend latency over {len(latencies)} requests (n={args.n}, with SHAP reasons): "
        f"p50 {p50:.2f} ms (target ≤ {P50_TARGET_MS:g}) "
        f"{'ok' if p50 <= P50_TARGET_MS else 'MISSED'}, "
        f"p99 {p99:.2f} ms (target ≤ {P99_TARGET_MS:g}) "
        f"{'ok' if p99 <= P99_TARGET_MS else 'MISSED'}"
    )
    print(
        f"substitutes per request {returned / len(latencies):.2f}, "
        f"from another location {other / max(returned, 1):.1%}"
    )
    test = evaluation["test"]
    print(
        f"switch occasions in the test period: {test['n_events']:,}; "
        f"NDCG@5 model {test['ndcg@5']:.4f}, hit@1_switch {test['hit@1_switch']:.4f}, "
        f"hit@3 {test['hit@3']:.4f}"
    )
    for name, b in evaluation["baselines"].items():
        print(
            f"  baseline {name:<22} NDCG@5 {b['ndcg@5']:.4f}, hit@1_switch {b['hit@1_switch']:.4f}"
        )
    if evaluation["oracle"] is not None:
        o = evaluation["oracle"]
        print(f"  oracle {'':<24} NDCG@5 {o['ndcg@5']:.4f}, hit@1_switch {o['hit@1_switch']:.4f}")
    print(f"ECE {evaluation['calibration']['ece']:.4f}")


if __name__ == "__main__":
    main()
