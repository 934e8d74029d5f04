"""The live state's open lines are bounded: by age (promise + 182 days) and by count.

Without the bound a line whose outcome never comes stays open for good, and a server
grows with every such order (the soak of issue 20). Aged-out lines count as neither a
hit nor a miss; a state pickled before the bound existed keeps loading.
"""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from features.open_lines import OPEN_DAYS, OpenLines
from features.order_fields import record_fields
from features.risk_state import RiskState
from tests.order_risk.tiny import line, tiny_dataset


@pytest.fixture
def state() -> RiskState:
    ds = tiny_dataset(
        [line("H1", 1, "2024-01-01 09:00", "2024-01-03")],
        [{"order_id": "H1", "line_no": 1, "shipped_qty": 4, "ship_date": "2024-01-02"}],
    )
    return RiskState.from_dataset(ds, as_of=pd.Timestamp("2024-01-05"))


def order(order_id: str, day: str, promised: str, n_lines: int = 1) -> list[dict]:
    return [
        line(order_id, k, f"{day} 10:00", promised, customer_id="C2") for k in range(1, n_lines + 1)
    ]


def customer_history(state: RiskState, day: str) -> tuple[float, float]:
    """What a new line of customer C2 sees: its outcomes and misses so far."""
    values = state.values(record_fields(order("PROBE", day, day)))
    return float(values["cust_outcomes"][0]), float(values["cust_misses"][0])


def test_the_count_bound_forgets_the_oldest_lines(state: RiskState):
    state.bound_open_lines(50)
    for k in range(120):
        state.record_order(order(f"O{k}", "2024-01-10", "2024-01-15", n_lines=3))
    assert state.open_lines <= 50
    assert state.aged_out == 360 - state.open_lines
    assert state.aged_out_over_cap == state.aged_out
    # the newest order is still open and takes its outcome; the first was forgotten
    assert state.record_outcome("O119", 3, 4, ship_date="2024-01-10", delivered_date="2024-01-11")
    assert not state.record_outcome("O0", 1, 4, ship_date="2024-01-10", delivered_date="2024-01-11")


def test_a_line_past_its_promise_and_half_a_year_is_aged_out_not_counted(state: RiskState):
    state.record_order(order("LATE", "2024-01-10", "2024-01-12", n_lines=2))
    assert state.open_lines == 2
    before = customer_history(state, "2024-01-13")
    due = pd.Timestamp("2024-01-12") + pd.Timedelta(days=OPEN_DAYS)
    state.record_order(order("LATER", due.date().isoformat(), "2025-01-01"))
    assert state.open_lines == 3  # on its due day a line is still open
    state.record_order(order("NEXT", (due + pd.Timedelta(days=1)).date().isoformat(), "2025-01-01"))
    assert state.open_lines == 2 and state.aged_out == 2 and state.aged_out_over_cap == 0
    assert customer_history(state, "2024-08-01") == before  # neither hit nor miss
    assert not state.record_outcome("LATE", 1, 0)
    # a line closed by its outcome in time counts, and is not aged out later
    assert state.record_outcome("LATER", 1, 4, ship_date="2024-07-13", delivered_date="2024-07-14")
    state.record_order(order("MUCH-LATER", "2026-01-01", "2026-01-05"))
    assert state.aged_out == 3  # NEXT, not LATER
    assert customer_history(state, "2026-01-02")[0] == before[0] + 1


def test_reading_a_line_leaves_it_in_its_place_among_the_oldest():
    lines = OpenLines(max_lines=2)
    lines.open(("A", 1), ("a",), 10.0)
    lines.open(("B", 1), ("b",), 10.0)
    assert lines.get(("A", 1)) == ("a",)  # reading does not make a line newer
    lines.open(("C", 1), ("c",), 10.0)
    assert list(lines) == [("B", 1), ("C", 1)] and lines.aged_out == 1


def test_closed_lines_leave_nothing_behind_for_the_clock():
    lines = OpenLines(max_lines=1000)
    for k in range(3000):
        lines.open(("O", k), (k,), float(k % 40))
        if k % 4:
            assert lines.close(("O", k)) == (k,)
    assert len(lines) == 750 and lines.aged_out == 0
    assert lines.advance(10**6) == 750  # only the lines still open age out
    assert len(lines) == 0 and lines.aged_out == 750
    assert lines.close(("O", 0)) is None


def test_the_bound_is_checked():
    with pytest.raises(ValueError, match="max_lines"):
        OpenLines(max_lines=0)


def test_a_state_pickled_before_the_bound_loads_with_its_open_lines(state: RiskState):
    state.record_order(order("OLD", "2024-01-10", "2024-01-12", n_lines=2))
    # the shape of a pickle from before: open lines in a plain dict on the instance
    state.__dict__["_open"] = {key: state._open.get(key) for key in state._open}
    loaded = pickle.loads(pickle.dumps(state))
    assert loaded.open_lines == 2 and loaded.aged_out == 0
    assert loaded.record_outcome("OLD", 2, 4, ship_date="2024-01-11", delivered_date="2024-01-12")
    loaded.bound_open_lines(1)
    loaded.record_order(order("NEW", "2024-01-13", "2024-01-14"))
    assert loaded.open_lines == 1 and not loaded.record_outcome("OLD", 1, 4)


def test_lines_from_separate_requests_share_their_ids_and_keys(state: RiskState):
    import json

    body = json.dumps(order("X", "2024-01-10", "2024-01-12"))
    for n in (1, 2):  # two requests: each decodes its own copies of the same ids
        lines = json.loads(body)
        lines[0]["order_id"] = f"X{n}"
        state.record_order(lines)
    first, second = state._open.get(("X1", 1)), state._open.get(("X2", 1))
    assert first == second and first is not second
    assert all(a is b for a, b in zip(first[:3], second[:3], strict=True))  # item, loc, cust
    assert first[8] is second[8]  # the identity keys
