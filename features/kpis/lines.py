"""Order-line facts behind the fulfilment KPIs: one row per line, in due-date order.

Built once from the dataset's ``orders``, ``fulfillments``, ``items``, ``customers`` and
``substitutions`` and then patched by the outcomes serving receives, so every fulfilment
KPI reads the same records the decisions came from. What is known when follows
:func:`features.order_outcomes.line_outcomes` (SPEC §3): a line is late once delivered
after its promised date, or still on its way (or not shipped) after it; a line shipped
and in transit before its promise has no outcome yet.

Lines are sorted by their order's due day (the latest promised date of its lines), then
order and line number, so a period is a contiguous slice and an order's lines are
adjacent: KPIs over any period and slice are a few vectorised passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from features.asof import to_days
from features.dataset import Dataset
from features.kpis.dims import UNKNOWN, Dims
from features.order_outcomes import KEY, export_day, line_outcomes

# Derived values that depend only on which lines there are (ids, slices, items), not on
# what happened to them: facts patched by outcomes keep them instead of rebuilding.
IDENTITY_CACHES = ("_index", "_orders", "_order_category")
IDENTITY_PREFIXES = ("_cached_stock_series_",)
OPEN_STATUSES = frozenset(
    {"open", "backorder", "backordered", "partial", "partially_shipped", "pending"}
)
DAY_NS = 86_400 * 10**9


@dataclass
class LineFacts:
    order: np.ndarray  # code into order_ids
    order_ids: np.ndarray
    line_no: np.ndarray
    customer: np.ndarray  # code into customer_ids
    customer_ids: np.ndarray
    item: np.ndarray  # code into item_ids
    item_ids: np.ndarray
    location: np.ndarray  # Dims codes
    segment: np.ndarray
    category: np.ndarray
    carrier: np.ndarray
    order_day: np.ndarray  # days since the epoch (float, NaN when unknown)
    due_day: np.ndarray
    promised_day: np.ndarray
    ship_day: np.ndarray
    delivered_day: np.ndarray
    qty: np.ndarray
    shipped: np.ndarray  # NaN while nothing is reported
    fulfilled: np.ndarray  # a fulfillment row or a live outcome exists
    status: np.ndarray  # code into status_labels (-1: none)
    status_labels: np.ndarray
    late: np.ndarray  # 1 late, 0 on time, NaN unknown
    damaged: np.ndarray  # 1 / 0 / NaN unknown
    documents_ok: np.ndarray  # 1 / 0 / NaN unknown
    sub_accepted: np.ndarray  # an accepted substitute offer exists for the line
    unit_cost: np.ndarray
    horizon: float  # the last day the records know about
    has_lateness: bool  # the export has delivery or ship dates
    subs_linkable: bool  # substitution offers carry order_id

    def __len__(self) -> int:
        return len(self.order)

    # --- derived flags ---------------------------------------------------------------

    @property
    def cancelled(self) -> np.ndarray:
        return self.fulfilled & (self.shipped <= 0)

    @property
    def in_full(self) -> np.ndarray:
        return self.fulfilled & (self.shipped >= self.qty)

    @property
    def open_rest(self) -> np.ndarray:
        """Shipped short with a status that keeps the rest of the line open."""
        return self.cached("open_rest", self._open_rest)

    def _open_rest(self) -> np.ndarray:
        return self.status_is(lambda s: s.lower() in OPEN_STATUSES)

    def status_is(self, test: Callable[[str], bool]) -> np.ndarray:
        """Per line: its status passes ``test`` (False without a status)."""
        passes = np.array([*(test(str(s)) for s in self.status_labels), False], dtype=bool)
        return passes[np.where(self.status >= 0, self.status, len(self.status_labels))]

    def cached(self, name: str, make: Callable[[], Any]) -> Any:
        """A value derived from these facts, computed once (facts are never modified:
        patches make new facts, which start without cached values)."""
        key = f"_cached_{name}"
        if key not in self.__dict__:
            self.__dict__[key] = make()
        return self.__dict__[key]

    def keep_identity(self, patched: LineFacts) -> LineFacts:
        """``patched`` (these lines with other outcomes) given this facts' identity caches."""
        for key, value in self.__dict__.items():
            if key in IDENTITY_CACHES or key.startswith(IDENTITY_PREFIXES):
                patched.__dict__.setdefault(key, value)
        return patched

    def row_of(
        self, order_ids: pd.Series | np.ndarray, line_nos: pd.Series | np.ndarray
    ) -> np.ndarray:
        """Row of each (order_id, line_no), -1 for lines the facts do not hold."""
        index = self.__dict__.get("_index")
        if index is None:
            index = pd.MultiIndex.from_arrays(
                [self.order_ids[self.order].astype(str), self.line_no.astype(np.int64)]
            )
            self.__dict__["_index"] = index
        wanted = pd.MultiIndex.from_arrays(
            [np.asarray(order_ids).astype(str), np.asarray(line_nos).astype(np.int64)]
        )
        return index.get_indexer(wanted)

    def order_rows(self) -> pd.Index:
        """Order id → first row of the order (orders are contiguous)."""
        index = self.__dict__.get("_orders")
        if index is None:
            starts = np.flatnonzero(np.r_[True, self.order[1:] != self.order[:-1]])
            index = pd.Series(starts, index=self.order_ids[self.order[starts]].astype(str))
            self.__dict__["_orders"] = index
        return index

    def with_horizon(self, horizon: float) -> LineFacts:
        """The same lines seen from a later day: more lines are known late."""
        if horizon <= self.horizon:
            return self
        late = _late_by_horizon(self.late, self, horizon)
        return replace(self, late=late, horizon=float(horizon))


def build_lines(ds: Dataset, dims: Dims, horizon: float | None = None) -> LineFacts:
    """Line facts of a validated dataset (pure; ``horizon`` defaults to the export day)."""
    orders, ful = ds.orders, ds.fulfillments
    horizon = export_day(ds) if horizon is None else float(horizon)
    order_code, order_ids = pd.factorize(orders["order_id"].astype(str))
    customer, customer_ids = pd.factorize(orders["customer_id"].astype(str))
    item, item_ids = pd.factorize(orders["item_id"].astype(str))
    outcome = _outcomes(orders, ful, horizon)
    statuses = np.array(sorted(set(outcome.pop("status_text")) - {None}), dtype=object)
    items = ds.items.drop_duplicates("item_id").set_index(ds.items["item_id"].astype(str))
    customers = ds.customers.drop_duplicates("customer_id")
    customers = customers.set_index(customers["customer_id"].astype(str))
    item_text = orders["item_id"].astype(str)
    segment = (
        orders["customer_id"].astype(str).map(customers["segment"])
        if "segment" in customers.columns
        else pd.Series(None, index=orders.index, dtype=object)
    )
    promised = to_days(orders["promised_date"])
    due = pd.Series(promised).groupby(order_code).transform("max").to_numpy()
    subs_linkable, accepted = _accepted_substitutes(ds, orders)
    carrier = orders["carrier_id"] if "carrier_id" in orders.columns else None
    facts = LineFacts(
        order=order_code.astype(np.int64),
        order_ids=np.asarray(order_ids, dtype=object),
        line_no=orders["line_no"].to_numpy(dtype=np.int64),
        customer=customer.astype(np.int64),
        customer_ids=np.asarray(customer_ids, dtype=object),
        item=item.astype(np.int64),
        item_ids=np.asarray(item_ids, dtype=object),
        location=dims.codes("location", orders["location_id"]),
        segment=dims.codes("segment", segment),
        category=dims.codes("category", item_text.map(items["category"])),
        carrier=(
            dims.codes("carrier", carrier)
            if carrier is not None
            else np.full(len(orders), UNKNOWN, dtype=np.int64)
        ),
        order_day=to_days(orders["order_ts"]),
        due_day=due,
        promised_day=promised,
        status=pd.Index(statuses).get_indexer(outcome.pop("status")).astype(np.int64),
        status_labels=statuses,
        sub_accepted=accepted,
        unit_cost=item_text.map(items["unit_cost"]).to_numpy(dtype=float),
        horizon=horizon,
        has_lateness="delivered_date" in ful.columns or "ship_date" in ful.columns,
        subs_linkable=subs_linkable,
        **outcome,
    )
    if not facts.has_lateness:
        facts.late = np.full(len(facts), np.nan)
    return _sorted(facts)


def with_outcomes(
    facts: LineFacts, outcomes: pd.DataFrame, latest: float = np.inf
) -> tuple[LineFacts, int, np.ndarray]:
    """Lines updated by reported outcomes (contract ``fulfillments`` rows, latest per line).

    Returns the new facts, how many outcomes name a line the facts do not hold (an order
    the dataset does not know cannot be measured: no quantity, no promise) and the rows
    that changed. The records reach the latest reported date, but never past ``latest``
    (today): a date in the future is a typo, not knowledge.
    """
    none = np.zeros(0, dtype=np.int64)
    if outcomes.empty:
        return facts, 0, none
    rows = facts.row_of(outcomes["order_id"], outcomes["line_no"])
    known = rows >= 0
    rows, reported = rows[known], outcomes[known].reset_index(drop=True)
    if not len(rows):
        return facts, int((~known).sum()), none
    last = [to_days(reported[c]) for c in ("ship_date", "delivered_date") if c in reported.columns]
    reported_days = [float(np.nanmax(d)) for d in last if np.isfinite(d).any()]
    horizon = max(facts.horizon, min(max(reported_days, default=facts.horizon), latest))
    mini = pd.DataFrame(
        {
            "order_id": reported["order_id"].astype(str).to_numpy(),
            "line_no": reported["line_no"].astype(np.int64),
            "qty": facts.qty[rows],
            "order_ts": pd.to_datetime(np.nan_to_num(facts.order_day[rows]) * DAY_NS),
            "promised_date": pd.to_datetime(facts.promised_day[rows] * DAY_NS),
        }
    )
    reported = reported.assign(order_id=mini["order_id"], line_no=mini["line_no"])
    outcome = _outcomes(mini, reported, horizon)
    texts = [t for t in outcome.pop("status_text") if t is not None]
    labels = np.array(sorted(set(facts.status_labels) | set(texts)), dtype=object)
    status = pd.Index(labels).get_indexer(facts.status_labels[np.maximum(facts.status, 0)])
    status = np.where(facts.status >= 0, status, -1).astype(np.int64)
    status[rows] = pd.Index(labels).get_indexer(outcome.pop("status"))
    changed: dict[str, Any] = {"status": status, "status_labels": labels}
    for name in ("shipped", "fulfilled", "ship_day", "delivered_day", "late"):
        column = getattr(facts, name).copy()
        column[rows] = outcome[name]
        changed[name] = column
    patched = replace(facts, **changed, has_lateness=True).with_horizon(horizon)
    moved = np.flatnonzero(~np.isclose(patched.late, facts.late, equal_nan=True))
    return facts.keep_identity(patched), int((~known).sum()), np.union1d(rows, moved)


# --- building blocks --------------------------------------------------------------------


def _outcomes(orders: pd.DataFrame, ful: pd.DataFrame, horizon: float) -> dict[str, Any]:
    """Per line of ``orders``: what was shipped and delivered, and whether it is late."""
    mini = Dataset(
        items=None,  # type: ignore[arg-type]  # line_outcomes reads orders and fulfillments
        locations=None,  # type: ignore[arg-type]
        customers=None,  # type: ignore[arg-type]
        orders=orders,
        fulfillments=ful,
        inventory=None,  # type: ignore[arg-type]
    )
    labels = line_outcomes(mini, horizon)
    joined = orders[KEY].merge(ful, how="left", on=KEY, validate="one_to_one")
    n = len(joined)

    def days(column: str) -> np.ndarray:
        return to_days(joined[column]) if column in joined.columns else np.full(n, np.nan)

    def flag(column: str) -> np.ndarray:
        if column not in joined.columns:
            return np.full(n, np.nan)
        return pd.array(joined[column], dtype="boolean").to_numpy(dtype=float, na_value=np.nan)

    status = (
        joined["status"].map(lambda s: None if pd.isna(s) else str(s))
        if "status" in joined.columns
        else pd.Series([None] * n, dtype=object)
    )
    fulfilled = labels["fulfilled"].to_numpy(dtype=bool)
    out = {
        "fulfilled": fulfilled,
        "shipped": np.where(fulfilled, joined["shipped_qty"].to_numpy(dtype=float), np.nan),
        "ship_day": days("ship_date"),
        "delivered_day": days("delivered_date"),
        "late": labels["late"].to_numpy(dtype=float),
        "damaged": flag("damaged"),
        "documents_ok": flag("documents_ok"),
        "status": status.to_numpy(dtype=object),
        "status_text": list(status),
        "qty": orders["qty"].to_numpy(dtype=float),
    }
    # Not shipped at all by a promised date already passed: late whatever happens next.
    promised = to_days(orders["promised_date"])
    out["late"] = np.where(~fulfilled & (promised < horizon), 1.0, out["late"])
    return out


def _late_by_horizon(late: np.ndarray, f: LineFacts, horizon: float) -> np.ndarray:
    """The late flags once the records reach ``horizon`` (same rules as the build)."""
    passed = f.promised_day < horizon
    says_delivered = f.status_is(lambda s: s.lower() == "delivered")
    in_flight = f.fulfilled & np.isnan(f.delivered_day) & (f.shipped > 0) & ~says_delivered
    out = late.copy()
    out[(in_flight | ~f.fulfilled) & passed] = 1.0
    return out


def _accepted_substitutes(ds: Dataset, orders: pd.DataFrame) -> tuple[bool, np.ndarray]:
    subs = ds.substitutions
    if subs is None or "order_id" not in subs.columns or subs.empty:
        return False, np.zeros(len(orders), dtype=bool)
    accepted = subs[pd.array(subs["accepted"], dtype="boolean").fillna(False).to_numpy(bool)]
    keys = pd.Index(
        accepted["order_id"].astype(str) + "\x1f" + accepted["original_item_id"].astype(str)
    )
    lines = orders["order_id"].astype(str) + "\x1f" + orders["item_id"].astype(str)
    return True, lines.isin(keys).to_numpy()


def _sorted(facts: LineFacts) -> LineFacts:
    order = np.lexsort((facts.line_no, facts.order, np.nan_to_num(facts.due_day, nan=-1e9)))
    changed = {
        f.name: getattr(facts, f.name)[order]
        for f in fields(facts)
        if isinstance(getattr(facts, f.name), np.ndarray)
        and len(getattr(facts, f.name)) == len(order)
        and not f.name.endswith(("_ids", "_labels"))
    }
    return replace(facts, **changed)
