"""Demand sensing at scale: training and backtest time and peak memory, with the quality figures.

    .venv/bin/python benchmarks/demand.py [--data DIR] [--scale large] [--seed 7]

Without ``--data`` the dataset is simulated first in a child process (so the simulator's
own memory peak is not counted): large, seed 7 is 2,000 items × 5 locations = 10,000
series × 1,095 days (3 years). Then ``stockpilot train demand`` runs in this process
exactly as on the command line (rolling-origin backtest, statsforecast baselines,
evaluation, policy replay, final fit, MLflow logging into a throw-away store; the policy
replay at the configured service target only, unless ``--trade-off``), and the
benchmark prints the time of each stage, the peak resident memory and the backtest
figures against the baselines.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _dataset(args: argparse.Namespace, tmp: str) -> Path:
    if args.data is not None:
        return Path(args.data)
    out = Path(tmp) / "data"
    t0 = time.perf_counter()
    code = (
        "import sys; from pathlib import Path; "
        "from training.simulator import simulate, write; "
        "write(simulate(sys.argv[1], seed=int(sys.argv[2])), Path(sys.argv[3]))"
    )
    subprocess.run([sys.executable, "-c", code, args.scale, str(args.seed), str(out)], check=True)
    print(f"simulated {args.scale} seed {args.seed} in {time.perf_counter() - t0:.1f} s")
    return out


def _row(name: str, stats: dict) -> str:
    def f(key: str) -> str:
        value = stats.get(key)
        return f"{value:>10.3f}" if isinstance(value, int | float) else f"{'-':>10}"

    return f"{name:<22}{f('wape')}{f('mase')}{f('bias')}{f('coverage80')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--scale", default="large")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="training threads")
    parser.add_argument(
        "--trade-off",
        action="store_true",
        help="also replay both policies over the grid of service targets (as `train` does)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = _dataset(args, tmp)
        simulator = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        os.environ["STOCKPILOT_HOME"] = str(Path(tmp) / "home")
        os.environ["STOCKPILOT_TRAIN_THREADS"] = str(args.threads)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        from training.demand.train import TrainConfig, train

        config = TrainConfig() if args.trade_off else TrainConfig(trade_off_levels=())
        t0 = time.perf_counter()
        evaluation = train(data, alias="champion", config=config, show_progress=False)
        total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    # statsforecast forks worker processes for the baselines (pages shared copy-on-write);
    # the kernel keeps one maximum over all children, the simulator's included.
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    workers = f"{children:.1f} GiB" if children > simulator else f"<= {simulator:.1f} GiB"

    d, t = evaluation["data"], evaluation["timings"]
    print(f"\nseries {d['series']:,} × days {d['days']:,} ({d['demand_source']} table)")
    print(f"{'stage':<28}{'seconds':>9}")
    for key, value in t.items():
        print(f"{key.removesuffix('_s'):<28}{value:>9.1f}")
    print(f"{'total (with MLflow logging)':<28}{total:>9.1f}")
    print(f"peak resident memory: {peak:.1f} GiB (largest worker process: {workers})")

    bt = evaluation["backtest"]
    print(f"\nbacktest: {bt['n_windows']} windows × {bt['horizon']} days")
    print(f"{'model':<22}{'WAPE':>10}{'MASE':>10}{'bias':>10}{'cov80':>10}")
    print(_row("LightGBM (ours)", bt))
    for name, stats in evaluation["baselines"].items():
        print(_row(stats.get("model", name)[:22], stats))
    if evaluation.get("oracle"):
        print(f"{'oracle (true mean)':<22}{evaluation['oracle']['wape']:>10.3f}")
    imp = evaluation["improvement"]
    print(
        f"WAPE better than SeasonalNaive by {imp['wape_vs_seasonal_naive']:.1%}, "
        f"than AutoETS by {imp['wape_vs_auto_ets']:.1%}"
    )
    rep = evaluation["replenishment"]
    base = rep["baseline"]
    print(
        f"policy replay: fill rate {rep['fill_rate']:.4f} vs {base['fill_rate']:.4f}, "
        f"avg inventory {rep['avg_inventory']:,.0f} vs {base['avg_inventory']:,.0f} (baseline)"
    )


if __name__ == "__main__":
    main()
