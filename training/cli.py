"""Commands of the training area: data validate, simulate, train, backtest, score, replenish.

Heavy imports (LightGBM, MLflow, mlforecast) happen inside the commands so that
``stockpilot --help`` stays instant.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from stockpilot.jsonable import plain
from stockpilot.progress import console

app = typer.Typer()
data_app = typer.Typer(help="Check datasets against the data contract.", no_args_is_help=True)
train_app = typer.Typer(
    help="Train a model, log it to MLflow and register it.", no_args_is_help=True
)
score_app = typer.Typer(help="Batch-score a dataset with a registered model.", no_args_is_help=True)
backtest_app = typer.Typer(
    help="Rolling-origin backtest of a model against its baselines (nothing is registered).",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(backtest_app, name="backtest")
app.add_typer(score_app, name="score")


class Scale(StrEnum):
    small = "small"
    medium = "medium"
    large = "large"


class Regime(StrEnum):
    """The simulator's stories (``training.simulator.REGIMES``; a test keeps both equal)."""

    standard = "standard"
    routes = "routes"
    loyalty = "loyalty"
    sparse = "sparse"
    drift = "drift"


class Alias(StrEnum):
    champion = "champion"
    challenger = "challenger"
    none = "none"


class Format(StrEnum):
    parquet = "parquet"
    csv = "csv"


DataDir = Annotated[
    Path,
    typer.Option(
        "--data", help="Dataset directory in the contract format.", exists=True, file_okay=False
    ),
]
ReportPath = Annotated[
    Path | None, typer.Option("--report", help="Also write evaluation.json here.")
]
AliasOpt = Annotated[
    Alias, typer.Option("--alias", help="Registry alias to point at the new version.")
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Make the model champion even when it loses to its best baseline "
        "(recorded as a tag on the version).",
    ),
]


HorizonOpt = Annotated[
    int, typer.Option("--horizon", min=1, max=366, help="Days forecast from each cutoff.")
]
WindowsOpt = Annotated[
    int,
    typer.Option(
        "--windows",
        min=1,
        help="Scored backtest windows (one more, before them, calibrates the intervals).",
    ),
]
StepOpt = Annotated[
    int | None,
    typer.Option(
        "--step",
        min=1,
        help="Days between cutoffs (default: the horizon). The last cutoff is the last "
        "date minus the horizon; the model is refitted at every cutoff.",
    ),
]
RefreshOpt = Annotated[
    int | None,
    typer.Option(
        "--refresh-days",
        min=1,
        help="Score each day on a forecast at most R days old: every R days after the "
        "cutoff the window's model (not refitted) is given the actuals up to that day and "
        "forecasts again, and so are the baselines. Default: every day is scored on the "
        "forecast issued at the cutoff.",
    ),
]


def _demand_backtest(
    horizon: int, windows: int, step: int | None, refresh_days: int | None, for_training: bool
):
    """The backtest configuration of the options, or a clear usage error."""
    from training.demand.backtest import BacktestConfig
    from training.demand.train import train_backtest

    try:
        if for_training:
            return train_backtest(horizon, windows, step, refresh_days)
        return BacktestConfig(
            horizon=horizon, n_windows=windows, step=step, refresh_days=refresh_days
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


@data_app.command("validate")
def validate(
    directory: Annotated[Path, typer.Argument(help="Dataset directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on master-data findings too.")
    ] = False,
) -> None:
    """Validate every table of DIRECTORY; exit 1 naming table, column, rule and rows."""
    from features.quality import master_data_findings
    from stockpilot.data import load_dataset
    from stockpilot.errors import ContractViolation

    try:
        ds = load_dataset(directory)
    except ContractViolation as err:
        violations = err.details.get("report", [])
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "valid": False,
                        "violations": [v.to_dict() for v in violations],
                        "findings": [],
                    },
                    indent=2,
                )
            )
        else:
            console.print(f"[red]✗[/red] {err.message}", highlight=False)
        raise typer.Exit(1) from None
    findings = master_data_findings(ds)
    failed = strict and bool(findings)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "valid": not failed,
                    "tables": ds.summary(),
                    "violations": [],
                    "findings": [f.to_dict() for f in findings],
                },
                indent=2,
            )
        )
    else:
        rows = ", ".join(f"{name} {n:,}" for name, n in ds.summary().items())
        console.print(
            f"[green]✓[/green] {directory} meets the data contract ({rows})", highlight=False
        )
        for finding in findings:
            console.print(f"  [yellow]master data[/yellow] {finding}", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command("simulate")
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the dataset to.")],
    scale: Annotated[Scale, typer.Option("--scale", help="Dataset size.")] = Scale.small,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same bytes).")] = 0,
    regime: Annotated[
        Regime,
        typer.Option(
            "--regime", help="Generative story (docs/simulator.md); standard is today's world."
        ),
    ] = Regime.standard,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", help="File format of the tables (default: the regime's own)."),
    ] = None,
) -> None:
    """Simulate a distributor: the contract tables plus ground truth under OUT/truth/."""
    from training.simulator import simulate as run_simulation
    from training.simulator import write

    result = run_simulation(scale.value, seed=seed, regime=regime.value, show_progress=True)
    write(result, out, fmt=fmt.value if fmt else None)
    rows = ", ".join(f"{name} {len(df):,}" for name, df in result.tables.items())
    console.print(
        f"[green]✓[/green] simulated {regime.value} {scale.value} (seed {seed}) into {out}: {rows}",
        highlight=False,
    )


@contextmanager
def _clear_errors() -> Iterator[None]:
    """A user's data that cannot do what was asked is one paragraph and exit 1, not a trace."""
    from stockpilot.errors import InvalidInput

    try:
        yield
    except InvalidInput as err:
        console.print(f"[red]✗[/red] {err.message}", highlight=False)
        raise typer.Exit(1) from None


def _print_evaluation(evaluation: dict) -> None:
    """The report on stdout; a model the champion gate refused exits with status 3."""
    from training.gate import EXIT_GATE_REFUSED, refusal_message

    typer.echo(json.dumps(plain(evaluation, unknown="str"), indent=2))
    if evaluation.get("registered", {}).get("gate_refused"):
        typer.echo(refusal_message(evaluation["model"], evaluation["gate"]), err=True)
        raise typer.Exit(EXIT_GATE_REFUSED)


@train_app.command("order-risk")
def train_order_risk(
    data: DataDir,
    report: ReportPath = None,
    alias: AliasOpt = Alias.champion,
    force: ForceOpt = False,
) -> None:
    """Order-risk classifier: time-ordered split, calibration, SHAP reasons, registry."""
    from training.order_risk import train

    _print_evaluation(
        train(data, report=report, alias=None if alias is Alias.none else alias.value, force=force)
    )


@train_app.command("substitution")
def train_substitution(
    data: DataDir,
    report: ReportPath = None,
    alias: AliasOpt = Alias.champion,
    force: ForceOpt = False,
) -> None:
    """Substitution ranker on time-ordered substitution events."""
    from training.substitution import train

    _print_evaluation(
        train(data, report=report, alias=None if alias is Alias.none else alias.value, force=force)
    )


@train_app.command("demand")
def train_demand(
    data: DataDir,
    report: ReportPath = None,
    alias: AliasOpt = Alias.champion,
    force: ForceOpt = False,
    horizon: HorizonOpt = 28,
    windows: WindowsOpt = 3,
    step: StepOpt = None,
    refresh_days: RefreshOpt = None,
) -> None:
    """Global LightGBM demand model (mlforecast) with a rolling-origin backtest."""
    from training.demand import TrainConfig, train

    config = TrainConfig(backtest=_demand_backtest(horizon, windows, step, refresh_days, True))
    with _clear_errors():
        evaluation = train(
            data,
            report=report,
            alias=None if alias is Alias.none else alias.value,
            force=force,
            config=config,
        )
    _print_evaluation(evaluation)


@backtest_app.command("demand")
def backtest_demand(
    data: DataDir,
    horizon: HorizonOpt = 28,
    windows: WindowsOpt = 3,
    step: StepOpt = None,
    refresh_days: RefreshOpt = None,
    report: ReportPath = None,
) -> None:
    """Demand model vs SeasonalNaive, AutoETS, ADIDA, Croston and a plain LightGBM.

    Rolling origin: the last cutoff is the last date minus the horizon, cutoffs are
    STEP days apart, every model is refitted at every cutoff on the days up to it and
    forecasts the horizon from it, with the known-future price, promo and x_* columns
    of those days. Prints WAPE, MASE and bias per window and overall.
    """
    from training.demand.backtest_report import backtest, render

    config = _demand_backtest(horizon, windows, step, refresh_days, False)
    with _clear_errors():
        evaluation = backtest(data, config, report=report)
    console.print(render(evaluation))
    if report is not None:
        console.print(f"[green]✓[/green] report written to {report}", highlight=False)


@score_app.command("order-risk")
def score_order_risk(
    data: DataDir,
    out: Annotated[Path, typer.Option("--out", help="Output file (.parquet or .csv).")],
    alias: Annotated[str, typer.Option("--alias", help="Registry alias to score with.")] = (
        "champion"
    ),
) -> None:
    """Score and explain every open order line (no fulfillment yet)."""
    from training.order_risk_scoring import score

    n = score(data, out=out, alias=alias)
    console.print(f"[green]✓[/green] scored {n:,} open lines into {out}", highlight=False)


@app.command("replenish")
def replenish(
    data: DataDir,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Planning date (default: last date in data).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write suggestions here.")] = None,
    alias: Annotated[str, typer.Option("--alias", help="Demand model alias.")] = "champion",
) -> None:
    """Replenishment suggestions per item × location from the demand forecast."""
    from training.replenishment import replenish as run_replenish

    try:
        planning_date = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise typer.BadParameter(
            f"expected a date like 2024-06-30, got {as_of!r}", param_hint="--as-of"
        ) from None
    suggestions = run_replenish(data, as_of=planning_date, out=out, alias=alias)
    console.print(
        f"[green]✓[/green] {len(suggestions):,} replenishment suggestions"
        + (f" written to {out}" if out else ""),
        highlight=False,
    )


@app.command("monitor")
def monitor(
    model: Annotated[
        str, typer.Argument(help="Registered model to monitor: order-risk, substitution, demand.")
    ],
    data: DataDir,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="First day to check, YYYY-MM-DD (default: after the reference)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole report as JSON.")
    ] = False,
    no_alerts: Annotated[
        bool, typer.Option("--no-alerts", help="Report only: open no model-monitoring items.")
    ] = False,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Runtime home whose store's served recommendations are joined to their "
            "outcomes (its registry serves the model; order-risk, substitution).",
        ),
    ] = None,
) -> None:
    """Drift, calibration, performance and its estimate per week of the served model
    (order-risk, substitution, demand) on DIR; breaches open model-monitoring queue items."""
    from stockpilot.settings import get_settings
    from training.monitor_run import monitor as run
    from training.monitor_run import parse_since
    from training.monitoring import summary

    if home is not None:
        if not home.is_dir():
            console.print(f"[red]✗[/red] --home: {home} is not a directory", highlight=False)
            raise typer.Exit(1)
        os.environ["STOCKPILOT_HOME"] = str(home)  # the registry and the store of that home
        get_settings.cache_clear()
    with _clear_errors():
        report = run(
            model, data, since=parse_since(since), alerts=not no_alerts, served=home is not None
        )
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    console.print(summary(report), highlight=False)
