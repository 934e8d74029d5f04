"""Commands of the serving area: run (the `make run` job) and serve."""

from __future__ import annotations

from typing import Annotated

import typer

from stockpilot.progress import console

app = typer.Typer()


@app.command("run")
def run(
    scale: Annotated[str, typer.Option("--scale", help="Simulated dataset size when absent.")] = (
        "medium"
    ),
    seed: Annotated[int, typer.Option("--seed", help="Simulator seed when absent.")] = 7,
) -> None:
    """The main job: simulate a dataset into var/data (reused when present) and validate it."""
    from features.quality import master_data_findings
    from stockpilot.settings import get_settings
    from training.data import load_dataset
    from training.simulator import simulate, write

    settings = get_settings()
    data_dir = settings.data_dir
    if data_dir.exists() and any(data_dir.glob("orders.*")):
        console.print(f"reusing dataset {data_dir}", highlight=False)
    else:
        console.print(f"simulating a {scale} dataset into {data_dir}", highlight=False)
        write(simulate(scale, seed=seed, show_progress=True), data_dir)
    ds = load_dataset(data_dir)
    console.print(f"[green]✓[/green] {data_dir} meets the data contract", highlight=False)
    for name, n in ds.summary().items():
        console.print(f"  {name:<16}{n:>12,} rows", highlight=False)
    findings = master_data_findings(ds)
    for finding in findings:
        console.print(f"  [yellow]master data[/yellow] {finding}", highlight=False)
