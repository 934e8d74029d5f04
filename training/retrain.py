"""``stockpilot retrain MODEL --data DIR``: a challenger from history plus what came since.

The training set is the dataset joined with the governance store's evidence
(:mod:`governance.evidence`):

- **live outcomes** (``POST /v1/outcomes``) become ``fulfillments`` rows of the dataset's
  order lines; the latest report of a line wins over the export's row (it is newer).
  Outcomes of lines the dataset does not have are counted and left out: the next export
  carries those orders;
- **reviewer decisions** on order-risk items: a *rejected* item is an order the review
  cancelled or sent back, so whatever its fulfillment says (nothing shipped: "short") was
  produced by the decision, not by the risk the model scores; its lines are taken out of
  the labels (their rows in ``fulfillments`` are dropped). *Overrides* keep their lines:
  the outcome is the label, and the report counts how often the overridden orders missed
  (how right the reviewers were to disagree). Approvals change nothing;
- **substitution feedback** is already in the dataset: serving appends accepted and
  declined offers to its ``substitutions`` table (``stockpilot.feedback``).

The merged dataset is written under ``<home>/retrain/<model>-<time>/data/`` (so the challenger
is reproducible and its fingerprint is that of what it learned from), the challenger is
trained there with the ``challenger`` alias, and the promotion gate report is written
beside it (``gate_report.json``, or where ``--report`` points).
Substitution and demand read their own evidence (:mod:`training.retrain_evidence`:
customers' answers and review rejections; live order lines as demand); the demand
challenger is fit on the days before the gate's holdout.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features.dataset import Dataset
from governance.evidence import Evidence
from stockpilot.errors import InvalidInput
from stockpilot.settings import Settings, get_settings

SUPPORTED = ("order-risk", "substitution", "demand")
KEY = ["order_id", "line_no"]
ORDER_RISK_TABLES = ("items", "locations", "customers", "carriers", "orders", "fulfillments")


def merge_evidence(ds: Dataset, evidence: Evidence) -> tuple[Dataset, dict[str, Any]]:
    """The dataset with live outcomes in and review-made labels out; and what was done."""
    ful = ds.fulfillments.copy()
    lines = ds.orders[KEY].astype({"order_id": str})
    live = evidence.outcomes.astype({"order_id": str})
    known = live.merge(lines, on=KEY, how="inner")
    keep = [c for c in live.columns if c in ful.columns or c in ("shipped_qty", *KEY)]
    ful_keys = ful[KEY].astype({"order_id": str})
    replaced = ful_keys.merge(known[KEY], on=KEY, how="left", indicator=True)["_merge"] == "both"
    if len(known):
        ful = pd.concat([ful.loc[~replaced.to_numpy()], known[keep]], ignore_index=True)

    decisions = evidence.decisions
    cancelled = set(decisions.loc[decisions["status"] == "rejected", "order_id"].astype(str))
    dropped = ful["order_id"].astype(str).isin(cancelled)
    ful = ful.loc[~dropped.to_numpy()].reset_index(drop=True)

    summary = {
        "live_outcomes": len(live),
        "live_outcomes_used": len(known),
        "live_outcomes_replacing_export_rows": int(replaced.sum()),
        "live_outcomes_unknown_lines": len(live) - len(known),
        "decided_order_items": len(decisions),
        "rejected_orders_unlabelled": len(cancelled),
        "rejected_lines_unlabelled": int(dropped.sum()),
        "overridden_orders": int((decisions["status"] == "overridden").sum()),
    }
    merged = Dataset.from_tables({**ds.tables(), "fulfillments": ful})
    return merged, summary


def override_hits(ds: Dataset, evidence: Evidence) -> dict[str, Any]:
    """Of the overridden orders with known outcomes, how many missed (the reviewers' record)."""
    from features.order_outcomes import line_outcomes

    overridden = set(
        evidence.decisions.loc[evidence.decisions["status"] == "overridden", "order_id"]
    )
    if not overridden:
        return {"orders_with_outcome": 0, "missed": 0}
    outcomes = line_outcomes(ds)
    frame = pd.DataFrame({"order_id": ds.orders["order_id"].astype(str), "miss": outcomes["miss"]})
    frame = frame[frame["order_id"].isin(overridden) & frame["miss"].notna()]
    by_order = frame.groupby("order_id")["miss"].max()
    return {"orders_with_outcome": len(by_order), "missed": int(by_order.sum())}


def _order_risk_set(ds: Dataset, db: Any) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    from governance import evidence as evidence_store
    from training import order_risk

    found = evidence_store.collect(db)
    merged, summary = merge_evidence(order_risk.used_tables(ds), found)
    summary["overrides"] = override_hits(merged, found)
    tables = {k: v for k, v in merged.tables().items() if k in ORDER_RISK_TABLES}
    return {**tables, "inventory": merged.inventory}, summary


def _substitution_set(ds: Dataset, db: Any) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    from governance import evidence as evidence_store
    from training.retrain_evidence import merge_substitution_evidence

    merged, summary = merge_substitution_evidence(ds, evidence_store.collect_substitution(db))
    return merged.tables(), summary


def _demand_set(ds: Dataset, db: Any) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    from governance import evidence as evidence_store
    from training.retrain_evidence import merge_demand_evidence

    merged, summary = merge_demand_evidence(ds, evidence_store.collect_orders(db))
    return merged.tables(), summary


def _train(
    model: str, out: Path, fit_dir: Path, params: dict[str, Any] | None, settings: Settings
) -> dict[str, Any]:
    """The challenger, trained like ``stockpilot train MODEL`` (``params``: the model's own
    training options; tests pass tiny ones)."""
    if model == "order-risk":
        from training import order_risk

        return order_risk.train(out, alias="challenger", params=params, settings=settings)
    if model == "substitution":
        from training import substitution

        return substitution.train(out, alias="challenger", settings=settings, **(params or {}))
    from training.demand import train as demand_train

    return demand_train(
        fit_dir, alias="challenger", settings=settings, show_progress=False, **(params or {})
    )


def retrain(
    model: str,
    data: Path,
    *,
    settings: Settings | None = None,
    report: Path | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge the evidence, train the challenger, write the gate report; returns all three."""
    from governance.policy_versions import active_policy
    from governance.store.engine import Database
    from governance.store.migrate import require_current
    from stockpilot import tracking
    from stockpilot.data import load_dataset, write_tables
    from stockpilot.progress import step
    from training.promotion_gate import run_gate

    evidence_of = {
        "order-risk": _order_risk_set,
        "substitution": _substitution_set,
        "demand": _demand_set,
    }
    if model not in evidence_of:
        raise InvalidInput(f"retrain: {model!r} is not one of {', '.join(SUPPORTED)}")
    settings = settings or get_settings()
    ds = load_dataset(data)
    db = Database.from_settings(settings)
    try:
        require_current(db)
        with step("reading what the governance store learnt since the export"):
            tables, summary = evidence_of[model](ds, db)
        with db.read() as session:
            promotion = active_policy(session).policy.promotion
    finally:
        db.dispose()
    with step("writing the training set"):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        run_dir = settings.home / "retrain" / f"{model}-{stamp}"
        out = run_dir / "data"
        write_tables(tables, out)
        truth = Path(data) / "truth"
        if truth.is_dir():
            shutil.copytree(truth, out / "truth")
        fit_dir = out
        if model == "demand":
            # The challenger is fit before the gate's holdout (the last
            # promotion.demand_holdout_days), so the gate judges it on days it never saw.
            fit_dir = run_dir / "fit"
            summary["fit_until"] = str(_demand_fit_until(tables, promotion).date())
            history_as_of(out, _demand_fit_until(tables, promotion) + pd.Timedelta(days=1), fit_dir)
    evaluation = _train(model, out, fit_dir, params, settings)
    version = evaluation["registered"]["version"]
    tracking.set_version_tag(model, version, "retrain_data", str(out))
    result: dict[str, Any] = {
        "model": model,
        "data": str(out),
        "evidence": summary,
        "challenger": {"version": version, **_headline(model, evaluation)},
        "training_gate": evaluation["gate"],
    }
    if tracking.alias_version(model, "champion") is None:
        result["gate"] = None
        result["note"] = "no champion yet: nothing to gate against"
        return result
    report = report or run_dir / "gate_report.json"
    with step("promotion gate: challenger vs champion on the recent holdout"):
        gate_report = run_gate(model, out, promotion, report_path=report)
    result["gate"] = {
        k: gate_report[k] for k in ("passed", "failures", "sha256", "improvement", "holdout")
    }
    result["gate_report"] = str(report)
    return result


def _demand_fit_until(tables: dict[str, pd.DataFrame], promotion: Any) -> pd.Timestamp:
    from features.demand import daily_demand
    from training.gate_holdouts import demand_cutoff

    daily = daily_demand(tables.get("demand"), tables.get("orders"))
    return demand_cutoff(daily, promotion)


def _headline(model: str, evaluation: dict[str, Any]) -> dict[str, Any]:
    """The challenger's own test figure, as its training run reports it."""
    if model == "order-risk":
        return {"auc": evaluation["test"]["auc"]}
    if model == "substitution":
        return {"hit@1_switch": evaluation["test"]["hit@1_switch"]}
    return {"wape": evaluation["backtest"]["wape"]}


def history_as_of(data: Path, cutoff: str | pd.Timestamp, out: Path) -> Path:
    """The export a distributor would have made on ``cutoff``: what was known before it.

    Orders placed before the cutoff; fulfillments of those lines that had shipped or been
    delivered by then (with the dates after it blanked); inventory and demand before it.
    For walkthroughs and tests of the lifecycle: train a champion on the past, then
    retrain on the whole history.
    """
    from stockpilot.data import load_dataset, write_tables

    cut, out = pd.Timestamp(cutoff), Path(out)
    ds = load_dataset(data)
    orders = ds.orders[ds.orders["order_ts"] < cut]
    ful = ds.fulfillments.merge(orders[KEY], on=KEY, how="inner")
    seen = pd.Series(True, index=ful.index)
    for column in ("ship_date", "delivered_date"):
        if column in ful.columns:
            after = ful[column] >= cut
            ful.loc[after, column] = pd.NaT
    if "ship_date" in ful.columns:
        seen &= ful["ship_date"].notna() | (ful["shipped_qty"] <= 0)
    if "status" in ful.columns and "delivered_date" in ful.columns:
        ful.loc[ful["delivered_date"].isna() & ful["status"].eq("delivered"), "status"] = "shipped"
    tables = {
        **ds.tables(),
        "orders": orders,
        "fulfillments": ful.loc[seen].reset_index(drop=True),
        "inventory": ds.inventory[ds.inventory["snapshot_date"] < cut],
    }
    if ds.demand is not None:
        tables["demand"] = ds.demand[ds.demand["date"] < cut]
    if ds.substitutions is not None:
        tables["substitutions"] = ds.substitutions[ds.substitutions["ts"] < cut]
    if ds.purchase_orders is not None:
        tables["purchase_orders"] = ds.purchase_orders[ds.purchase_orders["order_date"] < cut]
    write_tables(tables, out)
    truth = Path(data) / "truth"
    if truth.is_dir():
        shutil.copytree(truth, out / "truth", dirs_exist_ok=True)
    return out
