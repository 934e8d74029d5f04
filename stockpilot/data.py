"""Reading and writing datasets in the contract format (one file per table).

Loading is all-or-nothing: every file is read and validated, and either a typed
:class:`~features.dataset.Dataset` comes back or :class:`ContractViolation` is raised
with every violation found. Ground truth of simulated data (``DIR/truth/``) is read
separately and never validated against the contract.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.contract import TABLES, Violation, validate_tables
from features.dataset import Dataset
from stockpilot.errors import ContractViolation

SUFFIXES = (".parquet", ".csv")


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    # Everything as text: the contract coerces types the same way for CSV and Parquet.
    return pd.read_csv(path, dtype=str, keep_default_na=True)


def read_tables(directory: Path) -> tuple[dict[str, pd.DataFrame], list[Violation]]:
    """Raw frames of every table file in ``directory`` (not validated)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ContractViolation(f"dataset directory not found: {directory}", report=[])
    tables: dict[str, pd.DataFrame] = {}
    problems: list[Violation] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.is_dir() or path.name.startswith("."):
            continue
        if path.suffix not in SUFFIXES:
            problems.append(
                Violation(
                    path.stem,
                    None,
                    f"unknown table file {path.name!r} (expected <table>.parquet or <table>.csv)",
                )
            )
            continue
        name = path.stem
        if name in seen:
            problems.append(
                Violation(name, None, f"table given twice: {seen[name].name} and {path.name}")
            )
            continue
        seen[name] = path
        if name not in TABLES:
            problems.append(
                Violation(
                    name,
                    None,
                    f"unknown table file {path.name!r} (expected one of: {', '.join(TABLES)})",
                )
            )
            continue
        try:
            tables[name] = _read(path)
        except Exception as exc:  # a corrupt file is reported, not raised mid-load
            problems.append(Violation(name, None, f"unreadable file {path.name}: {exc}"))
    return tables, problems


def load_dataset(directory: Path | str) -> Dataset:
    """Load and validate a dataset directory, or raise with the full report."""
    tables, problems = read_tables(Path(directory))
    typed, violations = validate_tables(tables)
    violations = problems + violations
    if violations:
        raise ContractViolation(
            f"{directory} breaks the data contract ({len(violations)} violation(s)):\n"
            + "\n".join(f"  - {v}" for v in violations),
            report=violations,
        )
    return Dataset.from_tables(typed)


def write_tables(
    tables: dict[str, pd.DataFrame], directory: Path | str, fmt: str = "parquet"
) -> None:
    """Write frames as ``<name>.<fmt>``; Parquet output is byte-stable for equal frames."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        path = directory / f"{name}.{fmt}"
        if fmt == "parquet":
            df.to_parquet(path, index=False, compression="zstd")
        else:
            df.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S")


def load_truth(directory: Path | str) -> dict[str, pd.DataFrame]:
    """The simulator's ground truth tables, empty when the dataset is not simulated."""
    truth = Path(directory) / "truth"
    if not truth.is_dir():
        return {}
    return {p.stem: _read(p) for p in sorted(truth.iterdir()) if p.suffix in SUFFIXES}


def write_until(
    directory: Path | str, until: pd.Timestamp, out: Path | str, *, keep_all: bool = False
) -> None:
    """Write the dataset as it stood before ``until``: the orders placed earlier (with
    their fulfillments), earlier inventory snapshots and purchase orders, the master data;
    demand and substitutions are left out unless ``keep_all`` (then their earlier rows are
    kept: what the substitution and demand models train on). What a model trained that
    day learnt from, for monitoring it on what came after (``benchmarks/monitoring.py``,
    the tests)."""
    tables, _ = read_tables(Path(directory))
    orders = tables["orders"]
    orders = orders[pd.to_datetime(orders["order_ts"]) < until]
    kept = set(orders["order_id"].astype(str))
    tables["orders"] = orders
    fulfillments = tables["fulfillments"]
    tables["fulfillments"] = fulfillments[fulfillments["order_id"].astype(str).isin(kept)]
    inventory = tables["inventory"]
    tables["inventory"] = inventory[pd.to_datetime(inventory["snapshot_date"]) < until]
    if "purchase_orders" in tables:
        po = tables["purchase_orders"]
        tables["purchase_orders"] = po[pd.to_datetime(po["order_date"]) < until]
    for name, column in (("demand", "date"), ("substitutions", "ts")):
        if keep_all and name in tables:
            table = tables[name]
            tables[name] = table[pd.to_datetime(table[column]) < until]
        else:
            tables.pop(name, None)
    write_tables(tables, out)
