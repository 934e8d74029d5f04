"""What `make run` does on a fresh machine, each step skipped when already done.

simulate (if no dataset) → train the three models and make them champion (if no champion)
→ migrate the database, apply the default policy, create one demo key per role (stored
in ``var/demo-keys.json``, readable by the owner only) → serve. A second run reuses
everything and starts in seconds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from stockpilot.progress import console
from stockpilot.settings import Settings, get_settings

DEMO_KEYS_FILE = "demo-keys.json"
app = typer.Typer()


def ensure_dataset(settings: Settings, scale: str, seed: int) -> Path:
    from training.simulator import simulate, write

    data_dir = settings.data_dir
    if data_dir.exists() and any(data_dir.glob("orders.*")):
        console.print(f"• dataset: reusing {data_dir}", highlight=False)
    else:
        console.print(
            f"• dataset: simulating {scale} (seed {seed}) into {data_dir}", highlight=False
        )
        write(simulate(scale, seed=seed, show_progress=True), data_dir)
    return data_dir


def trainers() -> dict[str, Callable[..., dict]]:
    from training import demand, order_risk, substitution

    return {
        "order-risk": order_risk.train,
        "substitution": substitution.train,
        "demand": demand.train,
    }


def ensure_models(settings: Settings, data_dir: Path) -> None:
    from stockpilot import tracking

    reports = settings.home / "reports"
    for name, train in trainers().items():
        if tracking.has_alias(name, "champion"):
            version = tracking.resolve(name, "champion").version
            console.print(f"• model {name}: champion is version {version}", highlight=False)
            continue
        console.print(f"• model {name}: training on {data_dir}", highlight=False)
        reports.mkdir(parents=True, exist_ok=True)
        evaluation = train(data_dir, report=reports / f"{name}.json", alias="champion")
        console.print(f"  {headline(name, evaluation)}", highlight=False)
        registered = evaluation.get("registered", {})
        if registered.get("gate_refused"):
            # The demo needs a model to serve: say loudly that this one lost, and tag it.
            from training.gate import refusal_message

            console.print(f"  [yellow]{refusal_message(name, evaluation['gate'])}[/yellow]")
            console.print("  make run serves it anyway (tagged gate_forced=make-run).")
            tracking.set_alias(name, "champion", registered["version"])
            tracking.set_version_tag(name, registered["version"], "gate_forced", "make-run")


def headline(name: str, evaluation: dict) -> str:
    """The figures a user looks at first; the whole evaluation is in var/reports/."""
    try:
        if name == "order-risk":
            test, oracle = evaluation["test"], evaluation.get("oracle") or {}
            best = max(b["auc"] for b in evaluation["baselines"].values())
            text = f"test AUC {test['auc']:.3f} (best baseline {best:.3f}"
            if "auc" in oracle:
                text += f", oracle {oracle['auc']:.3f}"
            return text + f"), ECE {test['ece']:.3f}"
        if name == "substitution":
            test = evaluation["test"]
            best = max(b["ndcg@5"] for b in evaluation["baselines"].values())
            hit = max(b["hit@1_switch"] for b in evaluation["baselines"].values())
            return (
                f"NDCG@5 {test['ndcg@5']:.3f} (best baseline {best:.3f}), "
                f"hit@1 on switch occasions {test['hit@1_switch']:.3f} (best baseline {hit:.3f})"
            )
        if name == "demand":
            bt, base = evaluation["backtest"], evaluation["baselines"]
            naive, ets = base["seasonal_naive"]["wape"], base["auto_ets"]["wape"]
            return (
                f"backtest WAPE {bt['wape']:.3f} (SeasonalNaive {naive:.3f}, AutoETS {ets:.3f}), "
                f"80% coverage {bt['coverage80']:.2f}"
            )
    except (KeyError, TypeError, ValueError):
        pass
    return f"evaluation in the run's evaluation.json ({name})"


def ensure_kpi_facts(settings: Settings) -> None:
    """Build the KPI facts once (loading and validating the dataset), so the first
    dashboard after start-up reads them from the cache instead (``home/cache``)."""
    from governance.kpis import KpiStore

    assert settings.data_dir is not None  # Settings fills in the default
    snapshot = KpiStore(settings.data_dir, settings.home / "cache").snapshot()
    base = snapshot.base
    console.print(
        f"• KPI facts: {base.source} in {base.seconds:.1f} s ({len(base.lines):,} order lines)",
        highlight=False,
    )


def ensure_store(settings: Settings) -> dict[str, str]:
    """Migrate, apply the first policy, and return the demo keys (created once)."""
    from governance import keys, policy_versions
    from governance.access import Principal, Role
    from governance.store import migrate
    from governance.store.engine import Database

    db = Database.from_settings(settings)
    try:
        migrate.upgrade(db)
        operator = Principal("cli:make-run", Role.admin)
        with db.write() as session:
            applied = policy_versions.ensure_policy(
                session, actor=operator, policy_file=settings.policy_file
            )
        console.print(
            f"• database: {db!r} migrated, policy version {applied.version}", highlight=False
        )
        path = settings.home / DEMO_KEYS_FILE
        if path.exists():
            return json.loads(path.read_text())
        tokens: dict[str, str] = {}
        with db.write() as session:
            for role in Role:
                _, token = keys.create_key(
                    session, role=role, name=f"demo-{role.value}", actor=operator
                )
                tokens[role.value] = token
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(tokens, fh, indent=2)
        return tokens
    finally:
        db.dispose()


def store_is_empty(settings: Settings) -> bool:
    """No recommendation recorded yet: a first run, which gets the demo work."""
    from sqlalchemy import func, select

    from governance.store.engine import Database
    from governance.store.tables import RecommendationRow

    db = Database.from_settings(settings)
    try:
        with db.read() as session:
            return not session.scalar(select(func.count()).select_from(RecommendationRow))
    finally:
        db.dispose()


def print_keys(settings: Settings, tokens: dict[str, str]) -> None:
    console.print(f"• demo API keys (also in {settings.home / DEMO_KEYS_FILE}):", highlight=False)
    for role, token in tokens.items():
        console.print(f"    {role:<15} {token}", highlight=False)


@app.command("run")
def run(
    scale: Annotated[str, typer.Option("--scale", help="Simulated dataset size when absent.")] = (
        "medium"
    ),
    seed: Annotated[int, typer.Option("--seed", help="Simulator seed when absent.")] = 7,
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address (default settings).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default settings).")] = None,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Prepare everything, then exit.")
    ] = False,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo/--no-demo",
            help="On a store without recommendations, send demo orders, substitute searches "
            "and a replenishment run through the API once serving.",
        ),
    ] = True,
) -> None:
    """The main job: dataset → three champion models → migrated store + demo keys → serve."""
    from stockpilot.data import load_dataset

    settings = get_settings()
    data_dir = ensure_dataset(settings, scale, seed)
    ds = load_dataset(data_dir)
    rows = ", ".join(f"{name} {n:,}" for name, n in ds.summary().items())
    console.print(f"  [green]✓[/green] meets the data contract ({rows})", highlight=False)
    del ds
    ensure_models(settings, data_dir)
    tokens = ensure_store(settings)
    ensure_kpi_facts(settings)
    print_keys(settings, tokens)
    if not no_serve:
        from serving.cli import serve_forever

        feed = tokens if demo and store_is_empty(settings) else None
        serve_forever(host, port, demo_tokens=feed)
