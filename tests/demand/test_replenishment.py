"""Replenishment rules: rounding, reorder points, projected stock and the planner's reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.inventory import InventoryPositions
from models.replenishment import (
    ReplenishmentPolicy,
    lead_time_demand,
    lead_times,
    reorder_point,
    round_order_qty,
    suggest,
)

AS_OF = pd.Timestamp("2024-05-01")


def forecast(daily: float = 4.0, horizon: int = 28, var_ratio: float = 3.0) -> pd.DataFrame:
    h = np.arange(1, horizon + 1)
    return pd.DataFrame(
        {
            "item_id": "A",
            "location_id": "X",
            "horizon": h,
            "date": AS_OF + pd.to_timedelta(h, unit="D"),
            "forecast": daily,
            "cum_forecast": daily * h,
            "cum_variance": var_ratio * daily * h,
        }
    )


def positions(on_hand: float, **extra: object) -> InventoryPositions:
    return InventoryPositions(
        pd.DataFrame(
            {
                "item_id": ["A"],
                "location_id": ["X"],
                "on_hand": [on_hand],
                **{k: [v] for k, v in extra.items()},
            }
        )
    )


def items(**columns: object) -> pd.DataFrame:
    return pd.DataFrame(
        {"item_id": ["A"], "unit_cost": [2.5], **{k: [v] for k, v in columns.items()}}
    )


def test_round_order_qty_respects_moq_and_multiple():
    out = round_order_qty(
        np.array([0.0, 3.0, 13.0, 61.0, 7.0]),
        moq=np.array([50.0, 50.0, 0.0, 50.0, np.nan]),
        multiple=np.array([12.0, 12.0, 12.0, 12.0, 0.0]),
    )
    # nothing stays nothing; MOQ first, then up to a whole multiple; bad multiple = 1
    assert out.tolist() == [0.0, 60.0, 24.0, 72.0, 7.0]


@pytest.mark.parametrize("daily", [0.3, 4.0, 40.0])
def test_reorder_point_grows_with_service_level_and_lead_time(daily: float):
    f = forecast(daily)
    levels = [
        reorder_point(np.array([daily * 10]), np.array([3 * daily * 10]), s)[0]
        for s in (0.8, 0.9, 0.95, 0.99)
    ]
    assert levels == sorted(levels) and levels[-1] > levels[0]
    rops = []
    for days in (5, 10, 20, 40):  # 40 days: beyond the 28-day horizon, extrapolated
        ltd = lead_time_demand(
            f, pd.DataFrame({"item_id": ["A"], "location_id": ["X"], "days": [days]})
        )
        rops.append(reorder_point(ltd["lt_mean"].to_numpy(), ltd["lt_var"].to_numpy(), 0.95)[0])
    assert rops == sorted(rops) and rops[-1] > rops[0]


def test_suggestion_orders_up_to_cover_with_moq_and_multiple_and_says_why():
    out = suggest(
        forecast(daily=4.0),
        positions(on_hand=14.0),
        items(lead_time_days=12, moq=50, order_multiple=12),
        None,
        AS_OF,
        service_level=0.95,
    )
    assert len(out) == 1
    row = out.iloc[0]
    assert row["protection_days"] == 13  # 12-day lead time + 1-day review
    assert row["lead_time_demand"] == pytest.approx(52.0)
    assert row["reorder_point"] > row["lead_time_demand"]  # safety stock on top
    need = row["order_up_to"] - 14.0
    assert row["suggested_qty"] >= max(need, 50) and row["suggested_qty"] % 12 == 0
    assert row["suggested_qty"] - max(need, 50) < 12
    assert row["value"] == pytest.approx(row["suggested_qty"] * 2.5)
    assert row["days_of_cover"] == pytest.approx(14.0 / 4.0)
    reason = row["reason"]
    assert reason.startswith("projected 14 available")
    assert f"reorder point {row['reorder_point']:g} over 12-day lead time" in reason
    assert f"order {row['suggested_qty']:g} (MOQ 50, multiple 12)" in reason


def test_enough_stock_means_no_order_and_more_service_means_more_stock():
    plenty = suggest(forecast(), positions(on_hand=500.0), items(), None, AS_OF, include_all=True)
    assert plenty["suggested_qty"].iloc[0] == 0
    assert plenty["reason"].iloc[0].endswith("no order")
    low = [
        suggest(forecast(), positions(on_hand=5.0), items(), None, AS_OF, service_level=s)
        for s in (0.8, 0.99)
    ]
    assert low[1]["reorder_point"].iloc[0] > low[0]["reorder_point"].iloc[0]
    assert low[1]["suggested_qty"].iloc[0] >= low[0]["suggested_qty"].iloc[0]


def test_inactive_items_are_never_reordered():
    low = positions(on_hand=0.0)
    assert suggest(forecast(), low, items(active=False), None, AS_OF).empty
    kept = suggest(forecast(), low, items(active=False), None, AS_OF, include_all=True)
    assert kept["suggested_qty"].iloc[0] == 0
    assert "inactive" in kept["reason"].iloc[0]
    assert suggest(forecast(), low, items(active=True), None, AS_OF)["suggested_qty"].iloc[0] > 0
    unknown = suggest(forecast(), low, items(active=None), None, AS_OF)  # missing → active
    assert unknown["suggested_qty"].iloc[0] > 0


def test_projected_available_uses_single_truth_and_counts_inbound_once():
    pos = positions(
        on_hand=30.0,
        allocated=10.0,
        reserved=5.0,
        quarantined=5.0,
        in_transit=40.0,
        in_transit_eta=AS_OF + pd.Timedelta(days=3),
    )
    open_po = pd.DataFrame(
        {
            "item_id": ["A", "A"],
            "location_id": ["X", "X"],
            "qty": [40.0, 25.0],
            "expected_date": [AS_OF + pd.Timedelta(days=3), AS_OF + pd.Timedelta(days=60)],
        }
    )
    out = suggest(forecast(), pos, items(lead_time_days=7), open_po, AS_OF, include_all=True)
    row = out.iloc[0]
    assert row["available"] == 10.0  # 30 − 10 − 5 − 5
    # The in-transit 40 is the open PO of 40: counted once; the late PO not at all.
    assert row["inbound"] == 40.0
    assert row["projected_available"] == 50.0


def test_missing_optional_item_columns_use_defaults():
    policy = ReplenishmentPolicy(default_lead_time_days=9)
    out = suggest(
        forecast(),
        positions(0.0),
        pd.DataFrame({"item_id": ["A"]}),
        None,
        AS_OF,
        policy=policy,
        include_all=True,
    )
    row = out.iloc[0]
    assert row["lead_time_days"] == 9 and row["moq"] == 0 and row["order_multiple"] == 1
    assert np.isnan(row["value"])  # no unit cost, no value — but still a suggestion
    assert row["suggested_qty"] > 0


def test_unknown_positions_count_as_empty_and_stale_forecasts_are_rebased():
    stale = forecast().assign(date=lambda f: f["date"] - pd.Timedelta(days=3))
    out = suggest(
        stale,
        InventoryPositions(pd.DataFrame(columns=["item_id", "location_id", "on_hand"])),
        items(lead_time_days=5),
        None,
        AS_OF,
        include_all=True,
    )
    row = out.iloc[0]
    assert row["available"] == 0
    # Forecast issued 3 days before as_of: only days after as_of count.
    assert row["lead_time_demand"] == pytest.approx(4.0 * 6)


def test_lead_times_come_from_master_then_history_then_default():
    master = pd.DataFrame({"item_id": ["A", "B", "C"], "lead_time_days": [10.0, np.nan, np.nan]})
    po = pd.DataFrame(
        {
            "item_id": ["A", "A", "A", "B", "B", "B"],
            "order_date": pd.to_datetime(["2024-01-01"] * 6),
            "received_date": pd.to_datetime(
                ["2024-01-09", "2024-01-11", "2024-01-13", "2024-01-06", "2024-01-07", "2024-01-08"]
            ),
        }
    )
    out = lead_times(master, po, default_days=14).set_index("item_id")
    assert (
        out.loc["A", "lead_time_days"] == 10 and out.loc["A", "lead_time_source"] == "item master"
    )
    assert out.loc["A", "lead_time_std"] == pytest.approx(2.0)
    assert out.loc["B", "lead_time_days"] == 6
    assert out.loc["B", "lead_time_source"] == "purchase-order history"
    assert out.loc["C", "lead_time_days"] == 14 and out.loc["C", "lead_time_source"].startswith(
        "default"
    )
    no_history = lead_times(pd.DataFrame({"item_id": ["A"]}))
    assert no_history["lead_time_days"].iloc[0] == ReplenishmentPolicy.default_lead_time_days


def test_policy_rejects_bad_settings():
    with pytest.raises(ValueError, match="service_level"):
        ReplenishmentPolicy(service_level=1.0)
    with pytest.raises(ValueError, match="cover_days"):
        ReplenishmentPolicy(cover_days=-1)
