"""What every regime returns, and how it gets its random streams."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class SimulationResult:
    scale: str
    seed: int
    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    regime: str = "standard"
    fmt: str = "parquet"  # the file format the regime's exports come in


def streams(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent generators for one seed.

    ``SeedSequence.spawn`` children are fixed by their index, so a story that needs
    more streams than another gets the same first ones: ``drift`` shares the first
    seven with ``standard`` and draws its changes from the eighth.
    """
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]
