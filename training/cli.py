"""Commands of the training area: data validate, simulate, train, score, replenish.

Heavy imports (LightGBM, MLflow, mlforecast) happen inside the commands so that
``stockpilot --help`` stays instant.
"""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from stockpilot.progress import console

app = typer.Typer()
data_app = typer.Typer(help="Check datasets against the data contract.", no_args_is_help=True)
train_app = typer.Typer(
    help="Train a model, log it to MLflow and register it.", no_args_is_help=True
)
score_app = typer.Typer(help="Batch-score a dataset with a registered model.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
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
    from stockpilot.errors import ContractViolation
    from training.data import load_dataset

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


def _print_evaluation(evaluation: dict) -> None:
    """The report on stdout; a model the champion gate refused exits with status 3."""
    from training.gate import EXIT_GATE_REFUSED, refusal_message

    typer.echo(json.dumps(evaluation, indent=2, default=str))
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
) -> None:
    """Global LightGBM demand model (mlforecast) with a rolling-origin backtest."""
    from training.demand import train

    _print_evaluation(
        train(data, report=report, alias=None if alias is Alias.none else alias.value, force=force)
    )


@score_app.command("order-risk")
def score_order_risk(
    data: DataDir,
    out: Annotated[Path, typer.Option("--out", help="Output file (.parquet or .csv).")],
    alias: Annotated[str, typer.Option("--alias", help="Registry alias to score with.")] = (
        "champion"
    ),
) -> None:
    """Score and explain every open order line (no fulfillment yet)."""
    from training.order_risk import score

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

    planning_date = date.fromisoformat(as_of) if as_of else None
    suggestions = run_replenish(data, as_of=planning_date, out=out, alias=alias)
    console.print(
        f"[green]✓[/green] {len(suggestions):,} replenishment suggestions"
        + (f" written to {out}" if out else ""),
        highlight=False,
    )
