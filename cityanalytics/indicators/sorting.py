"""Household garbage sorting: coverage of the community register and new compliant communities.

Coverage at the end of a period = communities (or their households) that had started sorting
by then / all communities (households) in the register, for urban (城市) and rural (农村)
communities separately and together.

Intervals: community coverage uses Wilson on communities. Household coverage is clustered
(a community starts sorting as a whole), so its Wilson interval uses Kish's effective sample
size n_eff = (sum w)^2 / sum w^2 with w = households per community, not the household count,
which would make the interval far too narrow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityanalytics.engines import fetch_rows
from cityanalytics.indicators import frame as F
from cityanalytics.indicators.computable import drop_not_computable
from cityanalytics.stats import intervals


INDICATORS = ("sorting_coverage_communities", "sorting_coverage_households", "sorting_compliant_communities_new")

def sorting_indicators(communities: pd.DataFrame, *, start=None, end=None, freq: str = "M",
                       level: float = 0.95, unit_map: dict[str, str] | None = None,
                       include_city: bool = True, engine=None) -> pd.DataFrame:
    """communities: the register, or where an engine reads it (``cityanalytics.engines``)."""
    communities = fetch_rows(communities, engine, "communities")
    c = communities.copy()
    if unit_map:
        c["unit_id"] = c["unit_id"].map(lambda u: unit_map.get(u, u))
    dates = pd.concat([c["sorting_started_on"], c["compliant_on"]]).dropna()
    start = pd.Timestamp(start if start is not None else (dates.min() if len(dates) else "2019-01-01"))
    end = pd.Timestamp(end if end is not None else (dates.max() if len(dates) else start))
    if freq == "all":
        period_ends = pd.Series([end.normalize() + pd.Timedelta(days=1)])
        periods = [F.window_label(start, end)]
    else:
        idx = pd.period_range(start, end, freq=freq)
        periods = list(idx)
        period_ends = pd.Series([p.end_time.normalize() + pd.Timedelta(days=1) for p in idx])
    c["w"] = c["households"].astype(float)
    started = c["sorting_started_on"].to_numpy(dtype="datetime64[ns]")
    rows = []
    groups = [("", slice(None))] + [(f"area_type={a}", c["area_type"] == a) for a in ("城市", "农村")]
    units = sorted(c["unit_id"].dropna().unique()) + ([F.CITY] if include_city else [])
    for unit in units:
        in_unit = np.ones(len(c), bool) if unit == F.CITY else (c["unit_id"] == unit).fillna(False).to_numpy(bool)
        for label, sel in groups:
            mask = in_unit & (np.ones(len(c), bool) if label == "" else sel.to_numpy())
            if not mask.any():
                continue
            w = c["w"].to_numpy()[mask]
            s = started[mask]
            for period, edge in zip(periods, period_ends):
                covered = ~np.isnat(s) & (s < np.datetime64(edge))
                rows.append((unit, period, label, mask.sum(), covered.sum(), w.sum(), w[covered].sum(),
                             w.sum() ** 2 / (w ** 2).sum() if (w ** 2).sum() > 0 else 0))
    t = pd.DataFrame(rows, columns=["unit_id", "period", "group", "n", "covered", "hh", "hh_covered", "n_eff"])
    keys = t[["unit_id", "period", "group"]]
    parts = [F.proportion("sorting_coverage_communities", keys, t["covered"], t["n"], level)]
    share = np.where(t["hh"] > 0, t["hh_covered"] / t["hh"].where(t["hh"] > 0, 1), np.nan)
    _, low, high = intervals.wilson(share * t["n_eff"], t["n_eff"], level)
    hh = F.estimate("sorting_coverage_households", keys, 100 * share, low, high, "wilson_kish")
    hh["numerator"], hh["denominator"] = t["hh_covered"].to_numpy(), t["hh"].to_numpy()
    parts.append(hh)
    parts.append(_new_compliant(c, start, end, freq, level, include_city))
    return drop_not_computable(F.combine(parts, level), communities, list(INDICATORS))


def _new_compliant(c: pd.DataFrame, start, end, freq, level, include_city) -> pd.DataFrame:
    done = c.dropna(subset=["compliant_on"])
    done = done[(done["compliant_on"] >= start.normalize()) & (done["compliant_on"] < end.normalize() + pd.Timedelta(days=1))]
    units = sorted(c["unit_id"].dropna().unique()) + ([F.CITY] if include_city else [])
    periods = [F.window_label(start, end)] if freq == "all" else list(pd.period_range(start, end, freq=freq))
    full = pd.MultiIndex.from_product([units, periods], names=["unit_id", "period"])
    p = F.period_keys(done["compliant_on"], freq, start, end)
    counts = done.assign(period=p).groupby(["unit_id", "period"]).size()
    if include_city:
        city = done.assign(period=p).groupby("period").size()
        city.index = pd.MultiIndex.from_product([[F.CITY], city.index], names=["unit_id", "period"])
        counts = pd.concat([counts, city])
    counts = counts.reindex(full, fill_value=0).reset_index(name="n")
    return F.count("sorting_compliant_communities_new", counts.assign(group=""), counts["n"], level)
