"""Shared pieces of the comparisons: picking one indicator's rows, periods, names, kinds.

Every comparison works on one indicator, one period and one ``group`` of an IndicatorFrame
at a time. ``pick`` returns the units' rows (city excluded) and the city row; what is
compared depends on the indicator's kind in the registry:

- proportion: numerator / denominator, value in percent;
- count: the count itself, or a rate per 10,000 residents when ``exposure`` (residents in
  10,000s per unit) is given; only a rate can be set against the city;
- mean / quantile: the value and its interval (no counts behind it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cityanalytics.indicators.frame import CITY
from cityanalytics.indicators.registry import Indicator, get

CITY_NAME = "全市"


class NotComparable(ValueError):
    """A comparison that cannot be made from these data; ``zh`` says why, for the report."""

    def __init__(self, message: str, zh: str):
        super().__init__(message)
        self.zh = zh
PER = 10_000  # count rates are per 10,000 residents


def as_period(period, freq: str = "M") -> pd.Period:
    if isinstance(period, pd.Period):
        return period
    return pd.Period(str(period), freq=freq)


def level_of(frame: pd.DataFrame) -> float:
    return float(frame.attrs.get("ci_level", 0.95))


def unit_names(frame: pd.DataFrame, names: dict[str, str] | None) -> dict[str, str] | None:
    """``names`` when given, else the unit names the frame carries (``frame.attrs["unit_names"]``,
    which ``compare.data.compute`` sets from the districts table); None: units show by id."""
    return names if names is not None else frame.attrs.get("unit_names")


def name_of(unit_id: str, names: dict[str, str] | None) -> str:
    if unit_id == CITY:
        return (names or {}).get(CITY, CITY_NAME)
    return (names or {}).get(unit_id, str(unit_id))


@dataclass
class Slice:
    """One indicator in one period: the units' rows and the city's row (None if absent)."""

    indicator: Indicator
    period: pd.Period
    group: str
    units: pd.DataFrame  # unit_id, numerator, denominator, value, ci_low, ci_high (+ exposure)
    city: pd.Series | None
    stat: str  # "proportion", "rate", "count", "mean"
    unit_label: str  # "%", "件/万人", ...
    level: float

    @property
    def sign(self) -> int:
        return self.indicator.sign


def stat_kind(ind: Indicator, exposure: dict | None) -> str:
    if ind.kind == "proportion":
        return "proportion"
    if ind.kind == "count":
        return "rate" if exposure else "count"
    return "mean"


def pick(frame: pd.DataFrame, indicator: str, period, group: str = "", units: list[str] | None = None,
         exposure: dict[str, float] | None = None) -> Slice:
    """The rows of ``indicator`` in ``period`` (and ``group``) for ``units`` and the city.

    exposure: residents in 10,000s per unit id (and CITY) for count indicators; the value
    then becomes a rate per 10,000 residents with the exact Poisson interval scaled.
    """
    ind = get(indicator)
    period = as_period(period, _freq(frame))
    rows = frame[(frame["indicator"] == indicator) & (frame["group"] == group)]
    if rows.empty:
        groups = sorted(frame.loc[frame["indicator"] == indicator, "group"].unique())
        if groups:
            raise ValueError(f"{indicator}: no rows for group {group!r}; groups present: {groups}")
        raise ValueError(f"{indicator}: not in the frame (indicators present: "
                         f"{', '.join(sorted(frame['indicator'].unique()))})")
    rows = rows[rows["period"] == period]
    cols = ["unit_id", "numerator", "denominator", "value", "ci_low", "ci_high"]
    city = rows[rows["unit_id"] == CITY]
    city_row = city[cols].iloc[0].copy() if len(city) else None
    u = rows[rows["unit_id"] != CITY][cols]
    if units is not None:
        u = u.set_index("unit_id").reindex(list(units)).reset_index()
    u = u.reset_index(drop=True).copy()
    for c in cols[1:]:
        u[c] = u[c].astype(float)
    kind = stat_kind(ind, exposure)
    label = ind.unit
    if kind == "rate":
        label = f"{ind.unit}/万人"
        u, city_row = _to_rates(u, city_row, exposure)
    if kind in ("proportion", "rate", "count") and city_row is None and u["denominator"].fillna(0).sum() > 0:
        city_row = _sum_city(u, kind)
    return Slice(ind, period, group, u, city_row, kind, label, level_of(frame))


def _freq(frame: pd.DataFrame) -> str:
    p = frame["period"]
    if isinstance(p.dtype, pd.PeriodDtype) and len(p):
        return p.iloc[0].freqstr.split("-")[0]  # "M", "Q-DEC" -> "Q", "Y-DEC" -> "Y"
    return "M"


def _to_rates(u: pd.DataFrame, city: pd.Series | None, exposure: dict[str, float]):
    """Counts -> rates per 10,000 residents: numerator = count, denominator = exposure."""
    u = u.copy()
    e = u["unit_id"].map(exposure).astype(float)
    count = u["value"].to_numpy(dtype=float)
    u["numerator"] = count
    u["denominator"] = e.to_numpy()
    u["value"] = count / e.to_numpy()
    u["ci_low"] = u["ci_low"] / e.to_numpy()
    u["ci_high"] = u["ci_high"] / e.to_numpy()
    if city is not None:
        city = city.copy()
        ec = float(exposure.get(CITY, np.nansum(e)))
        city["numerator"] = city["value"]
        city["denominator"] = ec
        city["value"] = city["value"] / ec
        city["ci_low"] = city["ci_low"] / ec
        city["ci_high"] = city["ci_high"] / ec
    return u, city


def _sum_city(u: pd.DataFrame, kind: str) -> pd.Series:
    num, den = u["numerator"].sum(), u["denominator"].sum()
    value = 100 * num / den if kind == "proportion" else (num / den if kind == "rate" else u["value"].sum())
    return pd.Series({"unit_id": CITY, "numerator": num, "denominator": den, "value": value,
                      "ci_low": np.nan, "ci_high": np.nan})


def city_value(s: Slice) -> float:
    return float(s.city["value"]) if s.city is not None else np.nan


def previous(period: pd.Period) -> pd.Period:
    return period - 1


def better(diff, sign: int):
    """True where a difference (unit - reference) is in the good direction."""
    return np.sign(diff) * sign > 0
