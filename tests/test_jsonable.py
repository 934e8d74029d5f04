"""The one JSON normaliser's rules, and the two things callers choose (stockpilot/jsonable.py)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import orjson
import pandas as pd
import pytest

from governance.access import Role
from stockpilot.jsonable import canonical_json, dumps, plain


def test_the_common_rules():
    value = {
        1: float("nan"),
        "inf": -np.inf,
        "np": np.float32(0.5),
        "arr": np.array([[1, 2]]),
        "tuple": (1, "a"),
        "set": {"b", "a"},
        "role": Role.planner,
        "day": date(2026, 1, 2),
        "aware": pd.Timestamp("2026-01-02 03:04:05", tz="Europe/Paris"),
    }
    want = {
        "1": None,
        "inf": None,
        "np": 0.5,
        "arr": [[1, 2]],
        "tuple": [1, "a"],
        "set": ["a", "b"],
        "role": "planner",
        "day": "2026-01-02",
        "aware": "2026-01-02T02:04:05.000000Z",
    }
    assert plain(value) == want
    assert orjson.loads(dumps(value)) == want  # the orjson path, same rules
    assert json.loads(canonical_json(value)) == want


def test_naive_datetimes_are_the_callers_choice():
    naive = datetime(2026, 1, 2, 3, 4)
    assert plain(naive) == "2026-01-02T03:04:00"
    assert orjson.loads(dumps({"at": naive})) == {"at": "2026-01-02T03:04:00"}
    with pytest.raises(ValueError, match="timezone-aware"):
        plain(naive, naive="raise")
    assert plain(datetime(2026, 1, 2, tzinfo=UTC), naive="raise") == "2026-01-02T00:00:00.000000Z"


def test_unknown_types_are_the_callers_choice():
    with pytest.raises(TypeError, match=r"detail: Decimal is not JSON-serialisable"):
        plain({"x": Decimal("1.5")}, what="detail")
    assert plain({"x": Decimal("1.5")}, unknown="str") == {"x": "1.5"}
    # Describing a failure never fails, and never writes NaN (not JSON).
    assert json.dumps(plain({"bad": [object, float("nan")]}, unknown="str"), allow_nan=False)


def test_sort_keys_only_when_asked():
    assert dumps({"b": 1, "a": 2}) == b'{"b":1,"a":2}'
    assert dumps({"b": 1, "a": 2}, sort_keys=True) == b'{"a":2,"b":1}'
