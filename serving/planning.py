"""The dataset a replenishment run plans from, loaded once and kept current.

Loading and validating the medium dataset takes ~10 s: once per run it was the whole
answer time of ``POST /v1/replenishment/run``. The view loads it once (in a thread) and
keeps the derived :class:`~models.replenishment_run.PlanningData`; stock comes from the
live positions the inventory events already update, so the dataset's own files only
matter when they change on disk (a new export): every run compares the names, sizes and
modification times of the tables planning reads with the loaded ones (one directory
listing) and reloads then. ``substitutions``, which serving itself appends feedback to, is
not one of them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from models.replenishment_run import PlanningData
from stockpilot.data import SUFFIXES, load_dataset
from stockpilot.errors import NotReady

Signature = tuple[tuple[str, int, int], ...]
PLANNING_TABLES = frozenset({"demand", "orders", "items", "purchase_orders", "inventory"})


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
            return self._loaded[1]

    @property
    def loaded(self) -> bool:
        return self._loaded is not None
