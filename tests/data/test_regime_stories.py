"""Each regime tells its story: the signal is where docs/simulator.md says it is (small)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from features.contract import REQUIRED_TABLES, TABLES
from training.simulator import simulate


def _lines(result) -> pd.DataFrame:
    return result.tables["orders"].merge(result.truth["order_lines"], on=["order_id", "line_no"])


def _history_share(ts: pd.Series) -> np.ndarray:
    t = ts.dt.normalize()
    return ((t - t.min()).dt.days / (t.max() - t.min()).days).to_numpy()


# --- routes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def routes():
    return simulate("small", seed=7, regime="routes")


def test_routes_lateness_spreads_over_routes_and_drifts_up(routes):
    x = _lines(routes)
    route = x.groupby(["location_id", "carrier_id", "ship_method"])["late"].agg(["mean", "size"])
    route = route[route["size"] >= 150]
    assert route["mean"].min() < 0.05 and route["mean"].max() > 0.25
    t = _history_share(x["order_ts"])
    early, late = x.loc[t < 0.3, "p_late"].mean(), x.loc[t >= 0.7, "p_late"].mean()
    assert 0.08 <= early <= 0.12 and 0.13 <= late <= 0.17


def test_routes_context_columns_carry_their_hidden_effects(routes):
    x = _lines(routes)
    effects = routes.truth["late_effects"]
    for column in ("x_vendor", "x_incoterm"):
        true = effects[effects["factor"] == column].set_index("level")["log_odds"]
        seen = x.groupby(column)["late"].mean()
        assert spearmanr(true[seen.index], seen).statistic > 0.6, column
    assert x["x_vendor"].isna().mean() > 0.5  # lines from stock have no vendor
    assert pd.api.types.is_float_dtype(x["x_weight_kg"])


def test_routes_promises_are_long_and_irregular_and_customers_seen_rarely(routes):
    x = _lines(routes)
    lead = (x["promised_date"] - x["order_ts"].dt.normalize()).dt.days
    assert lead.max() >= 25 and lead.std() > 4
    # Rushed promises (shorter than usual for the route, the country and drop-shipping)
    # are late more often.
    region = x["customer_id"].map(routes.tables["customers"].set_index("customer_id")["region"])
    keys = [x["location_id"], x["carrier_id"], x["ship_method"], region, x["x_vendor"].isna()]
    usual = lead.groupby(keys).transform("median")
    assert x.loc[lead < usual, "late"].mean() > 1.3 * x.loc[lead > usual, "late"].mean()
    assert x.groupby("customer_id").size().median() <= 10


def test_routes_stock_carries_no_signal_and_the_oracle_is_informative(routes):
    x = _lines(routes)
    assert x["short"].mean() < 0.03
    assert x["p_short"].quantile(0.95) < 0.03
    miss = x["late"] | x["short"]
    assert roc_auc_score(miss, x["p_miss"]) > 0.75


def test_routes_labels_agree_with_the_contract_definitions(routes):
    x = _lines(routes).merge(routes.tables["fulfillments"], on=["order_id", "line_no"])
    delivered = x.dropna(subset=["delivered_date"])
    assert ((delivered["delivered_date"] > delivered["promised_date"]) == delivered["late"]).all()
    assert ((x["shipped_qty"] < x["qty"]) == x["short"]).all()


# --- loyalty --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loyalty():
    return simulate("small", seed=7, regime="loyalty")


def _offer_sets(result) -> pd.DataFrame:
    subs = result.tables["substitutions"].merge(result.truth["substitutions"], on="event_id")
    subs["set"] = subs.groupby(["order_id", "original_item_id", "ts"]).ngroup()
    return subs


def test_loyalty_has_small_categories_and_repeat_customers(loyalty):
    sizes = loyalty.tables["items"].groupby("category").size()
    assert sizes.between(3, 6).all()
    assert loyalty.tables["orders"].groupby("customer_id").size().median() >= 30


def test_loyalty_customers_take_at_most_one_offer_with_the_true_probabilities(loyalty):
    subs = _offer_sets(loyalty)
    taken = subs.groupby("set")["accepted"].sum()
    assert taken.max() == 1 and 0.6 < (taken == 1).mean() < 0.97
    # Offer probabilities of a set leave room for the outside option, and predict.
    assert (subs.groupby("set")["p_accept"].sum() < 1).all()
    assert roc_auc_score(subs["accepted"], subs["p_accept"]) > 0.75


def test_loyalty_truth_is_the_smoothed_indicator_of_the_customers_own_orders(loyalty):
    """Rebuild Guadagni–Little loyalty from ``orders`` alone (with the true α, from zero):
    after a few purchases it matches the truth behind every offer."""
    orders = loyalty.tables["orders"].sort_values(["order_ts", "order_id", "line_no"])
    category = loyalty.tables["items"].set_index("item_id")["category"]
    alpha = loyalty.truth["customer_taste"].set_index("customer_id")["smoothing"]
    subs = _offer_sets(loyalty)
    events = subs.drop_duplicates("set").sort_values("ts")
    state: dict[tuple[str, str], dict[str, float]] = {}
    seen: dict[tuple[str, str], int] = {}
    rebuilt: dict[int, dict[str, float]] = {}
    rows = orders[["order_ts", "customer_id", "item_id"]].to_numpy()
    j = 0
    for s, ts, customer, original in events[
        ["set", "ts", "customer_id", "original_item_id"]
    ].to_numpy():
        while j < len(rows) and rows[j][0] < ts:
            _, c, item = rows[j]
            key = (c, category[item])
            a = alpha[c]
            loyal = {k: a * v for k, v in state.get(key, {}).items()}
            loyal[item] = loyal.get(item, 0.0) + (1 - a)
            state[key], seen[key] = loyal, seen.get(key, 0) + 1
            j += 1
        key = (customer, category[original])
        # The event's own line is in orders (before the offer); truth is before it.
        if seen.get(key, 0) > 12:
            a = alpha[customer]
            before = {k: v / a for k, v in state[key].items()}
            before[original] = (state[key].get(original, 0.0) - (1 - a)) / a
            rebuilt[s] = before
    x = subs[subs["set"].isin(rebuilt)]
    estimate = [rebuilt[s].get(i, 0.0) for s, i in zip(x["set"], x["offered_item_id"], strict=True)]
    assert len(x) > 500
    assert np.corrcoef(estimate, x["loyalty"])[0, 1] > 0.95
    assert x.loc[x["accepted"], "loyalty"].mean() > 2 * x.loc[~x["accepted"], "loyalty"].mean()


def test_loyalty_oracle_ranks_switches_far_above_chance(loyalty):
    subs = _offer_sets(loyalty)
    switch = subs[subs.groupby("set")["accepted"].transform("max")]
    top = switch.sort_values(["set", "p_accept"], ascending=[True, False]).groupby("set").head(1)
    chance = (1 / switch.groupby("set").size()).mean()
    assert top["accepted"].mean() > chance + 0.25


# --- sparse ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sparse():
    return simulate("small", seed=7, regime="sparse")


def test_sparse_is_a_minimal_export(sparse):
    assert sparse.fmt == "csv"
    assert set(sparse.tables) == set(REQUIRED_TABLES)
    for name, frame in sparse.tables.items():
        assert tuple(frame.columns) == TABLES[name].required_columns, name
    assert len(sparse.tables["locations"]) == 1
    assert 20 <= len(sparse.tables["items"]) <= 40
    assert sparse.tables["inventory"]["on_hand"].nunique() == 1


def test_sparse_shortfall_follows_item_size_and_rush(sparse):
    x = _lines(sparse)
    assert (x["p_late"] == 0).all() and not x["late"].any()
    by_item = x.groupby("item_id")["short"].mean()
    assert by_item.quantile(0.9) > 2.5 * by_item.median()
    usual = x.groupby("item_id")["qty"].transform("median")
    assert (
        x.loc[x["qty"] > 2 * usual, "short"].mean() > 1.5 * x.loc[x["qty"] <= usual, "short"].mean()
    )
    rushed = (x["promised_date"] - x["order_ts"].dt.normalize()).dt.days <= 1
    assert x.loc[rushed, "short"].mean() > 1.5 * x.loc[~rushed, "short"].mean()
    assert roc_auc_score(x["short"], x["p_miss"]) > 0.7


def test_sparse_demand_has_weekly_seasonality(sparse):
    orders = sparse.tables["orders"]
    daily = orders.groupby(orders["order_ts"].dt.normalize())["qty"].sum()
    by_dow = daily.groupby(daily.index.dayofweek).mean()
    assert by_dow[[0, 1, 2, 3, 4]].min() > 2.5 * by_dow[[5, 6]].max()


# --- drift ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drift():
    return simulate("small", seed=7, regime="drift")


def test_drift_events_are_recorded(drift):
    events = drift.truth["drift_events"]
    assert set(events["kind"]) == {"carrier_collapse", "price_step", "level_shift"}
    n_series = drift.tables["demand"].groupby(["item_id", "location_id"], observed=True).ngroups
    assert (events["kind"] == "level_shift").sum() > 0.15 * n_series
    collapse = events[events["kind"] == "carrier_collapse"].iloc[0]
    dates = drift.tables["demand"]["date"]
    share = (collapse["date"] - dates.min()).days / (dates.max() - dates.min()).days
    assert abs(share - 0.6) < 0.01 and collapse["magnitude"] == 2.0


def test_drift_carrier_collapses_at_its_date(drift):
    x = _lines(drift)
    collapse = drift.truth["drift_events"].query("kind == 'carrier_collapse'").iloc[0]
    after = x["order_ts"] >= collapse["date"]
    mine = x["carrier_id"] == collapse["entity"]
    assert x.loc[mine & after, "late"].mean() > 2.5 * x.loc[mine & ~after, "late"].mean()
    assert x.loc[~mine & after, "late"].mean() < 1.5 * x.loc[~mine & ~after, "late"].mean()


def test_drift_price_step_moves_prices_and_demand(drift):
    steps = drift.truth["drift_events"].query("kind == 'price_step'")
    demand = drift.tables["demand"].merge(
        drift.tables["items"][["item_id", "category"]], on="item_id"
    )
    date = steps["date"].iloc[0]
    demand["after"] = demand["date"] >= date
    demand["stepped"] = demand["category"].isin(steps["entity"])
    price = demand[~demand["promo"]].groupby(["item_id", "after"])["price"].mean().unstack()
    stepped_items = demand.loc[demand["stepped"], "item_id"].unique()
    ratio = (price[True] / price[False])[stepped_items]
    assert ratio.min() >= steps["magnitude"].min() - 0.01
    assert np.allclose(price[True].drop(stepped_items), price[False].drop(stepped_items))
    # Expected demand a week after the step vs the week before (same weekday; series
    # without a promotion, holiday or level shift in between): only stepped ones fall.
    expected = drift.truth["demand"].merge(
        demand[["date", "item_id", "location_id", "promo", "x_holiday", "stepped"]],
        on=["date", "item_id", "location_id"],
    )
    days = [date - pd.Timedelta(days=7), date]
    pair = expected[expected["date"].isin(days)].pivot_table(
        index=["item_id", "location_id", "stepped"],
        columns="date",
        values=["expected_qty", "promo", "x_holiday"],
        observed=True,
    )
    calm = (pair["promo"].sum(axis=1) == 0) & (pair["x_holiday"].sum(axis=1) == 0)
    shifts = drift.truth["level_shifts"]
    moved = shifts[(shifts["date"] > days[0]) & (shifts["date"] <= days[1])]
    keys = pd.MultiIndex.from_frame(pair.index.to_frame()[["item_id", "location_id"]])
    calm &= ~keys.isin(pd.MultiIndex.from_frame(moved[["item_id", "location_id"]]))
    ratio = (pair["expected_qty"][days[1]] / pair["expected_qty"][days[0]])[calm]
    by_step = ratio.groupby(level="stepped").median()
    assert by_step[True] < 0.95 and 0.97 < by_step[False] < 1.03


def test_drift_shares_the_standard_world_before_its_events(drift):
    standard = simulate("small", seed=7)
    for name in ("customers", "carriers", "locations"):
        pd.testing.assert_frame_equal(drift.tables[name], standard.tables[name])
    stepped = drift.truth["drift_events"].query("kind == 'price_step'")["entity"]
    items, base = drift.tables["items"], standard.tables["items"]
    same = ~items["category"].isin(stepped)
    pd.testing.assert_frame_equal(items[same], base[same])
