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
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.asof import to_days
from features.dataset import Dataset
from features.inventory import InventoryPositions, latest_positions
from features.master import MasterData
from features.order_outcomes import export_day, final_events, line_outcomes

DEMAND_DAYS = 28  # demand rate window; units claimed count at most this far back
CARRIER_RECENT_DAYS = 14  # "recent" carrier lateness
LOAD_DAYS = 3  # recent warehouse load ...
LOAD_BASE_DAYS = 91  # ... against the location's usual daily lines

LANE_STATS = ("lane_late_n", "lane_late", "lane_transit_n", "lane_transit_sum", "lane_o2d_n")
LANE_STATS += ("lane_o2d_sum",)


def log_price_index(unit_price: np.ndarray, list_price: np.ndarray) -> np.ndarray:
    """log(unit price / list price): the price level a customer pays, comparable across items."""
    unit_price = np.asarray(unit_price, dtype=float)
    list_price = np.asarray(list_price, dtype=float)
    ok = (unit_price > 0) & (list_price > 0)
    return np.where(
        ok, np.log(np.where(ok, unit_price, 1.0) / np.where(ok, list_price, 1.0)), np.nan
    )


def _key(*parts: Any) -> tuple | None:
    """A dictionary key, or None when a part is missing (missing keys match nothing)."""
    if any(p is None or (isinstance(p, float) and math.isnan(p)) for p in parts):
        return None
    return tuple(str(p) for p in parts)


def _add(table: dict, key: tuple | None, values: Sequence[float]) -> None:
    if key is None:
        return
    acc = table.get(key)
    if acc is None:
        table[key] = list(values)
    else:
        for k, v in enumerate(values):
            acc[k] += v


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
    ) -> None:
        self.master = master
        self.positions = positions
        self.flags = flags
        self.horizon = horizon
        self._snapshot_day = snapshot_day
        self._day = -(10**9)
        self._il_days: dict[tuple, dict[int, float]] = {}
        self._il: dict[tuple, list[float]] = {}  # lines, logqty_sum, outcomes, shorts
        self._lane: dict[tuple, list[float]] = {}
        self._carrier: dict[tuple, list[float]] = {}  # late_n, late
        self._carrier_days: dict[tuple, dict[int, list[float]]] = {}
        self._loc_days: dict[tuple, dict[int, float]] = {}
        self._loc_first: dict[tuple, int] = {}
        self._cust: dict[tuple, list[float]] = {}  # outcomes, misses, lines, logqty, disc_n, disc
        self._ci: dict[tuple, list[float]] = {}  # lines, logqty_sum, pi_n, logpi_sum
        self._cc: dict[tuple, list[float]] = {}  # pi_n, logpi_sum
        self._open: dict[tuple, tuple] = {}
        self._pending: list[tuple[float, int, tuple, dict[str, float]]] = []
        self._seq = 0
        # Lanes are carrier × origin × customer region when the customer master has regions.
        self._regional_lanes = "cust_region" in master.customers

    # --- building ---------------------------------------------------------------------

    @classmethod
    def from_dataset(cls, ds: Dataset, as_of: pd.Timestamp | None = None) -> RiskState:
        """The state at ``as_of``: orders placed before it, outcomes known by its day.

        Default: the midnight after the export's last day (everything the data knows).
        Outcomes in the data that become known after ``as_of`` are queued and count
        from their day, as if serving had recorded them then.
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
        }
        state = cls(
            MasterData.from_dataset(ds), InventoryPositions(positions), snapshot_day, flags, horizon
        )
        state._day = day
        past = (orders["order_ts"] < as_of).to_numpy()
        outcomes = line_outcomes(ds, horizon)
        state._load_orders(orders[past], day)
        state._load_outcomes(orders[past], outcomes[past], day)
        return state

    def _line_keys(self, lines: pd.DataFrame) -> dict[str, list]:
        master = self.master.lookup(lines)
        n = len(lines)
        return {
            "item": lines["item_id"].astype(str).tolist(),
            "loc": lines["location_id"].astype(str).tolist(),
            "cust": lines["customer_id"].astype(str).tolist(),
            "carrier": (
                lines["carrier_id"].astype(object).where(lines["carrier_id"].notna(), None).tolist()
                if self.flags["carrier"]
                else [None] * n
            ),
            "region": list(master.get("cust_region", [None] * n)),
            "category": list(master.get("item_category", [None] * n)),
            "list_price": list(master.get("item_list_price", np.full(n, np.nan))),
        }

    def _load_orders(self, orders: pd.DataFrame, day: int) -> None:
        """Order-time statistics from every order placed before ``as_of``."""
        keys = self._line_keys(orders)
        order_day = (
            orders["order_ts"].to_numpy("datetime64[ns]").astype("datetime64[D]").astype(int)
        )
        qty = orders["qty"].to_numpy(float)
        price = orders["unit_price"].to_numpy(float)
        disc = orders["discount_pct"].to_numpy(float) if self.flags["discount"] else None
        logpi = log_price_index(price, np.asarray(keys["list_price"], dtype=float))
        for k in range(len(orders)):
            self._record_line(
                keys["item"][k],
                keys["loc"][k],
                keys["cust"][k],
                keys["category"][k],
                int(order_day[k]),
                float(qty[k]),
                float(logpi[k]),
                None if disc is None else float(disc[k]),
                horizon_day=day,
            )

    def _load_outcomes(self, orders: pd.DataFrame, outcomes: pd.DataFrame, day: int) -> None:
        keys = self._line_keys(orders)
        order_day = to_days(orders["order_ts"])
        promised = to_days(orders["promised_date"])
        final_day = outcomes["final_day"].to_numpy(float)
        columns = ("short", "late", "late_known", "miss_event", "transit_days", "o2d_days")
        arrays = {c: outcomes[c].to_numpy() for c in columns}
        ids = list(zip(orders["order_id"].astype(str), orders["line_no"].astype(int), strict=True))
        qty = orders["qty"].to_numpy(float)
        for k in range(len(orders)):
            line = (
                keys["item"][k],
                keys["loc"][k],
                keys["cust"][k],
                keys["carrier"][k],
                keys["region"][k],
            )
            if np.isnan(final_day[k]):
                self._open[ids[k]] = (*line, float(order_day[k]), float(promised[k]), float(qty[k]))
                continue
            event = {c: float(arrays[c][k]) for c in columns}
            self._push(float(final_day[k]), line, event)
        self._apply_pending(day)

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
        horizon_day: int | None = None,
    ) -> None:
        il = (item, loc)
        horizon_day = self._day if horizon_day is None else horizon_day
        if day >= horizon_day - LOAD_BASE_DAYS:
            buckets = self._il_days.setdefault(il, {})
            buckets[day] = buckets.get(day, 0.0) + qty
            loc_buckets = self._loc_days.setdefault((loc,), {})
            loc_buckets[day] = loc_buckets.get(day, 0.0) + 1.0
        first = self._loc_first.get((loc,))
        if first is None or day < first:
            self._loc_first[(loc,)] = day
        log_qty = math.log(qty)
        _add(self._il, il, (1.0, log_qty, 0.0, 0.0))
        has_disc = disc is not None and not math.isnan(disc)
        _add(
            self._cust,
            (cust,),
            (0.0, 0.0, 1.0, log_qty, float(has_disc), disc if has_disc else 0.0),
        )
        known_pi = not math.isnan(logpi)
        pi = logpi if known_pi else 0.0
        _add(self._ci, (cust, item), (1.0, log_qty, float(known_pi), pi))
        _add(self._cc, _key(cust, category), (float(known_pi), pi))

    def record_order(self, lines: Sequence[Mapping[str, Any]]) -> None:
        """Count an accepted order: demand, claimed units, load, customer history.

        Each line needs the contract's order fields (``order_id``, ``line_no``,
        ``order_ts``, ``customer_id``, ``item_id``, ``location_id``, ``qty``,
        ``unit_price``, ``promised_date``; optional ``discount_pct``, ``carrier_id``).
        Scoring does not record: serving calls this once the order is taken.
        """
        for line in lines:
            item, loc, cust = (
                str(line["item_id"]),
                str(line["location_id"]),
                str(line["customer_id"]),
            )
            m = self.master.row(item, cust, line.get("carrier_id"))
            day = _day_of(line["order_ts"])
            self._advance(day)
            disc = line.get("discount_pct") if self.flags["discount"] else None
            logpi = float(log_price_index(float(line["unit_price"]), m["item_list_price"]))
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
            self._open[(str(line["order_id"]), int(line["line_no"]))] = (
                item,
                loc,
                cust,
                carrier,
                m.get("cust_region"),
                float(day),
                float(_day_of(line["promised_date"])),
                float(line["qty"]),
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
        never recorded). The outcome counts from :func:`final_events`' day.
        """
        line = self._open.pop((str(order_id), int(line_no)), None)
        if line is None:
            return False
        item, loc, cust, carrier, region, order_day, promised, qty = line
        events = final_events(
            np.array([qty]),
            np.array([float(shipped_qty)]),
            np.array([order_day]),
            np.array([promised]),
            np.array([_day_or_nan(ship_date)]),
            np.array([_day_or_nan(delivered_date)]),
            horizon=float("inf"),
            has_delivery=self.flags["delivery"],
        )
        final_day = float(events["final_day"][0])
        if math.isnan(final_day):  # shipped, not delivered: not final yet
            self._open[(str(order_id), int(line_no))] = line
            return False
        event = {k: float(v[0]) for k, v in events.items() if k != "final_day"}
        self._push(final_day, (item, loc, cust, carrier, region), event)
        self._apply_pending(self._day)
        return True

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
            item, loc, cust, carrier, region = line
            _add(self._il, (item, loc), (0.0, 0.0, 1.0, event["short"]))
            _add(self._cust, (cust,), (1.0, event["miss_event"], 0.0, 0.0, 0.0, 0.0))
            if carrier is None or not self.flags["carrier"]:
                continue
            late_known = event["late_known"] == 1.0
            late = event["late"] if late_known else 0.0
            transit, o2d = event["transit_days"], event["o2d_days"]
            lane = _key(carrier, loc, region) if self._regional_lanes else _key(carrier, loc)
            _add(
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
            _add(self._carrier, (str(carrier),), (float(late_known), late))
            buckets = self._carrier_days.setdefault((str(carrier),), {})
            acc = buckets.setdefault(int(final_day), [0.0, 0.0])
            acc[0] += float(late_known)
            acc[1] += late

    def _advance(self, day: int) -> None:
        """Move the state's clock: apply outcomes now known, forget buckets out of every window."""
        if day <= self._day:
            return
        self._day = day
        self._apply_pending(day)
        oldest = day - LOAD_BASE_DAYS - 1
        for table in (self._il_days, self._loc_days, self._carrier_days):
            for buckets in table.values():
                for d in [d for d in buckets if d < oldest]:
                    del buckets[d]

    # --- reading ------------------------------------------------------------------------

    def values(self, fields: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """State values of one order's lines (``fields`` from ``features.order_risk``)."""
        days = fields["order_day"]
        self._advance(int(max(days)))
        out: dict[str, list] = {}

        def put(name: str, value: Any) -> None:
            out.setdefault(name, []).append(value)

        same_order: dict[tuple, float] = {}
        has_carrier = self.flags["carrier"] and "carrier_id" in fields
        for k in range(len(days)):
            item, loc = str(fields["item_id"][k]), str(fields["location_id"][k])
            cust = str(fields["customer_id"][k])
            carrier = fields["carrier_id"][k] if has_carrier else None
            day, qty = int(days[k]), float(fields["qty"][k])
            m = self.master.row(item, cust, carrier)
            if not self.flags["carrier"]:
                m.pop("carrier_mode", None)
            for name, value in m.items():
                put(name, value)
            self._inventory(put, item, loc, day, float(fields["promised_day"][k]), qty, same_order)
            il_days = self._il_days.get((item, loc), {})
            put("il_units_28d", sum(il_days.get(d, 0.0) for d in range(day - DEMAND_DAYS, day)))
            il = self._il.get((item, loc), (0.0, 0.0, 0.0, 0.0))
            put("il_lines", il[0])
            put("il_logqty_sum", il[1])
            put("il_outcomes", il[2])
            put("il_shorts", il[3])
            if self.flags["carrier"]:
                region = m.get("cust_region")
                lane = _key(carrier, loc, region) if self._regional_lanes else _key(carrier, loc)
                stats = self._lane.get(lane, (0.0,) * 6) if lane else (0.0,) * 6
                for name, value in zip(LANE_STATS, stats, strict=True):
                    put(name, value)
                ckey = _key(carrier)
                total = self._carrier.get(ckey, (0.0, 0.0)) if ckey else (0.0, 0.0)
                buckets = self._carrier_days.get(ckey, {}) if ckey else {}
                recent = [0.0, 0.0]
                for d in range(day - CARRIER_RECENT_DAYS + 1, day + 1):
                    b = buckets.get(d)
                    if b is not None:
                        recent[0] += b[0]
                        recent[1] += b[1]
                put("carrier_late_n", total[0])
                put("carrier_late", total[1])
                put("carrier_recent_n", recent[0])
                put("carrier_recent_late", recent[1])
            loc_days = self._loc_days.get((loc,), {})
            put("loc_lines_3d", sum(loc_days.get(d, 0.0) for d in range(day - LOAD_DAYS, day)))
            put(
                "loc_lines_91d", sum(loc_days.get(d, 0.0) for d in range(day - LOAD_BASE_DAYS, day))
            )
            first = self._loc_first.get((loc,), day)
            put("loc_days_91", float(min(max(day - first, 0), LOAD_BASE_DAYS)))
            put("loc_lines_today", loc_days.get(day, 0.0))
            c = self._cust.get((cust,), (0.0,) * 6)
            put("cust_outcomes", c[0])
            put("cust_misses", c[1])
            put("cust_lines", c[2])
            put("cust_logqty_sum", c[3])
            if self.flags["discount"]:
                put("cust_disc_n", c[4])
                put("cust_disc_sum", c[5])
            ci = self._ci.get((cust, item), (0.0,) * 4)
            put("ci_lines", ci[0])
            put("ci_logqty_sum", ci[1])
            put("ci_pi_n", ci[2])
            put("ci_logpi_sum", ci[3])
            cc_key = _key(cust, m.get("item_category"))
            cc = self._cc.get(cc_key, (0.0, 0.0)) if cc_key else (0.0, 0.0)
            put("cc_pi_n", cc[0])
            put("cc_logpi_sum", cc[1])
        return {
            name: np.array(v, dtype=object if isinstance(v[0], str | None) else float)
            for name, v in out.items()
        }

    def _inventory(
        self,
        put: Any,
        item: str,
        loc: str,
        day: int,
        promised_day: float,
        qty: float,
        same_order: dict[tuple, float],
    ) -> None:
        positions = self.positions
        key = (item, loc)
        earlier = same_order.get(key, 0.0)
        same_order[key] = earlier + qty
        pos = positions.position(item, loc)
        snap = self._snapshot_day.get(key)
        if pos is None or snap is None:
            put("inv_known", 0.0)
            put("inv_on_hand", 0.0)
            put("inv_available", 0.0)
            if self.flags["quarantined"]:
                put("inv_quarantined", 0.0)
            if self.flags["in_transit"]:
                put("inv_in_transit_due", 0.0)
                put("inv_receipt_day", np.nan)
            put("inv_claimed", 0.0)
        else:
            put("inv_known", 1.0)
            put("inv_on_hand", pos["on_hand"])
            put("inv_available", pos["available"])
            if self.flags["quarantined"]:
                put("inv_quarantined", pos["quarantined"])
            if self.flags["in_transit"]:
                by = np.datetime64(int(promised_day), "D")
                put("inv_in_transit_due", positions.in_transit_by(item, loc, by))
                eta = pos["in_transit_eta"]
                incoming = pos["in_transit"] > 0 and eta is not None
                put("inv_receipt_day", float(_day_of(eta)) if incoming else np.nan)
            buckets = self._il_days.get(key, {})
            start = max(snap, day - DEMAND_DAYS)
            put("inv_claimed", sum(buckets.get(d, 0.0) for d in range(start, day + 1)) + earlier)
        own = pos["available"] if pos is not None else 0.0
        put("inv_elsewhere", sum(positions.available_by_location(item).values()) - own)


def _day_of(value: Any) -> int:
    """Whole day since the epoch of a date, datetime, Timestamp or ISO string."""
    return int(pd.Timestamp(value).to_datetime64().astype("datetime64[D]").astype(np.int64))


def _day_or_nan(value: Any) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return float("nan")
    return float(_day_of(value))
