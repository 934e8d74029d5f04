"""The soak's verdict (benchmarks/soak.py): what "stable" means, on made-up windows."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.soak import drift, outcome_of, soak_ok


def windows(server: list[float], **changes: object) -> list[dict]:
    rows = [
        {"errors": 0, "5xx": 0, "server_mib": mib, "writer_mib": 63.0, "wal_mib": 30.0}
        for mib in server
    ]
    for key, value in changes.items():
        rows[-1][key] = value
    return rows


def test_warm_up_growth_is_allowed_and_a_flat_rest_is_stable():
    flat = windows([400, 450, 465, 466, 466, 467, 466, 467, 467, 467])
    assert drift(flat, "server_mib") == pytest.approx(0.0008, abs=0.001)
    assert soak_ok(flat)


def test_steady_growth_is_not_stable():
    growing = windows([463 + 16 * k for k in range(10)])  # the soak of issue 20, ~16 MiB/min
    assert drift(growing, "server_mib") > 0.03
    assert not soak_ok(growing)


def test_an_error_a_5xx_or_a_wal_past_its_bound_is_not_stable():
    flat = [466.0] * 10
    assert not soak_ok(windows(flat, errors=1))
    assert not soak_ok(windows(flat, **{"5xx": 1}))
    assert not soak_ok(windows(flat, wal_mib=200.0))


def test_the_outcome_reports_what_has_happened_by_the_last_order_day():
    order = {
        "order_ts": "2024-03-01T10:00:00",
        "promised_date": "2024-03-09",
        "lines": [{"line_no": 1, "qty": 4.0}, {"line_no": 2, "qty": 1.0}],
    }
    body = outcome_of(order, last_day=pd.Timestamp("2024-03-05"))
    assert [o["delivered_date"] for o in body["outcomes"]] == ["2024-03-05"] * 2
    assert [o["shipped_qty"] for o in body["outcomes"]] == [4.0, 1.0]
