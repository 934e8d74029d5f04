"""The distributor simulator (SPEC §4): contract tables plus the generative ground truth.

``simulate(scale, seed, regime)`` is deterministic for a seed: every component draws
from its own child of one ``SeedSequence``, and the output files are byte-identical.
A regime is a generative story (``REGIMES``); ``standard`` is the world the models
were built on, the others put the signal where real exports put it (docs/simulator.md).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from features.contract import TABLES
from stockpilot.data import write_tables
from training.simulator.drift import simulate_drift
from training.simulator.loyalty import simulate_loyalty
from training.simulator.result import SimulationResult
from training.simulator.routes import simulate_routes
from training.simulator.sparse import simulate_sparse
from training.simulator.standard import simulate_standard
from training.simulator.world import SCALES, ScaleConfig

__all__ = ["REGIMES", "SCALES", "Regime", "ScaleConfig", "SimulationResult", "simulate", "write"]


@dataclass(frozen=True)
class Regime:
    name: str
    story: str  # one line for --help and the docs
    run: Callable[[str, int, bool], SimulationResult]


REGIMES: dict[str, Regime] = {
    r.name: r
    for r in (
        Regime("standard", "the distributor the models were built on", simulate_standard),
        Regime(
            "routes",
            "lateness by route, supplier, country and x_ context; drifting base rate",
            simulate_routes,
        ),
        Regime(
            "loyalty",
            "habit-driven shoppers: substitutes chosen by loyalty built from own purchases",
            simulate_loyalty,
        ),
        Regime(
            "sparse",
            "a minimal export: required tables and columns only, one location, CSV",
            simulate_sparse,
        ),
        Regime(
            "drift",
            "the standard world changing: level shifts, a collapsing carrier, a price step",
            simulate_drift,
        ),
    )
}


def simulate(
    scale: str = "small", seed: int = 0, regime: str = "standard", show_progress: bool = False
) -> SimulationResult:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {list(REGIMES)}, got {regime!r}")
    result = REGIMES[regime].run(scale, seed, show_progress)
    result.regime = regime
    return result


def write(result: SimulationResult, out: Path | str, fmt: str | None = None) -> None:
    """Write tables to ``out`` and truth to ``out/truth`` (replacing a previous run).

    ``fmt`` defaults to the regime's own (``sparse`` exports CSV); truth is Parquet.
    """
    out = Path(out)
    if out.exists():
        # Every contract table, not only this result's: a sparse run over a standard one
        # must not leave the old optional tables behind.
        for name in [*TABLES, *result.tables, "truth"]:
            for path in (out / f"{name}.parquet", out / f"{name}.csv"):
                path.unlink(missing_ok=True)
        shutil.rmtree(out / "truth", ignore_errors=True)
    write_tables(result.tables, out, fmt=fmt or result.fmt)
    write_tables(result.truth, out / "truth", fmt="parquet")
