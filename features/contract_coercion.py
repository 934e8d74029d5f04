"""How a column's values become their contract type (:mod:`features.contract`).

Each coercer takes the column as it was read (text from CSV, or typed from Parquet) and
returns the typed column and a mask of the values that did not parse, so that validation
can name every one of them; blanks are missing values, never errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRUE_TOKENS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_TOKENS = frozenset({"false", "f", "no", "n", "0", "0.0"})


def _blank_to_na(s: pd.Series) -> pd.Series:
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        stripped = s.astype("string").str.strip()
        return stripped.mask(stripped == "", pd.NA)
    return s


def _to_id(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    # Integral floats (an ID column read with NaN in it) must not become "17.0".
    if pd.api.types.is_float_dtype(s):
        integral = s.dropna().eq(np.floor(s.dropna())).all()
        if integral:
            s = s.astype("Int64")
    out = _blank_to_na(s.astype("string") if not pd.api.types.is_string_dtype(s) else s)
    return out.astype(object).where(out.notna(), None), pd.Series(False, index=s.index)


def _to_text(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    return _to_id(s)


def _to_number(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float), pd.Series(False, index=s.index)
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float), pd.Series(False, index=s.index)
    raw = _blank_to_na(s)
    out = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = raw.notna() & out.isna()
    return out, bad


def _to_integer(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    out, bad = _to_number(s)
    fractional = out.notna() & (out != np.round(out))
    return out.where(~fractional).astype("Int64"), bad | fractional


def _to_timestamp(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_convert("UTC").dt.tz_localize(None)
        return out.astype("datetime64[ns]"), pd.Series(False, index=s.index)
    raw = _blank_to_na(s.astype("string") if not pd.api.types.is_string_dtype(s) else s)
    out = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
    out = out.dt.tz_localize(None).astype("datetime64[ns]")
    bad = raw.notna() & out.isna()
    return out, bad


def _to_date(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    out, bad = _to_timestamp(s)
    return out.dt.normalize(), bad


def _to_bool(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean"), pd.Series(False, index=s.index)
    raw = _blank_to_na(s.astype("string"))
    lowered = raw.str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[lowered.isin(TRUE_TOKENS).fillna(False).astype(bool)] = True
    out[lowered.isin(FALSE_TOKENS).fillna(False).astype(bool)] = False
    bad = raw.notna() & out.isna()
    return out, bad


COERCERS = {
    "id": _to_id,
    "text": _to_text,
    "number": _to_number,
    "integer": _to_integer,
    "timestamp": _to_timestamp,
    "date": _to_date,
    "bool": _to_bool,
}
KIND_WORDS = {
    "id": "an identifier",
    "text": "text",
    "number": "a number",
    "integer": "a whole number",
    "timestamp": "a date-time",
    "date": "a date",
    "bool": "true/false",
}


def infer_free_column(s: pd.Series) -> pd.Series:
    """Type an ``x_*``/``attr_*`` column: numeric if every value parses, else text."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float)
    num, bad = _to_number(s)
    if not bad.any():
        return num
    flag, bad_flag = _to_bool(s)
    if not bad_flag.any():
        return flag.astype("Float64").astype(float)
    text, _ = _to_text(s)
    return text
