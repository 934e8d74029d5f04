"""`POST /v1/replenishment/run` through the real app: answer time per run, medians.

The run plans from the dataset view serving keeps (``serving/planning.py``): the first
run loads and validates the dataset, every later one reuses it. Printed: the first run,
the median and p90 of the later ones, and what each run cost before the view (loading,
validating and deriving the planning tables on every call, timed alone here).

The home is prepared once when absent: the simulated dataset of ``--scale`` and a demand
model fitted on all of it (the default parameters ``stockpilot train demand`` uses, no
backtest: the answer time does not depend on how good the model is), registered as the
champion in the home's own MLflow store. Order-risk and substitution are not needed.

    .venv/bin/python benchmarks/replenishment.py --home /tmp/bench-repl --scale medium
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: benchmarks/ would shadow the `serving` package
    sys.path[0] = str(Path(__file__).resolve().parent.parent)


def prepare(home: Path, scale: str, threads: int) -> None:
    from models.demand import DemandForecaster
    from models.demand_pyfunc import DemandPyfunc, input_example, save_forecaster, signature
    from models.replenishment_run import PlanningData
    from stockpilot import tracking
    from stockpilot.data import load_dataset
    from stockpilot.settings import get_settings
    from training.simulator import simulate, write

    data = home / "data"
    if not any(data.glob("orders.*")):
        print(f"simulating {scale} into {data}", flush=True)
        write(simulate(scale, seed=7), data)
    settings = get_settings()
    tracking.configure(settings)
    if tracking.has_alias("demand", "champion"):
        return
    print("fitting the demand model on all history", flush=True)
    ds = load_dataset(data)
    planning = PlanningData.from_dataset(ds)
    forecaster = DemandForecaster(num_threads=threads).fit(planning.daily, ds.items)
    with tracking.run("demand", settings, purpose="replenishment benchmark"):
        with tempfile.TemporaryDirectory() as tmp:
            path = save_forecaster(forecaster, Path(tmp) / "forecaster.pkl")
            info = tracking.log_model(
                DemandPyfunc(),
                model_name="demand",
                artifacts={"forecaster": str(path)},
                input_example=input_example(forecaster),
                signature=signature(forecaster),
                tags={"purpose": "replenishment benchmark"},
            )
        tracking.register(info.model_uri, "demand", "champion", {})


def planner_key() -> str:
    from governance import keys, policy_versions
    from governance.access import Principal, Role
    from governance.store import migrate
    from governance.store.engine import Database
    from stockpilot.settings import get_settings

    db = Database.from_settings(get_settings())
    try:
        migrate.upgrade(db)
        operator = Principal("bench", Role.admin)
        with db.write() as session:
            policy_versions.ensure_policy(session, actor=operator, policy_file=None)
            return keys.create_key(session, role=Role.planner, name="bench", actor=operator)[1]
    finally:
        db.dispose()


def old_path_seconds(data: Path, repeat: int) -> list[float]:
    """What every run paid before the view: load, validate, derive."""
    from models.replenishment_run import PlanningData
    from stockpilot.data import load_dataset

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        PlanningData.from_dataset(load_dataset(data))
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--runs", type=int, default=11, help="runs after the first")
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads")
    args = parser.parse_args()
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["STOCKPILOT_HOME"] = str(home)
    os.environ["STOCKPILOT_LGBM_THREADS"] = str(args.threads)
    os.environ.pop("MLFLOW_TRACKING_URI", None)

    from fastapi.testclient import TestClient

    from serving.app import create_app
    from stockpilot.settings import get_settings

    prepare(home, args.scale, args.threads)
    headers = {"X-API-Key": planner_key()}
    settings = get_settings()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        times, suggestions = [], 0
        for _ in range(args.runs + 1):
            start = time.perf_counter()
            response = client.post("/v1/replenishment/run", json={}, headers=headers)
            times.append(time.perf_counter() - start)
            if response.status_code != 201:
                raise SystemExit(f"run failed: {response.status_code} {response.text[:500]}")
            suggestions = len(response.json()["suggestions"])
    before = old_path_seconds(settings.data_dir, 3)
    later = sorted(times[1:])
    p90 = later[min(len(later) - 1, int(0.9 * len(later)))]
    print(f"POST /v1/replenishment/run, {args.scale} dataset, {suggestions} suggestions per run")
    print(f"  first run (loads the dataset view)     {times[0]:7.2f} s")
    print(f"  later runs: median of {len(later):<2}              {statistics.median(later):7.2f} s")
    print(f"  later runs: p90                        {p90:7.2f} s")
    print(
        f"  per run before the view (load+derive)  {statistics.median(before):7.2f} s (median of 3)"
    )
    target = statistics.median(later) <= 1.0
    print(f"target (p50 <= 1 s after the first run): {'met' if target else 'NOT met'}")


if __name__ == "__main__":
    main()
