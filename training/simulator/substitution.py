"""Substitute offers made when a line runs short, accepted by a hidden utility.

The distributor's legacy rule offers a few random items of the same category; each
customer accepts an offer with probability sigmoid(utility), where utility weighs
the customer's general propensity, brand loyalty and price sensitivity, the
offered item's appeal, attribute and pack-size closeness, urgency and a display
flag known at offer time (``x_display``).

:func:`population_acceptance` is the oracle of a world whose customers are seen once: the
same utility with each customer's hidden taste (propensity, brand loyalty, price
sensitivity within its segment, grade and material preference) integrated over the
distribution it is drawn from (``world.build_world``) — the best any model can do for a
customer whose own history shows nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from training.simulator.operations import Orders, Warehouse
from training.simulator.world import SEGMENT_PRICE, World

OFFER_SHARE = 0.6  # short lines that get substitute offers
CANDIDATE_DRAWS = 8


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return expit(x)


@dataclass(frozen=True)
class Pairs:
    """The offers' customer, original and offered items and offer-time context, row-aligned."""

    customer: np.ndarray
    original: np.ndarray
    offered: np.ndarray
    urgent: np.ndarray
    display: np.ndarray


def _utility(
    world: World,
    x: Pairs,
    propensity: np.ndarray | float,
    brand_loyalty: np.ndarray | float,
    price_sensitivity: np.ndarray | float,
    material_weight: np.ndarray | float,
    grade_preference: np.ndarray | float,
) -> np.ndarray:
    o, j = x.original, x.offered
    # What "close" means differs by customer: some insist on the same material; some
    # welcome a better grade, others a cheaper one (grade codes: 0 = A is the best).
    distance = np.abs(world.attr_size[j] - world.attr_size[o]) / 30 + material_weight * (
        world.attr_material[j] != world.attr_material[o]
    )
    upgrade = world.attr_grade[o] - world.attr_grade[j]
    return (
        0.0
        + propensity
        + world.appeal[j]
        + brand_loyalty * (world.brand[j] == world.brand[o])
        - price_sensitivity * np.log(world.list_price[j] / world.list_price[o])
        - 0.8 * distance
        + grade_preference * upgrade
        - 0.6 * np.abs(np.log(world.pack_size[j] / world.pack_size[o]))
        + 0.7 * x.urgent
        + 0.5 * x.display
    )


def _taste_prior() -> list[tuple[float, tuple[float, float, float, float, float]]]:
    """Quadrature of the hidden-taste distribution of ``world.build_world``: (weight,
    (propensity, brand loyalty, price factor, material weight, grade preference))."""
    z, w = np.polynomial.hermite_e.hermegauss(7)  # propensity ~ N(0, 0.7)
    loyal = [(0.35 / 4, 2.0 + 0.5 * (k + 0.5)) for k in range(4)]  # U(2, 4) for 35 %
    loyal += [(0.65 / 4, -0.5 + 0.25 * (k + 0.5)) for k in range(4)]  # else U(-0.5, 0.5)
    factor = [0.6 + 0.2 * (k + 0.5) for k in range(4)]  # U(0.6, 1.4)
    material = [(0.3, 4.5), (0.7, 0.2)]
    grade = (-1.5, 0.0, 1.5)
    out = []
    for (wz, zz), (wb, b), f, (wm, m), g in itertools.product(
        zip(w / w.sum(), z, strict=True), loyal, factor, material, grade
    ):
        out.append((wz * wb * wm / (len(factor) * len(grade)), (0.7 * zz, b, f, m, g)))
    return out


def population_acceptance(world: World, x: Pairs) -> np.ndarray:
    """E[P(accept)] over the hidden taste of a customer of the offer's segment."""
    segment_price = SEGMENT_PRICE[world.customer_segment[x.customer]]
    p = np.zeros(len(x.offered))
    for weight, (propensity, loyalty, factor, material, grade) in _taste_prior():
        u = _utility(world, x, propensity, loyalty, factor * segment_price, material, grade)
        p += weight * expit(u)
    return p


def offers(
    world: World, orders: Orders, wh: Warehouse, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray, Pairs]:
    """Offer rows (contract columns, ``ts`` as datetime64), their true acceptance and the
    pairs behind them (row-aligned, for :func:`population_acceptance`)."""
    short = np.nonzero((wh.shipped < orders.qty) & (rng.random(len(orders.qty)) < OFFER_SHARE))[0]
    n_ev = len(short)
    orig = orders.item[short]
    cat = world.category[orig]

    # Draw candidates within the category, drop repeats and the original, keep 2–5.
    order = np.argsort(world.category, kind="stable")
    cat_start = np.searchsorted(world.category[order], np.arange(world.config.n_categories))
    cat_size = np.bincount(world.category, minlength=world.config.n_categories)
    draws = rng.integers(0, 1 << 30, (n_ev, CANDIDATE_DRAWS)) % cat_size[cat][:, None]
    cand = order[cat_start[cat][:, None] + draws]
    frame = pd.DataFrame(
        {
            "event": np.repeat(np.arange(n_ev), CANDIDATE_DRAWS),
            "item": cand.ravel(),
            "draw": np.tile(np.arange(CANDIDATE_DRAWS), n_ev),
        }
    )
    frame = frame[frame["item"].to_numpy() != orig[frame["event"].to_numpy()]]
    frame = frame.drop_duplicates(["event", "item"])
    frame["position"] = frame.groupby("event").cumcount() + 1
    keep = rng.integers(4, 9, n_ev)
    frame = frame[frame["position"].to_numpy() <= keep[frame["event"].to_numpy()]]

    ev = frame["event"].to_numpy()
    j = frame["item"].to_numpy()
    o = orig[ev]
    line = short[ev]
    c = orders.customer[line]
    urgent = (orders.promised_day[line] - orders.day[line]) <= 2
    display = rng.random(len(j)) < 0.2
    pairs = Pairs(c, o, j, urgent, display)
    utility = _utility(
        world,
        pairs,
        world.propensity[c],
        world.brand_loyalty[c],
        world.price_sensitivity[c],
        world.material_weight[c],
        world.grade_preference[c],
    )
    p_accept = _sigmoid(utility)
    accepted = rng.random(len(j)) < p_accept
    delay = rng.integers(5 * 60, 120 * 60, n_ev).astype("timedelta64[s]")
    ts = orders.ts[short] + delay

    rows = pd.DataFrame(
        {
            "ts": ts[ev],
            "customer_id": world.customer_ids[c],
            "original_item_id": world.item_ids[o],
            "offered_item_id": world.item_ids[j],
            "accepted": accepted,
            "location_id": world.location_ids[orders.location[line]],
            "order_id": orders.order_id[line],
            "position": frame["position"].to_numpy(),
            "original_unit_price": orders.unit_price[line],
            "offered_unit_price": np.round(
                world.list_price_on(j, orders.day[line]) * (1 - world.contract_discount[c]), 2
            ),
            "x_display": display.astype(np.int64),
        }
    )
    sort = np.lexsort((rows["position"].to_numpy(), ev, rows["ts"].to_numpy()))
    rows = rows.iloc[sort].reset_index(drop=True)
    rows.insert(0, "event_id", [f"S{k:07d}" for k in range(len(rows))])
    sorted_pairs = Pairs(*(a[sort] for a in (c, o, j, urgent, display)))
    return rows, p_accept[sort], sorted_pairs
