"""Regime benchmark: the three models on every simulator regime, one table.

    .venv/bin/python benchmarks/regimes.py [--scale medium] [--seed 7 ...]
        [--regimes standard routes ...] [--models order-risk substitution demand]
        [--threads 2] [--keep DIR]

For each regime and seed: simulate into a temporary directory, then run
``stockpilot train MODEL --data DIR --alias none --report R`` for each model, each in its
own process (exactly what a user runs; one failure cannot take the others down) against a
throw-away ``STOCKPILOT_HOME`` (its own MLflow store). Each report's ``gate`` block
(training/gate.py) gives the cell: the headline metric, ours, the best baseline (name and
value), the oracle, the margin over the best baseline, whether it beats it by the gate's
rule, the gap to the oracle, and the wall time of the training command. A trainer that
fails prints its one-line error in its cell and the benchmark goes on; substitution on a
dataset without a ``substitutions`` table is ``n/a``.

Progress goes to stderr; the markdown table (with the command line and the date) goes to
stdout at the end, ready to paste into a note.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MODELS = ("order-risk", "substitution", "demand")
NEEDS_TABLE = {"substitution": "substitutions"}
ERROR_WIDTH = 160
# The substitution gate's oracle on a world whose customers are seen about once: their
# hidden taste integrated out (training/substitution.py, docs/substitution.md).
ORACLE_MARK = {"population": " (pop.)"}


@dataclass
class Cell:
    model: str
    regime: str
    seed: int
    seconds: float
    gate: dict[str, Any] | None = None
    error: str | None = None  # the trainer's one-line error, or why the cell is n/a


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def simulate(regime: str, scale: str, seed: int, out: Path) -> float:
    from training.simulator import simulate as run
    from training.simulator import write

    start = time.perf_counter()
    write(run(scale, seed=seed, regime=regime), out)
    return time.perf_counter() - start


def one_line(stderr: str, returncode: int) -> str:
    """The error a user saw, in one line: a traceback's last line, else the message."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return f"exit status {returncode}, nothing on stderr"
    text = lines[-1] if any(line.startswith("Traceback") for line in lines) else " ".join(lines)
    return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 1] + "…"


def train(model: str, data: Path, home: Path, report: Path, threads: int) -> tuple[Cell, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("STOCKPILOT_") and k != "MLFLOW_TRACKING_URI"
    }
    env |= {"STOCKPILOT_HOME": str(home), "STOCKPILOT_TRAIN_THREADS": str(threads)}
    command = [sys.executable, "-m", "stockpilot.cli", "train", model, "--data", str(data)]
    command += ["--alias", "none", "--report", str(report)]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    cell = Cell(model, "", 0, seconds)
    if done.returncode == 0 and report.exists():
        cell.gate = json.loads(report.read_text())["gate"]
    else:
        cell.error = one_line(done.stderr, done.returncode)
    return cell, done.stderr


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:.{digits}f}"
    return str(value)


def table(cells: list[Cell]) -> str:
    head = (
        "| model | regime | seed | metric | ours | best baseline | oracle | margin "
        "| beats best | gap to oracle | time s |"
    )
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in cells:
        start = f"| {c.model} | {c.regime} | {c.seed} "
        if c.gate is None:
            rows.append(start + f"| — | {c.error} | — | — | — | — | — | {c.seconds:.0f} |")
            continue
        g = c.gate
        kind = " (rel.)" if g["margin_kind"] == "relative" else ""
        rows.append(
            start
            + f"| {g['metric']} | {fmt(g['model'])} "
            + f"| {g['best_baseline']} {fmt(g['best_baseline_value'])} "
            + f"| {fmt(g['oracle'])}{ORACLE_MARK.get(g.get('oracle_kind'), '')} "
            + f"| {fmt(g['margin'])}{kind} "
            + f"| {fmt(g['beats_best_baseline'])} | {fmt(g['gap_to_oracle'])} "
            + f"| {c.seconds:.0f} |"
        )
    return "\n".join(rows)


def main() -> None:
    from training.simulator import REGIMES, SCALES

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="medium", choices=sorted(SCALES))
    parser.add_argument("--seed", type=int, nargs="+", default=[7])
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--threads", type=int, default=2, help="training threads per model")
    parser.add_argument("--keep", type=Path, default=None, help="keep datasets and reports here")
    args = parser.parse_args()
    started = datetime.now(UTC)
    command = "benchmarks/regimes.py " + shlex.join(sys.argv[1:])

    cells: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="regimes-") as tmp:
        root = args.keep or Path(tmp)
        for regime in args.regimes:
            for seed in args.seed:
                work = root / f"{regime}-{args.scale}-{seed}"
                data = work / "data"
                log(f"simulating {regime} {args.scale} seed {seed} …")
                log(f"  {simulate(regime, args.scale, seed, data):.1f} s")
                for model in args.models:
                    table_name = NEEDS_TABLE.get(model)
                    if table_name and not any(data.glob(f"{table_name}.*")):
                        error = f"n/a (no {table_name} table)"
                        cells.append(Cell(model, regime, seed, 0.0, error=error))
                        log(f"  {model}: {error}")
                        continue
                    log(f"  training {model} …")
                    report = work / f"{model}.json"
                    cell, stderr = train(model, data, work / "home", report, args.threads)
                    cell.regime, cell.seed = regime, seed
                    (work / f"{model}.stderr").write_text(stderr)
                    cells.append(cell)
                    log(f"  {model}: {cell.error or 'done'} ({cell.seconds:.0f} s)")
    finished = datetime.now(UTC)
    print(f"$ {command}")
    print(
        f"{started:%Y-%m-%d %H:%M} – {finished:%H:%M} UTC, scale {args.scale}, "
        f"{args.threads} training thread(s), alias none (nothing promoted)\n"
    )
    print(table(cells))
    failed = [c for c in cells if c.gate is None and not (c.error or "").startswith("n/a")]
    if failed:
        print("\nerrors:")
        for c in failed:
            print(f"- {c.model} on {c.regime} (seed {c.seed}): {c.error}")


if __name__ == "__main__":
    main()
