"""Shared grouping for pandas-computed indicators: unit roll-up, periods, city rows."""

from __future__ import annotations

import pandas as pd

from cityanalytics.indicators.frame import CITY, period_keys


def prepare(data: pd.DataFrame, date_col: str, freq: str, start, end,
            unit_map: dict[str, str] | None) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """Rows within [start, end] with ``period`` and (rolled-up) ``unit_id`` set."""
    start = pd.Timestamp(start if start is not None else data[date_col].min()).normalize()
    end = pd.Timestamp(end if end is not None else data[date_col].max()).normalize()
    d = data[(data[date_col] >= start) & (data[date_col] < end + pd.Timedelta(days=1))].copy()
    if unit_map:
        d["unit_id"] = d["unit_id"].map(lambda u: unit_map.get(u, u))
    d["period"] = period_keys(d[date_col], freq, start, end)
    return d, start, end


def with_city(d: pd.DataFrame, include_city: bool) -> pd.DataFrame:
    """Append a copy of every row under the city id, so city figures come out of one groupby."""
    if not include_city:
        return d
    return pd.concat([d, d.assign(unit_id=CITY)], ignore_index=True)


def keys_of(grouped: pd.DataFrame) -> pd.DataFrame:
    k = grouped[["unit_id", "period"]].copy()
    k["group"] = grouped["group"] if "group" in grouped else ""
    return k
