"""What the other contract tables say about a logged offer: its offer set, its short line
(need-by, quantity, order time) and the stock of the offered item at offer time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.inventory import available


def offer_set_ids(offers: pd.DataFrame) -> np.ndarray:
    """Integer id of the offer set (one short line) each logged offer belongs to.

    Offers of one short line share ``order_id``, ``original_item_id`` and ``ts``; real
    exports may lack ``order_id`` (or leave it empty), then (customer, item, ts) groups.
    """
    order = (
        offers["order_id"].astype(object)
        if "order_id" in offers.columns
        else pd.Series(None, index=offers.index, dtype=object)
    )
    fallback = "c:" + offers["customer_id"].astype(str)
    key = pd.DataFrame(
        {
            "who": np.where(order.notna(), "o:" + order.astype(str), fallback),
            "item": offers["original_item_id"].astype(str),
            "ts": offers["ts"],
        }
    )
    return key.groupby(["who", "item", "ts"], sort=False).ngroup().to_numpy()


def order_context(offers: pd.DataFrame, orders: pd.DataFrame | None) -> pd.DataFrame:
    """``need_by`` (promised date), ``qty`` and ``order_ts`` of the short line of each offer.

    Needs ``order_id`` on the offers; without it (or without a matching line) they stay
    empty: the urgency/stock features are missing and purchase loyalty is cut at the
    offer's own time.
    """
    out = pd.DataFrame(
        {"need_by": pd.NaT, "qty": np.nan, "order_ts": pd.NaT},
        index=offers.index,
        columns=["need_by", "qty", "order_ts"],
    ).astype({"need_by": "datetime64[ns]", "qty": float, "order_ts": "datetime64[ns]"})
    if orders is None or "order_id" not in offers.columns:
        return out
    lines = (
        orders[["order_id", "item_id", "promised_date", "qty", "order_ts"]]
        .drop_duplicates(["order_id", "item_id"])
        .astype({"order_id": str, "item_id": str})
    )
    keys = pd.DataFrame(
        {
            "order_id": offers["order_id"].astype(str).to_numpy(),
            "item_id": offers["original_item_id"].astype(str).to_numpy(),
        }
    )
    joined = keys.merge(lines, on=["order_id", "item_id"], how="left")
    out["need_by"] = joined["promised_date"].to_numpy(dtype="datetime64[ns]")
    out["qty"] = joined["qty"].to_numpy(dtype=float)
    out["order_ts"] = joined["order_ts"].to_numpy(dtype="datetime64[ns]")
    return out


def stock_context(offers: pd.DataFrame, inventory: pd.DataFrame | None) -> pd.Series:
    """Available stock of the offered item at the offer's location at offer time.

    Point-in-time: the latest snapshot on or before the offer's date (single inventory
    truth). Missing when the location or the position is unknown.
    """
    result = pd.Series(np.nan, index=offers.index, name="available")
    if inventory is None or "location_id" not in offers.columns:
        return result
    snap = pd.DataFrame(
        {
            "date": inventory["snapshot_date"].to_numpy(dtype="datetime64[ns]"),
            "item": inventory["item_id"].astype(str).to_numpy(),
            "loc": inventory["location_id"].astype(str).to_numpy(),
            "available": available(inventory).to_numpy(),
        }
    ).sort_values("date", kind="stable")
    query = pd.DataFrame(
        {
            "date": offers["ts"].to_numpy(dtype="datetime64[ns]"),
            "item": offers["offered_item_id"].astype(str).to_numpy(),
            "loc": offers["location_id"].astype(str).to_numpy(),
            "row": np.arange(len(offers)),
        }
    ).sort_values("date", kind="stable")
    joined = pd.merge_asof(query, snap, on="date", by=["item", "loc"], direction="backward")
    values = np.full(len(offers), np.nan)
    values[joined["row"].to_numpy()] = joined["available"].to_numpy(dtype=float)
    result[:] = values
    return result
