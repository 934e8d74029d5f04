"""The drift regime: the standard distributor, with the world changing under it.

Three kinds of change, each recorded in ``truth/drift_events`` (kind, entity,
location_id, date, magnitude):

- ``level_shift``: demand of a series steps by a factor — three times as many series
  as in the standard world and larger steps (``magnitude`` is the factor);
- ``carrier_collapse``: one parcel carrier's reliability collapses at 60 % of the
  history: its late log-odds rise by 2 for the rest of it (``magnitude``: +2.0);
- ``price_step``: list (and so contract) prices of a third of the categories step up
  at one date near the middle of the history, and their demand answers with a share of
  the items' elasticity (``magnitude``: the price factor).

The first seven random streams are the standard world's, so before the first event
the master data are the same; the events are drawn from the eighth.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from training.simulator.demand import DemandKnobs
from training.simulator.result import SimulationResult, streams
from training.simulator.standard import N_STREAMS, operate
from training.simulator.world import SCALES, World, build_world, category_names

KNOBS = DemandKnobs(shift_rate=0.25, shift_factors=(0.3, 0.4, 0.5, 2.0, 2.5, 3.0))
COLLAPSE_AT = 0.6  # share of the history before the carrier collapses
COLLAPSE_LOG_ODDS = 2.0
PRICE_STEP_SHARE = 1 / 3  # of the categories
PRICE_STEP_AT = (0.45, 0.55)  # the step's date, as shares of the history
PRICE_FACTORS = (1.12, 1.30)


def simulate_drift(scale: str, seed: int, show_progress: bool = False) -> SimulationResult:
    rngs = streams(seed, N_STREAMS + 1)
    world = build_world(SCALES[scale], rngs[0])
    world, events = inject(world, rngs[N_STREAMS])
    tables, truth, _ = operate(world, rngs[1:N_STREAMS], KNOBS, show_progress, f"drift {scale}")
    shifts = truth["level_shifts"]
    level = pd.DataFrame(
        {
            "kind": "level_shift",
            "entity": shifts["item_id"].astype(str),
            "location_id": shifts["location_id"].astype(str),
            "date": shifts["date"],
            "magnitude": shifts["factor"].astype(float),
        }
    )
    truth["drift_events"] = (
        pd.concat([events, level], ignore_index=True)
        .sort_values(["date", "kind", "entity", "location_id"], kind="stable")
        .reset_index(drop=True)
    )
    return SimulationResult(scale=scale, seed=seed, tables=tables, truth=truth)


def inject(world: World, rng: np.random.Generator) -> tuple[World, pd.DataFrame]:
    """The world with a collapsing carrier and a price step; the events as a frame."""
    n_d, n_k = world.n_days, len(world.carrier_ids)
    parcel = np.flatnonzero(world.carrier_mode == 0)
    carrier = int(rng.choice(parcel))
    collapse_day = int(COLLAPSE_AT * n_d)
    shock = np.zeros((n_d, n_k))
    shock[collapse_day:, carrier] = COLLAPSE_LOG_ODDS

    n_cat = world.config.n_categories
    stepped = np.sort(rng.choice(n_cat, max(1, round(PRICE_STEP_SHARE * n_cat)), replace=False))
    step_day = int(rng.integers(int(PRICE_STEP_AT[0] * n_d), int(PRICE_STEP_AT[1] * n_d)))
    factor = np.round(rng.uniform(*PRICE_FACTORS, len(stepped)), 3)
    level = np.ones((n_d, n_cat))
    level[step_day:, stepped] = factor

    day = world.dates.to_numpy()
    events = pd.DataFrame(
        {
            "kind": ["carrier_collapse"] + ["price_step"] * len(stepped),
            "entity": [str(world.carrier_ids[carrier]), *category_names(n_cat)[stepped]],
            "location_id": None,
            "date": np.concatenate([[day[collapse_day]], np.repeat(day[step_day], len(stepped))]),
            "magnitude": np.concatenate([[COLLAPSE_LOG_ODDS], factor]),
        }
    )
    return dataclasses.replace(world, late_shock=shock, price_level=level), events
