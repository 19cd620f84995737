"""Household garbage sorting: coverage of the community register and new compliant communities.

Coverage at the end of a period = communities (or their households) that had started sorting
by then / all communities (households) in the register, for urban (城市) and rural (农村)
communities separately and together.

Intervals: community coverage uses Wilson on communities. Household coverage is clustered
(a community starts sorting as a whole), so its Wilson interval uses Kish's effective sample
size n_eff = (sum w)^2 / sum w^2 with w = households per community, not the household count,
which would make the interval far too narrow.

The engine (``cityanalytics.engines``, through Ibis) sums the register per unit, area type and
day sorting started: communities, households and households squared (what Kish's n_eff needs),
and counts communities newly compliant per unit and period. Coverage at each period's end is a
running sum of those rows; groups, city rows and intervals are computed from them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityanalytics.engines import backend
from cityanalytics.engines.connect import to_frame
from cityanalytics.indicators.frame import CITY, combine, count, estimate, period_keys, proportion, window_label
from cityanalytics.indicators.computable import drop_not_computable
from cityanalytics.indicators._on_engine import engine_table, profile
from cityanalytics.stats import intervals


INDICATORS = ("sorting_coverage_communities", "sorting_coverage_households", "sorting_compliant_communities_new")
AREA_GROUPS = ("城市", "农村")
EVENTS = {"started": "sorting_started_on", "compliant": "compliant_on"}  # what "covered" counts
COUNT_COLUMNS = ["unit_id", "period", "group", "n", "covered", "hh", "hh_covered", "n_eff"]


def sorting_indicators(communities: pd.DataFrame, *, start=None, end=None, freq: str = "M",
                       level: float = 0.95, unit_map: dict[str, str] | None = None,
                       include_city: bool = True, engine=None) -> pd.DataFrame:
    """communities: the register, or where an engine reads it (``cityanalytics.engines``)."""
    with backend(engine) as con:
        t = engine_table(con, communities, "communities")
        filled, row = profile(con, t, s_lo=t.sorting_started_on.min(), s_hi=t.sorting_started_on.max(),
                              c_lo=t.compliant_on.min(), c_hi=t.compliant_on.max())
        dates = pd.to_datetime(pd.Series([row["s_lo"], row["c_lo"], row["s_hi"], row["c_hi"]])).dropna()
        start = pd.Timestamp(start if start is not None else (dates.min() if len(dates) else "2019-01-01"))
        end = pd.Timestamp(end if end is not None else (dates.max() if len(dates) else start))
        unit = t.unit_id.cast("string")
        unit = unit.substitute(unit_map) if unit_map else unit
        register = to_frame(con, _register(t, unit, t.sorting_started_on))
        new = to_frame(con, _new_compliant_counts(t, unit, start, end, freq))
    if freq == "all":
        period_ends = [end.normalize() + pd.Timedelta(days=1)]
        periods = [window_label(start, end)]
    else:
        idx = pd.period_range(start, end, freq=freq)
        periods = list(idx)
        period_ends = [p.end_time.normalize() + pd.Timedelta(days=1) for p in idx]
    units = sorted(register["unit_id"].dropna().unique())
    t = _coverage(register, units + ([CITY] if include_city else []), periods, period_ends)
    keys = t[["unit_id", "period", "group"]]
    parts = [proportion("sorting_coverage_communities", keys, t["covered"], t["n"], level)]
    share = np.where(t["hh"] > 0, t["hh_covered"] / t["hh"].where(t["hh"] > 0, 1), np.nan)
    _, low, high = intervals.wilson(share * t["n_eff"], t["n_eff"], level)
    hh = estimate("sorting_coverage_households", keys, 100 * share, low, high, "wilson_kish")
    hh["numerator"], hh["denominator"] = t["hh_covered"].to_numpy(), t["hh"].to_numpy()
    parts.append(hh)
    parts.append(_new_compliant(new, units, start, end, freq, level, include_city))
    return drop_not_computable(combine(parts, level), filled, list(INDICATORS))


def coverage_counts(communities, *, event: str = "started", area_type: str | None = None, start=None, end=None,
                    unit_map: dict[str, str] | None = None, include_city: bool = True, engine=None) -> pd.DataFrame:
    """Monthly coverage counts per unit (and the city, last): by the end of each month, how many
    of the register's communities (``covered`` of ``n``) and households (``hh_covered`` of
    ``hh``, with Kish's ``n_eff``) had started sorting (``event="started"``, the coverage
    indicators) or been judged compliant (``event="compliant"``). Columns ``COUNT_COLUMNS``;
    ``period`` is a monthly Period. What the coverage indicators and the coverage forecast
    (``forecast.series.coverage_series``) are both made from.

    area_type: only that area type's communities (城市 or 农村; None: all).
    end: the data's end (a date); dates after its month are not known yet. Default: the month
        of the register's latest date (either column).
    start: the first month. Default: the month of the first event among the communities counted.
    """
    if event not in EVENTS:
        raise ValueError(f"event must be one of {', '.join(EVENTS)}, got {event!r}")
    with backend(engine) as con:
        t = engine_table(con, communities, "communities")
        _, row = profile(con, t, s_hi=t.sorting_started_on.max(), c_hi=t.compliant_on.max())
        unit = t.unit_id.cast("string")
        unit = unit.substitute(unit_map) if unit_map else unit
        register = to_frame(con, _register(t, unit, t[EVENTS[event]]))
    latest = pd.to_datetime(pd.Series([row["s_hi"], row["c_hi"]])).dropna()
    if end not in (None, ""):
        last = pd.Timestamp(end).to_period("M")
    else:
        last = (latest.max() if len(latest) else pd.Timestamp.today()).to_period("M")
    day = pd.to_datetime(register["day"])
    counted = register["area_type"] == area_type if area_type else pd.Series(True, index=register.index)
    known = day[counted & day.notna() & (day.dt.to_period("M") <= last)]
    if start is not None:
        first = pd.Timestamp(start).to_period("M")
    else:
        first = known.min().to_period("M") if len(known) else last
    periods = list(pd.period_range(min(first, last), last, freq="M"))
    period_ends = [p.end_time.normalize() + pd.Timedelta(days=1) for p in periods]
    units = sorted(register["unit_id"].dropna().unique())
    group = f"area_type={area_type}" if area_type else ""
    return _coverage(register, units + ([CITY] if include_city else []), periods, period_ends, groups=(group,))


def _register(t, unit, event):
    """Communities, households (with how many have a count) and households squared per unit,
    area type and day of the event (sorting started, or judged compliant; null: not yet)."""
    w = t.households.cast("float64")
    return t.group_by(unit_id=unit, area_type=t.area_type.cast("string"), day=event.truncate("D")).aggregate(
        n=t.count(), counted=w.count(), w=w.sum(), w2=(w * w).sum())


def _coverage(register: pd.DataFrame, units: list, periods: list, period_ends: list, groups=None) -> pd.DataFrame:
    """Per unit, group ("" = all, then each area type; ``groups``: only these) and period:
    communities, covered ones, households, covered households and Kish's n_eff. A household
    count missing makes the sums it enters missing (and n_eff 0), as summing the register's
    column would. Groups without a community are left out.

    Every register row adds to its unit's groups and the city's (``CITY`` in ``units``: every
    row) from the first period whose end is after its day; running sums over the periods
    give the counts at each period's end."""
    unit_of = register["unit_id"].to_numpy(object)
    area_of = register["area_type"].to_numpy(object)
    day = pd.to_datetime(register["day"]).to_numpy("datetime64[ns]")
    n_of = register["n"].to_numpy(np.int64)
    gap_of = n_of - register["counted"].to_numpy(np.int64)
    w_of = register["w"].fillna(0.0).to_numpy(float)
    w2_of = register["w2"].fillna(0.0).to_numpy(float)
    edges = np.array(period_ends, dtype="datetime64[ns]")
    n_periods = len(edges)
    areas = AREA_GROUPS if groups is None else [g.removeprefix("area_type=") for g in groups if g]
    labels = ([""] if groups is None or "" in groups else []) + [f"area_type={a}" for a in areas]
    n_labels = len(labels)
    position = {u: i for i, u in enumerate(units) if u != CITY}
    row_unit = np.array([position.get(u, -1) for u in unit_of], dtype=np.int64)
    first = np.where(np.isnat(day), n_periods, np.searchsorted(edges, day, side="right"))  # first period counted in
    members, keys = [], []  # (register row, unit x group key) pairs
    for j, label in enumerate(labels):
        in_label = np.ones(len(register), bool) if not label else area_of == label.removeprefix("area_type=")
        rows = np.nonzero(in_label & (row_unit >= 0))[0]
        members.append(rows)
        keys.append(row_unit[rows] * n_labels + j)
        if CITY in units:
            rows = np.nonzero(in_label)[0]
            members.append(rows)
            keys.append(np.full(len(rows), units.index(CITY) * n_labels + j))
    rows = np.concatenate(members) if members else np.zeros(0, np.int64)
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    n_keys = len(units) * n_labels

    def total(values):
        return np.bincount(key, weights=values[rows], minlength=n_keys)

    def running(values):
        cells = np.bincount(key * (n_periods + 1) + first[rows], weights=values[rows],
                            minlength=n_keys * (n_periods + 1))
        return np.cumsum(cells.reshape(n_keys, n_periods + 1)[:, :n_periods], axis=1)

    n, gaps, w, w2 = total(n_of), total(gap_of), total(w_of), total(w2_of)
    w, w2 = np.where(gaps > 0, np.nan, w), np.where(gaps > 0, np.nan, w2)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = np.where(w2 > 0, w ** 2 / np.where(w2 > 0, w2, 1), 0.0)
    cum_n, cum_w, cum_gap = running(n_of), running(w_of), running(gap_of)
    kept = np.nonzero(n > 0)[0]
    each = np.repeat(kept, n_periods)
    return pd.DataFrame({
        "unit_id": np.array(units, dtype=object)[each // n_labels],
        "period": list(periods) * len(kept),
        "group": np.array(labels, dtype=object)[each % n_labels],
        "n": n[each].astype(np.int64),
        "covered": cum_n[kept].ravel().astype(np.int64),
        "hh": w[each],
        "hh_covered": np.where(cum_gap[kept].ravel() > 0, np.nan, cum_w[kept].ravel()),
        "n_eff": n_eff[each],
    }, columns=COUNT_COLUMNS)


def _new_compliant_counts(t, unit, start: pd.Timestamp, end: pd.Timestamp, freq: str):
    import ibis

    done = t.filter(t.compliant_on >= ibis.literal(start.normalize().to_pydatetime(), type="timestamp"),
                    t.compliant_on < ibis.literal((end.normalize() + pd.Timedelta(days=1)).to_pydatetime(),
                                                  type="timestamp"))
    keys = {"unit_id": unit}
    bucket = {"M": "M", "Q": "Q", "Y": "Y"}.get(freq)
    if bucket:
        keys["period"] = done.compliant_on.truncate(bucket)
    return done.group_by(**keys).aggregate(n=done.count())


def _new_compliant(new: pd.DataFrame, units: list, start, end, freq, level, include_city) -> pd.DataFrame:
    periods = [window_label(start, end)] if freq == "all" else list(pd.period_range(start, end, freq=freq))
    full = pd.MultiIndex.from_product([units + ([CITY] if include_city else []), periods],
                                      names=["unit_id", "period"])
    stamps = pd.to_datetime(new["period"]) if "period" in new else pd.Series(pd.NaT, index=new.index)
    new = new.assign(period=period_keys(stamps, freq, start, end))
    counts = new.dropna(subset=["unit_id"]).groupby(["unit_id", "period"])["n"].sum()
    if include_city:
        city = new.groupby("period")["n"].sum()
        city.index = pd.MultiIndex.from_product([[CITY], city.index], names=["unit_id", "period"])
        counts = pd.concat([counts, city])
    counts = counts.reindex(full, fill_value=0).reset_index(name="n")
    return count("sorting_compliant_communities_new", counts.assign(group=""), counts["n"], level)
