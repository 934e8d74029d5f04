"""Commands of the governance area: db, policy, keys, audit, queues.

Operators running these commands act as ``cli:<user>`` with the admin role: they already
hold the database credentials, and every change they make is audited under that name.
Results go to stdout (JSON with ``--json``); messages and errors go to stderr.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from governance.workflow import Status
from stockpilot.errors import StockPilotError
from stockpilot.jsonable import plain
from stockpilot.progress import console

if TYPE_CHECKING:
    from governance.access import Principal
    from governance.store.engine import Database

app = typer.Typer()
db_app = typer.Typer(help="Governance database schema.", no_args_is_help=True)
policy_app = typer.Typer(help="Validate and apply the governance policy.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys and their roles.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
queues_app = typer.Typer(help="Governed review queues.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(queues_app, name="queues")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _operator() -> Principal:
    from governance.access import Principal, Role

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "operator"
    return Principal(name=f"cli:{user}", role=Role.admin)


@contextmanager
def _database(*, check_schema: bool = True) -> Iterator[Database]:
    """The configured store; StockPilot errors become one red line and exit status 1."""
    from governance.store.engine import Database
    from governance.store.migrate import require_current
    from stockpilot.settings import get_settings

    db = None
    try:
        db = Database.from_settings(get_settings())
        if check_schema:
            require_current(db)
        yield db
    except StockPilotError as err:
        console.print(f"[red]✗[/red] {err.message}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        if db is not None:
            db.dispose()


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the governance schema (idempotent)."""
    from governance.store.migrate import upgrade

    with _database(check_schema=False) as db:
        current = upgrade(db, revision)
        console.print(f"[green]✓[/green] database {db!r} at revision {current}", highlight=False)


@policy_app.command("validate")
def policy_validate(file: Annotated[Path, typer.Argument(help="Policy YAML file.")]) -> None:
    """Check FILE; exit 1 naming every offending key."""
    from governance.policy import PolicyError, load_policy

    try:
        policy = load_policy(file)
    except PolicyError as err:
        console.print(f"[red]✗[/red] {err.message}", highlight=False)
        raise typer.Exit(1) from None
    console.print(
        f"[green]✓[/green] {file} is a valid policy (version {policy.version}, "
        f"{len(policy.queues)} queues)",
        highlight=False,
    )


@policy_app.command("apply")
def policy_apply(file: Annotated[Path, typer.Argument(help="Policy YAML file.")]) -> None:
    """Validate FILE and make it the active policy (audited)."""
    from governance.policy_versions import apply_policy

    try:
        source = file.read_text(encoding="utf-8")
    except OSError as err:
        console.print(f"[red]✗[/red] {file}: {err.strerror}", highlight=False)
        raise typer.Exit(1) from None
    with _database() as db, db.write() as session:
        applied = apply_policy(session, source, actor=_operator(), origin=str(file))
    verb = "applied" if applied.changed else "already active:"
    console.print(
        f"[green]✓[/green] {verb} policy version {applied.version} from {file}", highlight=False
    )


@policy_app.command("show")
def policy_show(as_json: JsonOpt = False) -> None:
    """Print the active policy."""
    from governance.policy_versions import active_policy

    with _database() as db, db.read() as session:
        applied = active_policy(session)
    if as_json:
        typer.echo(json.dumps(applied.policy.model_dump(mode="json"), indent=2))
    else:
        typer.echo(
            f"version {applied.version} applied {applied.applied_at:%Y-%m-%d %H:%M} UTC "
            f"by {applied.applied_by} (sha256 {applied.sha256[:12]})"
        )


LifetimeOpt = Annotated[
    float,
    typer.Option("--lifetime-days", min=0, help="Days until the key expires (0: until revoked)."),
]


def _lifetime(days: float) -> timedelta | None:
    return None if days == 0 else timedelta(days=days)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help="One of the StockPilot roles.")],
    name: Annotated[str, typer.Option("--name", help="Who or what holds the key.")],
    lifetime_days: LifetimeOpt = 90,
) -> None:
    """Create an API key; the key is printed once on stdout and cannot be shown again."""
    from governance.keys import create_key

    with _database() as db, db.write() as session:
        key, token = create_key(
            session, role=role, name=name, actor=_operator(), lifetime=_lifetime(lifetime_days)
        )
    console.print(
        f"[green]✓[/green] created key {key.id} for {key.name} (role {key.role.value}, "
        f"{_expiry(key.expires_at)}); store it now, it is not shown again",
        highlight=False,
    )
    typer.echo(token)


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="Key id, e.g. k_0123456789ab.")],
    grace_hours: Annotated[
        float, typer.Option("--grace-hours", min=0, help="How long the old key keeps working.")
    ] = 24,
    lifetime_days: LifetimeOpt = 90,
) -> None:
    """Issue the successor of a key (printed once on stdout); the old one expires after
    the grace period."""
    from governance.keys import rotate_key

    with _database() as db, db.write() as session:
        old, new, token = rotate_key(
            session,
            key_id,
            actor=_operator(),
            grace=timedelta(hours=grace_hours),
            lifetime=_lifetime(lifetime_days),
        )
    console.print(
        f"[green]✓[/green] key {new.id} succeeds {old.id} ({new.name}, role {new.role.value}, "
        f"{_expiry(new.expires_at)}); {old.id} {_expiry(old.expires_at)}",
        highlight=False,
    )
    typer.echo(token)


def _expiry(moment: datetime | None) -> str:
    return "never expires" if moment is None else f"expires {moment:%Y-%m-%d %H:%M} UTC"


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id, e.g. k_0123456789ab.")],
) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from governance.keys import revoke_key

    with _database() as db, db.write() as session:
        key = revoke_key(session, key_id, actor=_operator())
    console.print(f"[green]✓[/green] revoked key {key.id} ({key.name})", highlight=False)


@keys_app.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """List keys (never their secrets)."""
    from governance.keys import list_keys

    with _database() as db, db.read() as session:
        keys = list_keys(session)
    if as_json:
        rows = [{**asdict(k), "role": k.role.value, "active": k.active} for k in keys]
        typer.echo(json.dumps(plain(rows, unknown="str"), indent=2))
        return
    for k in keys:
        if k.revoked_at is not None:
            state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}"
        elif k.expired:
            state = f"expired {k.expires_at:%Y-%m-%d %H:%M}"
        else:
            state = f"active, {_expiry(k.expires_at)}"
        typer.echo(f"{k.id}  {k.role.value:<14} {k.prefix}…  {k.name}  ({state})")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain and its anchored head; exit 1 naming the first broken seq."""
    from governance.audit import verify

    with _database() as db, db.read() as session:
        result = verify(session, anchor=db.anchor)
    typer.echo(str(result))
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("list")
def audit_list(
    after: Annotated[int, typer.Option("--after", help="Only events after this seq.")] = 0,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    subject: Annotated[str | None, typer.Option(help="Only this subject id.")] = None,
) -> None:
    """Print events as JSON lines."""
    from governance.audit import list_events

    with _database() as db, db.read() as session:
        events = list_events(session, subject_id=subject, after_seq=after, limit=limit)
    for event in events:
        typer.echo(json.dumps(plain(asdict(event), unknown="str")))


@queues_app.command("expire")
def queues_expire() -> None:
    """Expire pending items past their SLA and purge old idempotency records."""
    from governance.sweep import sweep

    with _database() as db:
        result = sweep(db)
    console.print(
        f"[green]✓[/green] expired {len(result.expired)} queue items, purged "
        f"{result.purged_idempotency} idempotency records",
        highlight=False,
    )
    typer.echo(len(result.expired))


@queues_app.command("list")
def queues_list(
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    status: Annotated[Status, typer.Option(help="Item status.")] = Status.pending,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Print queue items as JSON lines, oldest first."""
    from governance.queues import list_items

    with _database() as db, db.read() as session:
        items = list_items(session, queue=queue, status=status, limit=limit)
    for item in items:
        typer.echo(json.dumps(plain(asdict(item), unknown="str")))
