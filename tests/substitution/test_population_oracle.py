"""The reachable oracle of a world whose customers are seen once (``routes``): the true
acceptance with each customer's hidden taste integrated over the distribution it is drawn
from must equal the average acceptance over the world's own customers of that segment."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import expit

from training.simulator.substitution import Pairs, _utility, population_acceptance
from training.simulator.world import SCALES, build_world
from training.substitution import gate_oracle


def _pairs(customer: np.ndarray, o: np.ndarray, j: np.ndarray) -> Pairs:
    off = np.zeros(len(o), dtype=bool)
    return Pairs(customer, o, j, off, off)


def test_population_acceptance_is_the_average_over_the_customers_of_a_segment():
    config = dataclasses.replace(SCALES["small"], n_customers=6000)
    world = build_world(config, np.random.default_rng(5))
    rng = np.random.default_rng(6)
    o, j = rng.integers(0, len(world.item_ids), (2, 40))
    for segment in range(3):
        members = np.flatnonzero(world.customer_segment == segment)
        expected = population_acceptance(world, _pairs(np.full(40, members[0]), o, j))
        c = np.repeat(members, 40)
        x = _pairs(c, np.tile(o, len(members)), np.tile(j, len(members)))
        taste = (world.propensity, world.brand_loyalty, world.price_sensitivity)
        taste += (world.material_weight, world.grade_preference)
        true = expit(_utility(world, x, *(t[c] for t in taste)))
        # ~2 000 customers per segment: their mean is within ~0.01 of the expectation.
        observed = true.reshape(len(members), 40).mean(axis=0)
        assert np.abs(expected - observed).max() < 0.03, segment


def test_the_gate_compares_with_the_reachable_oracle_when_the_truth_has_one():
    hidden = {"hit@1_switch": 0.87}
    population = {"hit@1_switch": 0.75}
    both = {"oracle": hidden, "oracle_population": population}
    assert gate_oracle(both) == ("population", 0.75)
    assert gate_oracle({"oracle": hidden, "oracle_population": None}) == ("hidden taste", 0.87)
    assert gate_oracle({"oracle": None, "oracle_population": None}) == (None, None)
