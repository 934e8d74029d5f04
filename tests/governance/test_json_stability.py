"""One JSON normaliser, and the bytes it writes where they are stored, hashed or returned.

Audit payloads are stored as the canonical text that was hashed, and link hashes and
idempotency fingerprints are recomputed from canonical JSON: a byte that moves breaks
every existing chain or replays a retry as a conflict. Response bodies are what clients
parse. The encoders as they were before they shared :mod:`stockpilot.jsonable`
(``governance/chain.py`` and ``governance/command_units.py`` at bdfa387) are kept here
verbatim as the reference, and a canonical payload's hash is pinned as it was then.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.access import Role
from governance.chain import canonical_payload
from governance.command_units import render_json
from stockpilot.jsonable import canonical_json

# --- the reference: the encoders at bdfa387 ----------------------------------------------


def _old_format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _old_plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _old_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_old_plain(v) for v in value]
        return (
            sorted(items, key=old_canonical_json) if isinstance(value, set | frozenset) else items
        )
    if isinstance(value, Enum):
        return _old_plain(value.value)
    if isinstance(value, datetime):
        return _old_format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return _old_plain(value.tolist())
    if hasattr(value, "item"):
        return _old_plain(value.item())
    raise TypeError(f"payload: {type(value).__name__} is not JSON-serialisable")


def old_canonical_json(value: Any) -> str:
    return json.dumps(
        _old_plain(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def _old_payload_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _old_format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted((_old_plain(v) for v in value), key=old_canonical_json)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"payload: {type(value).__name__} is not JSON-serialisable")


def old_canonical_payload(value: Any) -> str:
    option = (
        orjson.OPT_SORT_KEYS
        | orjson.OPT_SERIALIZE_NUMPY
        | orjson.OPT_NON_STR_KEYS
        | orjson.OPT_PASSTHROUGH_DATETIME
    )
    return orjson.dumps(value, default=_old_payload_default, option=option).decode()


def _old_response_default(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return _old_format_time(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"response: {type(value).__name__} is not JSON-serialisable")


def old_render_json(content: Any) -> bytes:
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATETIME
    return orjson.dumps(content, default=_old_response_default, option=option)


# --- payloads --------------------------------------------------------------------------

MOMENT = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def scored_order() -> dict[str, Any]:
    """A recommendation.created payload as serving writes one for a scored order."""
    return {
        "model": {"name": "order-risk", "version": "3", "source": "registry"},
        "decision": {"action": "hold", "queue": "order-hold", "reason": "hold_at 0.70"},
        "score": np.float64(0.8123456789),
        "features": {
            "qty": np.float32(12.0),
            "available": np.int64(3),
            "lead_time_days": float("nan"),
            "gap": -math.inf,
            "flags": np.array([True, False]),
            "contributions": np.array([0.25, -0.125, 1e-9]),
        },
        "explanation": {
            "promised_date": date(2026, 3, 9),
            "lines": [{"line_no": 1, "families": {"carrier_delay": 0.4, "stock": 0.1}}],
            "reasons": ("stock short at DAL", "carrier late on this lane"),
        },
        "role": Role.supervisor,
        "at": MOMENT,
        "offset_at": datetime(2026, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2))),
        "tags": {"b", "a", "c"},
        "é": "ünïcode ✓",
        7: "non-text key",
    }


#: sha256 of ``canonical_payload(scored_order())`` and of ``canonical_json`` of the same,
#: computed with the encoders at bdfa387.
PAYLOAD_SHA256 = "a7ac12256f1039d270d864e2b13bba872e991dd04289fe57188bacb5b6b0edec"
CANONICAL_SHA256 = "09de65985653e42832b2bb3dae5d50c0190700384d49e2fdd198b3a2100ee907"


def test_a_canonical_payload_hashes_as_before():
    payload = canonical_payload(scored_order())
    assert payload == old_canonical_payload(scored_order())
    assert hashlib.sha256(payload.encode()).hexdigest() == PAYLOAD_SHA256
    text = canonical_json(scored_order())
    assert text == old_canonical_json(scored_order())
    assert hashlib.sha256(text.encode()).hexdigest() == CANONICAL_SHA256


def test_a_response_body_is_written_as_before():
    body = {**scored_order(), "naive_at": datetime(2026, 3, 4, 5, 6), "tags": ["b", "a"]}
    body.pop(7)  # the old body encoder refused non-text keys
    assert render_json(body) == old_render_json(body)


def _why(encode, value) -> str:
    """What an encoder refusing ``value`` says (orjson raises its own TypeError, the reason
    chained as its cause)."""
    with pytest.raises((TypeError, ValueError)) as err:
        encode(value)
    return str(err.value.__cause__ or err.value)


def test_naive_datetimes_are_refused_in_the_audit_log_only():
    naive = {"at": datetime(2026, 3, 4, 5, 6)}
    assert "timezone-aware" in _why(canonical_json, naive)
    assert "timezone-aware" in _why(canonical_payload, naive)
    assert orjson.loads(render_json(naive)) == {"at": "2026-03-04T05:06:00"}


def test_unknown_types_are_refused_naming_what():
    assert _why(canonical_payload, {"x": object()}) == "payload: object is not JSON-serialisable"
    assert _why(canonical_json, {"x": object()}) == "payload: object is not JSON-serialisable"
    assert _why(render_json, {"x": object()}) == "response: object is not JSON-serialisable"


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False, width=32).map(np.float32)
    | st.integers(min_value=-(2**31), max_value=2**31).map(np.int64)
    | st.datetimes(timezones=st.just(UTC))
    | st.dates()
    | st.sampled_from(list(Role))
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        | st.frozensets(st.text(max_size=4), max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_arbitrary_payloads_encode_byte_for_byte_as_before(value):
    assert canonical_json(value) == old_canonical_json(value)
    assert canonical_payload(value) == old_canonical_payload(value)


@settings(max_examples=400, deadline=None)
@given(values.filter(lambda v: "frozenset" not in repr(v)))
def test_arbitrary_bodies_encode_byte_for_byte_as_before(value):
    # Sets are the one change for bodies: the old encoder wrote them in iteration order
    # (which varies between processes for text), they are now sorted.
    assert render_json(value) == old_render_json(value)
