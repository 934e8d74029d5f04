"""Point-in-time sums over keyed event streams: the vectorised as-of joins of training.

Every history statistic of a model ("late deliveries on this lane known before the
order", "units this customer bought of this item in earlier orders") is a sum of
event values with the same key whose time is at or before the query time. Sorting
events once by a composite (key, time) integer and answering every query with one
``searchsorted`` keeps this linear-logarithmic at millions of rows, with no Python
loop and no pandas ``merge_asof`` per statistic. Times are integers (days since the
epoch, or a rank of orders), so "at or before" is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

NO_KEY = -1


def key_codes(*columns: Sequence[pd.Series | np.ndarray]) -> list[np.ndarray]:
    """Dense integer codes of a compound key, shared across several frames.

    ``columns`` holds, for each frame, the sequence of its key columns (same arity
    everywhere). Equal tuples get equal codes in every frame; a tuple with a missing
    part gets :data:`NO_KEY`, which never matches anything.
    """
    arity = {len(c) for c in columns}
    if len(arity) != 1:
        raise ValueError(f"every frame must give the same number of key columns, got {arity}")
    lengths = [len(np.asarray(cols[0])) for cols in columns]
    combined = np.zeros(sum(lengths), dtype=np.int64)
    missing = np.zeros(sum(lengths), dtype=bool)
    for part in range(arity.pop()):
        values = np.concatenate([np.asarray(cols[part], dtype=object) for cols in columns])
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        missing |= codes < 0
        combined = combined * (len(uniques) + 1) + np.maximum(codes, 0)
        # Re-densify so that the product never overflows with many key parts.
        combined = pd.factorize(combined)[0].astype(np.int64)
    combined[missing] = NO_KEY
    return np.split(combined, np.cumsum(lengths)[:-1])


class EventSums:
    """Sums of event values per key up to a time, answered for many queries at once.

    ``values`` is ``(n_events, k)``; :meth:`at` returns ``(n_queries, k)`` sums over
    the events with the query's key and ``time <= query time`` (zeros when none).
    """

    def __init__(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64)
        times = np.asarray(times, dtype=np.int64)
        values = np.asarray(values, dtype=float)
        if values.ndim == 1:
            values = values[:, None]
        keep = keys != NO_KEY
        keys, times, values = keys[keep], times[keep], values[keep]
        self._tmin = int(times.min()) if len(times) else 0
        self._span = (int(times.max()) - self._tmin + 2) if len(times) else 2
        order = np.lexsort((times, keys))
        self._keys = keys[order]
        self._comp = self._keys * self._span + (times[order] - self._tmin)
        self._cum = np.cumsum(values[order], axis=0)
        self._width = values.shape[1]

    def at(self, keys: np.ndarray, times: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.int64)
        times = np.asarray(times, dtype=np.int64)
        out = np.zeros((len(keys), self._width))
        if not len(self._keys):
            return out
        rel = np.clip(times - self._tmin, -1, self._span - 1)
        pos = np.searchsorted(self._comp, keys * self._span + rel, side="right") - 1
        first = np.searchsorted(self._comp, keys * self._span - 1, side="right") - 1
        ok = (keys != NO_KEY) & (rel >= 0) & (pos >= 0)
        ok &= self._keys[np.maximum(pos, 0)] == keys
        total = self._cum[np.maximum(pos, 0)]
        before = np.where((first >= 0)[:, None], self._cum[np.maximum(first, 0)], 0.0)
        out[ok] = (total - before)[ok]
        return out

    def window(self, keys: np.ndarray, end: np.ndarray, length: int) -> np.ndarray:
        """Sums over ``end - length < time <= end``."""
        end = np.asarray(end, dtype=np.int64)
        return self.at(keys, end) - self.at(keys, end - length)


def to_days(values: pd.Series | np.ndarray) -> np.ndarray:
    """Whole days since the epoch as floats (NaN where the date is missing)."""
    arr = np.asarray(values, dtype="datetime64[ns]")
    days = arr.astype("datetime64[D]").astype(np.int64).astype(float)
    days[np.isnat(arr)] = np.nan
    return days


class LatestRow:
    """Index of the latest row per key at or before a time (``-1`` when none)."""

    def __init__(self, keys: np.ndarray, times: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64)
        times = np.asarray(times, dtype=np.int64)
        self._tmin = int(times.min()) if len(times) else 0
        self._span = (int(times.max()) - self._tmin + 2) if len(times) else 2
        order = np.lexsort((times, keys))
        order = order[keys[order] != NO_KEY]
        self._rows = order
        self._keys = keys[order]
        self._comp = self._keys * self._span + (times[order] - self._tmin)

    def at(self, keys: np.ndarray, times: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.int64)
        times = np.asarray(times, dtype=np.int64)
        out = np.full(len(keys), -1, dtype=np.int64)
        if not len(self._rows):
            return out
        rel = np.clip(times - self._tmin, -1, self._span - 1)
        pos = np.searchsorted(self._comp, keys * self._span + rel, side="right") - 1
        ok = (keys != NO_KEY) & (rel >= 0) & (pos >= 0)
        ok &= self._keys[np.maximum(pos, 0)] == keys
        out[ok] = self._rows[pos[ok]]
        return out


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def epoch_seconds(value: Any, name: str = "value") -> float:
    """Seconds since the epoch (UTC, naive) of a datetime, date, ISO string or datetime64.

    Pure Python on purpose: numpy/pandas conversions cost microseconds each, and a
    request converts a handful of them per line.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as err:
            raise ValueError(f"{name} must be an ISO date or date-time, got {value!r}") from err
    if isinstance(value, datetime):  # pandas Timestamps too
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return (
            (value.toordinal() - _EPOCH_ORDINAL) * 86400.0
            + value.hour * 3600.0
            + value.minute * 60.0
            + value.second
            + value.microsecond / 1e6
        )
    if isinstance(value, date):
        return (value.toordinal() - _EPOCH_ORDINAL) * 86400.0
    if isinstance(value, np.datetime64) and not np.isnat(value):
        return float(value.astype("datetime64[us]").astype(np.int64)) / 1e6
    raise ValueError(f"{name} must be a date or date-time, got {value!r}")


def epoch_day(value: Any, name: str = "value") -> int:
    return math.floor(epoch_seconds(value, name) / 86400.0)
