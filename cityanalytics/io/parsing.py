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
_LINE_CONTROLS = r"[\t\n\r\v\f]+"
_OTHER_CONTROLS = r"[\x00-\x08\x0e-\x1f\x7f-\x9f]"
EMPTY_MARKERS = {"", "-", "--", "—", "——", "/", "null", "none", "nan", "n/a", "#n/a", "nat"}
EXCEL_EPOCH = datetime(1899, 12, 30)
# A bare number in a date column is read as an Excel serial day only when it falls in
# 1990-01-01 .. 2100-12-31 (load notes how many were); 20000 (1954) is more likely a count or
# an id than a date, so it is rejected saying what it looks like.
EXCEL_SERIAL_RANGE = (32874, 73416)
DATE_RANGE = (1900, 2100)  # years a date may fall in; 9999-12-31 is a placeholder, not a date
# Whole numbers beyond 2**53 lose digits in a float and overflow int64 near 9.2e18.
INT_LIMIT = 2 ** 53
_THOUSANDS = {".": re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?%?$"),
              ",": re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d*)?%?$")}

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


def fold_text(values: pd.Series, free_text: bool = False) -> pd.Series:
    """Cells as trimmed text; ids, codes, numbers and dates NFKC-folded (２０ -> 20).

    Free text (descriptions) is kept as written: folding would turn ① into 1 and ㎡ into m2.
    """
    text = values.astype("string").fillna("")
    if not free_text:
        # Ids, codes, names and labels: tabs and line breaks become a space, other control
        # characters are dropped (a name pasted with a stray \x01 is still its name).
        text = text.str.normalize("NFKC").str.replace(_LINE_CONTROLS, " ", regex=True)
        text = text.str.replace(_OTHER_CONTROLS, "", regex=True)
    return text.str.strip()


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


def _ungroup(text: str, decimal: str = ".") -> str:
    """Drop thousands separators where the grouping is valid (1,234,567); turn a decimal
    comma into a point when the caller says the file uses one; refuse other commas."""
    t = text.replace(" ", "")
    group = "," if decimal == "." else "."
    if _THOUSANDS[decimal].match(t):
        t = t.replace(group, "")
    elif group in t and decimal == ",":
        raise ParseFailure(f"expected a number; {text!r} has a '.' that is neither a decimal point "
                           "(the file is read with decimal=',') nor a valid thousands grouping")
    elif "," in t and decimal == ".":
        raise ParseFailure(f"expected a number; the comma in {text!r} is not a valid thousands grouping "
                           "(1,234,567): a decimal comma? load with decimal=',' (recipe: decimal: ',')")
    return t.replace(",", ".") if decimal == "," else t


def parse_number(text: str, percent: bool = False, decimal: str = ".") -> float:
    t = _ungroup(text, decimal)
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
    number = float(t)
    if not np.isfinite(number):
        raise ParseFailure(f"number out of range ({text})")
    return number


def parse_int(text: str, decimal: str = ".") -> int:
    number = parse_number(text, decimal=decimal)
    if abs(number) >= INT_LIMIT:
        raise ParseFailure(f"number out of range for a count ({text}; at most {INT_LIMIT:,})")
    if number != int(number):
        raise ParseFailure("expected a whole number")
    return int(number)


def _make_datetime(y, mo, d, h=None, mi=None, s=None) -> datetime:
    try:
        out = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError as exc:
        raise ParseFailure(f"not a valid date or time ({exc})") from None
    return _in_range(out)


def _in_range(moment: datetime) -> datetime:
    if not DATE_RANGE[0] <= moment.year <= DATE_RANGE[1]:
        raise ParseFailure(f"date out of range {DATE_RANGE[0]}..{DATE_RANGE[1]}")
    return moment


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
        raise ParseFailure(f"expected a date, got a bare number: {_looks_like(serial)}; write the date "
                           "as 2022-08-01")
    raise ParseFailure("expected a date such as 2022-08-01, 2022/8/1 or 2022年8月1日")


def _looks_like(serial: float) -> str:
    """What a bare number in a date column could be, said to the user."""
    if serial.is_integer() and 1900 <= serial <= 2100:
        return f"{serial:.0f} looks like a year"
    if 0 < serial < 2_958_466:
        as_date = EXCEL_EPOCH + timedelta(days=int(serial))
        return (f"{serial:g} as an Excel serial day would be {as_date:%Y-%m-%d}, outside "
                f"{EXCEL_SERIAL_RANGE[0]}..{EXCEL_SERIAL_RANGE[1]} (1990..2100); a count or an id?")
    return f"{serial:g} is no date"


def parse_with_format(text: str, fmt: str) -> datetime:
    try:
        return _in_range(datetime.strptime(text, fmt))
    except ValueError:
        raise ParseFailure(f"does not match the date format {fmt!r}") from None


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


def parse_column(values: pd.Series, kind: str, *, free_text: bool = False, decimal: str = ".",
                 date_format: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Parse a raw column; returns (typed values, reasons) where reasons is NA for good cells.

    free_text: a description kept as written (no NFKC folding; only a blank cell is empty,
        "null" or "-" is what someone wrote). decimal: "," for a decimal comma (3,5 -> 3.5).
    date_format: a strptime format every non-empty cell of a date column must match.
    """
    if decimal not in (".", ","):
        raise ValueError(f"decimal must be '.' or ',', got {decimal!r}")
    typed = _typed_fast_path(values, kind)
    if typed is not None:
        return typed, pd.Series(pd.NA, index=values.index, dtype="string")
    if kind == "str":
        return _parse_str(values, free_text)

    text = _as_text(values)
    empty = text.str.lower().isin(EMPTY_MARKERS)
    if date_format is not None and kind in ("datetime", "date"):
        parsed, leftover = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]"), ~empty
    elif decimal == "," and kind in ("int", "float", "percent"):
        parsed, leftover = pd.Series(pd.NA, index=text.index, dtype=DTYPES[kind]), ~empty
    else:
        parsed, leftover = _vectorised(text, kind, empty)
    reasons = pd.Series(pd.NA, index=values.index, dtype="string")
    if leftover.any():
        parser = SCALAR_PARSERS[kind]
        if date_format is not None and kind in ("datetime", "date"):
            parser = lambda t: parse_with_format(t, date_format)  # noqa: E731
            if kind == "date":
                parser = lambda t: parse_with_format(t, date_format).replace(hour=0, minute=0, second=0)  # noqa: E731
        elif decimal == "," and kind in ("int", "float", "percent"):
            parser = {"int": lambda t: parse_int(t, decimal=","), "float": lambda t: parse_number(t, decimal=","),
                      "percent": lambda t: parse_number(t, percent=True, decimal=",")}[kind]
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


def _whole_float_as_digits(value: object) -> object:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2.0 ** 63:
        return str(int(value))
    return value


def _parse_str(values: pd.Series, free_text: bool = False) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_float_dtype(values.dtype):
        # A float column read from SQL/Parquet holding ids: write whole numbers without going
        # through str(float) (which gives 3.2e+17 for an 18-digit id).
        whole = values.notna() & (values == values.round()) & (values.abs() < 2.0 ** 63)
        values = values.astype(object).where(~whole, values[whole].map(lambda v: str(int(v))))
    elif pd.api.types.is_object_dtype(values.dtype):
        # Cells a reader handed as Python numbers (a float cell among text): the same rule per cell.
        values = values.map(_whole_float_as_digits)
    text = fold_text(values, free_text)
    if free_text:
        out = text.mask(text == "").astype("string")
    else:
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
        # Commas only as valid thousands groupings (1,234,567); "3,5" goes to the scalar parser,
        # which says it may be a decimal comma.
        grouped = text.str.match(_THOUSANDS["."].pattern)
        cleaned = text.where(~grouped, text.str.replace(",", "", regex=False))
        cleaned = cleaned.mask(empty | (~grouped & text.str.contains(",", regex=False)))
        parsed = pd.to_numeric(cleaned, errors="coerce").astype("Float64")
        out_of_range = parsed.notna() & ~np.isfinite(parsed.fillna(0).to_numpy(dtype=float))
        if kind == "int":
            out_of_range |= parsed.notna() & (parsed.abs() >= INT_LIMIT)
        parsed = parsed.mask(out_of_range)
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
        year = pd.to_numeric(text.str[:4].where(iso), errors="coerce")
        iso &= year.between(*DATE_RANGE)  # 9999-12-31 would overflow pandas; the scalar parser says why
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
