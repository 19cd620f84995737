"""Parse raw cell values into typed columns.

Real exports write the same value in many ways: full-width digits (２０２２), "98.83%",
"359,830", 2022年8月1日, 2022/8/1, 20220801, Excel serial days (44774), "是"/"否". Each
parser takes a column of raw values (strings from CSV/Excel, or values already typed by
Parquet/SQL) and returns the typed column plus, for each cell it could not read, the
reason. Empty cells become missing values; whether missing is allowed is the schema's call.

Vectorised pandas parsing handles the common spellings; only the cells it leaves over go
through the slower per-value parsers, one call per distinct value.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from cityanalytics.schemas import DTYPES

# Cell texts that mean "no value" in Chinese exports.
EMPTY_MARKERS = {"", "-", "--", "—", "——", "/", "null", "none", "nan", "n/a", "#n/a", "nat"}
EXCEL_EPOCH = datetime(1899, 12, 30)
EXCEL_SERIAL_RANGE = (20000, 80000)  # 1954 .. 2119: a bare number here in a date column is a serial day

TRUE_WORDS = {"是", "true", "t", "yes", "y", "1", "有", "√", "已返工", "返工"}
FALSE_WORDS = {"否", "false", "f", "no", "n", "0", "无", "×", "未返工"}

_DATE_CN = re.compile(
    r"^(\d{4})年(\d{1,2})月(\d{1,2})[日号]?"
    r"(?:\s*(\d{1,2})[时点:](?:(\d{1,2})分?)?(?::?(\d{1,2})秒?)?)?$"
)
_DATE_SEP = re.compile(
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?$"
)
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?$")
_MONTH = re.compile(r"^(\d{4})(?:[-/.年]\s*(\d{1,2})月?|(\d{2}))$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_NUMBER_WITH_UNIT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)\s*([^\d\s.%].*)$")


def normalize_text(value: object) -> str:
    """NFKC (full-width to half-width), trimmed; '' for missing."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return unicodedata.normalize("NFKC", str(value)).strip()


def is_empty_text(text: str) -> bool:
    return text.lower() in EMPTY_MARKERS


class ParseFailure(ValueError):
    """One cell that does not parse; the message is the reason shown to the user."""


# ---- scalar parsers: one normalised, non-empty text in, a value or ParseFailure out ----


def parse_number(text: str, percent: bool = False) -> float:
    t = text.replace(",", "").replace(" ", "")
    if t.endswith("%"):
        if not percent:
            raise ParseFailure("expected a number, got a percentage")
        t = t[:-1]
    if not _NUMBER.match(t):
        unit = _NUMBER_WITH_UNIT.match(text.strip())
        if unit:
            raise ParseFailure(f"expected a number, got a number with a unit or text after it ({unit.group(3)!r}); "
                               "the column's unit is fixed, so write the number only")
        raise ParseFailure("expected a number")
    return float(t)


def parse_int(text: str) -> int:
    number = parse_number(text)
    if number != int(number):
        raise ParseFailure("expected a whole number")
    return int(number)


def _make_datetime(y, mo, d, h=None, mi=None, s=None) -> datetime:
    try:
        return datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError as exc:
        raise ParseFailure(f"not a valid date or time ({exc})") from None


def parse_datetime(text: str) -> datetime:
    for pattern in (_DATE_SEP, _DATE_CN, _DATE_COMPACT):
        m = pattern.match(text)
        if m:
            return _make_datetime(*m.groups())
    if _NUMBER.match(text):
        serial = float(text)
        if EXCEL_SERIAL_RANGE[0] <= serial < EXCEL_SERIAL_RANGE[1]:
            # Excel counts days from 1899-12-30 (its 1900 leap-year bug is before this range).
            # Exports write serials with 15 significant digits (44774.3854166667), which is
            # microseconds off; Excel itself keeps milliseconds, so round to those.
            return EXCEL_EPOCH + timedelta(milliseconds=round(serial * 86_400_000))
    raise ParseFailure("expected a date such as 2022-08-01, 2022/8/1 or 2022年8月1日")


def parse_month(text: str) -> pd.Period:
    m = _MONTH.match(text)
    if m:
        year, month = m.group(1), m.group(2) or m.group(3)
        if 1 <= int(month) <= 12:
            return pd.Period(year=int(year), month=int(month), freq="M")
    try:
        return pd.Period(parse_datetime(text), freq="M")
    except ParseFailure:
        raise ParseFailure("expected a month such as 2022-08 or 2022年8月") from None


def parse_bool(text: str) -> bool:
    t = text.lower()
    if t in TRUE_WORDS:
        return True
    if t in FALSE_WORDS:
        return False
    raise ParseFailure("expected yes/no (是/否, 1/0, true/false)")


SCALAR_PARSERS = {
    "int": parse_int,
    "float": parse_number,
    "percent": lambda t: parse_number(t, percent=True),
    "datetime": parse_datetime,
    "date": lambda t: parse_datetime(t).replace(hour=0, minute=0, second=0, microsecond=0),
    "month": parse_month,
    "bool": parse_bool,
}


# ---- column parsers ----


def parse_column(values: pd.Series, kind: str) -> tuple[pd.Series, pd.Series]:
    """Parse a raw column; returns (typed values, reasons) where reasons is NA for good cells."""
    typed = _typed_fast_path(values, kind)
    if typed is not None:
        return typed, pd.Series(pd.NA, index=values.index, dtype="string")
    if kind == "str":
        return _parse_str(values)

    text = _as_text(values)
    empty = text.str.lower().isin(EMPTY_MARKERS)
    parsed, leftover = _vectorised(text, kind, empty)
    reasons = pd.Series(pd.NA, index=values.index, dtype="string")
    if leftover.any():
        parser = SCALAR_PARSERS[kind]
        outcome: dict[str, tuple[object, str | None]] = {}
        for u in pd.unique(text[leftover]):
            try:
                outcome[u] = (parser(u), None)
            except ParseFailure as failure:
                outcome[u] = (None, str(failure))
        left_text = text[leftover]
        values_left = left_text.map(lambda u: outcome[u][0])
        reasons[leftover] = left_text.map(lambda u: outcome[u][1]).astype("string")
        parsed = _fill(parsed, leftover, values_left, kind)
    return parsed, reasons


def _as_text(values: pd.Series) -> pd.Series:
    text = values.astype("string").fillna("")
    text = text.str.normalize("NFKC").str.strip()
    return text


def _parse_str(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = _as_text(values)
    # A float column read from SQL/Parquet holding ids prints as "123.0"; keep the integer form.
    if pd.api.types.is_float_dtype(values.dtype):
        text = text.str.replace(r"\.0$", "", regex=True)
    out = text.mask(text.str.lower().isin(EMPTY_MARKERS - {"none"}) | (text == "")).astype("string")
    return out, pd.Series(pd.NA, index=values.index, dtype="string")


def _typed_fast_path(values: pd.Series, kind: str) -> pd.Series | None:
    """Columns that Parquet or SQL already typed correctly need no text parsing."""
    dtype = values.dtype
    if kind in ("datetime", "date") and pd.api.types.is_datetime64_any_dtype(dtype):
        out = values
        if getattr(dtype, "tz", None) is not None:
            out = out.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
        out = out.astype("datetime64[ns]")
        return out.dt.normalize() if kind == "date" else out
    if kind == "month" and isinstance(dtype, pd.PeriodDtype):
        return values.dt.asfreq("M")
    if kind in ("float", "percent") and pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return values.astype("Float64")
    if kind == "int" and pd.api.types.is_integer_dtype(dtype):
        return values.astype("Int64")
    if kind == "bool" and pd.api.types.is_bool_dtype(dtype):
        return values.astype("boolean")
    if kind == "bool" and pd.api.types.is_numeric_dtype(dtype) and values.dropna().isin([0, 1]).all():
        # A 0/1 flag from SQL or Parquet: integers, or floats once a NULL is among them.
        return values.astype("Float64").astype("boolean")
    return None


def _vectorised(text: pd.Series, kind: str, empty: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse the common spellings fast; return the parsed column and a mask of cells left over."""
    if kind in ("int", "float", "percent"):
        cleaned = text.str.replace(",", "", regex=False)
        parsed = pd.to_numeric(cleaned.mask(empty), errors="coerce").astype("Float64")
        leftover = parsed.isna() & ~empty
        if kind == "int":
            fractional = parsed.notna() & (parsed != parsed.round())
            leftover |= fractional
            parsed = parsed.mask(fractional)
            parsed = parsed.round().astype("Int64")
        return parsed, leftover
    if kind in ("datetime", "date"):
        # Only the strict ISO spelling goes through pandas: its looser guessing would read
        # 44774 as nanoseconds or 08/01 by locale; the rest go to parse_datetime.
        iso = text.str.match(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$") & ~empty
        parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
        if iso.any():
            parsed[iso] = pd.to_datetime(text[iso], format="ISO8601", errors="coerce").astype("datetime64[ns]")
        leftover = parsed.isna() & ~empty
        if kind == "date":
            parsed = parsed.dt.normalize()
        return parsed, leftover
    if kind == "month":
        return pd.Series(pd.NaT, index=text.index, dtype="period[M]"), ~empty
    if kind == "bool":
        lower = text.str.lower()
        parsed = pd.Series(pd.NA, index=text.index, dtype="boolean")
        parsed[lower.isin(TRUE_WORDS)] = True
        parsed[lower.isin(FALSE_WORDS)] = False
        return parsed, parsed.isna() & ~empty
    raise ValueError(f"unknown kind {kind!r}")


def _fill(parsed: pd.Series, mask: pd.Series, values: pd.Series, kind: str) -> pd.Series:
    dtype = DTYPES[kind]
    if kind == "month":
        filled = parsed.astype(object)
        filled[mask] = values.where(values.notna(), pd.NaT)
        return pd.Series(pd.PeriodIndex(filled, freq="M"), index=parsed.index)
    filled = parsed.astype(object)
    filled[mask] = values
    filled = filled.where(filled.notna(), None)
    if kind in ("datetime", "date"):
        return pd.to_datetime(filled).astype(dtype)
    return pd.Series(filled, index=parsed.index).astype(dtype)
