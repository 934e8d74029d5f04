"""``stockpilot retrain`` and ``stockpilot models gate | approve | history | rollback``.

Every command acts as the holder of an API key (``--key`` or ``STOCKPILOT_API_KEY``):
promotion is four-eyes, so the command line must know *which* data scientist ran the gate
and which one approves; an operator's shell account is not enough. Results go to stdout
(JSON with ``--json``), messages to stderr; a refused gate exits with status 3.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stockpilot.jsonable import plain
from stockpilot.progress import console

if TYPE_CHECKING:
    from governance.access import Principal
    from governance.policy import Policy
    from governance.store.engine import Database

app = typer.Typer()
models_app = typer.Typer(
    help="Governed promotion: gate a challenger, approve (four-eyes), history, rollback.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")

ModelArg = Annotated[str, typer.Argument(help="Registered model, e.g. order-risk.")]
KeyOpt = Annotated[
    str,
    typer.Option(
        "--key",
        envvar="STOCKPILOT_API_KEY",
        help="Your API key (data_scientist); default $STOCKPILOT_API_KEY.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ReloadOpt = Annotated[
    str | None,
    typer.Option(
        "--reload-url",
        help="Base URL of a running server (e.g. http://127.0.0.1:8000): call "
        "POST /v1/models/reload with your key after the move.",
    ),
]


@contextmanager
def _store() -> Iterator[Database]:
    from governance.store.engine import Database
    from governance.store.migrate import require_current
    from stockpilot.settings import get_settings

    db = Database.from_settings(get_settings())
    try:
        require_current(db)
        yield db
    finally:
        db.dispose()


def _who(db: Database, key: str) -> tuple[Principal, Policy]:
    from governance.keys import authenticate
    from governance.policy_versions import active_policy

    with db.read() as session:
        return authenticate(session, key), active_policy(session).policy


def _check_model(model: str) -> None:
    from stockpilot.errors import InvalidInput
    from stockpilot.tracking import MODEL_NAMES

    if model not in MODEL_NAMES:
        raise InvalidInput(f"model: {model!r} is not one of {', '.join(MODEL_NAMES)}")


def _move(model: str):  # type: ignore[no-untyped-def]
    """The registry move promotion and rollback call inside their transaction."""
    from stockpilot import tracking

    def move(alias: str, from_version: str | None, to_version: str) -> None:
        tracking.set_alias(model, alias, to_version)
        if tracking.alias_version(model, "challenger") == to_version:
            tracking.delete_alias(model, "challenger")  # promoted: no longer a challenger

    return move


def _reload(url: str | None, key: str) -> None:
    if not url:
        return
    import httpx

    try:
        response = httpx.post(
            url.rstrip("/") + "/v1/models/reload", headers={"X-API-Key": key}, timeout=60
        )
        console.print(f"reload: {response.status_code} {response.text[:300]}", highlight=False)
    except httpx.HTTPError as err:
        console.print(f"[yellow]reload failed[/yellow]: {err}; call it again", highlight=False)


@app.command("retrain")
def retrain_command(
    model: ModelArg,
    data: Annotated[
        Path,
        typer.Option("--data", help="Dataset directory (the latest export).", file_okay=False),
    ],
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the gate report here.")
    ] = None,
) -> None:
    """Train a challenger on DATA plus what the store learnt since: live outcomes and order
    reviews (order-risk), customers' answers and review declines (substitution), scored
    orders after the export (demand); then gate it against the champion."""
    from stockpilot.errors import InvalidInput
    from training.retrain import retrain

    _check_model(model)
    if not data.is_dir():
        raise InvalidInput(f"--data: {data} is not a directory")
    result = retrain(model, data, report=report)
    typer.echo(json.dumps(plain(result, unknown="str"), indent=2))
    gate = result.get("gate")
    if gate is not None:
        verdict = "passes" if gate["passed"] else "fails: " + "; ".join(gate["failures"])
        console.print(
            f"challenger v{result['challenger']['version']} {verdict} "
            f"(report {result['gate_report']})",
            highlight=False,
        )


@models_app.command("gate")
def gate_command(
    model: ModelArg,
    key: KeyOpt,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Holdout dataset (default: the challenger's retrain data)."),
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Also write it here.")] = None,
) -> None:
    """Challenger vs champion on the same recent holdout; a pass opens a promotion item."""
    from governance.promotion import open_promotion
    from stockpilot import tracking
    from stockpilot.errors import NotFound
    from training.gate import EXIT_GATE_REFUSED
    from training.promotion_gate import run_gate

    _check_model(model)
    with _store() as db:
        principal, policy = _who(db, key)
        challenger = tracking.alias_version(model, "challenger")
        if challenger is None:
            raise NotFound(f"{model} has no challenger: run `stockpilot retrain {model}` first")
        if data is None:
            tagged = tracking.version_info(model, challenger).tags.get("retrain_data")
            if not tagged:
                raise NotFound(f"{model} v{challenger} has no retrain data tag: pass --data DIR")
            data = Path(tagged)
        gate_report = run_gate(model, data, policy.promotion, report_path=report)
        typer.echo(json.dumps(plain(gate_report, unknown="str"), indent=2))
        if not gate_report["passed"]:
            console.print(
                f"[red]✗[/red] gate refused v{challenger}: " + "; ".join(gate_report["failures"]),
                highlight=False,
            )
            raise typer.Exit(EXIT_GATE_REFUSED)
        item = open_promotion(
            db,
            model=model,
            champion=gate_report["champion"]["version"],
            challenger=challenger,
            report=gate_report,
            report_sha256=gate_report["sha256"],
            principal=principal,
            policy=policy,
        )
    console.print(
        f"[green]✓[/green] gate passed: promotion {item.id} of {model} v{challenger} opened by "
        f"{principal.name} ({principal.actor}) in {item.queue}; a second data scientist "
        f"approves with `stockpilot models approve {model}`",
        highlight=False,
    )


@models_app.command("approve")
def approve_command(
    model: ModelArg,
    key: KeyOpt,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded).")] = None,
    reload_url: ReloadOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve MODEL's pending promotion (not the one who ran the gate): moves champion."""
    from governance.promotion import approve
    from stockpilot import tracking

    _check_model(model)
    with _store() as db:
        principal, policy = _who(db, key)
        item, moved = approve(
            db,
            model=model,
            principal=principal,
            policy=policy,
            champion=tracking.alias_version(model, "champion"),
            move=_move(model),
            reason=reason,
        )
    if as_json:
        typer.echo(
            json.dumps(
                plain(
                    {"item": item.id, "status": item.status.value, "move": moved and _plain(moved)},
                    unknown="str",
                )
            )
        )
    if moved is None:
        console.print(f"approval recorded on {item.id}; more approvals needed", highlight=False)
        return
    console.print(
        f"[green]✓[/green] {model} champion v{moved.from_version} → v{moved.to_version} "
        f"approved by {_by(moved)} (audit seq {moved.seq}, gate report "
        f"{(moved.gate_report_sha256 or '')[:12]})",
        highlight=False,
    )
    _reload(reload_url, key)


@models_app.command("history")
def history_command(model: ModelArg, as_json: JsonOpt = False) -> None:
    """Every alias move of MODEL (promotions, rollbacks, training), oldest first."""
    from governance.alias_moves import history
    from stockpilot import tracking

    _check_model(model)
    with _store() as db:
        moves = history(db, model)
    current = {a: tracking.alias_version(model, a) for a in tracking.ALIASES}
    if as_json:
        typer.echo(
            json.dumps(
                plain({"moves": [_plain(m) for m in moves], "aliases": current}, unknown="str"),
                indent=2,
            )
        )
        return
    for m in moves:
        sha = f" gate {m.gate_report_sha256[:12]}" if m.gate_report_sha256 else ""
        typer.echo(
            f"seq {m.seq:>5}  {m.at:%Y-%m-%d %H:%M:%S}  {m.alias:<10} "
            f"v{m.from_version or '-'} → v{m.to_version}  {m.how:<9} by {_by(m)}"
            f"{sha}  {m.reason or ''}"
        )
    typer.echo("now: " + ", ".join(f"{a} v{v}" for a, v in current.items() if v))
    audited = {m.to_version for m in moves if m.alias == "champion"}
    champion = current.get("champion")
    if champion and champion not in audited:
        typer.echo(
            f"note: champion v{champion} was set without an audit record (trained before the "
            "governance store was migrated)"
        )


@models_app.command("rollback")
def rollback_command(
    model: ModelArg,
    key: KeyOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    to: Annotated[str | None, typer.Option("--to", help="Version (default: the previous).")] = None,
    reload_url: ReloadOpt = None,
) -> None:
    """Point champion back at the version the current one replaced (audited)."""
    from governance.promotion import rollback
    from stockpilot import tracking

    _check_model(model)
    started = time.perf_counter()
    with _store() as db:
        principal, _ = _who(db, key)
        if to is not None:
            tracking.version_info(model, to)  # a clear error for a version that does not exist
        moved = rollback(
            db,
            model=model,
            principal=principal,
            champion=tracking.alias_version(model, "champion"),
            move=_move(model),
            reason=reason,
            to_version=to,
        )
    console.print(
        f"[green]✓[/green] {model} champion v{moved.from_version} → v{moved.to_version} "
        f"rolled back by {_by(moved)} in {time.perf_counter() - started:.1f} s "
        f"(audit seq {moved.seq})",
        highlight=False,
    )
    _reload(reload_url, key)


def _by(move) -> str:  # type: ignore[no-untyped-def]
    return move.actor if move.actor_name == move.actor else f"{move.actor_name} ({move.actor})"


def _plain(move) -> dict:  # type: ignore[no-untyped-def]
    from dataclasses import asdict

    return asdict(move)
