"""Simulator throughput: rows produced and wall time per scale (simulate + write Parquet).

    .venv/bin/python benchmarks/simulate.py [--scales small medium large] [--seed 7]
        [--regimes standard routes loyalty sparse drift]

Targets on the 2-core machine: small ≤ 10 s, medium ≤ 90 s, large (≥ 3 M order lines) ≤ 15 min.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from training.simulator import REGIMES, simulate, write

TARGET_SECONDS = {"small": 10, "medium": 90, "large": 900}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", nargs="+", default=["small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--regimes", nargs="+", default=["standard"], choices=list(REGIMES))
    args = parser.parse_args()
    print(
        f"{'regime':<10}{'scale':<8}{'order lines':>13}{'all rows':>13}{'simulate s':>12}"
        f"{'write s':>9}{'total s':>9}{'target s':>10}  ok"
    )
    for regime in args.regimes:
        for scale in args.scales:
            t0 = time.perf_counter()
            result = simulate(scale, seed=args.seed, regime=regime)
            t1 = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                write(result, Path(tmp) / "data")
            t2 = time.perf_counter()
            rows = sum(len(df) for df in result.tables.values())
            total = t2 - t0
            ok = "yes" if total <= TARGET_SECONDS[scale] else "NO"
            print(
                f"{regime:<10}{scale:<8}{len(result.tables['orders']):>13,}{rows:>13,}"
                f"{t1 - t0:>12.1f}{t2 - t1:>9.1f}{total:>9.1f}{TARGET_SECONDS[scale]:>10}  {ok}",
                flush=True,
            )
            del result
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak memory: {peak:.1f} GiB")


if __name__ == "__main__":
    main()
