"""Shared pieces for indicators whose sums are computed by a query engine (through Ibis):
the table on the engine, which columns hold values, and t intervals from per-group moments."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.engines.connect import source_table, to_frame
from cityanalytics.stats.intervals import _alpha


def engine_table(con, source, name: str):
    """``source`` (a canonical table as pandas, a Parquet path, ``table:NAME`` or an Ibis table)
    as an Ibis table on ``con``. Month columns (pandas Periods) go to the engine as ``YYYY-MM``
    text, as the canonical Parquet files store them."""
    if isinstance(source, pd.DataFrame):
        periods = [c for c in source.columns if isinstance(source[c].dtype, pd.PeriodDtype)]
        if periods:
            source = source.assign(**{c: source[c].dt.strftime("%Y-%m").where(source[c].notna(), None)
                                      for c in periods})
    return source_table(con, source, name=name)


def profile(con, table, **extra) -> tuple[dict[str, bool], pd.Series]:
    """Whether each column holds a value, and ``extra`` aggregates, in one scan."""
    columns = list(table.columns)
    exprs = {f"c{i}": table[c].count() for i, c in enumerate(columns)}
    exprs.update(extra)
    row = to_frame(con, table.aggregate(**exprs)).iloc[0]
    return {c: bool(row[f"c{i}"] > 0) for i, c in enumerate(columns)}, row


def moments(x) -> dict:
    """Count, sum and sum of squares of a numeric column: what a t interval needs, additive
    over groups (so city rows are sums of unit rows)."""
    x = x.cast("float64")
    return {"n": x.count(), "s": x.sum(), "ss": (x * x).sum()}


def t_mean(m: pd.DataFrame, level: float) -> pd.DataFrame:
    """Mean and t interval per row of ``m`` (columns n, s, ss), as ``grouped_t_mean`` gives
    from the records: sd is the sample standard deviation, no interval below two values."""
    n = m["n"].to_numpy(float)
    s = m["s"].to_numpy(float)
    ss = m["ss"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s / n, np.nan)
        var = np.where(n >= 2, np.maximum(ss - s * mean, 0.0) / (n - 1), np.nan)
    tq = stats.t.ppf(1 - _alpha(level) / 2, np.maximum(n - 1, 1))
    half = np.where(n >= 2, tq * np.sqrt(var) / np.sqrt(np.maximum(n, 1)), np.nan)
    out = m.copy()
    out["n"] = n.astype(int)
    out["mean"], out["ci_low"], out["ci_high"] = mean, mean - half, mean + half
    return out


def rolled_up(rows: pd.DataFrame, keys: list[str], sums: list[str], include_city: bool, city: str) -> pd.DataFrame:
    """Per-unit sums (rows with no unit dropped) and, with ``include_city``, the city's (every
    row, with or without a unit), sorted by the keys as a sorted groupby would give them."""
    units = rows.dropna(subset=["unit_id"])
    parts = [units.groupby(keys, sort=False, dropna=True)[sums].sum(min_count=1).reset_index()]
    if include_city:
        rest = [k for k in keys if k != "unit_id"]
        c = (rows.groupby(rest, sort=False, dropna=True)[sums].sum(min_count=1).reset_index() if rest
             else rows[sums].sum(min_count=1).to_frame().T)
        parts.append(c.assign(unit_id=city)[keys + sums])
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)
