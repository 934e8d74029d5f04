"""Values as JSON: the one set of rules every room writes JSON by.

Audit payloads and link hashes, idempotency fingerprints, API response bodies, error
details, contract findings and the training reports all follow the same rules:

- NaN and ±infinity become ``null`` (JSON cannot express them; a missing feature value is
  what NaN means in our frames);
- NumPy scalars and arrays (and anything else with ``tolist``/``item``) become Python;
- mapping keys become text; tuples become lists; sets become lists sorted by their
  canonical JSON (a set has no order, its JSON must have one);
- enums become their value; dates ISO text; timezone-aware datetimes UTC with
  microseconds and a ``Z`` (:func:`format_time`: the precision SQLite and PostgreSQL keep).

Two things differ between callers, and are parameters because each caller's output must
stay as it is:

- ``naive``: a datetime without a timezone. The audit log refuses it (``"raise"``: its
  timestamps must be aware, or two processes could disagree on a moment); a response body
  or a report writes its ISO text (``"isoformat"``).
- ``unknown``: a type none of the rules covers. Audit payloads and response bodies refuse
  it (``"raise"``: an object nobody planned to serialise is a bug); error details, contract
  findings and reports write its ``str`` (``"str"``: describing a failure must not fail).

:func:`plain` converts in Python (for :mod:`json` and for comparing); :func:`dumps` is the
same rules with orjson, for the per-request paths (~10× faster on a scored order).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal

import orjson

Naive = Literal["raise", "isoformat"]
Unknown = Literal["raise", "str"]
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def format_time(moment: datetime) -> str:
    """UTC with microseconds: the precision both SQLite and PostgreSQL keep."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plain(
    value: Any, *, naive: Naive = "isoformat", unknown: Unknown = "raise", what: str = "value"
) -> Any:
    """``value`` as plain JSON types (dict, list, str, int, float, bool, None).

    ``what`` names the value in the :class:`TypeError` an unknown type raises.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): plain(v, naive=naive, unknown=unknown, what=what) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [plain(v, naive=naive, unknown=unknown, what=what) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    if isinstance(value, Enum):
        return plain(value.value, naive=naive, unknown=unknown, what=what)
    if isinstance(value, datetime | date):
        return _moment(value, naive)
    if hasattr(value, "tolist"):  # numpy arrays and scalars, pandas arrays
        return plain(value.tolist(), naive=naive, unknown=unknown, what=what)
    if hasattr(value, "item"):
        return plain(value.item(), naive=naive, unknown=unknown, what=what)
    if unknown == "str":
        return str(value)
    raise TypeError(f"{what}: {type(value).__name__} is not JSON-serialisable")


def canonical_json(value: Any, *, naive: Naive = "raise", what: str = "payload") -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept, plain types only.

    What link hashes and idempotency fingerprints are computed from, so its bytes for a
    given value never change.
    """
    return json.dumps(
        plain(value, naive=naive, what=what),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def dumps(
    value: Any, *, sort_keys: bool = False, naive: Naive = "isoformat", what: str = "value"
) -> bytes:
    """:func:`plain`'s rules with orjson (unknown types raise): compact UTF-8 JSON.

    ``sort_keys`` for text that is stored and hashed (audit payloads), not for response
    bodies, whose keys keep the order the use case wrote them in.
    """
    option = _OPTIONS | orjson.OPT_SORT_KEYS if sort_keys else _OPTIONS
    return orjson.dumps(value, default=_orjson_default(naive, what), option=option)


def _moment(value: date, naive: Naive) -> str:
    if isinstance(value, datetime) and (value.tzinfo is not None or naive == "raise"):
        return format_time(value)
    return value.isoformat()


@functools.cache
def _orjson_default(naive: Naive, what: str) -> Callable[[Any], Any]:
    """orjson writes str/int/float (NaN as null)/bool/None, dicts, lists, tuples, enums and
    NumPy itself; this is called for the rest (datetimes are passed through on purpose)."""

    def default(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return _moment(value, naive)
        if isinstance(value, set | frozenset):
            return sorted((plain(v, naive=naive, what=what) for v in value), key=canonical_json)
        if hasattr(value, "tolist"):
            return value.tolist()
        if hasattr(value, "item"):
            return value.item()
        raise TypeError(f"{what}: {type(value).__name__} is not JSON-serialisable")

    return default
