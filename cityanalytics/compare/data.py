"""From a workspace to the IndicatorFrame a bulletin compares.

The tables come from ``cityanalytics.workspace`` (a workspace folder or a folder of canonical
tables, as ``cityanalytics demo`` writes); nothing here looks for files. Each chosen indicator
is computed by the function of its table, rolled up to the comparison level, and the frames
are joined into one.

Report periods (one rule for every report): a month ``2025-06``, a quarter ``2025Q2`` or a
year ``2025``; the default is the last complete month the data cover (``latest_complete_month``).
Case figures are as of the end of the period unless the run gives ``as_of``.

Rows whose unit is empty (kept by the loader) are counted in the city total and compared as
one pseudo-unit, ``UNASSIGNED`` (未归属单位), which is shown but never ranked or listed.

The frame carries the level's unit names in ``frame.attrs["unit_names"]`` (unit id -> Chinese
name, the city included), so ``league_table(frame, ...)`` and the other comparisons show names
without ``names=``.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd

from cityanalytics.indicators import assessment_indicators, case_indicators, dust_indicators, sorting_indicators
from cityanalytics.indicators.frame import UNASSIGNED, combine, window_label
from cityanalytics.indicators.computable import filled_columns, reason_zh, why_not
from cityanalytics.indicators.registry import get
from cityanalytics.workspace import Workspace, open_workspace

from .levels import Level, level_units

# The canonical tables a comparison computes indicators from, and each one's indicator function.
COMPARED_TABLES = {"cases": case_indicators, "dust_samples": dust_indicators, "communities": sorting_indicators,
                   "assessments": assessment_indicators}
UNASSIGNED_NAME = "未归属单位"
PERIOD_KINDS = {"M": "月度", "Q": "季度", "Y": "年度"}


def table_of(indicator: str) -> str:
    """The canonical table that computes ``indicator``: the registry's ``table`` (indicators.yaml),
    one of ``COMPARED_TABLES``. Unknown ids fail with the list of known ones."""
    table = get(indicator).table
    if table not in COMPARED_TABLES:
        raise ValueError(f"{indicator}: computed from the {table!r} table, which the comparison does not read "
                         f"(it reads {', '.join(COMPARED_TABLES)})")
    return table


def as_workspace(data: str | Path | Workspace) -> Workspace:
    return open_workspace(data)


def read(data: str | Path | Workspace, table: str) -> pd.DataFrame:
    ws = as_workspace(data)
    frame = ws.table(table)
    if frame is None:
        ws.load(table)  # raises FileNotFoundError naming the workspace and the files looked for
    return frame


def load_level(data: str | Path | Workspace, level: str) -> Level:
    ws = as_workspace(data)
    return level_units(read(ws, "districts"), ws.table("unit_changes"), level)


def parse_period(text) -> pd.Period:
    """A report period from the run: ``2025-06`` (month), ``2025Q2`` (quarter) or ``2025`` (year)."""
    if isinstance(text, pd.Period):
        return text
    s = str(text).strip().upper()
    if not re.fullmatch(r"\d{4}(-\d{1,2}|Q[1-4])?", s):
        raise ValueError(f"period {text!r}: expected a month 2025-06, a quarter 2025Q2 or a year 2025")
    try:
        if "Q" in s:
            return pd.Period(s, freq="Q")
        if s.isdigit() and len(s) == 4:
            return pd.Period(s, freq="Y")
        return pd.Period(s, freq="M")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"period {text!r}: expected a month 2025-06, a quarter 2025Q2 or a year 2025") from exc


def period_freq(period: pd.Period) -> str:
    return period.freqstr[0]  # "M", "Q" (Q-DEC), "Y" (Y-DEC / A-DEC)


def period_kind_zh(period: pd.Period) -> str:
    return PERIOD_KINDS.get("Y" if period_freq(period) == "A" else period_freq(period), "期")


def _last_case_time(ws: Workspace):
    path = ws.path("cases")
    if path is not None and path.suffix == ".parquet":
        con = duckdb.connect()
        try:
            return con.execute(f"SELECT max(reported_at) FROM read_parquet('{_sql_path(path)}')").fetchall()[0][0]
        finally:
            con.close()
    return read(ws, "cases")["reported_at"].max()


def data_end(data: str | Path | Workspace) -> pd.Timestamp | None:
    """The last moment the data cover: the cases' last report time, else the last dust sample
    day, else the end of the last assessment month; None when no dated table holds a value."""
    ws = as_workspace(data)
    if ws.has("cases"):
        last = _last_case_time(ws)
        if last is not None and not pd.isna(last):
            return pd.Timestamp(last)
    if ws.has("dust_samples"):
        last = read(ws, "dust_samples")["sampled_on"].max()
        if not pd.isna(last):
            return pd.Timestamp(last)
    if ws.has("assessments"):
        last = read(ws, "assessments")["period"].max()
        if not pd.isna(last):
            return last.end_time.normalize()
    return None


def latest_complete_month(data: str | Path | Workspace) -> pd.Period:
    """The last month the data cover to its end: the last dated row's day ends its month, or the month before."""
    ws = as_workspace(data)
    last = data_end(ws)
    if last is None and ws.is_recipe and not (ws.tables_dir.is_dir() and any(ws.tables_dir.iterdir())):
        raise FileNotFoundError(f"{ws.root}: the workspace has no built tables in {ws.tables_dir}; "
                                f"run `cityanalytics build {ws.root}` first")
    if last is None:
        raise ValueError(f"{ws.root}: no dated table (cases, dust_samples, assessments) holds a row; "
                         f"there is no report period to take")
    month = last.to_period("M")
    if ws.has("assessments") and not ws.has("cases") and not ws.has("dust_samples"):
        return month  # a monthly score covers its whole month
    return month if last.normalize() == month.end_time.normalize() else month - 1


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def computable(data: str | Path | Workspace, indicators: list[str]) -> tuple[list[str], dict[str, str]]:
    """The indicators the workspace can compute, and the others with their reason (Chinese).

    Uses the registry's ``needs`` (``cityanalytics.indicators.computable``): a missing table,
    or a needed column that is absent or holds no value, makes an indicator not computable.
    """
    ws = as_workspace(data)
    keep, dropped = [], {}
    filled: dict[str, dict | None] = {}
    for ind in dict.fromkeys(indicators):
        table = table_of(ind)
        if table not in filled:
            filled[table] = _filled(ws, table) if ws.has(table) else None
        reason = why_not(ind, filled[table])
        if reason is None:
            keep.append(ind)
        else:
            dropped[ind] = reason_zh(reason)
    return keep, dropped


def _filled(ws: Workspace, table: str) -> dict[str, bool]:
    path = ws.path(table)
    if table == "cases" and path.suffix == ".parquet":
        con = duckdb.connect()
        try:
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{_sql_path(path)}')").fetchall()]
            if not cols:
                return {}
            exprs = ", ".join(f'count("{c}") > 0' for c in cols)
            row = con.execute(f"SELECT {exprs} FROM read_parquet('{_sql_path(path)}')").fetchall()[0]
        finally:
            con.close()
        return dict(zip(cols, map(bool, row)))
    return filled_columns(read(ws, table))


def unassigned_cases(data: str | Path | Workspace) -> int:
    """How many case rows carry no unit (0 when there is no cases table)."""
    ws = as_workspace(data)
    path = ws.path("cases")
    if path is None:
        return 0
    if path.suffix == ".parquet":
        con = duckdb.connect()
        try:
            q = f"SELECT count(*) FILTER (WHERE unit_id IS NULL OR trim(CAST(unit_id AS VARCHAR)) = '') " \
                f"FROM read_parquet('{_sql_path(path)}')"
            return int(con.execute(q).fetchall()[0][0])
        finally:
            con.close()
    u = read(ws, "cases")["unit_id"]
    return int((u.isna() | (u.astype("string").str.strip() == "")).sum())


def _with_unassigned(frame: pd.DataFrame, date_col: str | None = None) -> pd.DataFrame:
    if "unit_id" not in frame:
        return frame
    empty = frame["unit_id"].isna() | (frame["unit_id"].astype("string").str.strip() == "")
    if not empty.any():
        return frame
    out = frame.copy()
    out["unit_id"] = out["unit_id"].astype(object).where(~empty, UNASSIGNED)
    return out


def compute(data: str | Path | Workspace, indicators: list[str], level: Level, period, *,
            history: int = 12, ci_level: float = 0.95, tables: dict | None = None, as_of=None,
            engine=None) -> pd.DataFrame:
    """The chosen indicators by period for the ``history`` periods ending with ``period``.

    ``period``: a month, quarter or year (``parse_period``); the window ends on its last day
    and case figures are as of the next midnight (or ``as_of``), so a bulletin made later shows
    what could be known at the end of the period (which is why a frame serves one period only).
    Case rows with no unit are compared as ``UNASSIGNED`` and counted in the city's figures.
    tables: a dict that keeps the loaded tables other than cases for the next call (the
    explorer's session passes one).
    engine: where the indicators are summed (``cityanalytics.engines``); default: the workspace's
    ``engine`` in sources.yaml, else DuckDB.
    """
    ws = as_workspace(data)
    if engine is None and ws.is_recipe:
        engine = ws.recipe.engine
    tables = {} if tables is None else tables
    period = parse_period(period)
    freq = "Y" if period_freq(period) == "A" else period_freq(period)

    def table_frame(name: str) -> pd.DataFrame:
        if name not in tables:
            tables[name] = _with_unassigned(read(ws, name))
        return tables[name]

    start = (period - (history - 1)).start_time
    end = period.end_time.normalize()
    wanted: dict[str, list[str]] = {}
    for ind in dict.fromkeys(indicators):
        wanted.setdefault(table_of(ind), []).append(ind)
    parts = []
    kw = dict(start=start, end=end, freq=freq, level=ci_level, unit_map=level.unit_map)
    for table, inds in wanted.items():
        if table == "cases":
            path = ws.path("cases")
            if path is None:
                read(ws, "cases")
            if path.suffix == ".parquet" and not unassigned_cases(ws):
                source = str(path)
            else:
                source = table_frame("cases")
            f = case_indicators(source, indicators=inds, as_of=as_of, engine=engine, **kw)
        else:
            f = COMPARED_TABLES[table](table_frame(table), engine=engine, **kw)
        parts.append(f[f["indicator"].isin(inds)])
    out = combine(parts, ci_level)
    out.attrs["window"] = window_label(start, end)
    out.attrs["unit_names"] = {**level.names, UNASSIGNED: UNASSIGNED_NAME}  # the comparisons name units by it
    out.attrs["as_of"] = str(pd.Timestamp(as_of) if as_of else end + pd.Timedelta(days=1))
    return out


def unassigned_in_period(data: str | Path | Workspace, period) -> tuple[int, int]:
    """(case rows with no unit, all case rows) reported in ``period``; (0, 0) without cases."""
    ws = as_workspace(data)
    if not ws.has("cases"):
        return 0, 0
    period = parse_period(period)
    start, end = period.start_time, period.end_time
    path = ws.path("cases")
    if path.suffix == ".parquet":
        con = duckdb.connect()
        try:
            q = (f"SELECT count(*) FILTER (WHERE unit_id IS NULL OR trim(CAST(unit_id AS VARCHAR)) = ''), count(*) "
                 f"FROM read_parquet('{_sql_path(path)}') WHERE reported_at >= $1 AND reported_at <= $2")
            n, total = con.execute(q, [start.to_pydatetime(), end.to_pydatetime()]).fetchall()[0]
        finally:
            con.close()
        return int(n), int(total)
    c = read(ws, "cases")
    c = c[(c["reported_at"] >= start) & (c["reported_at"] <= end)]
    u = c["unit_id"]
    return int((u.isna() | (u.astype("string").str.strip() == "")).sum()), len(c)
