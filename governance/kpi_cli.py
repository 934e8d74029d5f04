"""`stockpilot kpis`: the operational KPIs over a dataset (and the governance store).

The same store, definitions and computation as ``GET /v1/kpis``; ``--json`` prints what
the API answers. ``stockpilot kpis replay`` prints fill rate and promise accuracy with
and without StockPilot's recommendations on simulated data (training/kpi_replay.py).
"""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stockpilot.errors import StockPilotError
from stockpilot.jsonable import plain
from stockpilot.progress import console

if TYPE_CHECKING:
    from governance.kpi_records import KpiRecords

app = typer.Typer()


class Dimension(StrEnum):
    location = "location"
    segment = "segment"
    category = "category"
    carrier = "carrier"


class Grain(StrEnum):
    day = "day"
    week = "week"
    month = "month"


DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Dataset directory (default: the configured data dir).", file_okay=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _records(use_store: bool) -> KpiRecords | None:
    """The configured governance store, when it exists and is migrated (else a note)."""
    if not use_store:
        return None
    from sqlalchemy.engine import make_url

    from governance.kpi_records import KpiRecords
    from governance.store.engine import Database
    from governance.store.migrate import require_current
    from stockpilot.settings import get_settings

    url = get_settings().database_url
    assert url is not None
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        console.print(
            f"• no governance store at {parsed.database}: dataset KPIs only", highlight=False
        )
        return None
    db = Database(url)
    try:
        require_current(db)
    except StockPilotError as err:
        console.print(
            f"• governance store not usable ({err.message}): dataset KPIs only", highlight=False
        )
        db.dispose()
        return None
    return KpiRecords(db)


@app.callback(invoke_without_command=True)
def kpis(
    ctx: typer.Context,
    data: DataOpt = None,
    start: Annotated[
        date | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First day.")
    ] = None,
    end: Annotated[
        date | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day.")
    ] = None,
    grain: Annotated[Grain | None, typer.Option("--grain", help="Trend buckets.")] = None,
    location: Annotated[str | None, typer.Option("--location", help="Only this location.")] = None,
    segment: Annotated[
        str | None, typer.Option("--segment", help="Only this customer segment.")
    ] = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Only this item category.")
    ] = None,
    carrier: Annotated[str | None, typer.Option("--carrier", help="Only this carrier.")] = None,
    by: Annotated[
        Dimension | None, typer.Option("--by", help="One column per value of this.")
    ] = None,
    kpi: Annotated[
        list[str] | None, typer.Option("--kpi", help="Only these KPI ids (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Ignore the governance store.")
    ] = False,
) -> None:
    """Print the operational KPIs: value, target, status, trend and definition version."""
    if ctx.invoked_subcommand is not None:
        return
    from features.kpis.report import clean, kpi_dict, period_dict
    from governance.kpis import KpiStore, sources_dict
    from stockpilot.settings import get_settings

    settings = get_settings()
    directory = data or settings.data_dir
    assert directory is not None
    records = _records(not no_store)
    store = KpiStore(directory, settings.home / "cache", records)
    filters = {"location": location, "segment": segment, "category": category, "carrier": carrier}
    try:
        with console.status(f"reading {directory}"):
            snapshot = store.snapshot()
        query = store.query(snapshot, start, end, grain.value if grain else None, filters)
        computed = store.dashboard(snapshot, query, kpi, by.value if by else None)
    except StockPilotError as err:
        console.print(f"[red]✗[/red] {err.message}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        if records is not None:
            records.db.dispose()
    if as_json:
        body = {
            "period": {k: str(v) for k, v in period_dict(query.period).items()},
            "filters": {k: v for k, v in filters.items() if v is not None},
            "by": by.value if by else None,
            "sources": {
                k: (str(v) if isinstance(v, date) else v) for k, v in sources_dict(snapshot).items()
            },
            "kpis": [clean(kpi_dict(c, query.period)) for c in computed],
        }
        typer.echo(json.dumps(plain(body, unknown="str"), indent=2))
        return
    _print_table(computed, query, snapshot)


def _print_table(computed, query, snapshot) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Table

    from features.kpis.query import day_date
    from features.kpis.report import format_target, format_value, sparkline

    period = query.period
    table = Table(
        title=f"KPIs {day_date(period.start)} – {day_date(period.end)} (trend by {period.grain})",
        title_justify="left",
    )
    for column in ("kpi", "value", "target", "status", "trend"):
        table.add_column(column, justify="right" if column == "value" else "left", no_wrap=True)
    groups = [g.key for g in computed[0].groups] if computed and computed[0].groups else []
    for key in groups:
        table.add_column(key, justify="right")
    table.add_column("version")
    colour = {"met": "green", "missed": "red", "no_data": "dim"}
    for c in computed:
        d = c.definition
        table.add_row(
            d.id,
            format_value(c.result.value, d.unit),
            format_target(d),
            f"[{colour[c.status]}]{c.status}[/]",
            sparkline(c.result.trend),
            *(format_value(g.result.value, d.unit) for g in c.groups),
            d.version,
        )
    out = Console()  # results to stdout; piped output gets a width that fits the table
    if not out.is_terminal:
        out = Console(width=160)
    out.print(table)
    notes = [(c.definition.id, c.result.note) for c in computed if c.result.note]
    for kpi_id, note in notes:
        console.print(f"  {kpi_id}: {note}", highlight=False, style="dim")
    if snapshot.stale:
        console.print(
            "  the dataset changed; these figures are from the previous export", style="yellow"
        )


@app.command("replay")
def replay(
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="A simulated dataset (with truth/).", exists=True, file_okay=False
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Fill rate and promise accuracy with and without StockPilot's recommendations
    (simulated data only: the replay needs the simulator's truth)."""
    from training.kpi_replay import format_report, replay_kpis

    try:
        with console.status("replay: loading the dataset") as status:
            report = replay_kpis(data, on_step=lambda text: status.update(f"replay: {text}"))
    except StockPilotError as err:
        console.print(f"[red]✗[/red] {err.message}", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(plain(report, unknown="str"), indent=2))
    else:
        console.print(format_report(report), highlight=False)
