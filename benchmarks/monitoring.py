"""Monitoring benchmark: drift alert delay, false alarms, CBPE vs realised AUC.

    .venv/bin/python benchmarks/monitoring.py [--scale medium] [--seed 7]
        [--train-until 2025-01-01]

For the ``drift`` and the ``standard`` regime: simulate, train order risk on the lines
ordered before ``--train-until`` (a copy of the dataset cut there, into a temporary
MLflow store, as ``stockpilot train order-risk`` does), then monitor every later day
with the registered champion as ``stockpilot monitor`` does. Prints:

- ``drift``: the day of the change (``truth/drift_events``: the carrier collapse), the
  first drift alarm on or after it (any feature, and a carrier/route feature), in days;
  target ≤ 7;
- ``standard`` (nothing changes): the share of feature-days that alarm; target ≤ 1 %;
- ``drift``: estimated (CBPE) vs realised AUC per ISO week, and the share of weeks within
  0.02 over the weeks where calibration holds (realised ECE ≤ 0.03); target ≥ 80 %.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

WITHIN = 0.02
CALIBRATED_ECE = 0.03


def run(regime: str, scale: str, seed: int, until: pd.Timestamp, work: Path) -> dict:
    from stockpilot.data import load_truth, write_until
    from stockpilot.settings import get_settings
    from training import monitor_run
    from training.order_risk import train
    from training.simulator import simulate, write

    data, early = work / f"{regime}-data", work / f"{regime}-early"
    t0 = time.perf_counter()
    os.environ["STOCKPILOT_HOME"] = str(work / f"{regime}-home")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    get_settings.cache_clear()
    report = work / f"{regime}-evaluation.json"
    if not report.exists():  # a kept --work directory is reused as it is
        write(simulate(scale, seed=seed, regime=regime), data)
        write_until(data, until, early)
        train(early, report=report, alias="champion", force=True)
    evaluation = json.loads(report.read_text())
    t1 = time.perf_counter()
    report = monitor_run.monitor("order-risk", data, since=until.date(), alerts=False)
    t2 = time.perf_counter()
    print(
        f"[{regime}] simulate+train {t1 - t0:.0f} s, monitor {t2 - t1:.0f} s; "
        f"training test AUC {evaluation['test']['auc']:.3f}; {report['lines']:,} lines "
        f"over {report['days']} days, {report['reference']['features']} features monitored",
        flush=True,
    )
    return {"report": report, "truth": load_truth(data)}


def alarms(report: dict) -> pd.DataFrame:
    rows = report["drift"]["rows"] + report["calibration"]["rows"]
    frame = pd.DataFrame(rows, columns=["day", "feature", "psi", "p_adjusted"])
    return frame.assign(day=pd.to_datetime(frame["day"]))


def report_drift(result: dict) -> None:
    events = result["truth"]["drift_events"]
    collapse = events[events["kind"] == "carrier_collapse"].iloc[0]
    change = pd.Timestamp(collapse["date"])
    found = alarms(result["report"])
    print(f"[drift] carrier {collapse['entity']} collapses on {change.date()}")
    before = found[found["day"] < change]
    print(
        f"[drift] alarms before it: {len(before)} "
        f"(on: {', '.join(sorted(before['feature'].unique())) or '-'})"
    )
    after = found[found["day"] >= change].sort_values("day", kind="stable")
    carrier = after[after["feature"].str.contains(str(collapse["entity"]))]
    for label, frame in (("any check", after), (f"a check of {collapse['entity']}", carrier)):
        if frame.empty:
            print(f"[drift] first alarm after the change ({label}): none")
            continue
        first = frame.iloc[0]
        delay = (first["day"] - change).days
        same = frame[frame["day"] == first["day"]]["feature"].tolist()
        print(
            f"[drift] first alarm after the change ({label}): {first['day'].date()} "
            f"= {delay} days (target ≤ 7): {', '.join(same)}"
        )


def report_alarm_rate(result: dict, regime: str) -> None:
    report = result["report"]
    drifts, calibration = report["drift"], report["calibration"]
    found = alarms(report)
    tests = drifts["feature_days"] + calibration["segment_days"]
    start = pd.Timestamp(report["since"])
    early = int((found["day"] < start + pd.Timedelta(days=90)).sum())
    print(
        f"[{regime}] alarms: features {drifts['alarms']} of {drifts['feature_days']:,} "
        f"feature-days = {drifts['alarms'] / max(drifts['feature_days'], 1):.2%}; calibration "
        f"{calibration['alarms']} of {calibration['segment_days']:,} segment-days = "
        f"{calibration['alarms'] / max(calibration['segment_days'], 1):.2%}; together "
        f"{len(found) / max(tests, 1):.2%} (target ≤ 1 % on unchanged data)"
    )
    if len(found):
        top = found["feature"].value_counts().head(6)
        print(f"[{regime}] by check: {', '.join(f'{k} {v}' for k, v in top.items())}")
        by_quarter = {
            int(k): int(v) for k, v in found.groupby(found["day"].dt.quarter).size().items()
        }
        print(
            f"[{regime}] by quarter of 2025: {by_quarter}; "
            f"in the first 90 days after training: {early}"
        )


def report_cbpe(result: dict) -> None:
    weeks = pd.DataFrame(result["report"]["performance"]["weeks"])
    weeks = weeks[weeks["labelled"] >= 200].copy()
    weeks["diff"] = weeks["expected_auc"] - weeks["auc"]
    weeks["within"] = weeks["diff"].abs() <= WITHIN
    weeks["calibrated"] = weeks["ece"] <= CALIBRATED_ECE
    print("[drift] week      lines  realised_auc  expected_auc   diff   ece    within calibrated")
    for _, w in weeks.iterrows():
        print(
            f"[drift] {w['week']}  {w['labelled']:6d}  {w['auc']:12.3f}  {w['expected_auc']:12.3f}"
            f"  {w['diff']:+.3f}  {w['ece']:.3f}  {'yes' if w['within'] else 'no':6s} "
            f"{'yes' if w['calibrated'] else 'no'}"
        )
    calibrated = weeks[weeks["calibrated"]]
    print(
        f"[drift] within {WITHIN}: {weeks['within'].mean():.0%} of all {len(weeks)} weeks; "
        f"{calibrated['within'].mean():.0%} of the {len(calibrated)} weeks where calibration "
        f"holds (realised ECE ≤ {CALIBRATED_ECE}) (target ≥ 80 %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium", choices=("small", "medium", "large"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--train-until", default="2025-01-01")
    parser.add_argument("--regimes", nargs="+", default=["drift", "standard"])
    parser.add_argument("--work", type=Path, help="Keep (and reuse) data and models here.")
    args = parser.parse_args()
    os.environ.setdefault("STOCKPILOT_TRAIN_THREADS", "2")
    until = pd.Timestamp(args.train_until)
    np.seterr(all="ignore")
    with tempfile.TemporaryDirectory(prefix="monitoring-bench-") as tmp:
        work = args.work or Path(tmp)
        for regime in args.regimes:
            result = run(regime, args.scale, args.seed, until, work)
            if regime == "drift":
                report_drift(result)
            report_alarm_rate(result, regime)
            if regime == "drift":
                report_cbpe(result)


if __name__ == "__main__":
    main()
