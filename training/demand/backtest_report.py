"""`stockpilot backtest demand`: the demand model and its baselines on the same windows.

The same backtest :func:`training.demand.train.train` runs before it registers a model
(same windows, same baselines, same metrics), without the policy replay, the final fit
or MLflow: a way to ask "how would this model have done on my data, with this horizon
and these windows?" before training one. :func:`backtest_and_baselines` is the shared
part; :func:`render` is the terminal table of per-window and overall figures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from features.demand import daily_demand
from models.demand import DemandForecaster
from stockpilot.data import load_dataset, load_truth
from stockpilot.jsonable import plain
from stockpilot.progress import progress
from stockpilot.settings import Settings, get_settings
from training.demand.backtest import BacktestConfig, BacktestResult, run_backtest
from training.demand.baselines import LABELS, run_baselines
from training.demand.evaluate import evaluate

MODEL_LABEL = "LightGBM (ours)"
SERVING_HORIZON = 28  # what replenishment and the API may ask of a registered model


def model_factory(
    config: BacktestConfig, model: dict[str, Any], threads: int
) -> Callable[[], DemandForecaster]:
    """Fresh forecasters for each window (and the final fit) with the run's parameters."""
    params = {
        "num_threads": threads,
        "horizon": max(SERVING_HORIZON, config.horizon),
        **model,
    }
    return lambda: DemandForecaster(**params)


def backtest_and_baselines(
    daily: pd.DataFrame,
    items: pd.DataFrame | None,
    truth: dict[str, pd.DataFrame],
    config: BacktestConfig,
    make_model: Callable[[], DemandForecaster],
    threads: int,
    timings: dict[str, float],
    stage: Callable[[str], None] = lambda text: None,
) -> tuple[BacktestResult, dict[str, Any], pd.DataFrame]:
    """Backtest our model, fit the baselines on the same windows, evaluate them together."""
    t0 = time.perf_counter()
    bt = run_backtest(daily, items, make_model, config, on_step=lambda t: stage(f"backtest {t}"))
    timings["backtest_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    series = {
        w: bt.series.loc[bt.series["window"] == w, "unique_id"].tolist() for w in bt.eval_windows
    }
    baselines = run_baselines(
        daily,
        {w: bt.cutoffs[w] for w in bt.eval_windows},
        config,
        series,
        n_jobs=threads,
        on_step=stage,
    )
    timings["baselines_s"] = time.perf_counter() - t0
    evaluation, scored = evaluate(bt, baselines, daily, truth)
    return bt, evaluation, scored


def backtest(
    data: Path | str,
    config: BacktestConfig,
    report: Path | None = None,
    model: dict[str, Any] | None = None,
    settings: Settings | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Backtest report of ``data`` (our model, every baseline, the oracle when simulated)."""
    settings = settings or get_settings()
    threads = settings.train_threads
    config = replace(config, next_day=False, replay_refresh_days=None)  # nothing replays
    timings: dict[str, float] = {}
    with progress() if show_progress else nullcontext() as bar:
        task = bar.add_task("demand backtest: loading data", total=None) if bar else None

        def stage(text: str) -> None:
            if bar is not None:
                bar.update(task, description=f"demand backtest: {text}")

        t0 = time.perf_counter()
        ds = load_dataset(data)
        daily = daily_demand(ds.demand, ds.orders)
        truth = load_truth(data)  # evaluation only: the oracle
        timings["load_s"] = time.perf_counter() - t0
        _, evaluation, _ = backtest_and_baselines(
            daily,
            ds.items,
            truth,
            config,
            model_factory(config, model or {}, threads),
            threads,
            timings,
            stage,
        )
    evaluation["timings"] = timings
    evaluation = plain(evaluation, unknown="str")
    if report is not None:
        report = Path(report)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(evaluation, indent=2))
    return evaluation


def _rows(evaluation: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = [(MODEL_LABEL, evaluation["backtest"])]
    rows += [(LABELS.get(name, name), b) for name, b in evaluation["baselines"].items()]
    if evaluation.get("oracle"):
        rows.append(("oracle (true mean)", evaluation["oracle"]))
    return rows


def render(evaluation: dict[str, Any]) -> Any:
    """A Rich table: WAPE, MASE and bias per window and overall, ours and each baseline."""
    from rich.table import Table

    bt = evaluation["backtest"]
    refresh = bt.get("refresh_days")
    title = (
        f"demand backtest: {bt['n_windows']} window(s) × {bt['horizon']} days, "
        f"cutoffs {bt.get('step', bt['horizon'])} days apart, "
        + (f"forecasts refreshed every {refresh} days" if refresh else "forecasts from the cutoff")
        + f", {bt['n_series']:,} series"
    )
    table = Table(title=title)
    for name, justify in (("window", "left"), ("cutoff", "left"), ("model", "left")):
        table.add_column(name, justify=justify)
    for name in ("WAPE", "MASE", "bias"):
        table.add_column(name, justify="right")

    def fmt(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, int | float) else "-"

    rows = _rows(evaluation)
    for k, window in enumerate(bt["windows"]):
        for label, stats in rows:
            w = next((x for x in stats.get("windows", []) if x["window"] == window["window"]), {})
            figures = (fmt(w.get(key)) for key in ("wape", "mase", "bias"))
            table.add_row(str(k + 1), window["cutoff"], label, *figures)
        table.add_section()
    for label, stats in rows:
        figures = (fmt(stats.get(key)) for key in ("wape", "mase", "bias"))
        table.add_row("all", "", label, *figures)
    return table
