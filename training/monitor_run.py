"""``stockpilot monitor MODEL --data DIR``: one monitoring run, from dataset to queue items.

Loads the served (champion) model and its reference, scores the dataset's order lines
from ``--since`` (default: the day after the reference ends) day by day, tests drift per
feature-day and calibration per segment-day, tabulates realised and estimated
performance per week and segment, checks master data, writes the report to
``home/monitoring/<model>.json`` and, unless ``alerts=False``, opens the alerts as
``model-monitoring`` queue items through :func:`governance.command_units.open_monitoring_alerts`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from governance.access import Principal, Role
from governance.policy import Policy, load_policy, parse_policy
from stockpilot.data import load_dataset
from stockpilot.errors import InvalidInput, NotFound
from stockpilot.monitoring_reports import write_report
from stockpilot.progress import step
from stockpilot.settings import Settings, get_settings
from training import monitoring
from training.monitor_served import served_block
from training.monitoring import records
from training.order_risk import used_tables

MONITOR = Principal(name="system:monitor", role=Role.data_scientist)


def monitor(
    model: str,
    data: Path,
    *,
    since: date | None = None,
    alerts: bool = True,
    served: bool = False,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Run the checks; returns the report (also written under ``home/monitoring``).

    ``served``: also join the recommendations stored in the home's governance store to
    their outcomes (:mod:`training.monitor_served`)."""
    settings = settings or get_settings()
    if model in OTHER_MODELS:
        return _monitor_other(
            model, data, since=since, alerts=alerts, served=served, settings=settings
        )
    with step("loading the served model and its monitoring reference"):
        scorer, version, reference = monitoring.load_served(model)
    # With alerts, the store is checked first: not after minutes of scoring.
    policy = _store_policy(settings) if alerts else _policy(settings)
    with step("loading and validating the dataset"):
        ds = used_tables(load_dataset(data))
    last = ds.orders["order_ts"].max().date() if len(ds.orders) else None
    if since is None and reference is not None and reference.period:
        since = date.fromisoformat(reference.period[1]) + timedelta(days=1)
        if last is not None and since > last:
            raise InvalidInput(
                f"nothing to monitor: the dataset's last order day is {last} and the "
                f"reference of {model} v{version} already covers it (it ends on "
                f"{reference.period[1]}); give newer data, or --since to look back",
                since=str(since),
            )
    if since is not None and last is not None and since > last:
        raise InvalidInput(
            f"--since {since}: the dataset has no order lines from that day on "
            f"(its last order day is {last})",
            since=str(since),
        )
    span = reference.span if reference is not None else 1
    start = None if since is None else since - timedelta(days=span - 1)
    with step("scoring the order lines with the served model"):
        scored = monitoring.served_lines(ds, scorer, start)
    rules = policy.monitoring
    if reference is None:
        drifts = pd.DataFrame(columns=list(monitoring.drift.DriftRow.__dataclass_fields__))
        calibration = drifts
    else:
        with step("testing drift per feature-day and calibration per segment-day"):
            drifts = monitoring.drift_by_day(
                scored, reference, q=rules.drift_q, min_psi=rules.min_psi, since=since
            )
            calibration = monitoring.calibration_by_day(
                scored, reference, q=rules.drift_q, min_gap=rules.min_calibration_gap, since=since
            )
    tested = scored.lines[scored.lines["day"] >= str(since)] if since else scored.lines
    scored = monitoring.ServedLines(
        tested.reset_index(drop=True), scored.X[tested.index.to_numpy()], scored.names
    )
    weeks = monitoring.weekly_performance(scored)
    training_auc = _training_auc(version)
    if training_auc is not None:
        weeks.attrs["auc_reference"] = training_auc
    quality = monitoring.data_quality(ds)
    found = monitoring.alert_groups(
        pd.concat([drifts, calibration], ignore_index=True),
        weeks,
        quality,
        model=model,
        version=version,
        auc_drop=rules.auc_drop,
    )
    stored = None
    if served:
        with step("joining the stored recommendations to their outcomes"):
            stored = served_block(model, settings, policy, ds.items)
        found += served_alerts(stored, model=model, floor=training_auc, drop=rules.auc_drop)
    opened: dict[str, Any] = {"opened": [], "already_open": []}
    if alerts and found:
        opened = _open(found, policy, settings)
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **monitoring.report_header(
            model, version, since=str(since or scored.lines["day"].min()), days=scored.lines["day"]
        ),
        "reference": monitoring.reference_block(reference),
        "drift": monitoring.drift_block(rules, drifts),
        "calibration": {
            "min_gap": rules.min_calibration_gap,
            "segment_days": len(calibration),
            "alarms": int(calibration["alarm"].sum()) if len(calibration) else 0,
            "rows": records(calibration[calibration["alarm"]]) if len(calibration) else [],
        },
        "performance": {
            "training_auc": training_auc,
            "weeks": records(weeks),
            "segments": {k: records(v) for k, v in monitoring.segment_performance(scored).items()},
        },
        "data_quality": quality,
        "served": stored,
        "alerts": found,
        "queue": opened,
    }
    write_report(settings.home, model, report)
    return report


OTHER_MODELS = ("substitution", "demand")


def served_alerts(
    block: dict[str, Any], *, model: str, floor: float | None, drop: float
) -> list[dict[str, Any]]:
    """Weeks whose realised AUC of the *served* lines fell ``drop`` below training's."""
    if floor is None:
        return []
    low = [w for w in block["weeks"] if w.get("auc") is not None and w["auc"] < floor - drop]
    if not low:
        return []
    return [
        {
            "model": model,
            "model_version": low[-1]["model_version"],
            "kind": "performance",
            "feature": "served_auc",
            "days": sorted({w["week"] for w in low}),
            "evidence": {"floor": floor - drop, "weeks": low},
        }
    ]


def _monitor_other(
    model: str, data: Path, *, since: date | None, alerts: bool, served: bool, settings: Settings
) -> dict[str, Any]:
    """``stockpilot monitor substitution|demand``: the model's own checks, the same report
    file, the same queue."""
    if served and model == "demand":
        raise InvalidInput(
            "--home: demand forecasts are not stored as recommendations; "
            "`stockpilot monitor demand` compares the champion's forecasts with the dataset",
            model=model,
        )
    policy = _store_policy(settings) if alerts else _policy(settings)
    with step("loading and validating the dataset"):
        ds = load_dataset(data)
    if model == "substitution":
        from training import monitor_substitution as checks
    else:
        from training import monitor_demand as checks  # type: ignore[no-redef]
    body, found = checks.run(model, ds, since=since, policy=policy)
    if served:
        with step("joining the stored recommendations to their feedback"):
            body["served"] = served_block(model, settings, policy, ds.items)
    opened: dict[str, Any] = {"opened": [], "already_open": []}
    if alerts and found:
        opened = _open(found, policy, settings)
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **body,
        "alerts": found,
        "queue": opened,
    }
    write_report(settings.home, model, report)
    return report


def served_model(model: str, alias: str = "champion") -> tuple[Any, str, Any, dict[str, Any]]:
    """The served model's Python object (the substitution recommender, the demand
    forecaster), its version, its monitoring reference (None without one) and the
    evaluation logged at training ({} without one)."""
    from models import drift
    from stockpilot import tracking

    try:
        version = tracking.resolve(model, alias)
    except Exception as err:  # MlflowException: no such alias or registry unreachable
        raise NotFound(
            f"no {model}@{alias} in the model registry ({err}); train one with "
            f"`stockpilot train {model}`",
            model=model,
        ) from None
    wrapper = tracking.load_pyfunc(f"models:/{model}/{version.version}").unwrap_python_model()
    served = wrapper.recommender if model == "substitution" else wrapper.forecaster
    try:
        reference = drift.Reference.from_dict(
            tracking.run_artifact(version.run_id, monitoring.REFERENCE_ARTIFACT)
        )
    except Exception:  # an older model logged without a reference
        reference = None
    try:
        evaluation = tracking.run_artifact(version.run_id, "evaluation.json")
    except Exception:  # no evaluation: no training figure to compare with, said in the report
        evaluation = {}
    return served, version.version, reference, evaluation


def _training_auc(version: str) -> float | None:
    from stockpilot import tracking

    try:
        run_id = tracking.resolve("order-risk", "champion").run_id
        evaluation = tracking.run_artifact(run_id, "evaluation.json")
        return float(evaluation["test"]["auc"])
    except Exception:  # an artifact missing: no performance floor, said in the report
        return None


def _policy(settings: Settings) -> Policy:
    """The policy file of the settings or the shipped default (no store is read)."""
    from governance.policy import default_policy_text

    if settings.policy_file is not None:
        return load_policy(settings.policy_file)
    return parse_policy(default_policy_text(), source="default policy")


def _store_policy(settings: Settings) -> Policy:
    from governance import direct_writes
    from governance.store.engine import Database
    from governance.store.migrate import require_current

    db = Database.from_settings(settings)
    try:
        require_current(db)
        return direct_writes.ensure_policy(
            db, actor=MONITOR, policy_file=settings.policy_file
        ).policy
    finally:
        db.dispose()


def _open(alerts: list[dict[str, Any]], policy: Policy, settings: Settings) -> dict[str, Any]:
    from governance import direct_writes
    from governance.routing import monitoring_decision
    from governance.store.engine import Database

    decision = monitoring_decision(policy)
    db = Database.from_settings(settings)
    try:
        return direct_writes.open_monitoring_alerts(
            db, alerts, decision=decision, principal=MONITOR
        )
    finally:
        db.dispose()


def parse_since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"--since: {value!r} is not a day in the form YYYY-MM-DD", since=value
        ) from None
