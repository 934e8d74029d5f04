"""Incremental KPI aggregates equal the from-scratch ones, bit for bit.

Seeded random distributors (a few dozen orders over a few weeks, fractional quantities,
several slices, queue items) receive random sequences of outcome batches. After each
batch the facts are patched the way the live store patches them — the changed lines'
weights, the per-day partial sums of their days, identity caches carried over, queue
items sliced once — and every KPI over random periods, slices and groupings must equal
what facts built from nothing give (no cache at all), and what summing the lines of the
query directly gives (the scan the partial sums replace).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.dataset import Dataset
from features.kpis.base import KpiFacts
from features.kpis.compute import compute
from features.kpis.definitions import DIMENSIONS
from features.kpis.fulfilment import FULFILMENT, LineView
from features.kpis.lines import LineFacts, with_outcomes
from features.kpis.partials import day_partials, patched_partials
from features.kpis.query import Period, Query, day_number
from features.kpis.records import ITEM_COLUMNS, build_records
from features.kpis.report import kpi_dict
from features.kpis.weights import patched_weights, weights
from tests.kpis.conftest import facts_of

START = pd.Timestamp("2025-03-01")
DAYS = 40
STATUSES = ["delivered", "in_transit", "cancelled", "backorder", "partial", None]


def random_dataset(rng: np.random.Generator) -> Dataset:
    n_orders = int(rng.integers(15, 45))
    items = pd.DataFrame(
        {
            "item_id": [f"I{k}" for k in range(6)],
            "category": rng.choice(["A", "B", "C"], 6),
            "unit_cost": np.round(rng.uniform(0.5, 40, 6), 2),
            "list_price": 50.0,
        }
    )
    orders = []
    for o in range(n_orders):
        promised = START + pd.Timedelta(days=int(rng.integers(0, DAYS)))
        for line in range(1, int(rng.integers(1, 4)) + 1):
            orders.append(
                {
                    "order_id": f"O{o}",
                    "line_no": line,
                    "order_ts": promised - pd.Timedelta(days=int(rng.integers(2, 9))),
                    "customer_id": f"C{rng.integers(0, 4)}",
                    "item_id": f"I{rng.integers(0, 6)}",
                    "location_id": f"L{rng.integers(0, 3)}",
                    "qty": float(np.round(rng.uniform(0.5, 12), 1)),
                    "unit_price": 20.0,
                    "promised_date": promised,
                    "carrier_id": f"K{rng.integers(0, 2)}",
                }
            )
    orders = pd.DataFrame(orders)
    orders["line_no"] = orders["line_no"].astype("Int64")
    reported = orders.sample(frac=0.6, random_state=int(rng.integers(1 << 31)))
    n, promised = len(reported), reported["promised_date"]
    fulfillments = reported[["order_id", "line_no"]].assign(
        shipped_qty=np.round(reported["qty"].to_numpy() * rng.choice([0, 0.5, 1, 1], n), 1),
        ship_date=promised - pd.to_timedelta(rng.integers(-3, 4, n), "D"),
        delivered_date=promised + pd.to_timedelta(rng.integers(-2, 5, n), "D"),
        status=rng.choice(["delivered", "in_transit", "backorder"], n),
    )
    days = pd.date_range(START, periods=DAYS)
    inventory = pd.DataFrame(
        [
            {"snapshot_date": d, "item_id": f"I{i}", "location_id": f"L{loc}",
             "on_hand": float(rng.integers(0, 5))}
            for d in days[::3] for i in range(6) for loc in range(3)
        ]
    )  # fmt: skip
    return Dataset.from_tables(
        {
            "items": items,
            "locations": pd.DataFrame({"location_id": ["L0", "L1", "L2"]}),
            "customers": pd.DataFrame(
                {"customer_id": [f"C{k}" for k in range(4)], "segment": ["a", "b", "a", "c"]}
            ),
            "carriers": pd.DataFrame({"carrier_id": ["K0", "K1"]}),
            "orders": orders,
            "fulfillments": fulfillments.reset_index(drop=True),
            "inventory": inventory,
        }
    )


def random_outcomes(rng: np.random.Generator, lines: LineFacts) -> pd.DataFrame:
    picked = rng.choice(len(lines), size=int(rng.integers(1, 6)), replace=False)
    promised = pd.to_datetime(lines.promised_day[picked] * 86_400, unit="s")
    frame = pd.DataFrame(
        {
            "order_id": [str(lines.order_ids[lines.order[r]]) for r in picked],
            "line_no": lines.line_no[picked],
            "shipped_qty": np.round(lines.qty[picked] * rng.choice([0, 0.3, 1], len(picked)), 1),
            "ship_date": promised - pd.to_timedelta(rng.integers(-2, 3, len(picked)), "D"),
            "delivered_date": promised + pd.to_timedelta(rng.integers(-2, 8, len(picked)), "D"),
            "status": rng.choice(np.array(STATUSES, dtype=object), len(picked)),
        }
    )
    frame.loc[rng.random(len(frame)) < 0.3, "delivered_date"] = pd.NaT
    if rng.random() < 0.3:  # an order the dataset does not hold
        frame.loc[len(frame)] = ["NOPE", 1, 1.0, START, START, "delivered"]
    return frame


def random_items(rng: np.random.Generator, lines: LineFacts) -> pd.DataFrame:
    rows = []
    for k in range(int(rng.integers(5, 20))):
        created = START + pd.Timedelta(hours=float(rng.uniform(0, 24 * DAYS)))
        status = rng.choice(["pending", "approved", "overridden", "rejected", "expired"])
        order = str(rng.choice(lines.order_ids)) if rng.random() < 0.9 else "X1"
        rows.append(
            {
                "id": f"Q{k}", "queue": rng.choice(["order-review", "order-hold"]),
                "kind": "order_risk", "subject": f"order:{order}", "action": "review",
                "status": status, "created_at": created.tz_localize("UTC"),
                "due_at": (created + pd.Timedelta(hours=4)).tz_localize("UTC"),
                "decided_at": None if status == "pending"
                else (created + pd.Timedelta(hours=float(rng.uniform(0, 6)))).tz_localize("UTC"),
                "decided_by": "sup", "top_family": "carrier_delay", "customer_id": "C1",
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=list(ITEM_COLUMNS))


def recommendations(items: pd.DataFrame) -> pd.DataFrame:
    return items[["id", "kind", "subject", "created_at"]].assign(id=lambda f: "R" + f["id"])


def random_queries(rng: np.random.Generator, facts: KpiFacts) -> list[tuple[Query, str | None]]:
    first, last = day_number(START.date()) - 5, day_number(START.date()) + DAYS + 10
    out = [
        (Query(Period(first, last, "week")), None),
        (Query(Period(first, last, "day")), "category"),
    ]
    for _ in range(6):
        lo = int(rng.integers(first, last))
        hi = int(rng.integers(lo, last + 1))
        dims = list(rng.choice(DIMENSIONS, size=int(rng.integers(0, 3)), replace=False))
        filters = {d: int(rng.integers(0, len(facts.dims.labels[d]))) for d in dims}
        by = rng.choice([None, *DIMENSIONS]) if not filters else None
        out.append((Query(Period(lo, hi, str(rng.choice(["day", "week", "month"]))), filters), by))
    return out  # fmt: skip


def dashboard(facts: KpiFacts, query: Query, by: str | None) -> list[dict]:
    return [kpi_dict(c, query.period) for c in compute(facts, query, by=by)]


def from_scratch(lines: LineFacts) -> LineFacts:
    """The same lines with nothing derived yet (no weights, partial sums or indexes)."""
    return dataclasses.replace(lines)


@pytest.mark.parametrize("seed", range(12))
def test_patched_aggregates_equal_a_recompute_after_every_batch(seed):
    rng = np.random.default_rng(seed)
    facts = facts_of(random_dataset(rng))
    segment = pd.Series({"C0": "a", "C1": "b", "C2": "a", "C3": "c"})
    items = random_items(rng, facts.lines)
    facts.records = build_records(items, recommendations(items), facts.lines, facts.dims, segment)
    weights(facts.lines), day_partials(facts.lines)
    horizon = facts.lines.horizon
    for _ in range(5):
        outcomes = random_outcomes(rng, facts.lines)
        latest = horizon + int(rng.integers(0, 6))  # reports may move the horizon on
        lines, _, changed = with_outcomes(facts.lines, outcomes, latest=latest)
        patched_weights(facts.lines, lines, changed)
        patched_partials(facts.lines, lines, changed)
        facts = dataclasses.replace(facts, lines=lines)
        fresh_lines = from_scratch(lines)
        fresh = dataclasses.replace(
            facts,
            lines=fresh_lines,
            records=build_records(items, recommendations(items), fresh_lines, facts.dims, segment),
        )
        np.testing.assert_array_equal(day_partials(lines).sums, day_partials(fresh_lines).sums)
        for query, by in random_queries(rng, facts):
            assert dashboard(facts, query, by) == dashboard(fresh, query, by), (query, by)


@pytest.mark.parametrize("seed", range(12))
def test_partial_sums_give_what_summing_the_querys_lines_gives(seed):
    rng = np.random.default_rng(100 + seed)
    facts = facts_of(random_dataset(rng))
    for _ in range(3):
        lines, _, changed = with_outcomes(facts.lines, random_outcomes(rng, facts.lines))
        weights(facts.lines), day_partials(facts.lines)
        patched_weights(facts.lines, lines, changed)
        patched_partials(facts.lines, lines, changed)
        facts = dataclasses.replace(facts, lines=lines)
        for query, _ in random_queries(rng, facts):
            summed, scanned = LineView(lines, query), LineView(lines, query, scan=True)
            np.testing.assert_array_equal(summed.sums, scanned.sums)
            for kpi, evaluate in FULFILMENT.items():
                a, b = evaluate(summed), evaluate(scanned)
                assert (a.value, a.numerator, a.trend) == (b.value, b.numerator, b.trend), kpi


def test_only_the_days_of_changed_lines_are_summed_again():
    rng = np.random.default_rng(7)
    facts = facts_of(random_dataset(rng))
    before = day_partials(facts.lines).sums
    lines, _, changed = with_outcomes(facts.lines, random_outcomes(rng, facts.lines))
    weights(facts.lines)
    patched_weights(facts.lines, lines, changed)
    patched_partials(facts.lines, lines, changed)
    after = day_partials(lines).sums
    touched = np.unique(lines.due_day[changed]).astype(int) - day_partials(lines).day0
    untouched = np.setdiff1d(np.arange(after.shape[2]), touched)
    assert after is not before  # the old facts keep their sums (snapshots in flight)
    np.testing.assert_array_equal(after[:, :, untouched], before[:, :, untouched])
    assert lines.__dict__["_index"] is facts.lines.__dict__["_index"]  # carried, not rebuilt
