"""Line fields of order lines: what the line itself says, as numpy arrays.

Two adapters give the same dictionary of arrays: :func:`line_fields` from a frame in
the contract's ``orders`` shape (training, batch scoring) and :func:`record_fields`
from one order's lines as dictionaries (serving, no pandas). Days are whole days
since the epoch; the order's own time of day and weekday are kept as features.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.asof import epoch_day, epoch_seconds

CATEGORICAL_FIELDS = ("ship_method", "priority")
ID_FIELDS = ("order_id", "item_id", "location_id", "customer_id", "carrier_id")


def _free_columns(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if str(c).startswith("x_")]


def line_fields(orders: pd.DataFrame) -> dict[str, np.ndarray]:
    """Line fields of many order lines (training, batch scoring), in frame order."""
    ts = orders["order_ts"].to_numpy(dtype="datetime64[ns]")
    day = ts.astype("datetime64[D]")
    out: dict[str, np.ndarray] = {
        "order_day": day.astype(np.int64),
        "order_hour": (ts - day).astype("timedelta64[s]").astype(float) / 3600.0,
        "order_weekday": ((day.astype(np.int64) + 3) % 7).astype(float),
        "promised_day": orders["promised_date"]
        .to_numpy(dtype="datetime64[ns]")
        .astype("datetime64[D]")
        .astype(np.int64)
        .astype(float),
        "qty": orders["qty"].to_numpy(dtype=float),
        "unit_price": orders["unit_price"].to_numpy(dtype=float),
        "order_lines": orders.groupby(orders["order_id"].astype(str), sort=False)["order_id"]
        .transform("size")
        .to_numpy(dtype=float),
    }
    if "requested_date" in orders.columns:
        req = orders["requested_date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        out["requested_day"] = np.where(np.isnat(req), np.nan, req.astype(np.int64))
    if "discount_pct" in orders.columns:
        out["discount_pct"] = orders["discount_pct"].to_numpy(dtype=float)
    for name in (*CATEGORICAL_FIELDS, *ID_FIELDS, *_free_columns(orders.columns)):
        if name in orders.columns:
            col = orders[name]
            if pd.api.types.is_numeric_dtype(col) and name.startswith("x_"):
                out[name] = col.to_numpy(dtype=float)
            else:
                out[name] = col.astype(object).where(col.notna(), None).to_numpy()
    if "line_no" in orders.columns:
        out["line_no"] = orders["line_no"].to_numpy(dtype=float)
    return out


def record_fields(lines: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Line fields of one order's lines given as dictionaries (serving), no pandas."""
    n = len(lines)
    # The lines of an order share its timestamps: parse each distinct value once.
    parsed: dict[tuple[str, Any], float] = {}

    def seconds_of(line: Mapping[str, Any], name: str) -> float:
        key = (name, line[name])
        value = parsed.get(key)
        if value is None:
            value = parsed[key] = epoch_seconds(key[1], name)
        return value

    seconds = [seconds_of(line, "order_ts") for line in lines]
    days = [math.floor(s / 86400.0) for s in seconds]
    out: dict[str, np.ndarray] = {
        "order_day": np.array(days, dtype=np.int64),
        "order_hour": np.array(
            [(s - 86400.0 * d) / 3600.0 for s, d in zip(seconds, days, strict=True)]
        ),
        "order_weekday": np.array([float((d + 3) % 7) for d in days]),
        "promised_day": np.array(
            [float(math.floor(seconds_of(line, "promised_date") / 86400.0)) for line in lines]
        ),
        "qty": np.array([float(line["qty"]) for line in lines]),
        "unit_price": np.array([float(line["unit_price"]) for line in lines]),
        "order_lines": np.full(n, float(n)),
    }
    keys = set().union(*(line.keys() for line in lines)) if lines else set()
    if "requested_date" in keys:
        out["requested_day"] = np.array(
            [
                np.nan if _missing(v := line.get("requested_date")) else epoch_day(v, "requested")
                for line in lines
            ],
            dtype=float,
        )
    if "discount_pct" in keys:
        out["discount_pct"] = np.array([_float(line.get("discount_pct")) for line in lines])
    for name in keys:
        if name in _TEXT_FIELDS or name.startswith("x_"):
            values = [line.get(name) for line in lines]
            if name.startswith("x_") and all(
                v is None or isinstance(v, int | float | bool) for v in values
            ):
                out[name] = np.array([_float(v) for v in values])
            else:
                out[name] = np.array(
                    [None if _missing(v) else str(v) for v in values], dtype=object
                )
    if "line_no" in keys:
        out["line_no"] = np.array([_float(line.get("line_no")) for line in lines])
    for name in ID_FIELDS:
        if name not in out:
            out[name] = np.full(n, None, dtype=object)
    return out


_TEXT_FIELDS = frozenset((*CATEGORICAL_FIELDS, *ID_FIELDS))


def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _float(value: Any) -> float:
    return math.nan if _missing(value) else float(value)
