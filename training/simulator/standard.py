"""The standard world (SPEC §4): one distributor, run day by day.

Seven random streams, one per component (world, demand, lines, orders, warehouse,
deliveries, substitutes), so that changing one component's draws leaves the others'
unchanged. :func:`operate` is everything after the master data; ``drift`` runs it on
a world with events injected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.simulator import tables as tb
from training.simulator.demand import DemandKnobs, build_demand, draw_lines
from training.simulator.operations import build_orders, deliveries, run_warehouse
from training.simulator.result import SimulationResult, streams
from training.simulator.substitution import offers
from training.simulator.world import SCALES, World, build_world, master_tables

N_STREAMS = 7


def simulate_standard(scale: str, seed: int, show_progress: bool = False) -> SimulationResult:
    rngs = streams(seed, N_STREAMS)
    world = build_world(SCALES[scale], rngs[0])
    tables, truth, _ = operate(world, rngs[1:N_STREAMS], DemandKnobs(), show_progress, scale)
    return SimulationResult(scale=scale, seed=seed, tables=tables, truth=truth)


def operate(
    world: World,
    rngs: list[np.random.Generator],
    knobs: DemandKnobs,
    show_progress: bool = False,
    label: str = "",
):
    """Demand, orders, warehouse, carriers and substitutes on ``world`` (six streams).

    Returns the contract tables, the truth tables and the demand (for stories that
    report what they injected into it).
    """
    demand = build_demand(world, rngs[0], knobs)
    lines = draw_lines(world, demand, rngs[1])
    orders = build_orders(world, demand, lines, rngs[2])
    if show_progress:
        from stockpilot.progress import progress

        with progress() as bar:
            task = bar.add_task(f"simulating {label} ({world.n_days} days)", total=world.n_days)
            wh = run_warehouse(
                world, demand, orders, rngs[3], lambda d: bar.update(task, completed=d)
            )
    else:
        wh = run_warehouse(world, demand, orders, rngs[3])
    late, delivered = deliveries(world, orders, wh, rngs[4])
    subs, p_accept, _ = offers(world, orders, wh, rngs[5])

    tables: dict[str, pd.DataFrame] = master_tables(world)
    tables["orders"] = tb.orders_table(world, orders)
    tables["fulfillments"] = tb.fulfillments_table(
        world, orders, wh.shipped, wh.ship_day, delivered
    )
    tables["inventory"] = tb.inventory_table(world, demand, wh)
    tables["demand"] = tb.demand_table(world, demand, orders)
    tables["substitutions"] = subs
    tables["purchase_orders"] = tb.purchase_orders_table(world, demand, wh)
    truth = {
        "order_lines": tb.order_lines_truth(orders, wh.p_short, late, wh.shipped < orders.qty),
        "substitutions": pd.DataFrame({"event_id": subs["event_id"], "p_accept": p_accept}),
        "demand": tb.demand_truth(world, demand),
        "level_shifts": tb.level_shifts_truth(world, demand),
    }
    return tables, truth, demand
