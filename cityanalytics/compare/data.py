"""From a data directory to the IndicatorFrame a bulletin compares.

A data directory holds one file per canonical table (``cases.parquet``, ``districts.csv``
...; Parquet, CSV or Excel), as ``cityanalytics demo`` writes it. Each chosen indicator is
computed by the function of its table, rolled up to the comparison level, and the frames
are joined into one.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from cityanalytics.indicators import assessment_indicators, case_indicators, dust_indicators, sorting_indicators
from cityanalytics.indicators import frame as F
from cityanalytics.indicators.registry import get
from cityanalytics.io import load

from .levels import Level, level_units

SOURCES = (("case_", "cases"), ("road_dust_", "dust_samples"), ("sorting_", "communities"),
           ("assessment_", "assessments"))
DATE_COLUMNS = {"cases": "reported_at", "dust_samples": "sampled_on", "assessments": None, "communities": None}
EXTENSIONS = (".parquet", ".csv", ".xlsx", ".xls")


def table_of(indicator: str) -> str:
    get(indicator)  # unknown ids fail here, with the list of known ones
    for prefix, table in SOURCES:
        if indicator.startswith(prefix):
            return table
    raise ValueError(f"{indicator}: no canonical table computes it")


def find_table(data_dir: str | Path, table: str, required: bool = True) -> Path | None:
    for ext in EXTENSIONS:
        path = Path(data_dir) / f"{table}{ext}"
        if path.is_file():
            return path
    if required:
        raise FileNotFoundError(f"{data_dir}: no {table} table ({', '.join(table + e for e in EXTENSIONS)})")
    return None


def read(data_dir: str | Path, table: str) -> pd.DataFrame:
    return load(find_table(data_dir, table), table).frame


def load_level(data_dir: str | Path, level: str) -> Level:
    districts = read(data_dir, "districts")
    changes_path = find_table(data_dir, "unit_changes", required=False)
    changes = load(changes_path, "unit_changes").frame if changes_path else None
    return level_units(districts, changes, level)


def latest_complete_month(data_dir: str | Path) -> pd.Period:
    """The last month the data cover to its end: the cases' last report day ends its month, or the month before."""
    path = find_table(data_dir, "cases", required=False)
    if path is not None and path.suffix == ".parquet":
        con = duckdb.connect()
        try:
            last = con.execute(f"SELECT max(reported_at) FROM read_parquet('{_sql_path(path)}')").fetchall()[0][0]
        finally:
            con.close()
    elif path is not None:
        last = read(data_dir, "cases")["reported_at"].max()
    else:
        a = read(data_dir, "assessments")
        return a["period"].max()
    last = pd.Timestamp(last)
    month = last.to_period("M")
    return month if last.normalize() == month.end_time.normalize() else month - 1


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def compute(data_dir: str | Path, indicators: list[str], level: Level, period: pd.Period, *,
            history: int = 12, ci_level: float = 0.95, tables: dict | None = None) -> pd.DataFrame:
    """The chosen indicators by month for the ``history`` months ending with ``period``.

    The window ends on the last day of ``period`` and case figures are as of the next
    midnight, so a bulletin made later shows what could be known at the end of the month
    (which is why a frame serves one report period only).
    tables: a dict that keeps the loaded tables other than cases for the next call.
    """
    tables = {} if tables is None else tables

    def table_frame(name: str) -> pd.DataFrame:
        if name not in tables:
            tables[name] = read(data_dir, name)
        return tables[name]

    start = (period - (history - 1)).start_time
    end = period.end_time.normalize()
    wanted: dict[str, list[str]] = {}
    for ind in dict.fromkeys(indicators):
        wanted.setdefault(table_of(ind), []).append(ind)
    parts = []
    kw = dict(start=start, end=end, freq="M", level=ci_level, unit_map=level.unit_map)
    for table, inds in wanted.items():
        if table == "cases":
            path = find_table(data_dir, "cases")
            source = str(path) if path.suffix == ".parquet" else table_frame("cases")
            f = case_indicators(source, indicators=inds, **kw)
        elif table == "dust_samples":
            f = dust_indicators(table_frame(table), **kw)
        elif table == "communities":
            f = sorting_indicators(table_frame(table), **kw)
        else:
            f = assessment_indicators(table_frame(table), **kw)
        parts.append(f[f["indicator"].isin(inds)])
    out = F.combine(parts, ci_level)
    out.attrs["window"] = F.window_label(start, end)
    return out
