"""Case-handling indicators (数字城管 / 12345) along the GB/T 30428 lifecycle.

Counts are aggregated in DuckDB, in-process, straight from Parquet or from a DataFrame, so
tens of millions of work orders stay cheap; only the per-unit result comes back to pandas.

Censoring. A report is made "as of" a moment (default: end of the window). A case that is
still open then and whose deadline has not passed is neither on time nor late yet: it is
*censored* and left out of every rate's denominator (its count is reported as
``case_censored_open``). A case still open past its deadline counts as not disposed and late.

Deadlines. "On time" is judged against the case's own ``due_at`` when the export has one,
otherwise against the subcategory's limit in working hours on the official calendar
(``cityanalytics.workcalendar``: public holidays and 调休 workdays).

Denominator (应处置数/应结案数) = cases filed in the period − censored − suspended (缓办/挂账)
when ``exclude_suspended`` (the default, as in 金华's rule 按期结案率 = 按期结案数/(应结案数−缓办数)).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

from cityanalytics.indicators import frame as F
from cityanalytics.indicators.computable import drop_not_computable, filled_columns, why_not
from cityanalytics.workcalendar import WorkCalendar

RATE_INDICATORS = {
    # indicator: (numerator column, denominator column)
    "case_disposal_rate": ("disposed", "due"),
    "case_ontime_disposal_rate": ("disposed_on_time", "due"),
    "case_closure_rate": ("closed", "due"),
    "case_ontime_closure_rate": ("closed_on_time", "due"),
    "case_rework_rate": ("reopened", "due"),
}
DURATION_INDICATORS = {"case_hours_to_close_median": 0.5, "case_hours_to_close_p90": 0.9}
ALL = ["case_filed", *RATE_INDICATORS, *DURATION_INDICATORS]


@lru_cache(maxsize=1)
def default_time_limits() -> dict:
    text = resources.files("cityanalytics").joinpath("data/time_limits.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def with_deadlines(cases: pd.DataFrame, time_limits: dict | None = None,
                   calendar: WorkCalendar | None = None) -> pd.DataFrame:
    """Fill missing ``due_at`` from the subcategory limits in working hours; adds ``due_source``."""
    limits = time_limits or default_time_limits()
    out = cases.copy()
    if "due_at" not in out:
        out["due_at"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    missing = out["due_at"].isna() & out["reported_at"].notna()
    out["due_source"] = np.where(missing, "time_limit_table", "export")
    if missing.any():
        sub = out.loc[missing, "subcategory"] if "subcategory" in out else pd.Series("", index=out.index[missing])
        hours = sub.map(limits.get("limits", {})).fillna(limits.get("default", 24)).astype(float)
        start = out.loc[missing, "filed_at"].fillna(out.loc[missing, "reported_at"]) if "filed_at" in out \
            else out.loc[missing, "reported_at"]
        cal = calendar or WorkCalendar.covering(start)
        out.loc[missing, "due_at"] = cal.add_working_hours(start, hours.to_numpy()).to_numpy()
        # Deadlines in these years count Monday-Friday as working days: reports say so.
        out.attrs["calendar_fallback_years"] = cal.fallback_years_of(start)
    return out


def case_indicators(
    cases: pd.DataFrame | str | Path,
    *,
    start=None,
    end=None,
    as_of=None,
    freq: str = "M",
    by: str | None = None,
    level: float = 0.95,
    exclude_suspended: bool = True,
    closure_allowance_hours: float = 8,
    unit_map: dict[str, str] | None = None,
    include_city: bool = True,
    indicators: list[str] | None = None,
    time_limits: dict | None = None,
    calendar: WorkCalendar | None = None,
) -> pd.DataFrame:
    """Case-handling indicators per unit and period as an IndicatorFrame.

    cases: canonical cases table, or the path of a Parquet file holding one.
    start, end: window of reported_at (end inclusive, by day); default: the data's range.
    as_of: the moment the figures describe; default end of the window.
    by: a column to break down by (e.g. "category").
    unit_map: unit_id -> reporting unit (e.g. street -> district) to roll units up.
    """
    wanted = indicators or ALL
    unknown = set(wanted) - set(ALL)
    if unknown:
        raise ValueError(f"unknown case indicator(s): {', '.join(sorted(unknown))}")
    con = duckdb.connect()
    con.execute("PRAGMA disable_progress_bar")  # no progress bar in reports
    try:
        rel_sql, filled, fallback_years = _register_source(con, cases, time_limits, calendar)
        start, end = _window(con, rel_sql, start, end)
        as_of = pd.Timestamp(as_of) if as_of is not None else end + pd.Timedelta(days=1)
        if unit_map:
            con.register("unit_map", pd.DataFrame({"unit_id": list(unit_map), "to_unit": list(unit_map.values())}))
        counts = con.execute(_count_sql(rel_sql, freq, by, unit_map is not None, include_city,
                                        exclude_suspended), _params(start, end, as_of, closure_allowance_hours)
                             ).df()
        durations = None
        if any(why_not(i, filled) is None for i in set(DURATION_INDICATORS) & set(wanted)):
            durations = con.execute(_duration_sql(rel_sql, freq, by, unit_map is not None),
                                    _params(start, end, as_of, closure_allowance_hours)[:3]).df()
    finally:
        con.close()
    keys = _keys(counts, freq, start, end)
    parts = []
    if "case_filed" in wanted:
        parts.append(F.count("case_filed", keys, counts["filed"], level))
    for ind, (num, den) in RATE_INDICATORS.items():
        if ind in wanted:
            parts.append(F.proportion(ind, keys, counts[num], counts[den], level))
    parts.append(F.count("case_censored_open", keys, counts["censored"], level))
    if durations is not None:
        parts += _duration_frames(durations, freq, start, end, include_city, level, wanted)
    checked = [i for i in wanted if i in RATE_INDICATORS or i in DURATION_INDICATORS]
    out = drop_not_computable(F.combine(parts, level), filled, checked)
    out.attrs.update(as_of=str(as_of), exclude_suspended=exclude_suspended, window=F.window_label(start, end),
                     closure_allowance_hours=closure_allowance_hours, calendar_fallback_years=fallback_years)
    return out


# Optional columns the SQL reads, with what an export that lacks them means.
OPTIONAL_DEFAULTS = {"filed_at": pd.NaT, "disposed_at": pd.NaT, "closed_at": pd.NaT, "reopened": False,
                     "suspended": False}


def _register_source(con, cases, time_limits, calendar) -> tuple[str, dict[str, bool], list[int]]:
    """Register the cases with DuckDB. Returns the SQL name to select from; for each column
    of the input, whether it holds any value (absent lifecycle columns are filled with their
    defaults for the SQL, but the indicators that need them are not computable); and the
    years whose deadlines were computed on Monday-Friday (no official calendar published).

    A complete Parquet file (every column present, every deadline set) is read in place;
    anything else is completed in pandas first.
    """
    if isinstance(cases, (str, Path)):
        path = str(cases).replace("'", "''")
        src = f"read_parquet('{path}')"
        columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
        # fetchall, not fetchone: DuckDB 2 keeps a result open after fetchone() and the connection
        # then refuses register() (the unit_map join).
        complete = {"due_at", *OPTIONAL_DEFAULTS} <= columns and con.execute(
            f"SELECT count(*) FROM {src} WHERE due_at IS NULL").fetchall()[0][0] == 0
        if complete:
            counts = con.execute(f"SELECT {', '.join(f'count({c})' for c in OPTIONAL_DEFAULTS)} "
                                 f"FROM {src}").fetchall()[0]
            filled = {c: True for c in columns}
            filled.update({c: n > 0 for c, n in zip(OPTIONAL_DEFAULTS, counts)})
            return src, filled, []
        cases = con.execute(f"SELECT * FROM {src}").df()
    filled = filled_columns(cases)
    frame = cases.assign(**{c: v for c, v in OPTIONAL_DEFAULTS.items() if c not in cases})
    if "due_at" not in frame or frame["due_at"].isna().any():
        frame = with_deadlines(frame, time_limits, calendar)
    con.register("cases_in", frame)
    return "cases_in", filled, frame.attrs.get("calendar_fallback_years", [])


def _window(con, src, start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    if start is None or end is None:
        lo, hi = con.execute(f"SELECT min(reported_at), max(reported_at) FROM {src}").fetchall()[0]
        start = start if start is not None else lo
        end = end if end is not None else hi
    return pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()


def _params(start, end, as_of, allowance_hours):
    return [start.to_pydatetime(), (end + pd.Timedelta(days=1)).to_pydatetime(), as_of.to_pydatetime(),
            float(allowance_hours)]


def _bucket(freq: str) -> str:
    return {"M": "month", "Q": "quarter", "Y": "year"}.get(freq)


def _base_sql(src: str, freq: str, by: str | None, mapped: bool) -> str:
    bucket = _bucket(freq)
    period = f"date_trunc('{bucket}', c.reported_at)" if bucket else "NULL::TIMESTAMP"
    unit = "coalesce(m.to_unit, c.unit_id)" if mapped else "c.unit_id"
    join = "LEFT JOIN unit_map m ON m.unit_id = c.unit_id" if mapped else ""
    group = f'CAST(c."{by}" AS VARCHAR)' if by else "''"
    return f"""
        SELECT {unit} AS unit_id, {period} AS period, {group} AS grp, c.*
        FROM {src} c {join}
        WHERE c.reported_at >= $1 AND c.reported_at < $2
    """


def _count_sql(src, freq, by, mapped, include_city, exclude_suspended) -> str:
    suspended = "coalesce(suspended, false)" if exclude_suspended else "false"
    sets = "GROUPING SETS ((unit_id, period, grp), (period, grp))" if include_city else "unit_id, period, grp"
    return f"""
    WITH base AS ({_base_sql(src, freq, by, mapped)}),
    flags AS (
        SELECT unit_id, period, grp,
            disposed_at IS NOT NULL AND disposed_at < $3 AS is_disposed,
            closed_at IS NOT NULL AND closed_at < $3 AS is_closed,
            -- still open (neither disposed nor closed) and not yet due: censored. A closed case is
            -- never censored, also in exports that record closure but not disposal.
            (disposed_at IS NULL OR disposed_at >= $3) AND (closed_at IS NULL OR closed_at >= $3)
                AND due_at >= $3 AS is_censored,
            {suspended} AS is_suspended,
            disposed_at <= due_at AS disposed_by_due,
            closed_at <= due_at + to_microseconds(CAST($4 * 3600e6 AS BIGINT)) AS closed_by_allowance,
            coalesce(reopened, false) AS is_reopened
        FROM base
    )
    SELECT unit_id, period, grp, {"grouping(unit_id)" if include_city else "0"} AS is_city,
        count(*) AS filed,
        count(*) FILTER (WHERE is_censored) AS censored,
        count(*) FILTER (WHERE is_suspended AND NOT is_censored) AS suspended,
        count(*) FILTER (WHERE NOT is_censored AND NOT is_suspended) AS due,
        count(*) FILTER (WHERE NOT is_censored AND NOT is_suspended AND is_disposed) AS disposed,
        count(*) FILTER (WHERE NOT is_censored AND NOT is_suspended AND is_disposed AND disposed_by_due)
            AS disposed_on_time,
        count(*) FILTER (WHERE NOT is_censored AND NOT is_suspended AND is_closed) AS closed,
        count(*) FILTER (WHERE NOT is_censored AND NOT is_suspended AND is_closed AND is_disposed
                         AND disposed_by_due AND closed_by_allowance) AS closed_on_time,
        count(*) FILTER (WHERE NOT is_censored AND NOT is_suspended AND is_reopened) AS reopened
    FROM flags
    GROUP BY {sets}
    ORDER BY unit_id NULLS FIRST, period, grp
    """


def _duration_sql(src, freq, by, mapped) -> str:
    return f"""
    WITH base AS ({_base_sql(src, freq, by, mapped)})
    SELECT unit_id, period, grp,
        epoch(least(coalesce(closed_at, $3), $3) - coalesce(filed_at, reported_at)) / 3600.0 AS hours,
        closed_at IS NOT NULL AND closed_at < $3 AS event
    FROM base
    """


def _keys(table: pd.DataFrame, freq: str, start, end) -> pd.DataFrame:
    """Unit, period and group of each result row. The city-wide total is ``CITY``; cases that
    carry no unit form their own group, ``UNASSIGNED`` (未归属单位), counted in the city too."""
    unit = table["unit_id"].astype(object).where(table["unit_id"].notna(), F.UNASSIGNED)
    if "is_city" in table:
        unit = unit.where(table["is_city"].to_numpy() == 0, F.CITY)
    keys = pd.DataFrame({"unit_id": unit.astype(str).to_numpy()})
    if freq == "all":
        keys["period"] = F.window_label(start, end)
    else:
        keys["period"] = pd.PeriodIndex(pd.to_datetime(table["period"]), freq=freq)
    keys["group"] = table["grp"].fillna("").astype(str).to_numpy()
    return keys


def _duration_frames(durations, freq, start, end, include_city, level, wanted) -> list[pd.DataFrame]:
    from cityanalytics.stats.survival import km_quantiles

    d = durations.assign(unit_id=durations["unit_id"].astype(object).where(durations["unit_id"].notna(),
                                                                           F.UNASSIGNED))
    if include_city:
        d = pd.concat([d, d.assign(unit_id=F.CITY)], ignore_index=True)
    rows = []
    probs = [DURATION_INDICATORS[i] for i in DURATION_INDICATORS if i in wanted]
    for (unit, period, grp), g in d.groupby(["unit_id", "period", "grp"], dropna=False, sort=True):
        est = km_quantiles(g["hours"].to_numpy(), g["event"].to_numpy(), probs, level)
        rows.append((unit, period, grp, len(g), est))
    parts = []
    keys = pd.DataFrame({"unit_id": [r[0] for r in rows], "period": [r[1] for r in rows],
                         "grp": [r[2] for r in rows]})
    keys = _keys(keys, freq, start, end)
    n = np.array([r[3] for r in rows], dtype=float)
    for ind, p in DURATION_INDICATORS.items():
        if ind not in wanted:
            continue
        vals = np.array([r[4][p] for r in rows], dtype=float).reshape(-1, 3)
        parts.append(F.estimate(ind, keys, vals[:, 0], vals[:, 1], vals[:, 2], "kaplan_meier", n))
    return parts
