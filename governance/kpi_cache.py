"""The KPI facts of a dataset, built once and kept on disk.

Building them means loading and validating the whole export (seconds to minutes), so
they are written as one ``.npz`` under the cache directory, keyed by the dataset's
fingerprint (its table files' names, sizes and modification times) and by a hash of the
code that builds them: a restart reads them in about a second, and facts of older code or
of another export are never read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, fields
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.kpis.dims import Dims
from features.kpis.lines import LineFacts, build_lines
from features.kpis.stock import StockFacts, build_stock
from stockpilot.errors import NotReady

log = logging.getLogger(__name__)
TABLE_SUFFIXES = (".parquet", ".csv")
FACT_MODULES = ("dims.py", "lines.py", "stock.py", "weights.py")


def dataset_fingerprint(directory: Path) -> str:
    """Names, sizes and modification times of the table files (not ``truth/``)."""
    digest = hashlib.sha256()
    for path in sorted(Path(directory).iterdir()):
        if path.is_file() and path.suffix in TABLE_SUFFIXES and not path.name.startswith("."):
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def facts_code_version() -> str:
    """A hash of the code that builds the facts: cached facts of older code are rebuilt."""
    digest = hashlib.sha256()
    for name in FACT_MODULES:
        digest.update((files("features") / "kpis" / name).read_bytes())
    return digest.hexdigest()[:12]


@dataclass
class Base:
    """The dataset's facts before anything live is applied."""

    fingerprint: str
    dims: Dims
    lines: LineFacts
    stock: StockFacts
    segment_of_customer: pd.Series
    seconds: float
    source: str  # "built" or "disk cache"


def load_base(data_dir: Path, cache_dir: Path | None) -> Base:
    """The dataset's facts: from the disk cache when it holds them, else built (and
    written there)."""
    from stockpilot.data import load_dataset

    if not data_dir.is_dir():
        raise NotReady(f"KPIs need a dataset: {data_dir} does not exist")
    fingerprint = dataset_fingerprint(data_dir)
    cached = _read(cache_dir, fingerprint)
    if cached is not None:
        return cached
    t0 = time.perf_counter()
    ds = load_dataset(data_dir)
    dims = Dims.from_dataset(ds)
    customers = ds.customers.drop_duplicates("customer_id")
    segment = (
        pd.Series(customers["segment"].to_numpy(), index=customers["customer_id"].astype(str))
        if "segment" in customers.columns
        else pd.Series(dtype=object)
    )
    base = Base(
        fingerprint,
        dims,
        build_lines(ds, dims),
        build_stock(ds, dims),
        segment,
        time.perf_counter() - t0,
        "built",
    )
    _write(cache_dir, base)
    return base


def _path(cache_dir: Path | None, fingerprint: str) -> Path | None:
    if cache_dir is None:
        return None
    return cache_dir / f"kpis-{facts_code_version()}-{fingerprint}.npz"


def _read(cache_dir: Path | None, fingerprint: str) -> Base | None:
    path = _path(cache_dir, fingerprint)
    if path is None or not path.exists():
        return None
    t0 = time.perf_counter()
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        dims = Dims(
            {k.split(".", 1)[1]: _objects(v) for k, v in arrays.items() if k.startswith("dims.")}
        )
        segment = pd.Series(
            _objects(arrays["segment.values"]), index=_objects(arrays["segment.index"])
        )
        return Base(
            fingerprint,
            dims,
            _unpack(LineFacts, arrays, "lines."),
            _unpack(StockFacts, arrays, "stock."),
            segment,
            time.perf_counter() - t0,
            "disk cache",
        )
    except (OSError, KeyError, ValueError) as err:
        log.warning("KPI cache %s unreadable (%s); rebuilding", path, err)
        return None


def _write(cache_dir: Path | None, base: Base) -> None:
    path = _path(cache_dir, base.fingerprint)
    if path is None:
        return
    arrays = {
        **{f"dims.{k}": v.astype(str) for k, v in base.dims.labels.items()},
        **_pack(base.lines, "lines."),
        **_pack(base.stock, "stock."),
        "segment.index": base.segment_of_customer.index.to_numpy().astype(str),
        "segment.values": base.segment_of_customer.fillna("").astype(str).to_numpy().astype(str),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
        for old in path.parent.glob("kpis-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as err:  # a cache that cannot be written only costs the next start
        log.warning("KPI cache not written to %s: %s", path, err)


def _pack(obj: Any, prefix: str) -> dict[str, np.ndarray]:
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        array = np.asarray(value)
        out[prefix + f.name] = array.astype(str) if array.dtype == object else array
    return out


def _unpack(cls: type, arrays: dict[str, np.ndarray], prefix: str) -> Any:
    values = {}
    for f in fields(cls):
        array = arrays[prefix + f.name]
        values[f.name] = array.item() if array.ndim == 0 else _objects(array)
    return cls(**values)


def _objects(array: np.ndarray) -> np.ndarray:
    return array.astype(object) if array.dtype.kind == "U" else array
