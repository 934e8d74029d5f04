"""The data contract (SPEC §3): what a distributor's export must look like.

Each table is declared once as a :class:`TableSpec`; the pandera schema that checks
ranges, nulls and keys is built from it. Values arrive as text (CSV) or typed
(Parquet); :func:`validate_tables` first coerces every column to its contract type,
recording what does not parse, then runs the pandera checks, and returns either
fully typed frames or every violation found — never a partly valid dataset. How text
becomes each contract type is :mod:`features.contract_coercion`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from features.contract_coercion import COERCERS, KIND_WORDS, infer_free_column
from stockpilot.jsonable import plain

Kind = Literal["id", "text", "timestamp", "date", "number", "integer", "bool"]

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: Kind
    required: bool = True
    nullable: bool = False
    ge: float | None = None
    gt: float | None = None
    le: float | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    required: bool = True
    # Free columns with these prefixes are typed by inference and used by the models.
    free_prefixes: tuple[str, ...] = ()

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no contract column {name!r}")

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def _req(name: str, kind: Kind, **kw: float | None) -> ColumnSpec:
    return ColumnSpec(name, kind, required=True, **kw)


def _opt(name: str, kind: Kind, **kw: float | None) -> ColumnSpec:
    return ColumnSpec(name, kind, required=False, nullable=True, **kw)


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "items",
            (
                _req("item_id", "id"),
                _req("category", "text"),
                # A missing cost is a master-data finding, not a contract violation.
                ColumnSpec("unit_cost", "number", nullable=True, ge=0),
                _req("list_price", "number", ge=0),
                _opt("brand", "text"),
                _opt("description", "text"),
                _opt("pack_size", "number", gt=0),
                _opt("uom", "text"),
                _opt("supplier_id", "id"),
                _opt("lead_time_days", "number", ge=0),
                _opt("moq", "number", ge=0),
                _opt("order_multiple", "number", gt=0),
                _opt("active", "bool"),
            ),
            key=("item_id",),
            free_prefixes=("attr_",),
        ),
        TableSpec(
            "locations",
            (_req("location_id", "id"), _opt("region", "text"), _opt("kind", "text")),
            key=("location_id",),
        ),
        TableSpec(
            "customers",
            (
                _req("customer_id", "id"),
                _opt("segment", "text"),
                _opt("tier", "text"),
                _opt("region", "text"),
            ),
            key=("customer_id",),
        ),
        TableSpec(
            "carriers",
            (_req("carrier_id", "id"), _opt("mode", "text")),
            key=("carrier_id",),
            required=False,
        ),
        TableSpec(
            "orders",
            (
                _req("order_id", "id"),
                _req("line_no", "integer", ge=0),
                _req("order_ts", "timestamp"),
                _req("customer_id", "id"),
                _req("item_id", "id"),
                _req("location_id", "id"),
                _req("qty", "number", gt=0),
                _req("unit_price", "number", ge=0),
                _req("promised_date", "date"),
                _opt("discount_pct", "number", ge=0, le=100),
                _opt("requested_date", "date"),
                _opt("carrier_id", "id"),
                _opt("ship_method", "text"),
                _opt("priority", "text"),
            ),
            key=("order_id", "line_no"),
            free_prefixes=("x_",),
        ),
        TableSpec(
            "fulfillments",
            (
                _req("order_id", "id"),
                _req("line_no", "integer", ge=0),
                _req("shipped_qty", "number", ge=0),
                _opt("ship_date", "date"),
                _opt("delivered_date", "date"),
                _opt("status", "text"),
                # Perfect order components where the WMS/TMS reports them (KPIs only).
                _opt("damaged", "bool"),
                _opt("documents_ok", "bool"),
            ),
            key=("order_id", "line_no"),
        ),
        TableSpec(
            "inventory",
            (
                _req("snapshot_date", "date"),
                _req("item_id", "id"),
                _req("location_id", "id"),
                _req("on_hand", "number", ge=0),
                _opt("allocated", "number", ge=0),
                _opt("reserved", "number", ge=0),
                _opt("quarantined", "number", ge=0),
                _opt("in_transit", "number", ge=0),
                _opt("in_transit_eta", "date"),
            ),
            key=("snapshot_date", "item_id", "location_id"),
        ),
        TableSpec(
            "demand",
            (
                _req("date", "date"),
                _req("item_id", "id"),
                _req("location_id", "id"),
                _req("qty", "number", ge=0),
                _opt("price", "number", ge=0),
                _opt("promo", "bool"),
            ),
            key=("date", "item_id", "location_id"),
            required=False,
            free_prefixes=("x_",),
        ),
        TableSpec(
            "substitutions",
            (
                _req("event_id", "id"),
                _req("ts", "timestamp"),
                _req("customer_id", "id"),
                _req("original_item_id", "id"),
                _req("offered_item_id", "id"),
                _req("accepted", "bool"),
                _opt("location_id", "id"),
                _opt("order_id", "id"),
                _opt("position", "integer", ge=1),
                _opt("original_unit_price", "number", ge=0),
                _opt("offered_unit_price", "number", ge=0),
            ),
            key=("event_id",),
            required=False,
            free_prefixes=("x_",),
        ),
        TableSpec(
            "purchase_orders",
            (
                _req("po_id", "id"),
                _req("item_id", "id"),
                _req("location_id", "id"),
                _req("qty", "number", gt=0),
                _req("order_date", "date"),
                _req("expected_date", "date"),
                _opt("received_date", "date"),
                _opt("received_qty", "number", ge=0),
            ),
            key=("po_id", "item_id", "location_id"),
            required=False,
        ),
    )
}

REQUIRED_TABLES = tuple(name for name, spec in TABLES.items() if spec.required)


@dataclass
class Violation:
    """One broken rule: where (table, column), what (rule) and the first offending rows."""

    table: str
    column: str | None
    rule: str
    n_rows: int = 0
    # (row number, offending value); rows are counted from 1 over data rows, header excluded.
    examples: list[tuple[int, object]] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        text = f"{where}: {self.rule}"
        if self.n_rows:
            shown = ", ".join(f"row {r}: {v!r}" for r, v in self.examples)
            text += f" — {self.n_rows} row(s), first: {shown}"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "n_rows": self.n_rows,
            "examples": [{"row": r, "value": plain(v, unknown="str")} for r, v in self.examples],
        }


def _examples(rows: pd.Series) -> list[tuple[int, object]]:
    """First offending (row number, value) pairs; ``rows`` is indexed by 0-based position."""
    head = rows.head(MAX_EXAMPLES)
    return [(int(i) + 1, v) for i, v in head.items()]


# --- schema -------------------------------------------------------------------------


def _checks(col: ColumnSpec) -> list[pa.Check]:
    checks = []
    if col.ge is not None:
        checks.append(pa.Check.ge(col.ge, error=f">= {col.ge:g}"))
    if col.gt is not None:
        checks.append(pa.Check.gt(col.gt, error=f"> {col.gt:g}"))
    if col.le is not None:
        checks.append(pa.Check.le(col.le, error=f"<= {col.le:g}"))
    return checks


def pandera_schema(spec: TableSpec, present: set[str]) -> pa.DataFrameSchema:
    """The pandera schema of a table's coerced frame, over the columns present."""
    columns = {
        c.name: pa.Column(checks=_checks(c), nullable=c.nullable, required=c.required)
        for c in spec.columns
        if c.name in present
    }
    return pa.DataFrameSchema(columns, unique=list(spec.key), strict=False, name=spec.name)


# --- validation ---------------------------------------------------------------------


def _coerce(name: str, df: pd.DataFrame, spec: TableSpec) -> tuple[pd.DataFrame, list[Violation]]:
    violations: list[Violation] = []
    df = df.reset_index(drop=True)
    out = {}
    for col in df.columns:
        s = df[col]
        if col in {c.name for c in spec.columns}:
            cspec = spec.column(col)
            typed, bad = COERCERS[cspec.kind](s)
            if bad.any():
                violations.append(
                    Violation(
                        name,
                        col,
                        f"type: expected {KIND_WORDS[cspec.kind]}",
                        int(bad.sum()),
                        _examples(s[bad]),
                    )
                )
            out[col] = typed
        elif any(str(col).startswith(p) for p in spec.free_prefixes):
            out[col] = infer_free_column(s)
        else:
            out[col] = s  # unknown extra column: kept, ignored by the models
    return pd.DataFrame(out, index=df.index), violations


def _pandera_violations(
    name: str, spec: TableSpec, typed: pd.DataFrame, raw: pd.DataFrame, already: set[str]
) -> list[Violation]:
    schema = pandera_schema(spec, set(typed.columns))
    try:
        schema.validate(typed, lazy=True)
        return []
    except SchemaErrors as err:
        cases = err.failure_cases
    violations: list[Violation] = []
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        if "uniqueness" in str(check) or "unique" in str(check):
            continue  # reported below with the whole key
        if column in already and check == "not_nullable":
            # Values that did not parse are already reported as a type error.
            continue
        idx = pd.to_numeric(group["index"], errors="coerce").dropna().astype(int).unique()
        rule = "must not be empty" if check == "not_nullable" else f"must be {check}"
        values = raw[column].iloc[idx] if column in raw.columns else pd.Series(dtype=object)
        violations.append(Violation(name, str(column), rule, len(idx), _examples(values)))
    dup = typed.duplicated(subset=list(spec.key), keep="first")
    if dup.any():
        keys = typed.loc[dup, list(spec.key)].astype(str).agg("/".join, axis=1)
        violations.append(
            Violation(
                name,
                ",".join(spec.key),
                f"duplicate key ({', '.join(spec.key)})",
                int(dup.sum()),
                _examples(keys),
            )
        )
    return violations


def validate_table(name: str, df: pd.DataFrame) -> tuple[pd.DataFrame | None, list[Violation]]:
    """Coerce and check one table. Returns the typed frame, or None with its violations."""
    spec = TABLES[name]
    missing = [c for c in spec.required_columns if c not in df.columns]
    if missing:
        return None, [
            Violation(
                name,
                c,
                "required column missing (columns found: " + ", ".join(map(str, df.columns)) + ")",
            )
            for c in missing
        ]
    typed, violations = _coerce(name, df, spec)
    bad_type_cols = {v.column for v in violations if v.column}
    violations += _pandera_violations(name, spec, typed, df.reset_index(drop=True), bad_type_cols)
    return (None, violations) if violations else (typed, [])


def validate_tables(
    tables: Mapping[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], list[Violation]]:
    """Validate a whole dataset: typed tables when every rule holds, else every violation."""
    violations: list[Violation] = []
    typed: dict[str, pd.DataFrame] = {}
    for name in REQUIRED_TABLES:
        if name not in tables:
            violations.append(Violation(name, None, "required table missing"))
    for name, df in tables.items():
        if name not in TABLES:
            violations.append(
                Violation(name, None, f"unknown table (expected one of: {', '.join(TABLES)})")
            )
            continue
        frame, found = validate_table(name, df)
        violations += found
        if frame is not None:
            typed[name] = frame
    return ({} if violations else typed), violations
