"""The dataset a replenishment run plans from, loaded once and kept current, and the
demand forecast of each planning day.

Loading and validating the medium dataset takes ~10 s, and the recursive forecast of
every series a few more: on every call they were the whole answer time of
``POST /v1/replenishment/run``. The view loads the dataset once (in a thread) and keeps
the derived :class:`~models.replenishment_run.PlanningData`, and keeps the forecast per
(model version, planning day): it depends on nothing else (the service level and the
stock are applied after it). Stock comes from the live positions the inventory events
already update, so the dataset's own files only
matter when they change on disk (a new export): every run compares the names, sizes and
modification times of the tables planning reads with the loaded ones (one directory
listing) and reloads then. ``substitutions``, which serving itself appends feedback to, is
not one of them.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import date
from pathlib import Path

import pandas as pd

from models.demand import DemandForecaster
from models.replenishment_run import DemandForecast, PlanningData, forecast_demand
from stockpilot.data import SUFFIXES, load_dataset
from stockpilot.errors import NotReady

Signature = tuple[tuple[str, int, int], ...]
PLANNING_TABLES = frozenset({"demand", "orders", "items", "purchase_orders", "inventory"})
FORECASTS_KEPT = 4  # planning days × model versions


def signature(directory: Path) -> Signature:
    """The planning tables' files of ``directory`` as (name, size, mtime)."""
    if not directory.is_dir():
        return ()
    found = []
    for path in directory.iterdir():
        if path.suffix in SUFFIXES and path.stem in PLANNING_TABLES:
            stat = path.stat()
            found.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(found))


class PlanningView:
    """The planning tables of ``directory``: loaded on first use, reloaded when changed."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._loaded: tuple[Signature, PlanningData] | None = None
        self._lock = asyncio.Lock()
        self._forecasts: dict[tuple[Signature, str, pd.Timestamp], DemandForecast] = {}
        self._forecast_lock = asyncio.Lock()

    def _load(self) -> tuple[Signature, PlanningData]:
        seen = signature(self.directory)
        return seen, PlanningData.from_dataset(load_dataset(self.directory))

    async def get(self) -> PlanningData:
        """The current planning data (raises :class:`ContractViolation` from the load)."""
        seen = signature(self.directory)
        if not any(name.startswith("items.") for name, _, _ in seen):
            raise NotReady(f"no dataset under {self.directory} to plan from")
        async with self._lock:  # one load at a time; the runs waiting share it
            if self._loaded is None or self._loaded[0] != seen:
                self._loaded = await asyncio.to_thread(self._load)
                self._forecasts.clear()
            return self._loaded[1]

    async def forecast(
        self, version: str, forecaster: DemandForecaster, as_of: date | None
    ) -> tuple[PlanningData, DemandForecast]:
        """The planning data and the forecast of ``as_of`` (default: the data's last day)
        by the served model ``version``, computed in a thread on a copy of ``forecaster``
        the first time (the served one stays as trained) and kept."""
        data = await self.get()
        assert self._loaded is not None
        day = pd.Timestamp(as_of) if as_of else pd.Timestamp(data.daily["date"].max())
        key = (self._loaded[0], version, day)
        async with self._forecast_lock:  # runs of the same day wait for one forecast
            kept = self._forecasts.get(key)
            if kept is None:
                kept = await asyncio.to_thread(
                    forecast_demand, data, copy.deepcopy(forecaster), as_of
                )
                while len(self._forecasts) >= FORECASTS_KEPT:
                    self._forecasts.pop(next(iter(self._forecasts)))
                self._forecasts[key] = kept
        return data, kept

    @property
    def loaded(self) -> bool:
        return self._loaded is not None
