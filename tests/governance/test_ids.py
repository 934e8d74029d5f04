"""Row ids are UUIDv7: 32 hex digits, led by their creation time, so they sort by it."""

from __future__ import annotations

import time
import uuid

from governance.store.ids import new_id


def test_an_id_is_a_version_7_uuid_led_by_the_current_millisecond():
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    parsed = uuid.UUID(value)
    assert len(value) == 32 and value == parsed.hex
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert before <= int(value[:12], 16) <= after


def test_ids_made_later_sort_later_and_never_repeat():
    earlier = [new_id() for _ in range(5_000)]
    time.sleep(0.002)  # the next millisecond at least
    later = [new_id() for _ in range(5_000)]
    assert max(earlier) < min(later)
    assert len(set(earlier + later)) == 10_000
    # The 74 random bits vary: not a counter, not a constant.
    assert len({value[13:16] for value in later}) > 100
