"""`stockpilot train demand`: load → daily demand → backtest → baselines → policy replay →
final fit → MLflow run with evaluation.json and plots → registered model ``demand``.

The backtest and baselines are those of `stockpilot backtest demand`
(:mod:`training.demand.backtest_report`), with the same options.
"""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.demand import FEATURES, daily_demand
from models.replenishment import ReplenishmentPolicy
from stockpilot import tracking
from stockpilot.data import load_dataset, load_truth
from stockpilot.jsonable import plain
from stockpilot.progress import progress
from stockpilot.settings import Settings, get_settings
from training import gate
from training.demand import plots
from training.demand.backtest import BacktestConfig
from training.demand.backtest_report import backtest_and_baselines, model_factory
from training.demand.evaluate import level_shift_report
from training.demand.policy import TRADE_OFF_LEVELS, matched, simulate_policies

MODEL_NAME = "demand"
EXTRA_REQUIREMENTS = ("mlforecast", "coreforecast", "utilsforecast", "scipy")


# The simulated planner of the policy replay re-forecasts weekly between retrains.
REPLAY_REFRESH_DAYS = 7


def train_backtest(
    horizon: int = 28, n_windows: int = 3, step: int | None = None, refresh_days: int | None = None
) -> BacktestConfig:
    """The backtest of a training run: scored as asked, plus weekly origins for the replay."""
    return BacktestConfig(
        horizon=horizon,
        n_windows=n_windows,
        step=step,
        refresh_days=refresh_days,
        replay_refresh_days=min(REPLAY_REFRESH_DAYS, horizon),
    )


@dataclass(frozen=True)
class TrainConfig:
    backtest: BacktestConfig = field(default_factory=train_backtest)
    # DemandForecaster parameters overriding its defaults (tests use tiny models).
    model: dict[str, Any] = field(default_factory=dict)
    policy: ReplenishmentPolicy = field(default_factory=ReplenishmentPolicy)
    # Service targets both policies are also replayed at (their trade-off curves).
    trade_off_levels: tuple[float, ...] = TRADE_OFF_LEVELS
    seed: int = 0


def _log_figures(
    scored: pd.DataFrame, curves: dict, outcomes: dict, points: list, world_dates: Any
) -> None:
    figures = {
        "plots/backtest_wape_by_window.png": plots.wape_by_window(
            scored,
            {
                "LightGBM": "mean",
                "SeasonalNaive": "seasonal_naive",
                "AutoETS": "auto_ets",
                "ADIDA": "intermittent",
                "plain LightGBM": "plain_lightgbm",
            },
        ),
        "plots/backtest_examples.png": plots.example_series(scored),
    }
    if curves:
        figures["plots/level_shift_adaptation.png"] = plots.adaptation(curves, 0.8)
    if outcomes:
        figures["plots/policy_inventory.png"] = plots.inventory(
            world_dates, {k: v.daily_inventory for k, v in outcomes.items()}
        )
    if points:
        figures["plots/policy_trade_off.png"] = plots.trade_off(points)
    for name, fig in figures.items():
        tracking.log_figure(fig, name)
        plots.close(fig)


def train(
    data: Path | str,
    report: Path | None = None,
    alias: str | None = "champion",
    config: TrainConfig | None = None,
    settings: Settings | None = None,
    show_progress: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Backtest, evaluate, fit on all history and register ``demand``; returns evaluation.

    ``show_progress=False`` keeps the terminal progress bar out of notebooks;
    ``alias="champion"`` is only set past the champion gate (:mod:`training.gate`) unless
    ``force``.
    """
    from models.demand_pyfunc import DemandPyfunc, input_example, save_forecaster, signature

    config = config or TrainConfig()
    settings = settings or get_settings()
    threads = settings.train_threads
    timings: dict[str, float] = {}
    with progress() if show_progress else nullcontext() as bar:
        task = bar.add_task("demand: loading data", total=7) if bar else None

        def stage(text: str, done: int) -> None:
            if bar is not None:
                bar.update(task, description=f"demand: {text}", completed=done)

        t0 = time.perf_counter()
        ds = load_dataset(data)
        daily = daily_demand(ds.demand, ds.orders)
        source = "demand" if ds.demand is not None and not ds.demand.empty else "orders"
        truth = load_truth(data)  # evaluation only: oracle and level shifts
        timings["load_s"] = time.perf_counter() - t0

        stage("backtest", 1)
        make_model = model_factory(config.backtest, config.model, threads)
        bt, evaluation, scored = backtest_and_baselines(
            daily,
            ds.items,
            truth,
            config.backtest,
            make_model,
            threads,
            timings,
            stage=lambda text: stage(text, 2 if text.startswith("baselines") else 1),
        )

        stage("evaluation", 3)
        shift, curves = level_shift_report(bt, daily, truth)
        evaluation["level_shift"] = shift

        stage("policy replay", 4)
        t0 = time.perf_counter()
        outcomes, points = simulate_policies(
            bt, daily, ds, config.policy, seed=config.seed, levels=config.trade_off_levels
        )
        ours, base = outcomes["ours"], outcomes["baseline"]
        evaluation["replenishment"] = {
            **ours.to_dict(),
            "service_level": config.policy.service_level,
            "baseline": {**base.to_dict(), "policy": "28-day moving average, normal reorder point"},
            "trade_off": points,
            "matched_fill": matched(points, config.policy.service_level),
        }
        timings["policy_s"] = time.perf_counter() - t0

        stage("final fit on all history", 5)
        t0 = time.perf_counter()
        final = make_model().fit(daily, ds.items)
        final.set_calibration(bt.final_calibration())
        final.set_combination(bt.final_combination())
        timings["final_fit_s"] = time.perf_counter() - t0
        if "combination" in evaluation["backtest"]:
            evaluation["backtest"]["combination"]["served"] = final.combination_.to_dict()

        evaluation["data"] = {
            "demand_source": source,
            "series": int(daily["unique_id"].nunique()),
            "days": int(daily["date"].nunique()),
            "last_date": str(final.last_date_.date()),
            "exogenous": final.exog_.features,
            # The closing holidays the history shows (features/calendar.py); none: no flag.
            "calendar": final.calendar_.to_dict(),
        }
        evaluation["timings"] = timings
        # Every baseline in the report competes, the intermittent methods (ADIDA,
        # Croston) included: they forecast the same mean demand rate on the same rows,
        # and a planner running Croston would not care that it is a specialised method
        # if it beat ours. Leaving one out could only let a losing model pass.
        evaluation["gate"] = gate.verdict(
            MODEL_NAME,
            evaluation["backtest"]["wape"],
            {name: b["wape"] for name, b in evaluation["baselines"].items()},
            (evaluation.get("oracle") or {}).get("wape"),
            gate.tolerance_for(MODEL_NAME, settings.policy_file),
        )
        evaluation = plain(evaluation, unknown="str")

        stage("logging to MLflow", 6)
        used = {"items": ds.items, source: ds.demand if source == "demand" else ds.orders}
        tags = {
            "dataset_fingerprint": tracking.dataset_fingerprint(used),
            "feature_set": FEATURES.tag,
            "code_version": tracking.code_version(),
        }
        with tracking.run(MODEL_NAME, settings, **tags):
            tracking.log_params(
                {
                    **{f"model.{k}": v for k, v in final.get_params().items()},
                    **{f"backtest.{k}": v for k, v in asdict(config.backtest).items()},
                    **{f"policy.{k}": v for k, v in asdict(config.policy).items()},
                    "data.demand_source": source,
                    "data.series": evaluation["data"]["series"],
                }
            )
            tracking.log_metrics({k: v for k, v in evaluation.items() if k != "data"})
            tracking.log_json(final.calibration_.to_dict(), "calibration.json")
            world_dates = pd.date_range(
                bt.cutoffs[bt.eval_windows[0]] + pd.Timedelta(days=1), daily["date"].max()
            )
            _log_figures(scored, curves, outcomes, points, world_dates)
            with tempfile.TemporaryDirectory() as tmp:
                path = save_forecaster(final, Path(tmp) / "forecaster.pkl")
                info = tracking.log_model(
                    DemandPyfunc(),
                    model_name=MODEL_NAME,
                    artifacts={"forecaster": str(path)},
                    input_example=input_example(final),
                    signature=signature(final),
                    tags=tags,
                    extra_requirements=EXTRA_REQUIREMENTS,
                )
            evaluation["registered"] = gate.register_gated(
                evaluation, info.model_uri, MODEL_NAME, alias, tags, force
            )
            tracking.log_json(evaluation, "evaluation.json")
        stage("done", 7)
    if report is not None:
        report = Path(report)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(evaluation, indent=2))
    return evaluation
