"""Demand: expected order lines per item × location × day, and the lines drawn from it.

The intensity multiplies a base rate (heavy-tailed item popularity × location size)
by weekly and yearly seasonality, a slow trend, injected level shifts, promotions
(price cut with item-specific elasticity and a display lift) and holidays; a
Gamma day-effect adds over-dispersion. Expected quantity per day is exact:
E[lines] × E[units per line], which is what ``truth/demand`` records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.simulator.world import World

BULK_RATE = 0.004  # share of lines that are unusually large orders
BULK_FACTORS = np.array([4, 5, 6, 7, 8])
LINE_QTY_SHAPE = 1.5  # negative-binomial shape of units per line
DAY_NOISE_SHAPE = 8.0
PRICE_RESPONSE = 0.6  # share of the promotion elasticity that answers a lasting price change


@dataclass(frozen=True)
class DemandKnobs:
    """What a story changes about demand; the defaults are the standard world."""

    shift_rate: float = 0.08  # share of series with a level shift
    shift_factors: tuple[float, ...] = (0.45, 0.6, 1.7, 2.2, 2.6)
    promo_rate: float = 0.45  # share of items that are ever promoted


@dataclass
class Demand:
    series_item: np.ndarray  # [S] item index per series
    series_location: np.ndarray  # [S] location index per series
    intensity: np.ndarray  # [D, S] expected lines per day
    promo: np.ndarray  # [D, I] bool, chain-wide promotion of an item
    promo_cut: np.ndarray  # [D, I] price cut (0 when no promo)
    holiday: np.ndarray  # [D] bool
    shift_day: np.ndarray  # [S] day index of the level shift, -1 when none
    shift_factor: np.ndarray  # [S]
    expected_qty: np.ndarray  # [D, S]


@dataclass
class Lines:
    """Order lines before they are grouped into orders (one row per line)."""

    day: np.ndarray
    series: np.ndarray
    qty: np.ndarray
    bulk: np.ndarray


def holidays(dates: pd.DatetimeIndex) -> np.ndarray:
    """US-style public holidays on which distributors barely ship."""
    days: set[pd.Timestamp] = set()
    for year in range(dates[0].year, dates[-1].year + 1):
        days.add(pd.Timestamp(year, 1, 1))
        days.add(pd.Timestamp(year, 7, 4))
        days.add(pd.Timestamp(year, 12, 25))
        may = pd.date_range(f"{year}-05-01", f"{year}-05-31")
        days.add(may[may.dayofweek == 0][-1])  # Memorial Day
        sep = pd.date_range(f"{year}-09-01", f"{year}-09-30")
        days.add(sep[sep.dayofweek == 0][0])  # Labor Day
        nov = pd.date_range(f"{year}-11-01", f"{year}-11-30")
        days.add(nov[nov.dayofweek == 3][3])  # Thanksgiving
    return dates.isin(list(days))


def build_demand(
    world: World, rng: np.random.Generator, knobs: DemandKnobs | None = None
) -> Demand:
    knobs = knobs or DemandKnobs()
    cfg = world.config
    n_i, n_l, n_d = cfg.n_items, cfg.n_locations, cfg.n_days
    t = np.arange(n_d)

    # Assortment: every item is stocked at one or more locations.
    stocked = rng.random((n_i, n_l)) < 0.8
    stocked[np.arange(n_i), rng.integers(0, n_l, n_i)] = True
    series_item, series_location = np.nonzero(stocked)
    n_s = len(series_item)

    popularity = np.exp(rng.normal(0, 1.3, n_i))
    location_size = rng.dirichlet(np.full(n_l, 6.0)) * n_l
    base = popularity[series_item] * location_size[series_location]
    base *= rng.lognormal(0, 0.3, n_s)

    # Weekly profile per category (B2B: weekdays busy, weekends quiet).
    week = np.array([1.2, 1.15, 1.15, 1.1, 1.0, 0.3, 0.1])
    cat_week = week[None, :] * rng.lognormal(0, 0.08, (cfg.n_categories, 7))
    cat_week /= cat_week.mean(axis=1, keepdims=True)
    dow = world.dates.dayofweek.to_numpy()
    weekly = cat_week[:, dow].T[:, world.category[series_item]]  # [D, S]

    amplitude = rng.uniform(0.05, 0.35, cfg.n_categories)
    phase = rng.uniform(0, 365, cfg.n_categories)
    doy = world.dates.dayofyear.to_numpy()
    yearly = 1 + amplitude[None, :] * np.sin(2 * np.pi * (doy[:, None] - phase[None, :]) / 365.25)
    yearly = yearly[:, world.category[series_item]]

    trend = np.exp(rng.normal(0, 0.1, n_s)[None, :] * t[:, None] / 365)

    # Level shifts that demand sensing should catch early.
    has_shift = rng.random(n_s) < knobs.shift_rate
    shift_day = np.where(has_shift, rng.integers(int(0.4 * n_d), int(0.9 * n_d), n_s), -1).astype(
        int
    )
    shift_factor = np.where(has_shift, rng.choice(np.array(knobs.shift_factors), n_s), 1.0)
    shifted = (shift_day[None, :] >= 0) & (t[:, None] >= shift_day[None, :])
    level = np.where(shifted, shift_factor[None, :], 1.0)

    # Chain-wide promotions per item: known in advance, price cut plus display lift.
    promo = np.zeros((n_d, n_i), dtype=bool)
    promo_cut = np.zeros((n_d, n_i))
    promoted = np.nonzero(rng.random(n_i) < knobs.promo_rate)[0]
    for i in promoted:
        n_promos = rng.poisson(n_d / 365 * 3) + 1
        for start in rng.integers(0, n_d, n_promos):
            end = start + rng.integers(7, 22)
            promo[start:end, i] = True
            promo_cut[start:end, i] = np.round(rng.uniform(0.05, 0.15), 2)
    lift = np.where(promo, (1 - promo_cut) ** (-world.elasticity[None, :]) * 1.15, 1.0)[
        :, series_item
    ]

    hol = holidays(world.dates)
    holiday_effect = np.where(hol, 0.15, 1.0)[:, None]

    scale = cfg.lines_per_day / (base.sum() * 1.0)
    intensity = scale * base[None, :] * weekly * yearly * trend * level * lift * holiday_effect
    if world.price_level is not None:  # a price regime change: demand answers it
        response = -PRICE_RESPONSE * world.elasticity[series_item]
        intensity = intensity * world.price_level[:, world.category[series_item]] ** response
    mean_qty = world.line_qty_mean[series_item] * (1 + BULK_RATE * (BULK_FACTORS.mean() - 1))
    return Demand(
        series_item=series_item,
        series_location=series_location,
        intensity=intensity,
        promo=promo,
        promo_cut=promo_cut,
        holiday=hol,
        shift_day=shift_day,
        shift_factor=shift_factor,
        expected_qty=intensity * mean_qty[None, :],
    )


def draw_lines(world: World, demand: Demand, rng: np.random.Generator) -> Lines:
    """Order lines: Poisson counts on a Gamma day-effect, negative-binomial quantities."""
    day_noise = rng.gamma(DAY_NOISE_SHAPE, 1 / DAY_NOISE_SHAPE, demand.intensity.shape)
    counts = rng.poisson(demand.intensity * day_noise)
    day, series = np.nonzero(counts)  # row-major: sorted by day, then series
    reps = counts[day, series]
    day = np.repeat(day, reps)
    series = np.repeat(series, reps)
    mean_extra = world.line_qty_mean[demand.series_item[series]] - 1.0
    p = LINE_QTY_SHAPE / (LINE_QTY_SHAPE + mean_extra)
    qty = 1 + rng.negative_binomial(LINE_QTY_SHAPE, p)
    bulk = rng.random(len(qty)) < BULK_RATE
    qty = np.where(bulk, qty * rng.choice(BULK_FACTORS, len(qty)), qty)
    return Lines(day=day, series=series, qty=qty.astype(np.int64), bulk=bulk)
