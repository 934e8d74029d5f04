"""The live state order-risk features are computed from at serving time.

:class:`RiskState` holds, at one moment, everything a line's features need beyond the
line itself: the latest inventory positions (the shared
:class:`~features.inventory.InventoryPositions`), units ordered since each snapshot,
carrier/lane/customer/item statistics from outcomes already known, and master data.
It is built from a dataset (``from_dataset``) and kept live by serving with
:meth:`update_inventory`, :meth:`record_order` and :meth:`record_outcome`.
:meth:`values` answers one order's lines with plain dictionaries and lists — no
pandas on the request path — and returns exactly what
:func:`features.risk_history.state_values` computes over history for the same
moment (``tests/order_risk`` checks it).

Time is in whole days since the epoch. An outcome counts from its
:func:`~features.order_outcomes.final_events` day; outcomes recorded ahead of that
day wait in a pending queue, so a live state never uses an outcome earlier than
training did.

Why one module of ~800 lines: the instance is the live state serving pickles and
restores as a whole, and its three parts — loading from a dataset, the live updates
(orders, outcomes, inventory, the bounded open lines of :mod:`features.open_lines`) and
the request-path read (:meth:`values`) — share the same private tables and memos, whose
invariants (what a pending outcome may change, when a memo is cleared) are easier to
check in one place. Pure helpers live beside it (:mod:`features.risk_history`,
:mod:`features.risk_identities`, :mod:`features.open_lines`).
"""

from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.asof import epoch_day, to_days
from features.dataset import Dataset
from features.inventory import InventoryPositions, latest_positions
from features.master import TEXT_VALUES, MasterData
from features.open_lines import MAX_OPEN_LINES, OpenLines
from features.order_outcomes import export_day, final_events, line_outcomes
from features.risk_identities import (
    NET_M,
    NET_N,
    NET_RECENT_M,
    NET_RECENT_N,
    RECENT_DAYS,
    ROUTE_LEAD_N,
    ROUTE_LEAD_SUM,
    Identity,
    choose,
    key_of,
    line_key,
    route_of,
)
from features.state_tables import (
    NO_DAYS,
    DayTotals,
    add_to,
    day_totals,
    merge_tables,
    table_key,
    table_sums,
)

NS_PER_DAY = 86_400 * 10**9
DEMAND_DAYS = 28  # demand rate window; units claimed count at most this far back
CARRIER_RECENT_DAYS = 14  # "recent" carrier lateness
LOAD_DAYS = 3  # recent warehouse load ...
LOAD_BASE_DAYS = 91  # ... against the location's usual daily lines

LANE_STATS = ("lane_late_n", "lane_late", "lane_transit_n", "lane_transit_sum", "lane_o2d_n")
LANE_STATS += ("lane_o2d_sum",)


def lane_stat_names(flags: Mapping[str, bool]) -> tuple[str, ...]:
    """The lane statistics a dataset supports: transit times need ship and delivery dates."""
    drop = set()
    if not (flags.get("ship") and flags.get("delivery")):
        drop |= {"lane_transit_n", "lane_transit_sum"}
    if not flags.get("delivery"):
        drop |= {"lane_o2d_n", "lane_o2d_sum"}
    return tuple(n for n in LANE_STATS if n not in drop)


def log_price_index(unit_price: np.ndarray, list_price: np.ndarray) -> np.ndarray:
    """log(unit price / list price): the price level a customer pays, comparable across items."""
    unit_price = np.asarray(unit_price, dtype=float)
    list_price = np.asarray(list_price, dtype=float)
    ok = (unit_price > 0) & (list_price > 0)
    return np.where(
        ok, np.log(np.where(ok, unit_price, 1.0) / np.where(ok, list_price, 1.0)), np.nan
    )


def _log_price_index(unit_price: float, list_price: float) -> float:
    """:func:`log_price_index` of one line, without NumPy's per-call overhead."""
    if unit_price > 0 and list_price > 0:  # False for NaN too
        return math.log(unit_price / list_price)
    return math.nan


class RiskState:
    """Live state behind order-risk features; see the module docstring.

    Build it with :meth:`from_dataset`; the constructor only stores its parts.
    """

    def __init__(
        self,
        master: MasterData,
        positions: InventoryPositions,
        snapshot_day: dict[tuple, int],
        flags: dict[str, bool],
        horizon: float,
        identities: tuple[Identity, ...] = (),
    ) -> None:
        self.master = master
        self.identities = identities
        self.positions = positions
        self.flags = flags
        self.horizon = horizon
        self._snapshot_day = snapshot_day
        self._day = -(10**9)
        self._il_days: dict[tuple, DayTotals] = {}
        self._il: dict[tuple, list[float]] = {}  # lines, logqty_sum, outcomes, shorts
        self._lane: dict[tuple, list[float]] = {}
        self._carrier: dict[tuple, list[float]] = {}  # late_n, late
        self._carrier_days: dict[tuple, tuple[DayTotals, DayTotals]] = {}  # late_n, late
        self._loc_days: dict[tuple, DayTotals] = {}
        self._loc_first: dict[tuple, int] = {}
        self._cust: dict[tuple, list[float]] = {}  # outcomes, misses, lines, logqty, disc_n, disc
        self._ci: dict[tuple, list[float]] = {}  # lines, logqty_sum, pi_n, logpi_sum
        self._cc: dict[tuple, list[float]] = {}  # pi_n, logpi_sum
        # Accepted lines without a final outcome yet, bounded (features.open_lines).
        self._open = OpenLines()
        self._pending: list[tuple[float, int, tuple, dict[str, float]]] = []
        self._seq = 0
        # Per identity (features.risk_identities): key → [outcomes, misses]; the recent
        # ones also per final day. The network is the identity with the empty key.
        self._ids: dict[str, dict[tuple, list[float]]] = {i.name: {} for i in identities}
        self._ids_days: dict[str, dict[tuple, tuple[DayTotals, DayTotals]]] = {
            i.name: {} for i in identities if i.recent
        }
        self._net = [0.0, 0.0]
        self._net_days = (DayTotals(), DayTotals())
        self._route_lead: dict[tuple, list[float]] = {}  # route → [orders' lines, Σ lead days]
        # Lanes are carrier × origin × customer region when the customer master has regions.
        self._regional_lanes = "cust_region" in master.customers

    # --- building ---------------------------------------------------------------------

    @classmethod
    def from_dataset(cls, ds: Dataset, as_of: pd.Timestamp | None = None) -> RiskState:
        """The state at ``as_of``: orders placed before it, outcomes known by its day.

        Default: the midnight after the export's last day (everything the data knows).
        A state built earlier knows nothing later: lines whose outcome is known only
        after ``as_of`` are open, and serving closes them with :meth:`record_outcome`.
        """
        horizon = export_day(ds)
        as_of = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp(horizon + 1, unit="D")
        day = int(to_days(np.array([as_of.to_datetime64()]))[0])
        positions = latest_positions(ds.inventory, as_of)
        snapshot_day = dict(
            zip(
                zip(
                    positions["item_id"].astype(str),
                    positions["location_id"].astype(str),
                    strict=True,
                ),
                to_days(positions["snapshot_date"]).astype(int).tolist(),
                strict=True,
            )
        )
        orders = ds.orders
        flags = {
            "carrier": "carrier_id" in orders.columns,
            "discount": "discount_pct" in orders.columns,
            "quarantined": "quarantined" in ds.inventory.columns,
            "in_transit": {"in_transit", "in_transit_eta"} <= set(ds.inventory.columns),
            "delivery": "delivered_date" in ds.fulfillments.columns,
            "ship": "ship_date" in ds.fulfillments.columns,
        }
        master = MasterData.from_dataset(ds)
        identities = choose(orders, set(master.names))
        state = cls(master, InventoryPositions(positions), snapshot_day, flags, horizon, identities)
        state._day = day
        state._open.advance(day)
        past = (orders["order_ts"] < as_of).to_numpy()
        outcomes = line_outcomes(ds, horizon)
        state._load_orders(orders[past], day)
        state._load_outcomes(orders[past], outcomes[past], day)
        return state

    def _line_frame(self, lines: pd.DataFrame) -> pd.DataFrame:
        """Keys and values of many lines, as the recording methods see them one by one."""
        master = self.master.lookup(lines)
        n = len(lines)
        carrier = (
            lines["carrier_id"].astype(object).where(lines["carrier_id"].notna(), None)
            if self.flags["carrier"]
            else pd.Series([None] * n, index=lines.index, dtype=object)
        )
        qty = lines["qty"].to_numpy(float)
        logpi = log_price_index(
            lines["unit_price"].to_numpy(float), master.get("item_list_price", np.full(n, np.nan))
        )
        frame = pd.DataFrame(
            {
                "item": lines["item_id"].astype(str).to_numpy(),
                "loc": lines["location_id"].astype(str).to_numpy(),
                "cust": lines["customer_id"].astype(str).to_numpy(),
                "carrier": carrier.to_numpy(dtype=object),
                "region": master.get("cust_region", np.full(n, None, dtype=object)),
                "category": master.get("item_category", np.full(n, None, dtype=object)),
                "day": to_days(lines["order_ts"]),
                "qty": qty,
                "log_qty": np.log(qty),
                "pi_n": ~np.isnan(logpi),
                "logpi": np.nan_to_num(logpi),
                "one": 1.0,
            }
        )
        if self.flags["discount"]:
            disc = lines["discount_pct"].to_numpy(float)
            frame["disc_n"], frame["disc"] = ~np.isnan(disc), np.nan_to_num(disc)
        else:
            frame["disc_n"], frame["disc"] = 0.0, 0.0
        for part in {p for identity in self.identities for p in identity.parts}:
            if part in lines.columns:
                values = lines[part].astype(object).where(lines[part].notna(), None)
                frame[part] = values.to_numpy(dtype=object)
            else:
                frame[part] = master.get(part, np.full(n, None, dtype=object))
        frame["lead"] = to_days(lines["promised_date"]) - frame["day"].to_numpy()
        return frame

    def _load_orders(self, orders: pd.DataFrame, day: int) -> None:
        """Order-time statistics from every order placed before ``as_of`` (vectorised
        equivalent of :meth:`record_order` on each; the replay test checks they agree)."""
        f = self._line_frame(orders)
        self._il = table_sums(f, ["item", "loc"], ["one", "log_qty", "zero", "zero"])
        self._cust = table_sums(f, ["cust"], ["zero", "zero", "one", "log_qty", "disc_n", "disc"])
        self._ci = table_sums(f, ["cust", "item"], ["one", "log_qty", "pi_n", "logpi"])
        self._cc = table_sums(f[f["category"].notna()], ["cust", "category"], ["pi_n", "logpi"])
        recent = f[f["day"] >= day - LOAD_BASE_DAYS]
        self._il_days = day_totals(recent, ["item", "loc"], "qty")
        self._loc_days = day_totals(recent, ["loc"], "one")
        firsts = f.groupby("loc")["day"].min()
        self._loc_first = {(str(k),): int(v) for k, v in firsts.items()}
        route = route_of(self.identities)
        if route is not None:
            self._route_lead = table_sums(f, list(route.parts), ["one", "lead"])

    def _load_outcomes(self, orders: pd.DataFrame, outcomes: pd.DataFrame, day: int) -> None:
        """Outcomes known by ``day`` (vectorised :meth:`_apply_pending`); later ones are open."""
        f = self._line_frame(orders)
        final_day = outcomes["final_day"].to_numpy(float)
        known = final_day <= day
        late_known = outcomes["late_known"].to_numpy(bool)
        transit = outcomes["transit_days"].to_numpy(float)
        o2d = outcomes["o2d_days"].to_numpy(float)
        f = f.assign(
            final_day=np.nan_to_num(final_day),
            short=outcomes["short"].to_numpy(float),
            miss=outcomes["miss_event"].to_numpy(float),
            late_known=late_known.astype(float),
            late=np.where(late_known, outcomes["late"].to_numpy(float), 0.0),
            transit_n=~np.isnan(transit),
            transit=np.nan_to_num(transit),
            o2d_n=~np.isnan(o2d),
            o2d=np.nan_to_num(o2d),
        )
        done = f[known]
        merge_tables(self._il, table_sums(done, ["item", "loc"], ["zero", "zero", "one", "short"]))
        merge_tables(
            self._cust, table_sums(done, ["cust"], ["one", "miss", "zero", "zero", "zero", "zero"])
        )
        if self.flags["carrier"]:
            carried = done[done["carrier"].notna()]
            lane_keys = ["carrier", "loc", "region"] if self._regional_lanes else ["carrier", "loc"]
            lanes = carried.dropna(subset=lane_keys)
            stats = ["late_known", "late", "transit_n", "transit", "o2d_n", "o2d"]
            self._lane = table_sums(lanes, lane_keys, stats)
            self._carrier = table_sums(carried, ["carrier"], ["late_known", "late"])
            recent = carried[carried["final_day"] >= day - LOAD_BASE_DAYS]
            n_days = day_totals(recent, ["carrier"], "late_known", "final_day")
            late_days = day_totals(recent, ["carrier"], "late", "final_day")
            self._carrier_days = {k: (n_days[k], late_days[k]) for k in n_days}
        self._load_identities(done, day)
        still_open = ~known
        ids = zip(
            orders["order_id"].astype(str).to_numpy()[still_open],
            orders["line_no"].astype(int).to_numpy()[still_open],
            strict=True,
        )
        rows = f.loc[still_open, ["item", "loc", "cust", "carrier", "region", "day"]]
        promised = to_days(orders["promised_date"])[still_open]
        keys = self._frame_keys(f[still_open])
        for key, row, prom, qty, id_keys in zip(
            ids,
            rows.itertuples(index=False),
            promised,
            f["qty"].to_numpy()[still_open],
            keys,
            strict=True,
        ):
            line = (*row[:5], float(row[5]), float(prom), float(qty), id_keys)
            self._open.open(key, line, float(prom))

    def _load_identities(self, done: pd.DataFrame, day: int) -> None:
        """Identity statistics of the outcomes known by ``day`` (vectorised
        :meth:`_apply_pending`)."""
        self._net = [float(len(done)), float(done["miss"].sum())]
        recent = done[done["final_day"] >= day - LOAD_BASE_DAYS]
        days = recent.groupby("final_day", sort=False)[["one", "miss"]].sum()
        for final_day, (ones, misses) in zip(days.index, days.to_numpy().tolist(), strict=True):
            self._net_days[0].add(int(final_day), ones)
            self._net_days[1].add(int(final_day), misses)
        for identity in self.identities:
            parts = list(identity.parts)
            self._ids[identity.name] = table_sums(done, parts, ["one", "miss"])
            if identity.recent:
                n_days = day_totals(recent, parts, "one", "final_day")
                miss_days = day_totals(recent, parts, "miss", "final_day")
                self._ids_days[identity.name] = {k: (n_days[k], miss_days[k]) for k in n_days}

    def _frame_keys(self, f: pd.DataFrame) -> list[tuple]:
        """Per row of a :meth:`_line_frame`, its key of every identity (None: no key)."""
        if not self.identities:
            return [()] * len(f)
        columns = []
        for identity in self.identities:
            parts = [f[p].to_numpy() for p in identity.parts]
            columns.append([key_of(values) for values in zip(*parts, strict=True)])
        return list(zip(*columns, strict=True))

    def _line_keys(self, values: Mapping[str, Any]) -> tuple:
        """One line's key of every identity; ``values`` maps part names to its values."""
        return tuple(line_key(identity.parts, values) for identity in self.identities)

    # --- recording ----------------------------------------------------------------------

    def _record_line(
        self,
        item: str,
        loc: str,
        cust: str,
        category: str | None,
        day: int,
        qty: float,
        logpi: float,
        disc: float | None,
    ) -> None:
        il = (item, loc)
        if day >= self._day - LOAD_BASE_DAYS:
            days = self._il_days.get(il)
            if days is None:
                days = self._il_days[il] = DayTotals()
            days.add(day, qty)
            loc_days = self._loc_days.get((loc,))
            if loc_days is None:
                loc_days = self._loc_days[(loc,)] = DayTotals()
            loc_days.add(day, 1.0)
        first = self._loc_first.get((loc,))
        if first is None or day < first:
            self._loc_first[(loc,)] = day
        log_qty = math.log(qty)
        add_to(self._il, il, (1.0, log_qty, 0.0, 0.0))
        has_disc = disc is not None and not math.isnan(disc)
        add_to(
            self._cust,
            (cust,),
            (0.0, 0.0, 1.0, log_qty, float(has_disc), disc if has_disc else 0.0),
        )
        known_pi = not math.isnan(logpi)
        pi = logpi if known_pi else 0.0
        add_to(self._ci, (cust, item), (1.0, log_qty, float(known_pi), pi))
        add_to(self._cc, table_key(cust, category), (float(known_pi), pi))

    def record_order(self, lines: Sequence[Mapping[str, Any]]) -> None:
        """Count an accepted order: demand, claimed units, load, customer history.

        Each line needs the contract's order fields (``order_id``, ``line_no``,
        ``order_ts``, ``customer_id``, ``item_id``, ``location_id``, ``qty``,
        ``unit_price``, ``promised_date``; optional ``discount_pct``, ``carrier_id``).
        Scoring does not record: serving calls this once the order is taken.
        """
        days: dict[tuple[str, Any], int] = {}  # the lines of an order share their dates

        def day_of(line: Mapping[str, Any], name: str) -> int:
            key = (name, line[name])
            day = days.get(key)
            if day is None:
                day = days[key] = _day_of(key[1])
            return day

        for line in lines:
            item, loc, cust = (
                str(line["item_id"]),
                str(line["location_id"]),
                str(line["customer_id"]),
            )
            m = self.master.row(item, cust, line.get("carrier_id"))
            day = day_of(line, "order_ts")
            self._advance(day)
            disc = line.get("discount_pct") if self.flags["discount"] else None
            logpi = _log_price_index(float(line["unit_price"]), m["item_list_price"])
            self._record_line(
                item,
                loc,
                cust,
                m["item_category"],
                day,
                float(line["qty"]),
                logpi,
                None if disc is None else float(disc),
            )
            carrier = line.get("carrier_id") if self.flags["carrier"] else None
            promised = day_of(line, "promised_date")
            keys = self._line_keys({**m, **line}) if self.identities else ()
            route = self._route_key(keys)
            if route is not None:
                add_to(self._route_lead, route, (1.0, float(promised - day)))
            share = self._open.shared  # one object per distinct id and key (open_lines)
            self._open.open(
                (str(line["order_id"]), int(line["line_no"])),
                (
                    share(item),
                    share(loc),
                    share(cust),
                    None if carrier is None else share(carrier),
                    m.get("cust_region"),
                    float(day),
                    float(promised),
                    float(line["qty"]),
                    share(tuple(None if k is None else share(k) for k in keys)),
                ),
                float(promised),
            )

    def record_outcome(
        self,
        order_id: str,
        line_no: int,
        shipped_qty: float,
        ship_date: Any = None,
        delivered_date: Any = None,
    ) -> bool:
        """Record the final outcome of a recorded line (delivered, or nothing shipped).

        Call it when the line is delivered, or when it is closed with nothing to
        deliver. Returns False for a line the state does not know (already final, or
        never recorded, or aged out: :mod:`features.open_lines`). The outcome counts from
        :func:`final_events`' day.
        """
        key = (str(order_id), int(line_no))
        line = self._open.get(key)
        if line is None:
            return False
        item, loc, cust, carrier, region, order_day, promised, qty, keys = line
        events = final_events(
            np.array([qty]),
            np.array([float(shipped_qty)]),
            np.array([order_day]),
            np.array([promised]),
            np.array([_day_or_nan(ship_date)]),
            np.array([_day_or_nan(delivered_date)]),
            horizon=float("inf"),
            has_delivery=self.flags["delivery"],
            has_ship=self.flags["ship"],
        )
        final_day = float(events["final_day"][0])
        if math.isnan(final_day):  # shipped, not delivered: not final yet (and still open)
            return False
        self._open.close(key)
        event = {k: float(v[0]) for k, v in events.items() if k != "final_day"}
        self._push(final_day, (item, loc, cust, carrier, region, keys), event)
        self._apply_pending(self._day)
        return True

    def open_line(self, order_id: str, line_no: int) -> dict[str, float] | None:
        """Order day (days since the epoch) and ordered quantity of a line waiting for its
        outcome; None for a line not open (the outcome checks of ``POST /v1/outcomes``)."""
        line = self._open.get((str(order_id), int(line_no)))
        if line is None:
            return None
        return {"order_day": float(line[5]), "qty": float(line[7])}

    # --- the open lines (features.open_lines) -------------------------------------------

    @property
    def open_lines(self) -> int:
        """Accepted lines still waiting for their outcome."""
        return len(self._open)

    @property
    def aged_out(self) -> int:
        """Lines forgotten without an outcome: past their promise + ``OPEN_DAYS``, or the
        oldest beyond :meth:`bound_open_lines`' bound (``aged_out_over_cap`` of them)."""
        return self._open.aged_out

    @property
    def aged_out_over_cap(self) -> int:
        return self._open.over_cap

    def bound_open_lines(self, max_lines: int = MAX_OPEN_LINES) -> None:
        """Keep at most ``max_lines`` open lines (serving: ``settings.max_open_lines``)."""
        if max_lines < 1:
            raise ValueError(f"max_lines must be at least 1, got {max_lines}")
        self._open.max_lines = max_lines
        if len(self._open) > max_lines:
            self._open.shrink()

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A state pickled before open lines were bounded keeps them in a plain dict.
        lines = state.get("_open")
        if isinstance(lines, dict):
            opened = OpenLines()
            opened.advance(int(state.get("_day", -(10**9))))
            for key, line in lines.items():
                opened.open(key, line, line[6])  # (..., order day, promised day, qty, keys)
            state["_open"] = opened
        self.__dict__.update(state)

    def update_inventory(
        self, item_id: str, location_id: str, snapshot_date: Any, **fields: Any
    ) -> None:
        """Set a position from a start-of-day snapshot taken on ``snapshot_date``.

        Units ordered on or after that day keep counting as claimed against it, as in
        training, where snapshots are start-of-day.
        """
        self.positions.update(str(item_id), str(location_id), **fields)
        self._snapshot_day[(str(item_id), str(location_id))] = _day_of(snapshot_date)

    def _push(self, final_day: float, line: tuple, event: dict[str, float]) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (final_day, self._seq, line, event))

    def _apply_pending(self, day: int) -> None:
        while self._pending and self._pending[0][0] <= day:
            final_day, _, line, event = heapq.heappop(self._pending)
            item, loc, cust, carrier, region, keys = line
            add_to(self._il, (item, loc), (0.0, 0.0, 1.0, event["short"]))
            add_to(self._cust, (cust,), (1.0, event["miss_event"], 0.0, 0.0, 0.0, 0.0))
            self._record_identities(keys, int(final_day), event["miss_event"])
            if carrier is None or not self.flags["carrier"]:
                continue
            late_known = event["late_known"] == 1.0
            late = event["late"] if late_known else 0.0
            transit, o2d = event["transit_days"], event["o2d_days"]
            lane = (
                table_key(carrier, loc, region) if self._regional_lanes else table_key(carrier, loc)
            )
            add_to(
                self._lane,
                lane,
                (
                    float(late_known),
                    late,
                    float(not math.isnan(transit)),
                    0.0 if math.isnan(transit) else transit,
                    float(not math.isnan(o2d)),
                    0.0 if math.isnan(o2d) else o2d,
                ),
            )
            add_to(self._carrier, (str(carrier),), (float(late_known), late))
            days = self._carrier_days.get((str(carrier),))
            if days is None:
                days = self._carrier_days[(str(carrier),)] = (DayTotals(), DayTotals())
            days[0].add(int(final_day), float(late_known))
            days[1].add(int(final_day), late)

    def _record_identities(self, keys: tuple, final_day: int, miss: float) -> None:
        """Count one final outcome for the network and each identity of the line."""
        self._net[0] += 1.0
        self._net[1] += miss
        self._net_days[0].add(final_day, 1.0)
        self._net_days[1].add(final_day, miss)
        for identity, key in zip(self.identities, keys, strict=True):
            if key is None:
                continue
            add_to(self._ids[identity.name], key, (1.0, miss))
            if identity.recent:
                table = self._ids_days[identity.name]
                days = table.get(key)
                if days is None:
                    days = table[key] = (DayTotals(), DayTotals())
                days[0].add(final_day, 1.0)
                days[1].add(final_day, miss)

    def _route_key(self, keys: tuple) -> tuple | None:
        for identity, key in zip(self.identities, keys, strict=True):
            if identity.name == "route":
                return key
        return None

    def _advance(self, day: int) -> None:
        """Move the state's clock: apply outcomes now known, forget buckets out of every window."""
        if day <= self._day:
            return
        self._day = day
        self._open.advance(day)
        self._apply_pending(day)
        oldest = day - LOAD_BASE_DAYS - 1
        for table in (self._il_days, self._loc_days):
            for days in table.values():
                days.prune(oldest)
        for pair in self._carrier_days.values():
            for days in pair:
                days.prune(oldest)
        for table in self.__dict__.get("_ids_days", {}).values():
            for pair in table.values():
                for days in pair:
                    days.prune(oldest)
        for days in self.__dict__.get("_net_days", ()):
            days.prune(oldest)

    # --- reading ------------------------------------------------------------------------

    def values(self, fields: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """State values of one order's lines (``fields`` from ``features.order_fields``)."""
        return value_arrays(self.value_rows(fields))

    def value_rows(self, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
        """:meth:`values` as one dictionary per line; :func:`value_arrays` stacks rows of
        many orders at once (serving scores the orders of concurrent requests together)."""
        days = fields["order_day"]
        self._advance(int(max(days)))
        rows = []
        same_order: dict[tuple, float] = {}
        has_carrier = self.flags["carrier"] and "carrier_id" in fields
        lane_names = self._lane_names()
        zeros4 = (0.0,) * 4
        shared_values: dict[tuple, dict[str, float]] = {}
        network = self._network(int(max(days)))
        for k in range(len(days)):
            item, loc = str(fields["item_id"][k]), str(fields["location_id"][k])
            cust = str(fields["customer_id"][k])
            carrier = fields["carrier_id"][k] if has_carrier else None
            day = int(days[k])
            row = self.master.row(item, cust, carrier)
            if not self.flags["carrier"]:
                row.pop("carrier_mode", None)
            il_key = (item, loc)
            il_days = self._il_days.get(il_key, NO_DAYS)
            self._inventory(
                row,
                il_key,
                il_days,
                day,
                float(fields["promised_day"][k]),
                float(fields["qty"][k]),
                same_order,
            )
            row["il_units_28d"] = il_days.total(day - DEMAND_DAYS, day)
            il = self._il.get(il_key, zeros4)
            row["il_lines"], row["il_logqty_sum"], row["il_outcomes"], row["il_shorts"] = il
            # Lines of one order share customer, location and carrier: compute that once.
            shared_key = (cust, loc, carrier, day)
            shared = shared_values.get(shared_key)
            if shared is None:
                shared = shared_values[shared_key] = self._shared(
                    cust, loc, carrier, day, row.get("cust_region"), lane_names
                )
            row.update(shared)
            ci = self._ci.get((cust, item), zeros4)
            row["ci_lines"], row["ci_logqty_sum"], row["ci_pi_n"], row["ci_logpi_sum"] = ci
            cc_key = table_key(cust, row.get("item_category"))
            row["cc_pi_n"], row["cc_logpi_sum"] = (
                self._cc.get(cc_key, (0.0, 0.0)) if cc_key else (0.0, 0.0)
            )
            if network is not None:
                row.update(network)
                self._identity_values(row, fields, k, day)
            rows.append(row)
        return rows

    def _network(self, day: int) -> dict[str, float] | None:
        """The network's outcome counts, all-time and recent (None: a state from before
        identity statistics existed, pickled with an older model)."""
        if "_net" not in self.__dict__:
            return None
        n_days, m_days = self._net_days
        start = day - RECENT_DAYS + 1
        return {
            NET_N: self._net[0],
            NET_M: self._net[1],
            NET_RECENT_N: n_days.total(start, day) + n_days.get(day),
            NET_RECENT_M: m_days.total(start, day) + m_days.get(day),
        }

    def _identity_values(
        self, row: dict[str, Any], fields: Mapping[str, Any], k: int, day: int
    ) -> None:
        """Each identity's counts for line ``k``: parts from the line fields, or from its
        master values already in ``row``."""
        start = day - RECENT_DAYS + 1
        for identity in self.identities:
            key = key_of(
                [row[p] if p in _TEXT_VALUES else _field(fields, p, k) for p in identity.parts]
            )
            n, m = self._ids[identity.name].get(key, (0.0, 0.0)) if key else (0.0, 0.0)
            row[identity.n], row[identity.m] = n, m
            if identity.recent:
                pair = self._ids_days[identity.name].get(key) if key else None
                if pair is None:
                    row[identity.recent_n] = row[identity.recent_m] = 0.0
                else:
                    row[identity.recent_n] = pair[0].total(start, day) + pair[0].get(day)
                    row[identity.recent_m] = pair[1].total(start, day) + pair[1].get(day)
            if identity.name == "route":
                lead = self._route_lead.get(key, (0.0, 0.0)) if key else (0.0, 0.0)
                row[ROUTE_LEAD_N], row[ROUTE_LEAD_SUM] = lead

    def _lane_names(self) -> tuple[str, ...]:
        names = self.__dict__.get("_lane_stat_names")  # absent in older pickles
        if names is None:
            names = self.__dict__["_lane_stat_names"] = lane_stat_names(self.flags)
        return names

    def _shared(
        self,
        cust: str,
        loc: str,
        carrier: Any,
        day: int,
        region: str | None,
        lane_names: tuple[str, ...],
    ) -> dict[str, float]:
        """Values that depend on the customer, location, carrier and day, not the item."""
        zeros6 = (0.0,) * 6
        row: dict[str, float] = {}
        if self.flags["carrier"]:
            lane = (
                table_key(carrier, loc, region) if self._regional_lanes else table_key(carrier, loc)
            )
            stats = self._lane.get(lane, zeros6) if lane else zeros6
            for name, value in zip(LANE_STATS, stats, strict=True):
                if name in lane_names:
                    row[name] = value
            ckey = table_key(carrier)
            total = self._carrier.get(ckey, (0.0, 0.0)) if ckey else (0.0, 0.0)
            row["carrier_late_n"], row["carrier_late"] = total
            pair = self._carrier_days.get(ckey) if ckey else None
            if pair is None:
                row["carrier_recent_n"] = row["carrier_recent_late"] = 0.0
            else:
                start = day - CARRIER_RECENT_DAYS + 1
                row["carrier_recent_n"] = pair[0].total(start, day) + pair[0].get(day)
                row["carrier_recent_late"] = pair[1].total(start, day) + pair[1].get(day)
        loc_days = self._loc_days.get((loc,), NO_DAYS)
        row["loc_lines_3d"] = loc_days.total(day - LOAD_DAYS, day)
        row["loc_lines_91d"] = loc_days.total(day - LOAD_BASE_DAYS, day)
        first = self._loc_first.get((loc,), day)
        row["loc_days_91"] = float(min(max(day - first, 0), LOAD_BASE_DAYS))
        row["loc_lines_today"] = loc_days.get(day)
        c = self._cust.get((cust,), zeros6)
        row["cust_outcomes"], row["cust_misses"] = c[0], c[1]
        row["cust_lines"], row["cust_logqty_sum"] = c[2], c[3]
        if self.flags["discount"]:
            row["cust_disc_n"], row["cust_disc_sum"] = c[4], c[5]
        return row

    def _inventory(
        self,
        row: dict[str, Any],
        key: tuple[str, str],
        il_days: DayTotals,
        day: int,
        promised_day: float,
        qty: float,
        same_order: dict[tuple, float],
    ) -> None:
        positions = self.positions
        item, loc = key
        earlier = same_order.get(key, 0.0)
        same_order[key] = earlier + qty
        pos = positions.position(item, loc)
        snap = self._snapshot_day.get(key)
        if pos is None or snap is None:
            row["inv_known"] = row["inv_on_hand"] = row["inv_available"] = 0.0
            if self.flags["quarantined"]:
                row["inv_quarantined"] = 0.0
            if self.flags["in_transit"]:
                row["inv_in_transit_due"] = 0.0
                row["inv_receipt_day"] = np.nan
            row["inv_claimed"] = 0.0
            own = 0.0
        else:
            row["inv_known"] = 1.0
            row["inv_on_hand"] = pos["on_hand"]
            row["inv_available"] = own = pos["available"]
            if self.flags["quarantined"]:
                row["inv_quarantined"] = pos["quarantined"]
            if self.flags["in_transit"]:
                # What arrives by the promised day's midnight counts (InventoryPositions
                # .in_transit_by, without NumPy per line).
                eta = pos["in_transit_eta_ns"]
                arrived = eta is not None and eta <= int(promised_day) * NS_PER_DAY
                row["inv_in_transit_due"] = pos["in_transit"] if arrived else 0.0
                incoming = pos["in_transit"] > 0 and eta is not None
                row["inv_receipt_day"] = float(eta // NS_PER_DAY) if incoming else np.nan
            start = max(snap, day - DEMAND_DAYS)
            row["inv_claimed"] = il_days.total(start, day) + il_days.get(day) + earlier
        row["inv_elsewhere"] = positions.available_total(item) - own


_TEXT_VALUES = frozenset(TEXT_VALUES)


def value_arrays(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """State value rows (:meth:`RiskState.value_rows`, rows with the same names) as arrays.

    One 2-D array for every numeric value (a column each), far cheaper than one small
    array per value; text values (categories, regions) stay objects.
    """
    names = [name for name in rows[0] if name not in _TEXT_VALUES]
    numbers = operator.itemgetter(*names)
    matrix = np.array([numbers(r) for r in rows], dtype=float).reshape(len(rows), len(names))
    out: dict[str, np.ndarray] = dict(zip(names, matrix.T, strict=True))
    for name in rows[0]:
        if name in _TEXT_VALUES:
            out[name] = np.array([r[name] for r in rows], dtype=object)
    return out


def _field(fields: Mapping[str, Any], name: str, k: int) -> Any:
    column = fields.get(name)
    return None if column is None else column[k]


def _day_of(value: Any) -> int:
    """Whole day since the epoch of a date, datetime, Timestamp or ISO string."""
    return epoch_day(value)


def _day_or_nan(value: Any) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return float("nan")
    return float(_day_of(value))
