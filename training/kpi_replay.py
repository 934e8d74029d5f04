"""What StockPilot's recommendations changed: fill rate and promise accuracy with and
without them, on simulated data (issue 18, item 5). ``stockpilot kpis replay --data DIR``.

A simulated export records a world without StockPilot, so both sides are replayed over
the demand backtest's evaluated days (after the replay's warm-up), for the item ×
locations the backtest covers, and measured by the same KPI definitions the dashboard
uses (:mod:`features.kpis`):

- **replenishment**: the demand policy replay (:mod:`training.demand.policy`) — the same
  starting stock, demand, supplier lead times and order rules — ordering by our forecast
  (``models.replenishment.suggest``, as served) or by the ERP baseline (28-day moving
  average, normal reorder point). A day's served units go to its order lines first come,
  first served; unserved demand is lost (the line ships short);
- **substitutes**: with StockPilot a short line whose offer set is logged (the legacy
  rule offered 60 % of short lines) is offered the candidate our acceptance model ranks
  first, trained on the first 70 % of offer sets in time and applied only to later ones;
  the customer accepts with the simulator's true acceptance probability of that offer
  (one seeded draw per line). Without StockPilot no substitute is offered. Short lines
  without a logged offer set get none on either side: the truth knows nothing else;
- **held orders are released as they were**: the simulator has no model of what a
  supervisor's decision on a held order changes, so deliveries (and so lateness) are the
  recorded ones on both sides. A line that shipped nothing in the records but ships in a
  replay travels with its order (the truth's late draw for that order). Promise accuracy
  therefore moves only through which lines ship.

The recorded history is printed alongside for reference; it is not the "without" side
(the simulator's own warehouse ran another replenishment rule and drew shortfalls).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.demand import daily_demand
from features.kpis.base import KpiFacts
from features.kpis.compute import compute
from features.kpis.dims import Dims
from features.kpis.lines import build_lines
from features.kpis.query import Period, Query
from features.kpis.records import RecordFacts
from features.kpis.stock import build_stock
from features.order_outcomes import export_day
from models.replenishment import ReplenishmentPolicy
from stockpilot.errors import InvalidInput
from training.demand.backtest import BacktestConfig, run_backtest
from training.demand.policy import baseline_decider, forecast_decider
from training.demand.replay import build_world, run_policy
from training.kpi_scenarios import accepted_substitutes, allocate, best_offers, fulfillments

KPIS = (
    "fill_rate_line",
    "fill_rate_order",
    "fill_rate_unit",
    "fill_rate_line_after_substitution",
    "fill_rate_order_after_substitution",
    "fill_rate_unit_after_substitution",
    "promise_accuracy",
)
SCENARIOS = ("recorded", "without_stockpilot", "with_stockpilot")


@dataclass(frozen=True)
class ReplayConfig:
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    policy: ReplenishmentPolicy = field(default_factory=ReplenishmentPolicy)
    demand_model: dict[str, Any] = field(default_factory=dict)  # DemandForecaster overrides
    substitution_trees: int | None = None  # None: the training default
    threads: int = 2
    seed: int = 0


def replay_kpis(
    data: Path | str,
    config: ReplayConfig | None = None,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The comparison as plain data (figures, window, assumptions, timings)."""
    from models.demand import DemandForecaster
    from stockpilot.data import load_dataset, load_truth

    config = config or ReplayConfig()
    step = on_step or (lambda _text: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ds = load_dataset(data)
    truth = load_truth(data)
    for table in ("order_lines", "substitutions"):
        if table not in truth:
            raise InvalidInput(
                f"the replay needs a simulated dataset: {Path(data) / 'truth'} has no {table}",
                field="data",
            )
    timings["load_s"] = time.perf_counter() - t0

    step("demand backtest")
    t0 = time.perf_counter()
    daily = daily_demand(ds.demand, ds.orders)
    params = {
        "num_threads": config.threads,
        "horizon": config.backtest.horizon,
        **config.demand_model,
    }
    bt = run_backtest(daily, ds.items, lambda: DemandForecaster(**params), config.backtest)
    timings["backtest_s"] = time.perf_counter() - t0

    step("replenishment replay")
    t0 = time.perf_counter()
    world = build_world(bt, daily, ds, config.policy, config.seed)
    warm = world.warm_up_days(config.policy.review_days)
    outcomes = {
        "with_stockpilot": run_policy(world, forecast_decider(world, bt, config.policy), warm),
        "without_stockpilot": run_policy(world, baseline_decider(world, config.policy), warm),
    }
    timings["replay_s"] = time.perf_counter() - t0

    lines = _window_lines(ds, world, warm)
    shipped = {k: allocate(lines, o.daily_served, world.demand) for k, o in outcomes.items()}

    step("substitution model")
    t0 = time.perf_counter()
    offers, offer_sets = _ranked_offers(ds, config)
    timings["substitution_s"] = time.perf_counter() - t0

    late = truth["order_lines"].astype({"order_id": str}).set_index(["order_id", "line_no"])["late"]
    p_accept = truth["substitutions"].astype({"event_id": str}).set_index("event_id")["p_accept"]
    horizon = export_day(ds)
    tables = {"recorded": _recorded(ds, lines)}
    for name in ("without_stockpilot", "with_stockpilot"):
        ful = fulfillments(lines, ds.fulfillments, shipped[name], late)
        subs = None
        if name == "with_stockpilot":
            short = _short(lines, ful)
            subs = accepted_substitutes(lines, short, offers, p_accept, config.seed)
        tables[name] = (ful, subs)

    step("KPIs")
    figures, substitution = {}, {}
    for name, (ful, subs) in tables.items():
        figures[name] = _kpis(ds, lines, ful, subs, horizon)
        substitution[name] = {
            "offered_lines": 0 if subs is None else len(subs),
            "accepted_lines": 0 if subs is None else int(subs["accepted"].sum()),
        }
    first, last = world.dates[warm], world.dates[-1]
    return {
        "window": {
            "from": str(first.date()),
            "to": str(last.date()),
            "warm_up_days": warm,
            "series": len(world.series),
            "lines": len(lines),
            "orders": int(lines["order_id"].nunique()),
        },
        "kpis": {k: {name: figures[name][k] for name in SCENARIOS} for k in KPIS},
        "versions": _versions(),
        "replenishment_replay": {
            name: {
                "fill_rate_units": o.fill_rate,
                "avg_inventory_units": o.avg_inventory,
                "stockout_days": o.stockout_days,
            }
            for name, o in outcomes.items()
        },
        "substitution": {
            **substitution,
            "offer_sets_scored": offer_sets,
            "short_lines_with_stockpilot": int(_short(lines, tables["with_stockpilot"][0]).sum()),
        },
        "assumptions": ASSUMPTIONS,
        "timings": timings,
    }


ASSUMPTIONS = [
    "both sides replay the demand backtest's evaluated days after the replay's warm-up, for "
    "the item x locations in every backtest window; other lines are left out",
    "replenishment: the demand policy replay (same starting stock, demand, lead-time draws, "
    "MOQ and multiples); with = suggest() on the backtest forecast, without = the 28-day "
    "moving-average ERP rule; served units go to a day's lines first come, first served",
    "unserved demand is lost: the line ships short (nothing is backordered)",
    "substitutes: with = the top-ranked of the line's logged offer set (acceptance model "
    "trained on the first 70 % of offer sets, used only on later ones), accepted with the "
    "true acceptance probability (seeded draw); without = none offered; lines without a "
    "logged offer set get none on either side",
    "held orders are released as they were: deliveries and lateness are the recorded ones; "
    "a line that ships only in a replay travels with its order (the truth's late draw)",
]


def _versions() -> dict[str, str]:
    from features.kpis.definitions import definition

    return {k: definition(k).version for k in KPIS}


def _window_lines(ds: Dataset, world: Any, warm: int) -> pd.DataFrame:
    """Order lines of the replayed series ordered on the evaluated days, with t and s."""
    orders = ds.orders
    start = world.dates[0]
    day = (orders["order_ts"].dt.normalize() - start).dt.days.to_numpy()
    key = orders["item_id"].astype(str) + "\x1f" + orders["location_id"].astype(str)
    series = world.series["item_id"].astype(str) + "\x1f" + world.series["location_id"].astype(str)
    s = pd.Index(series).get_indexer(key)
    keep = (s >= 0) & (day >= warm) & (day < len(world.dates))
    return orders[keep].assign(t=day[keep], s=s[keep]).reset_index(drop=True)


def _ranked_offers(ds: Dataset, config: ReplayConfig) -> tuple[pd.DataFrame, int]:
    """Logged offers of the test period ranked by our acceptance model: the best per line."""
    from training.substitution import fit

    kwargs = (
        {} if config.substitution_trees is None else {"n_estimators": config.substitution_trees}
    )
    recommender, prepared = fit(ds, num_threads=config.threads, random_state=config.seed, **kwargs)
    test = prepared.part == 2
    offers = prepared.offers[test]
    score = recommender.model.predict_proba(prepared.X[test])[:, 1]
    offers = offers.astype({"order_id": str, "original_item_id": str, "event_id": str})
    best = best_offers(
        offers[["event_id", "ts", "order_id", "original_item_id", "offered_item_id"]], score
    )
    return best, len(best)


def _recorded(ds: Dataset, lines: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    key = lines[["order_id", "line_no"]]
    ful = ds.fulfillments.merge(key, on=["order_id", "line_no"], how="inner")
    return ful, ds.substitutions


def _short(lines: pd.DataFrame, ful: pd.DataFrame) -> np.ndarray:
    joined = lines[["order_id", "line_no", "qty"]].merge(
        ful, on=["order_id", "line_no"], how="left"
    )
    return (
        joined["shipped_qty"].to_numpy(dtype=float) < joined["qty"].to_numpy(dtype=float)
    ) & joined["shipped_qty"].notna().to_numpy()


def _kpis(
    ds: Dataset, lines: pd.DataFrame, ful: pd.DataFrame, subs: pd.DataFrame | None, horizon: float
) -> dict[str, float | None]:
    """The KPI definitions over the window's lines with these outcomes."""
    orders = lines.drop(columns=["t", "s"])
    scenario = Dataset(
        items=ds.items,
        locations=ds.locations,
        customers=ds.customers,
        orders=orders,
        fulfillments=ful,
        inventory=ds.inventory.iloc[:0],
        carriers=ds.carriers,
        substitutions=subs,
    )
    dims = Dims.from_dataset(scenario)
    facts = KpiFacts(
        dims,
        build_lines(scenario, dims, horizon),
        build_stock(scenario, dims),
        RecordFacts.empty(),
        False,
    )
    due = facts.lines.due_day
    query = Query(Period(int(np.nanmin(due)), int(np.nanmax(due)), "month"))
    return {c.definition.id: c.result.value for c in compute(facts, query, ids=KPIS)}


def format_report(report: dict[str, Any]) -> str:
    w = report["window"]
    lines = [
        f"KPI replay {w['from']} – {w['to']} ({w['series']} item × locations, {w['orders']:,} "
        f"orders, {w['lines']:,} lines; warm-up {w['warm_up_days']} days left out)",
        f"{'kpi':38} {'recorded':>10} {'without':>10} {'with':>10} {'change':>9}",
    ]
    for kpi, values in report["kpis"].items():
        rec, base, ours = (values[s] for s in SCENARIOS)
        change = "" if base is None or ours is None else f"{(ours - base) * 100:+.2f} pp"

        def pct(x: float | None) -> str:
            return "–" if x is None else f"{x:.2%}"

        lines.append(f"{kpi:38} {pct(rec):>10} {pct(base):>10} {pct(ours):>10} {change:>9}")
    ours, base = (
        report["replenishment_replay"][k] for k in ("with_stockpilot", "without_stockpilot")
    )
    lines.append(
        f"replenishment replay (units): fill {ours['fill_rate_units']:.4f} with vs "
        f"{base['fill_rate_units']:.4f} without; avg stock {ours['avg_inventory_units']:,.0f} "
        f"vs {base['avg_inventory_units']:,.0f} units"
    )
    subs = report["substitution"]
    offered = subs["with_stockpilot"]
    lines.append(
        f"substitutes with StockPilot: {offered['offered_lines']:,} short lines offered the "
        f"top-ranked logged offer, {offered['accepted_lines']:,} accepted "
        f"(of {subs['short_lines_with_stockpilot']:,} short lines)"
    )
    lines.append("assumptions:")
    lines += [f"  - {a}" for a in report["assumptions"]]
    return "\n".join(lines)
