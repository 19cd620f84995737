"""How a report shows a table: one helper every report table goes through.

:func:`show_table` turns a DataFrame into an HTML-escaped pandas Styler with

- no pandas index column unless the index carries meaning: a default ``RangeIndex`` (or an
  unnamed 0..n-1) is hidden, a named or non-integer index becomes ordinary leading columns;
- numbers right-aligned and kept on one line, with the same number of decimals down a
  column (``decimals=`` per column, else the fewest, up to :data:`MAX_DECIMALS`, that show
  every value exactly);
- text left-aligned, missing values as "—", booleans as 是/否;
- units in the header (``units={"覆盖率": "%"}`` gives the header ``覆盖率(%)``).

Width is settled when the page is printed (:mod:`cityanalytics.report.paging`): a table wider
than the portrait page goes on a landscape page, and one wider than that is split into column
groups that repeat the key column.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cityanalytics.text import BLANK, missing, yes_no

MAX_DECIMALS = 3
TABLE_CLASS = "ca-table"
# Text that reads as a number: 97.5, -1,234, 12%, <0.001, 0.82*, 97.5%–98.0%, 2.3 (1.1, 3.5)
_NUMBER_TEXT = re.compile(r"^[<>≤≥~±+\-−]?\s*[\d.,]+\s*%?\*{0,3}(\s*[(\[（]?\s*[\-−]?[\d.,]+%?\s*[–~,\-−、]\s*[\-−]?[\d.,]+%?\s*[)\]）]?)?$")


def meaningful_index(index: pd.Index) -> bool:
    """False for a default 0..n-1 index (a RangeIndex, or unnamed integers 0..n-1)."""
    if isinstance(index, pd.MultiIndex):
        return True
    if isinstance(index, pd.RangeIndex) and index.name is None:
        return False
    if index.name is None and pd.api.types.is_integer_dtype(index) and list(index) == list(range(len(index))):
        return False
    return index.name is not None or not pd.api.types.is_integer_dtype(index)


def decimals_for(values: pd.Series, cap: int = MAX_DECIMALS) -> int:
    """The fewest decimals (up to ``cap``) that show every finite value of ``values`` exactly."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    for d in range(cap + 1):
        if np.all(np.abs(x - np.round(x, d)) < 1e-9 * np.maximum(1.0, np.abs(x))):
            return d
    return cap


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _reads_as_number(series: pd.Series) -> bool:
    """A text column whose every shown value is a formatted number (or missing)."""
    shown = [str(v).strip() for v in series if not missing(v) and str(v).strip() not in ("", BLANK, "-")]
    return bool(shown) and all(_NUMBER_TEXT.match(v) for v in shown)


def _header(column, units: dict) -> str:
    unit = units.get(column)
    return f"{column}({unit})" if unit else str(column)


def prepare(df: pd.DataFrame, units: dict | None = None) -> pd.DataFrame:
    """``df`` with a meaningful index made into columns and units written into the headers."""
    frame = df.reset_index() if meaningful_index(df.index) else df
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.copy()
        frame.columns = [" ".join(str(p) for p in col if str(p) != "") for col in frame.columns]
    units = units or {}
    if units:
        frame = frame.rename(columns={c: _header(c, units) for c in frame.columns})
    return frame


def show_table(df: pd.DataFrame, *, decimals: dict | int | None = None, units: dict | None = None,
               caption: str | None = None) -> "pd.io.formats.style.Styler":
    """The report view of ``df`` (see the module docstring). ``decimals``: one number for every
    float column or a dict by column (original names); ``units``: header units by column."""
    frame = prepare(df, units)
    renamed = {c: _header(c, units or {}) for c in df.columns}
    if isinstance(decimals, dict):
        decimals = {renamed.get(k, k): v for k, v in decimals.items()}
    styler = frame.style.hide(axis="index")
    numeric, right = [], []
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series):
            styler = styler.format(yes_no, subset=[column])
        elif _is_numeric(series):
            d = decimals.get(column) if isinstance(decimals, dict) else decimals
            if d is None:
                d = 0 if pd.api.types.is_integer_dtype(series) else decimals_for(series)
            styler = styler.format(f"{{:.{d}f}}", subset=[column], na_rep=BLANK)
            numeric.append(column)
        else:
            styler = styler.format(lambda v: BLANK if missing(v) else str(v), subset=[column], escape="html")
            if _reads_as_number(series):
                right.append(column)
    styler = styler.format_index(escape="html", axis=1)
    styles = {}
    for column in frame.columns:
        align = "right" if column in numeric or column in right else "left"
        props = f"text-align: {align};" + (" white-space: nowrap;" if align == "right" else "")
        styles[column] = [{"selector": "td", "props": props}, {"selector": "th", "props": f"text-align: {align};"}]
    styler = styler.set_table_styles(styles, overwrite=False).set_table_attributes(f'class="{TABLE_CLASS}"')
    if caption:
        styler = styler.set_caption(_escape(caption))
    return styler


def table_html(df: pd.DataFrame, **kwargs) -> str:
    """:func:`show_table` as an HTML string (for ``_repr_html_``)."""
    return show_table(df, **kwargs).to_html()


def _escape(text: str) -> str:
    from html import escape

    return escape(str(text))
