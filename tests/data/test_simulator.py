"""The simulator: deterministic, in contract, and a world worth modelling (medium, seed 7)."""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from features.contract import TABLES
from features.inventory import available
from stockpilot.cli import app
from training.simulator import simulate

runner = CliRunner()


def test_simulate_then_validate_exits_zero_and_writes_truth(tmp_path):
    out = tmp_path / "d"
    sim = runner.invoke(app, ["simulate", "--scale", "small", "--seed", "1", "--out", str(out)])
    assert sim.exit_code == 0, sim.output
    assert {p.stem for p in out.glob("*.parquet")} == set(TABLES)
    assert {p.stem for p in (out / "truth").glob("*.parquet")} == {
        "order_lines",
        "substitutions",
        "demand",
        "level_shifts",
    }
    check = runner.invoke(app, ["data", "validate", str(out)])
    assert check.exit_code == 0, check.output


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        result = runner.invoke(
            app,
            ["simulate", "--scale", "small", "--seed", str(seed), "--out", str(tmp_path / name)],
        )
        assert result.exit_code == 0, result.output
    same = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not same.diff_files and not same.left_only and not same.right_only
    assert filecmp.cmpfiles(
        tmp_path / "a" / "truth",
        tmp_path / "b" / "truth",
        ["order_lines.parquet", "demand.parquet"],
        shallow=False,
    )[0]
    assert not filecmp.cmp(
        tmp_path / "a" / "orders.parquet", tmp_path / "c" / "orders.parquet", shallow=False
    )


def test_csv_output_is_in_contract(tmp_path):
    out = tmp_path / "csv"
    result = runner.invoke(
        app, ["simulate", "--scale", "small", "--seed", "2", "--out", str(out), "--format", "csv"]
    )
    assert result.exit_code == 0
    assert runner.invoke(app, ["data", "validate", str(out)]).exit_code == 0


def test_unknown_scale_is_refused():
    with pytest.raises(ValueError, match="scale must be one of"):
        simulate("huge")


# --- realism on the medium dataset ----------------------------------------------------


@pytest.fixture(scope="module")
def lines(medium_simulation):
    t = medium_simulation.truth["order_lines"]
    return medium_simulation.tables["orders"].merge(t, on=["order_id", "line_no"])


def test_outcome_rates_are_realistic(medium_simulation, lines):
    assert 0.05 <= lines["late"].mean() <= 0.25
    assert 0.03 <= lines["short"].mean() <= 0.15
    assert 0.005 <= lines["margin_anomaly"].mean() <= 0.03
    assert 0.20 <= medium_simulation.tables["substitutions"]["accepted"].mean() <= 0.70


def test_truth_is_informative_but_not_trivial(lines):
    miss = lines["late"] | lines["short"]
    assert 0.75 <= roc_auc_score(miss, lines["p_miss"]) <= 0.95


def test_labels_agree_with_the_contract_definitions(medium_simulation, lines):
    ful = medium_simulation.tables["fulfillments"]
    merged = lines.merge(ful, on=["order_id", "line_no"])
    delivered = merged.dropna(subset=["delivered_date"])
    realised_late = delivered["delivered_date"] > delivered["promised_date"]
    assert (realised_late == delivered["late"]).all()
    assert ((merged["shipped_qty"] < merged["qty"]) == merged["short"]).all()


def test_demand_has_weekly_seasonality_promo_lift_and_intermittent_tail(medium_simulation):
    d = medium_simulation.tables["demand"]
    by_dow = d.groupby(d["date"].dt.dayofweek)["qty"].mean()
    assert by_dow[[0, 1, 2, 3, 4]].min() > 2.5 * by_dow[[5, 6]].max()
    # Promotions lift demand of the same series (compare within series).
    rate = d.groupby(["item_id", "location_id", "promo"], observed=True)["qty"].mean().unstack()
    rate = rate.dropna()
    assert (rate[True] / rate[False].clip(lower=1e-9)).median() > 1.2
    series = d.groupby(["item_id", "location_id"], observed=True)["qty"]
    stats = pd.DataFrame({"mean": series.mean(), "zero": series.apply(lambda q: (q == 0).mean())})
    slow = stats.sort_values("mean").iloc[: len(stats) // 3]
    assert slow["zero"].mean() >= 0.30


def test_level_shifts_are_injected_and_visible(medium_simulation):
    shifts = medium_simulation.truth["level_shifts"]
    assert (
        len(shifts)
        > 0.03
        * medium_simulation.tables["demand"]
        .groupby(["item_id", "location_id"], observed=True)
        .ngroups
    )
    expected = medium_simulation.truth["demand"]
    up = shifts[shifts["factor"] > 1.5].iloc[0]
    series = expected[
        (expected["item_id"] == up["item_id"]) & (expected["location_id"] == up["location_id"])
    ].set_index("date")
    before = series.loc[: up["date"] - pd.Timedelta(days=1), "expected_qty"].tail(56).mean()
    after = series.loc[up["date"] :, "expected_qty"].head(56).mean()
    assert after > 1.3 * before


def test_shortfall_depends_on_available_stock_vs_quantity(medium_simulation, lines):
    inv = medium_simulation.tables["inventory"]
    inv = inv.assign(available=available(inv))[
        ["snapshot_date", "item_id", "location_id", "available"]
    ]
    inv["item_id"] = inv["item_id"].astype(str)
    inv["location_id"] = inv["location_id"].astype(str)
    x = lines.assign(snapshot_date=lines["order_ts"].dt.normalize()).merge(
        inv, on=["snapshot_date", "item_id", "location_id"]
    )
    covered = x["available"] >= 2 * x["qty"]
    uncovered = x["available"] < x["qty"]
    assert x.loc[uncovered, "short"].mean() > 5 * x.loc[covered, "short"].mean()


def test_lateness_depends_on_carrier_lane(lines, medium_simulation):
    customers = medium_simulation.tables["customers"][["customer_id", "region"]]
    x = lines.merge(customers, on="customer_id")
    lane = x.groupby(["carrier_id", "location_id", "region"])["late"].agg(["mean", "size"])
    lane = lane[lane["size"] >= 500]
    assert lane["mean"].max() > 2.5 * lane["mean"].min()


def test_lateness_rises_with_warehouse_load(lines):
    day = lines["order_ts"].dt.normalize()
    per_day = lines.groupby([day, "location_id"]).size().rename("n").reset_index()
    per_day["load3"] = per_day.groupby("location_id")["n"].transform(
        lambda s: s.shift(1).rolling(3, min_periods=3).sum()
    )
    x = lines.assign(order_ts=day).merge(per_day, on=["order_ts", "location_id"])
    x = x.dropna(subset=["load3"])
    q = x.groupby("location_id")["load3"].transform(lambda s: s.rank(pct=True))
    assert x.loc[q > 0.95, "late"].mean() > 1.3 * x.loc[q < 0.5, "late"].mean()


def test_acceptance_depends_on_brand_price_and_attributes(medium_simulation):
    subs = medium_simulation.tables["substitutions"]
    items = medium_simulation.tables["items"].set_index("item_id")
    x = (
        subs.join(items[["brand", "attr_grade", "attr_material"]], on="original_item_id")
        .join(
            items[["brand", "attr_grade", "attr_material"]],
            on="offered_item_id",
            rsuffix="_offered",
        )
        .dropna(subset=["brand", "brand_offered"])
    )
    same_brand = x["brand"] == x["brand_offered"]
    assert x.loc[same_brand, "accepted"].mean() > 1.2 * x.loc[~same_brand, "accepted"].mean()
    cheaper = x["offered_unit_price"] < 0.85 * x["original_unit_price"]
    dearer = x["offered_unit_price"] > 1.15 * x["original_unit_price"]
    assert x.loc[cheaper, "accepted"].mean() > 1.2 * x.loc[dearer, "accepted"].mean()
    same_material = x["attr_material"] == x["attr_material_offered"]
    assert x.loc[same_material, "accepted"].mean() > 1.1 * x.loc[~same_material, "accepted"].mean()
    # Grade is a matter of taste: some customers take upgrades, others trade down.
    upgrade = x["attr_grade_offered"] < x["attr_grade"]
    downgrade = x["attr_grade_offered"] > x["attr_grade"]
    taste = (
        x[upgrade].groupby("customer_id")["accepted"].mean()
        - x[downgrade].groupby("customer_id")["accepted"].mean()
    ).dropna()
    assert (taste > 0.15).mean() > 0.15 and (taste < -0.15).mean() > 0.15
    p = medium_simulation.truth["substitutions"]["p_accept"].to_numpy()
    assert roc_auc_score(subs["accepted"], p) > 0.7


def test_inventory_statuses_and_purchase_orders_are_present(medium_simulation):
    inv = medium_simulation.tables["inventory"]
    for column in ("allocated", "reserved", "quarantined", "in_transit"):
        assert (inv[column] > 0).mean() > 0.005, column
    assert (inv["in_transit_eta"].notna() == (inv["in_transit"] > 0)).mean() > 0.99
    po = medium_simulation.tables["purchase_orders"]
    lead = (po["received_date"] - po["order_date"]).dt.days.dropna()
    assert lead.std() > 2  # supplier lead times vary
    assert po["received_date"].isna().any()  # some purchase orders are still open


def test_margin_anomalies_are_priced_apart_from_the_customer_norm(lines):
    ratio = lines["unit_price"] / lines.groupby(["customer_id", "item_id"])["unit_price"].transform(
        "median"
    )
    assert ratio[lines["margin_anomaly"]].median() < 0.8
    assert ratio[~lines["margin_anomaly"]].median() > 0.97
    assert np.isfinite(ratio).all()
