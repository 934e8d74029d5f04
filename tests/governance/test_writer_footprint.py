"""The writer process stays small: the facts it stores bring no pandas or NumPy with them.

A unit arrives pickled, and unpickling imports the modules its function and arguments
live in. ``governance.events`` once imported pandas at the top, so the first outcome a
writer stored grew it from ~60 to ~145 MiB (the soak of issue 20, "writer 147 MiB").
The check reads the real writer's memory map: an imported extension module is mapped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from governance import command_units as units
from governance import events as event_store
from governance.events import InventoryEvent, LineOutcome
from governance.store.committer import GroupCommitter

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def mapped_files(pid: int) -> set[str]:
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {line.split()[-1] for line in lines if len(line.split()) >= 6}


def test_storing_outcomes_and_inventory_events_imports_no_pandas_in_the_writer(db):
    outcome = LineOutcome("O1", 1, 4.0, DAY, DAY, "delivered")
    event = InventoryEvent(DAY, "A", "DAL", {"on_hand": 10.0})
    with GroupCommitter(db, warm=["governance.command_units"]) as committer:
        write = partial(units.accept_facts, actor="key:erp")
        assert committer.run(
            partial(write, write=event_store.record_outcomes, facts=[outcome])
        ) == (202, {"accepted": 1})
        committer.run(partial(write, write=event_store.record_inventory, facts=[event]))
        writer = committer._writer
        assert writer is not None
        files = mapped_files(writer.process.pid)
    assert any("/sqlalchemy/" in f for f in files)  # a Python process with the store's code
    heavy = sorted(f for f in files if "/pandas/" in f or "/numpy/" in f)
    assert not heavy, heavy[:3]
