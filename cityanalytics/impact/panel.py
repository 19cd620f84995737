"""Unit x period panels for impact models, built from the canonical tables.

Every panel is a long frame with one row per unit and period::

    unit_id | period (first day) | period_end (last day) | days | <outcome columns>

``days`` is the number of days of the period inside the data window: the exposure of a count
(a partial first or last month counts only its days). Counts come from the cases table,
aggregated in DuckDB (in-process, over the pandas frame or a Parquet file) and zero-filled
over every unit and period, so a unit-month without a case is a 0, not a gap.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from cityanalytics.text import BLANK, missing

FREQS = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
# Chinese for readers: FREQ_ZH + "度" (日度/周度/月度/季度/年度), PERIOD_ZH after a count
# ("3 个季度", "5 年"), PER_ZH for a rate ("每季度").
FREQ_ZH = {"D": "日", "W": "周", "M": "月", "Q": "季", "Y": "年"}
PERIOD_ZH = {"D": "天", "W": "周", "M": "个月", "Q": "个季度", "Y": "年"}
PER_ZH = {"D": "每日", "W": "每周", "M": "每月", "Q": "每季度", "Y": "每年"}
DAYS_PER = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Q": 365.25 / 4, "Y": 365.25}
# Frequencies whose trend and slope terms count periods (quarter 0, 1, 2 ...): a quarter or a
# year is the unit of time the series is read in, and day-level averaging would tilt the
# trend by the unequal lengths of quarters and leap years.
PERIOD_INDEXED = ("Q", "Y")
_STEP = {"D": "D", "W": "W-MON", "M": "MS", "Q": "QS-JAN", "Y": "YS"}
_NEXT = {"D": pd.DateOffset(days=1), "W": pd.DateOffset(days=7), "M": pd.offsets.MonthBegin(1),
         "Q": pd.DateOffset(months=3), "Y": pd.DateOffset(years=1)}
_QUARTER = re.compile(r"^\s*(\d{4})\s*[-/ ]?\s*[Qq]([1-4])\s*$")
_QUARTER_ZH = re.compile(r"^\s*(\d{4})\s*年\s*(?:第\s*)?([1-4一二三四])\s*季度?\s*$")


def duration_zh(days: float, freq: str = "D") -> str:
    """A length of time for readers: days on daily to monthly data, quarters or years on
    quarterly and yearly data (a half-life of 548 days reads 1.5 年); inf reads 无穷(不衰减)."""
    if missing(days):
        return BLANK
    if np.isinf(days):
        return "无穷(不衰减)"
    if freq in PERIOD_INDEXED:
        return f"{days / DAYS_PER[freq]:.1f} {PERIOD_ZH[freq]}"
    return f"{days:.0f} 天"


def check_freq(freq: str) -> str:
    f = str(freq).upper()
    if f not in FREQS:
        raise ValueError(f"freq must be one of D (day), W (week), M (month), Q (quarter), Y (year); got {freq!r}")
    return f


def period_start(dates, freq: str) -> pd.DatetimeIndex:
    """First day of the period each date falls in (weeks start on Monday, quarters on
    1 January, 1 April, 1 July and 1 October)."""
    d = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    if freq == "D":
        return d
    if freq == "W":
        return d - pd.to_timedelta(d.day_of_week, unit="D")
    if freq == "Y":
        return d - pd.to_timedelta(d.day_of_year - 1, unit="D")
    if freq == "Q":
        return d.to_period("Q").to_timestamp()
    return d - pd.to_timedelta(d.day - 1, unit="D")


def period_number(starts, freq: str, origin=None) -> np.ndarray:
    """Whole periods from ``origin`` (default: the first of ``starts``) to each period start:
    quarters for Q, years for Y, months for M (calendar arithmetic, not days)."""
    d = pd.DatetimeIndex(pd.to_datetime(starts))
    o = pd.Timestamp(origin) if origin is not None else (d[0] if len(d) else pd.Timestamp(0))
    months = (d.year.to_numpy() - o.year) * 12 + (d.month.to_numpy() - o.month)
    per = {"M": 1, "Q": 3, "Y": 12}
    if freq not in per:
        raise ValueError(f"period_number counts months, quarters or years, not {freq!r}")
    return np.floor_divide(months, per[freq]).astype(np.int64)


def parse_period_labels(values: pd.Series) -> pd.Series:
    """Dates from period labels as bureaus write them: 2024-03-01, 2024-03, 2024 (a year),
    2024Q1 / 2024-Q1 / 2024年第1季度 (a quarter). A label that is none of these is an error
    naming it."""
    text = values.astype(str).str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    zh = {"一": 1, "二": 2, "三": 3, "四": 4}
    for pattern in (_QUARTER, _QUARTER_ZH):
        m = text.str.extract(pattern)
        hit = m[0].notna()
        if hit.any():
            q = m.loc[hit, 1].map(lambda c: zh.get(c, c)).astype(int)
            out[hit] = pd.to_datetime(dict(year=m.loc[hit, 0].astype(int), month=3 * (q - 1) + 1, day=1))
    rest = out.isna() & values.notna()
    if rest.any():
        years = text[rest].str.fullmatch(r"\d{4}")
        out[rest & years.reindex(out.index, fill_value=False)] = pd.to_datetime(
            text[rest][years] + "-01-01").astype("datetime64[ns]")
        left = out.isna() & values.notna()
        if left.any():
            parsed = pd.to_datetime(text[left], errors="coerce", format="mixed")
            bad = parsed.isna()
            if bad.any():
                first = text[left][bad]
                raise ValueError(f"period labels not understood as dates, months (2024-03), quarters (2024Q1) "
                                 f"or years (2024): {', '.join(map(repr, first.head(5)))} (rows {', '.join(map(str, first.index[:5]))})")
            out[left] = parsed.astype("datetime64[ns]")
    return out


def period_grid(start, end, freq: str) -> pd.DataFrame:
    """Periods covering [start, end]: ``period``, ``period_end`` and ``days`` inside the window."""
    freq = check_freq(freq)
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    first = period_start([start], freq)[0]
    starts = pd.date_range(first, end, freq=_STEP[freq])
    if freq == "W" and len(starts) and starts[0] != first:
        starts = starts.insert(0, first)
    if len(starts) == 0 or starts[0] != first:
        starts = pd.DatetimeIndex([first]).append(starts)
    ends = pd.DatetimeIndex([s + _NEXT[freq] for s in starts]) - pd.Timedelta(days=1)
    lo = np.maximum(starts.values, np.datetime64(start, "ns"))
    hi = np.minimum(ends.values, np.datetime64(end, "ns"))
    days = ((hi - lo) / np.timedelta64(1, "D")).astype(int) + 1
    return pd.DataFrame({"period": starts, "period_end": ends, "days": days})


def _relation(con: duckdb.DuckDBPyConnection, cases) -> str:
    if isinstance(cases, (str, Path)):
        path = str(cases).replace("'", "''")
        return f"read_parquet('{path}')" if str(cases).endswith(".parquet") else f"read_csv_auto('{path}')"
    con.register("cases_df", cases)
    return "cases_df"


def case_panel(cases, outcomes=None, *, freq: str = "M", start=None, end=None, units=None,
               unit_changes: pd.DataFrame | None = None, category: str | None = None,
               value: str = "count") -> pd.DataFrame:
    """Cases of the targeted subcategories per unit and period.

    cases: the canonical cases frame, or a Parquet/CSV path (read by DuckDB without pandas).
    outcomes: subcategories to count (None: all); category: 部件/事件 to restrict to.
    value: ``count`` (cases reported, by reported_at), or also ``disposal_hours``: mean hours
        from reporting to disposal of the cases disposed, with ``n_disposed`` (a continuous
        outcome; periods near the end of the data are biased low by cases not yet disposed).
    unit_changes: old ids are mapped to their successor so a series runs across the change.
    units: the units to keep (all units with cases by default); units without cases get 0.
    """
    freq = check_freq(freq)
    if value not in ("count", "disposal_hours"):
        raise ValueError(f"value must be 'count' or 'disposal_hours', got {value!r}")
    con = duckdb.connect()
    try:
        rel = _relation(con, cases)
        where, args = [], []
        if outcomes:
            outcomes = [outcomes] if isinstance(outcomes, str) else list(outcomes)
            where.append(f"subcategory IN ({', '.join('?' for _ in outcomes)})")
            args += [str(o) for o in outcomes]
        if category:
            where.append("category = ?")
            args.append(category)
        if start is not None:
            where.append("reported_at >= ?")
            args.append(pd.Timestamp(start).to_pydatetime())
        if end is not None:
            where.append("reported_at < ?")
            args.append((pd.Timestamp(end).normalize() + pd.Timedelta(days=1)).to_pydatetime())
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        unit = FREQS[freq]
        extra = (", sum(epoch(disposed_at) - epoch(reported_at)) / 3600.0 AS hours_sum,"
                 " count(disposed_at) AS n_disposed") if value == "disposal_hours" else ""
        agg = con.execute(
            f"SELECT CAST(unit_id AS VARCHAR) AS unit_id, CAST(date_trunc('{unit}', reported_at) AS DATE) AS period,"
            f" count(*) AS count{extra} FROM {rel} {clause} GROUP BY 1, 2", args).df()
        bounds = con.execute(f"SELECT min(reported_at), max(reported_at) FROM {rel}").fetchone()
    finally:
        con.close()
    lo = pd.Timestamp(start) if start is not None else pd.Timestamp(bounds[0])
    hi = pd.Timestamp(end) if end is not None else pd.Timestamp(bounds[1])
    if pd.isna(lo) or pd.isna(hi):
        raise ValueError("the cases table is empty: no panel to build")
    agg["period"] = pd.to_datetime(agg["period"]).astype("datetime64[ns]")
    if unit_changes is not None and len(unit_changes):
        from cityanalytics.units import successor_map

        mapping = successor_map(unit_changes)
        agg["unit_id"] = agg["unit_id"].map(lambda u: mapping.get(u, u))
        agg = agg.groupby(["unit_id", "period"], as_index=False).sum(numeric_only=True)
    grid = period_grid(lo, hi, freq)
    keep = sorted(set(agg["unit_id"])) if units is None else [str(u) for u in units]
    full = pd.MultiIndex.from_product([keep, grid["period"]], names=["unit_id", "period"]).to_frame(index=False)
    out = full.merge(grid, on="period").merge(agg, on=["unit_id", "period"], how="left")
    out["count"] = out["count"].fillna(0).astype(np.int64)
    if value == "disposal_hours":
        out["n_disposed"] = out["n_disposed"].fillna(0).astype(np.int64)
        out["disposal_hours"] = out["hours_sum"] / out["n_disposed"].where(out["n_disposed"] > 0)
        out = out.drop(columns="hours_sum")
    out.attrs.update({"freq": freq, "outcomes": list(outcomes or []), "window": (lo.normalize(), hi.normalize())})
    return out.sort_values(["unit_id", "period"], ignore_index=True)


def value_panel(frame: pd.DataFrame, value: str, *, unit_col: str = "unit_id", period_col: str = "period",
                freq: str = "M", unit_changes: pd.DataFrame | None = None) -> pd.DataFrame:
    """A panel of a continuous outcome already measured per unit and period (assessment
    scores, an IndicatorFrame's ``value``): the same shape as ``case_panel``."""
    freq = check_freq(freq)
    df = frame[[unit_col, period_col, value]].rename(columns={unit_col: "unit_id", period_col: "period"}).copy()
    if unit_changes is not None and len(unit_changes):
        from cityanalytics.units import successor_map

        mapping = successor_map(unit_changes)
        df["unit_id"] = df["unit_id"].astype(str).map(lambda u: mapping.get(u, u))
    p = df["period"]
    if isinstance(p.dtype, pd.PeriodDtype):
        p = p.dt.to_timestamp()
    elif not pd.api.types.is_datetime64_any_dtype(p):
        p = parse_period_labels(p)  # 2024, 2024Q1, 2024-03 ... as written in an export
    df["period"] = period_start(p, freq)
    df["unit_id"] = df["unit_id"].astype(str)
    df[value] = pd.to_numeric(df[value], errors="coerce").astype(float)
    df = df.groupby(["unit_id", "period"], as_index=False)[value].mean()
    last_end = period_grid(df["period"].max(), df["period"].max(), freq)["period_end"].iloc[0]
    grid = period_grid(df["period"].min(), last_end, freq)
    out = df.merge(grid, on="period", how="left")
    out.attrs.update({"freq": freq, "outcomes": [value]})
    return out.sort_values(["unit_id", "period"], ignore_index=True)[["unit_id", "period", "period_end", "days", value]]


def exposure_offset(df: pd.DataFrame, exposure: str | None) -> np.ndarray:
    """log of each row's exposure: its days in the data window, or (``exposure`` names a
    column: population, households, road length ...) that exposure times the share of the
    period's days inside the window, so a partial first or last period is not read as a drop."""
    days = df["days"].to_numpy(dtype=float)
    if not exposure:
        return np.log(days)
    if exposure not in df.columns:
        raise ValueError(f"exposure {exposure!r} is not a column of the panel "
                         f"(columns: {', '.join(map(str, df.columns))})")
    e = pd.to_numeric(df[exposure], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(e) | (e <= 0)
    if bad.any():
        rows = df.loc[bad, ["unit_id", "period"]].head(5)
        where = "; ".join(f"{u} {pd.Timestamp(t):%Y-%m-%d}" for u, t in rows.itertuples(index=False))
        raise ValueError(f"exposure {exposure!r} must be a positive number on every row: "
                         f"{int(bad.sum())} rows missing or <= 0 ({where})")
    length = ((pd.to_datetime(df["period_end"]) - pd.to_datetime(df["period"])).dt.days + 1).to_numpy(dtype=float)
    return np.log(e) + np.log(days / length)


def aggregate(panel: pd.DataFrame, units=None, outcome: str = "count", unit_label: str = "合计",
              exposure: str | None = None, weights: str | None = None) -> pd.DataFrame:
    """One series: counts summed over ``units`` (all by default); a continuous outcome averaged
    (weighted by the column ``weights`` if given, e.g. population for a per-capita value).
    ``exposure`` (a column such as population) is summed with the counts."""
    df = panel if units is None else panel[panel["unit_id"].isin([str(u) for u in units])]
    if df.empty:
        raise ValueError(f"none of the units {list(units)!r} is in the panel")
    how = "sum" if outcome == "count" or outcome.startswith("n_") else "mean"
    aggs = {outcome: (outcome, how)}
    if exposure:
        if exposure not in df.columns:
            raise ValueError(f"exposure {exposure!r} is not a column of the panel "
                             f"(columns: {', '.join(map(str, df.columns))})")
        aggs[exposure] = (exposure, lambda v: v.sum(min_count=len(v)))  # a missing value stays missing
    if weights and how == "mean":
        if weights not in df.columns:
            raise ValueError(f"weights {weights!r} is not a column of the panel")
        df = df.assign(_w=pd.to_numeric(df[weights], errors="coerce").where(df[outcome].notna()))
        df = df.assign(_wy=df["_w"] * df[outcome])
        aggs[outcome] = ("_wy", lambda v: v.sum(min_count=1))
        aggs["_w"] = ("_w", lambda v: v.sum(min_count=1))
    out = df.groupby(["period", "period_end", "days"], as_index=False).agg(**aggs)
    if "_w" in out.columns:
        out[outcome] = out[outcome] / out.pop("_w")
    out.insert(0, "unit_id", unit_label)
    out["n_units"] = df.groupby("period")["unit_id"].nunique().to_numpy()
    out.attrs.update(panel.attrs)
    return out
