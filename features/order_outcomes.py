"""What became of each order line, and from which day it was known.

Two different questions, kept apart on purpose:

- the **label** (SPEC §3: a line misses when delivered after ``promised_date`` or
  ``shipped_qty < qty``), as far as the export tells. A shipped line still on its
  way after its promised date is already a known miss; one still on its way before
  it is unknown and is left out of training rather than guessed;
- the **final outcome event** that history statistics learn from (carrier on-time
  rate, customer misses, item shortfalls). It counts from the day after the line
  was delivered (or, with nothing to deliver, after it shipped or was given up),
  because that is when a serving process records it (``RiskState.record_outcome``)
  and a statistic must never use an outcome before it could have been known.

Days are whole days since the epoch (floats, NaN when unknown).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.asof import to_days
from features.dataset import Dataset

KEY = ["order_id", "line_no"]


def export_day(ds: Dataset) -> float:
    """The last day the export has data for: the horizon of what was known."""
    days = [np.nanmax(to_days(ds.orders["order_ts"]))]
    for column in ("ship_date", "delivered_date"):
        if column in ds.fulfillments.columns and ds.fulfillments[column].notna().any():
            days.append(np.nanmax(to_days(ds.fulfillments[column])))
    if len(ds.inventory):
        days.append(np.nanmax(to_days(ds.inventory["snapshot_date"])))
    return float(max(days))


def final_events(
    qty: np.ndarray,
    shipped_qty: np.ndarray,
    order_day: np.ndarray,
    promised_day: np.ndarray,
    ship_day: np.ndarray,
    delivered_day: np.ndarray,
    horizon: float,
    has_delivery: bool = True,
    has_ship: bool = True,
) -> dict[str, np.ndarray]:
    """The final outcome event of fulfilled lines, as history statistics record it.

    ``final_day``: delivered → the day after delivery; nothing shipped (cancelled) →
    the day after shipping or the promise, never after the export (``horizon``) that
    reports it; shipped but not delivered → NaN (still open), unless the data has no
    delivery dates at all, in which case shipping is the final event. With neither
    delivery nor ship dates lateness cannot be observed: a fulfilled line is final
    after its promised date and counts as on time (the label is then shortfall only).
    Training (:func:`line_outcomes`) and serving (``RiskState.record_outcome``) both
    call this.
    """
    final = np.full(len(qty), np.nan)
    delivered = ~np.isnan(delivered_day)
    final[delivered] = delivered_day[delivered] + 1
    nothing = ~delivered & (shipped_qty <= 0)
    fallback = np.where(np.isnan(ship_day), promised_day, ship_day) + 1
    final[nothing] = np.minimum(fallback[nothing], horizon)
    late = np.where(delivered, (delivered_day > promised_day).astype(float), np.nan)
    if not has_delivery and has_ship:
        by_ship = ~delivered & (shipped_qty > 0) & ~np.isnan(ship_day)
        final[by_ship] = ship_day[by_ship] + 1
        late[by_ship] = (ship_day[by_ship] > promised_day[by_ship]).astype(float)
    elif not has_delivery:
        dateless = shipped_qty > 0
        final[dateless] = np.minimum(promised_day[dateless] + 1, horizon)
        late[dateless] = 0.0
    late[shipped_qty <= 0] = 0.0  # nothing travelled: short, not late
    is_final = ~np.isnan(final)
    short = shipped_qty < qty
    return {
        "final_day": final,
        "short": short,
        "late": late,
        "late_known": is_final & (shipped_qty > 0) & ~np.isnan(late),
        "miss_event": short | (late == 1.0),
        "transit_days": np.where(is_final, delivered_day - ship_day, np.nan),
        "o2d_days": np.where(is_final, delivered_day - order_day, np.nan),
    }


def line_outcomes(ds: Dataset, horizon: float | None = None) -> pd.DataFrame:
    """Per order line (aligned with ``ds.orders``): label and final outcome event.

    Columns: ``fulfilled``, ``short``, ``late`` (1/0/NaN), ``miss`` (the label, NaN
    when unknown at the export) and the :func:`final_events` columns.
    """
    orders, ful = ds.orders, ds.fulfillments
    horizon = export_day(ds) if horizon is None else horizon
    has_delivery = "delivered_date" in ful.columns
    joined = orders[[*KEY, "qty", "order_ts", "promised_date"]].merge(
        ful, how="left", on=KEY, validate="one_to_one", indicator=True
    )
    n = len(joined)
    fulfilled = (joined["_merge"] == "both").to_numpy()
    shipped = joined["shipped_qty"].to_numpy(dtype=float)
    promised = to_days(joined["promised_date"])

    def days(column: str) -> np.ndarray:
        return to_days(joined[column]) if column in ful.columns else np.full(n, np.nan)

    events = final_events(
        joined["qty"].to_numpy(dtype=float),
        np.where(fulfilled, shipped, np.inf),
        to_days(joined["order_ts"]),
        promised,
        days("ship_date"),
        days("delivered_date"),
        horizon,
        has_delivery,
        has_ship="ship_date" in ful.columns,
    )
    late = events["late"].copy()
    if has_delivery:
        # Shipped and on its way past the promised date: late whatever happens next.
        in_flight = fulfilled & np.isnan(days("delivered_date")) & (shipped > 0)
        if "status" in ful.columns:
            in_flight &= joined["status"].astype(str).str.lower().ne("delivered").to_numpy()
        late[in_flight & (promised < horizon)] = 1.0
    short = fulfilled & events["short"]
    miss = np.where(short | (late == 1.0), 1.0, np.where(late == 0.0, 0.0, np.nan))
    miss[~fulfilled] = np.nan
    out = {k: v for k, v in events.items() if k not in ("short", "late")}
    for key in out:
        if out[key].dtype == bool:
            out[key] = out[key] & fulfilled
        else:
            out[key] = np.where(fulfilled, out[key], np.nan)
    return pd.DataFrame(
        {"fulfilled": fulfilled, "short": short, "late": late, "miss": miss, **out},
        index=orders.index,
    )
