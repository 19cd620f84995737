"""Case-handling indicators (数字城管 / 12345) along the GB/T 30428 lifecycle.

Counts are aggregated by the query engine (``cityanalytics.engines``, through Ibis): DuckDB
in-process by default, straight from Parquet or from a DataFrame, so tens of millions of work
orders stay cheap, or Spark; only the per-unit result comes back to pandas.

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

import numpy as np
import pandas as pd
import yaml

from cityanalytics.engines import backend, source_table
from cityanalytics.engines.connect import parquet_values, to_frame
from cityanalytics.indicators.frame import CITY, UNASSIGNED, combine, count, estimate, proportion, window_label
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
    engine=None,
) -> pd.DataFrame:
    """Case-handling indicators per unit and period as an IndicatorFrame.

    cases: canonical cases table, or the path of a Parquet file holding one.
    start, end: window of reported_at (end inclusive, by day); default: the data's range.
    as_of: the moment the figures describe; default end of the window.
    by: a column to break down by (e.g. "category").
    unit_map: unit_id -> reporting unit (e.g. street -> district) to roll units up.
    engine: where the counts run (``cityanalytics.engines``): DuckDB in-process by default, or
    Spark; cases may then also be an Ibis table or ``"table:NAME"`` of that engine.
    """
    wanted = indicators or ALL
    unknown = set(wanted) - set(ALL)
    if unknown:
        raise ValueError(f"unknown case indicator(s): {', '.join(sorted(unknown))}")
    with backend(engine) as con:
        table, filled, fallback_years = _source(con, cases, time_limits, calendar)
        start, end = _window(con, table, start, end)
        as_of = pd.Timestamp(as_of) if as_of is not None else end + pd.Timedelta(days=1)
        base = _base(table, start, end, freq, by, unit_map)
        counts = _with_city_rows(to_frame(con, _counts(base, as_of, closure_allowance_hours, exclude_suspended)),
                                 include_city)
        durations = None
        if any(why_not(i, filled) is None for i in set(DURATION_INDICATORS) & set(wanted)):
            durations = _hours(to_frame(con, _duration_rows(base, as_of)))
    keys = _keys(counts, freq, start, end)
    parts = []
    if "case_filed" in wanted:
        parts.append(count("case_filed", keys, counts["filed"], level))
    for ind, (num, den) in RATE_INDICATORS.items():
        if ind in wanted:
            parts.append(proportion(ind, keys, counts[num], counts[den], level))
    parts.append(count("case_censored_open", keys, counts["censored"], level))
    if durations is not None:
        parts += _duration_frames(durations, freq, start, end, include_city, level, wanted)
    checked = [i for i in wanted if i in RATE_INDICATORS or i in DURATION_INDICATORS]
    out = drop_not_computable(combine(parts, level), filled, checked)
    out.attrs.update(as_of=str(as_of), exclude_suspended=exclude_suspended, window=window_label(start, end),
                     closure_allowance_hours=closure_allowance_hours, calendar_fallback_years=fallback_years)
    return out


# Optional columns the SQL reads, with what an export that lacks them means.
OPTIONAL_DEFAULTS = {"filed_at": pd.NaT, "disposed_at": pd.NaT, "closed_at": pd.NaT, "reopened": False,
                     "suspended": False}


def _source(con, cases, time_limits, calendar):
    """The cases as an Ibis table on ``con``. Returns it; for each column of the input, whether
    it holds any value (absent lifecycle columns are filled with their defaults for the counts,
    but the indicators that need them are not computable); and the years whose deadlines were
    computed on Monday-Friday (no official calendar published).

    A complete Parquet file or engine table (every column present, every deadline set) is read
    in place; anything else is completed in pandas first.
    """
    if not isinstance(cases, pd.DataFrame):
        table = _typed(source_table(con, cases))
        columns = set(table.columns)
        if {"due_at", *OPTIONAL_DEFAULTS} <= columns:
            footer = parquet_values(cases)  # a local file's footer says it without a scan
            if footer is not None and {"due_at", *OPTIONAL_DEFAULTS} <= set(footer[1]):
                rows, counted = footer
                no_due = counted["due_at"] < rows
                filled = {c: True for c in columns}
                filled.update({c: counted[c] > 0 for c in OPTIONAL_DEFAULTS})
            else:
                no_due = _has_value(con, table, table.due_at.isnull())
                filled = {c: True for c in columns}
                filled.update({c: _has_value(con, table, table[c].notnull()) for c in OPTIONAL_DEFAULTS})
            if not no_due:
                return table, filled, []
        cases = to_frame(con, table)
    filled = filled_columns(cases)
    frame = cases.assign(**{c: v for c, v in OPTIONAL_DEFAULTS.items() if c not in cases})
    if "due_at" not in frame or frame["due_at"].isna().any():
        frame = with_deadlines(frame, time_limits, calendar)
    return source_table(con, frame), filled, frame.attrs.get("calendar_fallback_years", [])


def _typed(table):
    """A column a file stores with no values at all (Arrow's null type, e.g. a bureau's export
    whose 挂账 column is blank) gets its canonical type, so expressions over it type-check."""
    unknown = [c for c, t in table.schema().items() if t.is_unknown() or t.is_null()]
    if not unknown:
        return table
    kinds = {c: "boolean" if isinstance(v, bool) else "timestamp" for c, v in OPTIONAL_DEFAULTS.items()}
    kinds.update(reported_at="timestamp", due_at="timestamp")
    return table.mutate(**{c: table[c].cast(kinds.get(c, "string")) for c in unknown})


def _has_value(con, table, condition) -> bool:
    """Whether any row meets ``condition``; the scan stops at the first one."""
    return len(to_frame(con, table.filter(condition).select(one=1).limit(1))) > 0


def _window(con, table, start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    if start is None or end is None:
        lo, hi = to_frame(con, table.aggregate(lo=table.reported_at.min(), hi=table.reported_at.max())).iloc[0]
        start = start if start is not None else lo
        end = end if end is not None else hi
    return pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()


def _moment(ts: pd.Timestamp):
    import ibis

    return ibis.literal(ts.to_pydatetime(), type="timestamp")


def _base(table, start, end, freq: str, by: str | None, unit_map: dict[str, str] | None):
    """Cases reported in [start, end] with the reporting unit, the period and the breakdown group."""
    t = table.filter(table.reported_at >= _moment(start), table.reported_at < _moment(end + pd.Timedelta(days=1)))
    bucket = {"M": "M", "Q": "Q", "Y": "Y"}.get(freq)
    # No period (the whole window) and no breakdown are constants: they are not grouped by (that
    # would hash them for every case) but added to the result (``_keyed``).
    keys = {"unit_key": t.unit_id.cast("string").substitute(unit_map) if unit_map else t.unit_id.cast("string")}
    if bucket:
        keys["period_key"] = t.reported_at.truncate(bucket)
    if by:
        keys["grp"] = t[by].cast("string")
    return t.mutate(**keys)


def _key_columns(base) -> dict:
    columns = {"unit_id": base.unit_key}
    if "period_key" in base.columns:
        columns["period"] = base.period_key
    if "grp" in base.columns:
        columns["grp"] = base.grp
    return columns


def _keyed(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with the period (NaT for the whole window) and group ("" for none) columns."""
    if "period" not in rows:
        rows = rows.assign(period=pd.NaT)
    if "grp" not in rows:
        rows = rows.assign(grp="")
    return rows


def _counts(base, as_of: pd.Timestamp, allowance_hours: float, exclude_suspended: bool):
    """Counts per unit, period and group (cases filed, censored, due, disposed, ...)."""
    import ibis

    now = _moment(as_of)
    seconds = float(allowance_hours) * 3600
    allowance = ibis.interval(seconds=int(seconds)) if seconds.is_integer() else \
        ibis.interval(microseconds=round(seconds * 1e6))
    # Each flag once, in its own projection (as one would write the SQL by hand): DuckDB then
    # evaluates it once per row instead of once per count that uses it. Every deadline is set
    # (``_source`` fills missing ones), so no flag is NULL for want of one.
    flags = base.select(
        **_key_columns(base),
        disposed=(base.disposed_at < now).fill_null(False),
        closed=(base.closed_at < now).fill_null(False),
        # Still open (neither disposed nor closed) and not yet due: censored. A closed case is
        # never censored, also in exports that record closure but not disposal.
        censored=(((base.disposed_at.isnull() | (base.disposed_at >= now))
                   & (base.closed_at.isnull() | (base.closed_at >= now)) & (base.due_at >= now))).fill_null(False),
        suspended=base.suspended.fill_null(False) if exclude_suspended else ibis.literal(False),
        by_due=(base.disposed_at <= base.due_at).fill_null(False),
        in_time=(base.closed_at <= base.due_at + allowance).fill_null(False),
        reopened=base.reopened.fill_null(False),
    )
    f = flags.mutate(due=~flags.censored & ~flags.suspended)

    def n(flag):  # how many cases have the flag
        return flag.cast("int32").sum()

    return f.group_by(*_key_columns(base)).aggregate(
        filed=f.count(),
        censored=n(f.censored),
        suspended=n(f.suspended & ~f.censored),
        due=n(f.due),
        disposed=n(f.due & f.disposed),
        disposed_on_time=n(f.due & f.disposed & f.by_due),
        closed=n(f.due & f.closed),
        closed_on_time=n(f.due & f.closed & f.disposed & f.by_due & f.in_time),
        reopened=n(f.due & f.reopened),
    )


COUNTS = ["filed", "censored", "suspended", "due", "disposed", "disposed_on_time", "closed", "closed_on_time",
          "reopened"]


def _with_city_rows(counts: pd.DataFrame, include_city: bool) -> pd.DataFrame:
    """Add the city-wide rows (every count is a sum, so the city's is the sum over units) and put
    the rows in one order whatever the engine: unit (no unit first), period, group; city first."""
    counts = _keyed(counts).astype({c: "int64" for c in COUNTS})
    counts["is_city"] = 0
    if include_city and len(counts):
        city = counts.groupby(["period", "grp"], dropna=False, sort=False)[COUNTS].sum().reset_index()
        city["unit_id"], city["is_city"] = None, 1
        counts = pd.concat([city, counts], ignore_index=True)
    counts["period"] = pd.to_datetime(counts["period"])
    order = counts.assign(_has_unit=counts["unit_id"].notna(), _unit=counts["unit_id"].fillna(""),
                          _not_city=1 - counts["is_city"])
    order = order.sort_values(["_has_unit", "_unit", "period", "grp", "_not_city"], kind="stable",
                              na_position="first")
    return counts.loc[order.index, ["unit_id", "period", "grp", "is_city", *COUNTS]].reset_index(drop=True)


def _duration_rows(base, as_of: pd.Timestamp):
    """Per case: when the clock started and stopped (closure, or ``as_of`` if still open)."""
    import ibis

    now = _moment(as_of)
    return base.select(
        **_key_columns(base),
        began=ibis.coalesce(base.filed_at, base.reported_at),
        stopped=ibis.least(base.closed_at.fill_null(now), now),
        event=(base.closed_at.notnull() & (base.closed_at < now)).fill_null(False),
    )


def _hours(rows: pd.DataFrame) -> pd.DataFrame:
    rows = _keyed(rows)
    hours = (pd.to_datetime(rows["stopped"]) - pd.to_datetime(rows["began"])).dt.total_seconds() / 3600.0
    return pd.DataFrame({"unit_id": rows["unit_id"], "period": pd.to_datetime(rows["period"]), "grp": rows["grp"],
                         "hours": hours.to_numpy(), "event": rows["event"].astype(bool).to_numpy()})


def _keys(table: pd.DataFrame, freq: str, start, end) -> pd.DataFrame:
    """Unit, period and group of each result row. The city-wide total is ``CITY``; cases that
    carry no unit form their own group, ``UNASSIGNED`` (未归属单位), counted in the city too."""
    unit = table["unit_id"].astype(object).where(table["unit_id"].notna(), UNASSIGNED)
    if "is_city" in table:
        unit = unit.where(table["is_city"].to_numpy() == 0, CITY)
    keys = pd.DataFrame({"unit_id": unit.astype(str).to_numpy()})
    if freq == "all":
        keys["period"] = window_label(start, end)
    else:
        keys["period"] = pd.PeriodIndex(pd.to_datetime(table["period"]), freq=freq)
    keys["group"] = table["grp"].fillna("").astype(str).to_numpy()
    return keys


def _duration_frames(durations, freq, start, end, include_city, level, wanted) -> list[pd.DataFrame]:
    from cityanalytics.stats.survival import km_quantiles

    d = durations.assign(unit_id=durations["unit_id"].astype(object).where(durations["unit_id"].notna(),
                                                                           UNASSIGNED))
    if include_city:
        d = pd.concat([d, d.assign(unit_id=CITY)], ignore_index=True)
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
        parts.append(estimate(ind, keys, vals[:, 0], vals[:, 1], vals[:, 2], "kaplan_meier", n))
    return parts
