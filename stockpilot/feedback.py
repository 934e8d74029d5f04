"""Append decided substitution offers to a dataset's ``substitutions`` table.

The dataset stays in the contract format (one file per table), so the next
``stockpilot train substitution --data DIR`` learns from served outcomes with no
extra plumbing. New rows are validated before anything is written; a retry of rows
already written is a no-op; the same event id with a different outcome is a conflict.
Parquet cannot be appended in place, so the table is rewritten atomically under a
lock: callers with many outcomes should pass them in one batch.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from features.contract import validate_table
from features.contract_coercion import COERCERS
from stockpilot.data import SUFFIXES
from stockpilot.errors import Conflict, ContractViolation

TABLE = "substitutions"


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # A dot-file: read_tables ignores it, so the lock never looks like a table.
    with (directory / f".{TABLE}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _existing(directory: Path) -> Path | None:
    found = [directory / f"{TABLE}{s}" for s in SUFFIXES if (directory / f"{TABLE}{s}").exists()]
    if len(found) > 1:
        raise ContractViolation(f"{TABLE} is given twice in {directory}", report=[])
    return found[0] if found else None


def _read(path: Path) -> pd.DataFrame:
    # As stockpilot.data reads it: CSV as text (types come from the contract), Parquet typed.
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)


def append_substitutions(directory: Path | str, rows: pd.DataFrame) -> int:
    """Append contract rows to ``directory``'s substitutions table; returns rows added."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"directory must be an existing dataset directory, got {directory}")
    typed, violations = validate_table(TABLE, rows)
    if typed is None:
        raise ContractViolation(
            "feedback rows break the data contract:\n" + "\n".join(f"  - {v}" for v in violations),
            report=violations,
        )
    with _locked(directory):
        path = _existing(directory)
        old = _read(path) if path is not None else None
        new = typed
        if old is not None and len(old):
            recorded = COERCERS["bool"](old["accepted"])[0]
            known = dict(zip(old["event_id"].astype(str), recorded, strict=True))
            seen = typed["event_id"].astype(str).map(known)
            clash = seen.notna() & (seen.astype(object) != typed["accepted"].astype(object))
            if clash.any():
                ids = typed.loc[clash.to_numpy(), "event_id"].tolist()[:5]
                raise Conflict(f"event(s) already recorded with another outcome: {ids}")
            new = typed[seen.isna().to_numpy()]
        if new.empty:
            return 0
        target = path or directory / f"{TABLE}.parquet"
        tmp = target.with_name(f".{target.name}.tmp")
        combined = pd.concat([old, new] if old is not None else [new], ignore_index=True)
        if target.suffix == ".csv":
            combined.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S")
        else:
            combined.to_parquet(tmp, index=False, compression="zstd")
        os.replace(tmp, target)
        return len(new)
