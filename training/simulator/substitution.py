"""Substitute offers made when a line runs short, accepted by a hidden utility.

The distributor's legacy rule offers a few random items of the same category; each
customer accepts an offer with probability sigmoid(utility), where utility weighs
the customer's general propensity, brand loyalty and price sensitivity, the
offered item's appeal, attribute and pack-size closeness, urgency and a display
flag known at offer time (``x_display``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from training.simulator.operations import Orders, Warehouse
from training.simulator.world import World

OFFER_SHARE = 0.6  # short lines that get substitute offers
CANDIDATE_DRAWS = 8


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return expit(x)


def offers(
    world: World, orders: Orders, wh: Warehouse, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    """Offer rows (contract columns, ``ts`` as datetime64) and their true acceptance."""
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
    # What "close" means differs by customer: some insist on the same material; some
    # welcome a better grade, others a cheaper one (grade codes: 0 = A is the best).
    distance = np.abs(world.attr_size[j] - world.attr_size[o]) / 30 + world.material_weight[c] * (
        world.attr_material[j] != world.attr_material[o]
    )
    upgrade = world.attr_grade[o] - world.attr_grade[j]
    utility = (
        0.0
        + world.propensity[c]
        + world.appeal[j]
        + world.brand_loyalty[c] * (world.brand[j] == world.brand[o])
        - world.price_sensitivity[c] * np.log(world.list_price[j] / world.list_price[o])
        - 0.8 * distance
        + world.grade_preference[c] * upgrade
        - 0.6 * np.abs(np.log(world.pack_size[j] / world.pack_size[o]))
        + 0.7 * urgent
        + 0.5 * display
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
    return rows, p_accept[sort]
