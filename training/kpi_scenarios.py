"""Counterfactual order-line outcomes for the KPI replay (pure: frames in, frames out).

The replay (``training/kpi_replay.py``) gives, per day and item × location, the units a
replenishment policy could serve. These functions turn that into what each order line
would have received, what the customer would have accepted instead, and the contract
``fulfillments`` / ``substitutions`` tables the KPI definitions read — so both sides of
the comparison are measured by exactly the definitions the dashboard uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def allocate(lines: pd.DataFrame, served: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Units each line receives: a day's served units go to its lines first come, first
    served (by order time), as a warehouse picks them.

    ``lines``: ``t`` (day index), ``s`` (series index), ``order_ts``, ``qty`` (and the
    order id and line number as tie-breakers); ``served``/``demand``: ``[T, S]``. When the
    daily demand the policy faced differs from the lines' total, the served share is
    applied to the lines' total.
    """
    order = np.lexsort(
        (
            lines["line_no"].to_numpy(),
            lines["order_id"].to_numpy(),
            lines["order_ts"].to_numpy(),
            lines["t"].to_numpy(),
            lines["s"].to_numpy(),
        )
    )
    t = lines["t"].to_numpy()[order]
    s = lines["s"].to_numpy()[order]
    qty = lines["qty"].to_numpy(dtype=float)[order]
    key = s * (served.shape[0] + 1) + t
    total = pd.Series(qty).groupby(key).transform("sum").to_numpy()
    faced = demand[t, s]
    share = np.where(faced > 0, np.minimum(served[t, s] / np.where(faced > 0, faced, 1), 1.0), 1.0)
    units = share * total
    before = pd.Series(qty).groupby(key).cumsum().to_numpy() - qty
    got = np.clip(units - before, 0.0, qty)
    out = np.empty(len(qty))
    out[order] = got
    return out


def fulfillments(
    lines: pd.DataFrame, recorded: pd.DataFrame, shipped: np.ndarray, late: pd.Series
) -> pd.DataFrame:
    """Contract fulfillments of ``lines`` when each ships ``shipped`` units.

    A line that shipped in the records keeps its recorded dates and status (the carrier
    and the held orders behave as they did). A line that shipped nothing in the records
    but ships here travels with its order as the simulator's truth says (``late``: the
    order's late draw): delivered on its promised date, or the day after when late. A
    line that ships nothing is cancelled. Lines with no fulfillment row stay without one.
    """
    key = ["order_id", "line_no"]
    base = lines[[*key, "order_ts", "promised_date"]].merge(
        recorded, on=key, how="left", validate="one_to_one", indicator=True
    )
    has_row = (base["_merge"] == "both").to_numpy()
    was_shipped = has_row & (base["shipped_qty"].fillna(0).to_numpy() > 0)
    ships = shipped > 0
    new = has_row & ~was_shipped & ships
    wanted = pd.MultiIndex.from_arrays(
        [base["order_id"].astype(str), base["line_no"].astype(np.int64)]
    )
    late = late.set_axis(
        pd.MultiIndex.from_arrays(
            [
                late.index.get_level_values(0).astype(str),
                late.index.get_level_values(1).astype(np.int64),
            ]
        )
    )
    is_late = late.reindex(wanted).fillna(False).to_numpy(dtype=bool)
    promised = pd.to_datetime(base["promised_date"])
    out = base[key].copy()
    out["shipped_qty"] = np.round(shipped, 6)
    out["ship_date"] = np.where(new, base["order_ts"].dt.normalize(), base["ship_date"])
    out["delivered_date"] = np.where(
        new, promised + pd.to_timedelta(is_late.astype(int), unit="D"), base["delivered_date"]
    )
    out["status"] = np.where(new, "delivered", base["status"])
    nothing = has_row & ~ships
    out.loc[nothing, ["ship_date", "delivered_date"]] = pd.NaT
    out.loc[nothing, "status"] = "cancelled"
    for column in ("ship_date", "delivered_date"):
        out[column] = pd.to_datetime(out[column])
    return out[has_row].reset_index(drop=True)


def best_offers(offers: pd.DataFrame, score: np.ndarray) -> pd.DataFrame:
    """The offer each short line would get: the highest-scored of its logged offer set
    (``offers``: order_id, original_item_id, offered_item_id, event_id, ...)."""
    ranked = offers.assign(score=score).sort_values("score", ascending=False, kind="stable")
    return ranked.drop_duplicates(["order_id", "original_item_id"]).reset_index(drop=True)


def accepted_substitutes(
    lines: pd.DataFrame,
    short: np.ndarray,
    offers: pd.DataFrame,
    p_accept: pd.Series,
    seed: int,
) -> pd.DataFrame:
    """Contract substitutions rows for the short lines that have an offer, each accepted
    with the simulator's true acceptance probability of that offer (one seeded draw per
    line, so reruns give the same table)."""
    wanted = lines.loc[short, ["order_id", "item_id", "customer_id"]].rename(
        columns={"item_id": "original_item_id"}
    )
    chosen = wanted.merge(
        offers, on=["order_id", "original_item_id"], how="inner", suffixes=("", "_o")
    )
    rng = np.random.default_rng(seed)
    draw = rng.random(len(chosen))
    p = chosen["event_id"].map(p_accept).to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "event_id": chosen["event_id"].astype(str),
            "ts": pd.to_datetime(chosen["ts"]),
            "customer_id": chosen["customer_id"],
            "original_item_id": chosen["original_item_id"],
            "offered_item_id": chosen["offered_item_id"],
            "accepted": pd.array(draw < np.nan_to_num(p), dtype="boolean"),
            "order_id": chosen["order_id"],
        }
    )
