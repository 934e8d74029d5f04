"""Identifiers of recommendations and queue items: UUIDv7 (RFC 9562), as 32 hex digits.

A version-7 UUID starts with its creation time in milliseconds, followed by 74 random
bits. Rows are inserted in time order, so each new id lands at the right-hand end of
its index: a batch of inserts shares one B-tree leaf page instead of touching one
random page each (a random id costs one more page in the WAL and the checkpoint per
index, and a page read once the index outgrows the cache). Python has ``uuid.uuid7``
from 3.14; this is the same layout.
"""

from __future__ import annotations

import os
import time

_VERSION = 7 << 76
_VARIANT = 0b10 << 62


def new_id() -> str:
    """A new UUIDv7 as 32 lowercase hex digits (the shape of ``uuid4().hex``)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10))  # 80 bits: 12 for rand_a, 62 for rand_b
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | _VERSION
        | (rand >> 62 & 0xFFF) << 64
        | _VARIANT
        | rand & ((1 << 62) - 1)
    )
    return f"{value:032x}"
