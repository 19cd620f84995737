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
from cityanalytics.indicators import frame as F
from cityanalytics.indicators.computable import drop_not_computable
from cityanalytics.indicators._on_engine import engine_table, profile
from cityanalytics.stats import intervals


INDICATORS = ("sorting_coverage_communities", "sorting_coverage_households", "sorting_compliant_communities_new")
AREA_GROUPS = ("城市", "农村")


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
        register = to_frame(con, _register(t, unit))
        new = to_frame(con, _new_compliant_counts(t, unit, start, end, freq))
    if freq == "all":
        period_ends = [end.normalize() + pd.Timedelta(days=1)]
        periods = [F.window_label(start, end)]
    else:
        idx = pd.period_range(start, end, freq=freq)
        periods = list(idx)
        period_ends = [p.end_time.normalize() + pd.Timedelta(days=1) for p in idx]
    units = sorted(register["unit_id"].dropna().unique())
    t = _coverage(register, units + ([F.CITY] if include_city else []), periods, period_ends)
    keys = t[["unit_id", "period", "group"]]
    parts = [F.proportion("sorting_coverage_communities", keys, t["covered"], t["n"], level)]
    share = np.where(t["hh"] > 0, t["hh_covered"] / t["hh"].where(t["hh"] > 0, 1), np.nan)
    _, low, high = intervals.wilson(share * t["n_eff"], t["n_eff"], level)
    hh = F.estimate("sorting_coverage_households", keys, 100 * share, low, high, "wilson_kish")
    hh["numerator"], hh["denominator"] = t["hh_covered"].to_numpy(), t["hh"].to_numpy()
    parts.append(hh)
    parts.append(_new_compliant(new, units, start, end, freq, level, include_city))
    return drop_not_computable(F.combine(parts, level), filled, list(INDICATORS))


def _register(t, unit):
    """Communities, households (with how many have a count) and households squared per unit,
    area type and day sorting started (null: not started)."""
    w = t.households.cast("float64")
    return t.group_by(unit_id=unit, area_type=t.area_type.cast("string"),
                      day=t.sorting_started_on.truncate("D")).aggregate(
        n=t.count(), counted=w.count(), w=w.sum(), w2=(w * w).sum())


def _coverage(register: pd.DataFrame, units: list, periods: list, period_ends: list) -> pd.DataFrame:
    """Per unit, group ("" = all, then each area type) and period: communities, covered ones,
    households, covered households and Kish's n_eff. A household count missing makes the
    sums it enters missing (and n_eff 0), as summing the register's column would."""
    unit_of = register["unit_id"].to_numpy(object)
    area_of = register["area_type"].to_numpy(object)
    day = pd.to_datetime(register["day"]).to_numpy("datetime64[ns]")
    n_of = register["n"].to_numpy(np.int64)
    gap_of = n_of - register["counted"].to_numpy(np.int64)
    w_of = register["w"].fillna(0.0).to_numpy(float)
    w2_of = register["w2"].fillna(0.0).to_numpy(float)
    order = np.argsort(day, kind="stable")  # not started (NaT) last
    edges = np.array(period_ends, dtype="datetime64[ns]")
    everywhere = np.ones(len(register), bool)
    areas = {a: area_of == a for a in AREA_GROUPS}
    rows = []
    for unit in units:
        in_unit = everywhere if unit == F.CITY else unit_of == unit
        for label, sel in [("", in_unit)] + [(f"area_type={a}", in_unit & areas[a]) for a in AREA_GROUPS]:
            n = int(n_of[sel].sum())
            if n == 0:
                continue
            w, w2 = float(w_of[sel].sum()), float(w2_of[sel].sum())
            if gap_of[sel].sum() > 0:
                w, w2 = np.nan, np.nan
            n_eff = w ** 2 / w2 if w2 > 0 else 0
            started = order[sel[order] & ~np.isnat(day[order])]
            upto = np.searchsorted(day[started], edges, side="left")
            cum_n = np.concatenate([[0], np.cumsum(n_of[started])])
            cum_w = np.concatenate([[0.0], np.cumsum(w_of[started])])
            cum_gap = np.concatenate([[0], np.cumsum(gap_of[started])])
            for period, k in zip(periods, upto):
                rows.append((unit, period, label, n, int(cum_n[k]), w,
                             float(cum_w[k]) if cum_gap[k] == 0 else np.nan, n_eff))
    return pd.DataFrame(rows, columns=["unit_id", "period", "group", "n", "covered", "hh", "hh_covered", "n_eff"])


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
    periods = [F.window_label(start, end)] if freq == "all" else list(pd.period_range(start, end, freq=freq))
    full = pd.MultiIndex.from_product([units + ([F.CITY] if include_city else []), periods],
                                      names=["unit_id", "period"])
    stamps = pd.to_datetime(new["period"]) if "period" in new else pd.Series(pd.NaT, index=new.index)
    new = new.assign(period=F.period_keys(stamps, freq, start, end))
    counts = new.dropna(subset=["unit_id"]).groupby(["unit_id", "period"])["n"].sum()
    if include_city:
        city = new.groupby("period")["n"].sum()
        city.index = pd.MultiIndex.from_product([[F.CITY], city.index], names=["unit_id", "period"])
        counts = pd.concat([counts, city])
    counts = counts.reindex(full, fill_value=0).reset_index(name="n")
    return F.count("sorting_compliant_communities_new", counts.assign(group=""), counts["n"], level)
