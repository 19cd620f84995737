"""Design-matrix columns built day by day and averaged over each period.

A weekly or monthly period that is partly inside a campaign phase gets the share of its days
in the phase; a seasonal or holiday term gets its mean over the period's days. At daily
resolution every column is exact. The same day-level definitions serve the interrupted time
series and the difference-in-differences models, so both estimate the same quantities.

Columns (names as they appear in coefficient tables):

- ``trend``: years since the first day of data; on quarterly and yearly data the period index
  (0, 1, 2 ... quarters or years), so its coefficient is the change per quarter or per year.
- ``sin{k}``/``cos{k}``: Fourier terms of the day of year (period 365.25 days), k = 1..order;
  or ``month_{m}`` dummies (January is the reference). Quarterly data: harmonics of the
  quarter (period 4: ``sin1``, ``cos1``, ``cos2``), or ``quarter_{q}`` dummies (Q1 is the
  reference; ``seasonality="quarter"`` or ``"month"``). Yearly data: none.
- ``dow_{d}``: day-of-week dummies (daily data; Monday is the reference); on weekly and
  monthly data ``weekend_share``, the share of Saturdays and Sundays in the period (a month
  with five weekends has fewer cases per day).
- ``sf_{a}_{b}``: days a..b around the Spring Festival (春节, Lunar New Year's day = 0);
  five bins on daily data, one window (-3..+10) on weekly and monthly data (none on
  quarterly and yearly data: the festival always falls in the first quarter).
- ``holiday``: statutory holidays falling on a weekday; ``makeup_workday``: 调休 Saturdays
  and Sundays worked (official calendar from ``chinese_calendar``; none where it has no data).
- campaign terms: ``phase:<name>`` (share of days in the phase), ``campaign`` (share in the
  whole window), ``slope`` (months since the start, inside the window; quarters or years on
  quarterly and yearly data, 0 in the period the campaign starts), ``post`` (after the
  end: exp(-days since end / tau), i.e. a decay with half-life tau x ln 2; tau = inf is a
  persistent level).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd

from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.panel import PERIOD_INDEXED, period_number, period_start

# Lunar New Year's day (春节 正月初一), 2010-2035.
SPRING_FESTIVAL = pd.to_datetime([
    "2010-02-14", "2011-02-03", "2012-01-23", "2013-02-10", "2014-01-31", "2015-02-19", "2016-02-08",
    "2017-01-28", "2018-02-16", "2019-02-05", "2020-01-25", "2021-02-12", "2022-02-01", "2023-01-22",
    "2024-02-10", "2025-01-29", "2026-02-17", "2027-02-06", "2028-01-26", "2029-02-13", "2030-02-03",
    "2031-01-23", "2032-02-11", "2033-01-31", "2034-02-19", "2035-02-08",
])
SF_BINS_DAILY = ((-7, -3), (-2, 0), (1, 3), (4, 7), (8, 14))
SF_BINS_COARSE = ((-3, 10),)
DAYS_PER_MONTH = 365.25 / 12


class DayAxis:
    """The days behind a period grid: ``pidx[i]`` is the period of day ``days[i]``."""

    def __init__(self, periods: pd.DataFrame, window: tuple | None = None):
        starts = pd.DatetimeIndex(periods["period"])
        ends = pd.DatetimeIndex(periods["period_end"])
        lo = starts[0] if window is None else max(starts[0], pd.Timestamp(window[0]))
        hi = ends[-1] if window is None else min(ends[-1], pd.Timestamp(window[1]))
        self.starts = starts
        self.days = pd.date_range(lo, hi, freq="D")
        self.pidx = np.searchsorted(starts.values, self.days.values, side="right") - 1
        self.n = len(starts)
        self.ndays = np.bincount(self.pidx, minlength=self.n).astype(float)
        self.day_num = ((self.days - self.days[0]).days).to_numpy().astype(float)

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Per-period mean of day-level values (1-D or days x k)."""
        v = np.asarray(values, dtype=float)
        if v.ndim == 1:
            return np.bincount(self.pidx, v, minlength=self.n) / np.maximum(self.ndays, 1)
        return np.column_stack([self.mean(v[:, j]) for j in range(v.shape[1])])

    def offset(self, date) -> np.ndarray:
        """Days from ``date`` to each day (negative before it)."""
        return self.day_num - float((pd.Timestamp(date) - self.days[0]).days)


@lru_cache(maxsize=32)
def _holiday_flags_range(first: pd.Timestamp, last: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    days = pd.date_range(first, last, freq="D")
    try:
        import chinese_calendar
    except ImportError:  # pragma: no cover - a dependency, but the model works without it
        return np.zeros(len(days)), np.zeros(len(days))
    covered_years = {d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays}
    weekend = days.day_of_week.to_numpy() >= 5
    covered = np.isin(days.year.to_numpy(), sorted(covered_years))
    hol_set = set(chinese_calendar.holidays)
    work_set = set(chinese_calendar.workdays)
    dates = days.date
    is_hol = np.fromiter((d in hol_set for d in dates), dtype=bool, count=len(days))
    is_work = np.fromiter((d in work_set for d in dates), dtype=bool, count=len(days))
    hol = (is_hol & ~weekend & covered).astype(float)  # statutory holiday on a weekday
    work = (is_work & weekend & covered).astype(float)  # 调休: a weekend day worked
    return hol, work


def _holiday_flags(days: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    return _holiday_flags_range(days[0], days[-1])


def time_columns(axis: DayAxis, freq: str, *, seasonality: str = "fourier", fourier_order: int = 2,
                 trend: bool = True, weekday: bool = True, spring_festival: bool = True,
                 holidays: bool = True) -> pd.DataFrame:
    """Intercept, trend, seasonality and calendar columns, one row per period. Yearly periods
    get no seasonal or calendar terms: over a whole year they are the same every year.
    Quarterly periods get quarterly seasonality only (the Spring Festival is always in the
    first quarter, and weekend and holiday shares hardly vary between years)."""
    if freq == "Y":
        seasonality, weekday, spring_festival, holidays = "none", False, False, False
    if freq == "Q":
        weekday, spring_festival, holidays = False, False, False
    cols: dict[str, np.ndarray] = {"const": np.ones(axis.n)}
    if trend:
        cols["trend"] = (period_number(axis.starts, freq).astype(float) if freq in PERIOD_INDEXED
                         else axis.mean(axis.day_num / 365.25))
    doy = axis.days.day_of_year.to_numpy().astype(float)
    if freq == "Q" and seasonality not in (None, "none"):
        cols.update(_quarter_seasonality(axis.starts, seasonality, fourier_order))
    elif seasonality == "quarter":
        raise ValueError("seasonality='quarter' is for quarterly data (freq Q)")
    elif seasonality == "fourier":
        for k in range(1, int(fourier_order) + 1):
            cols[f"sin{k}"] = axis.mean(np.sin(2 * np.pi * k * doy / 365.25))
            cols[f"cos{k}"] = axis.mean(np.cos(2 * np.pi * k * doy / 365.25))
    elif seasonality == "month":
        month = axis.days.month.to_numpy()
        for m in range(2, 13):
            cols[f"month_{m}"] = axis.mean((month == m).astype(float))
    elif seasonality not in (None, "none"):
        raise ValueError(f"seasonality must be 'fourier', 'month' or 'none', got {seasonality!r}")
    if weekday and freq == "D":
        dow = axis.days.day_of_week.to_numpy()
        for d in range(1, 7):
            cols[f"dow_{d}"] = (dow == d).astype(float)
    elif weekday:  # weeks and months: the share of Saturdays and Sundays in the period
        cols["weekend_share"] = axis.mean((axis.days.day_of_week.to_numpy() >= 5).astype(float))
    if spring_festival:
        bins = SF_BINS_DAILY if freq == "D" else SF_BINS_COARSE
        sf_num = ((SPRING_FESTIVAL - axis.days[0]).days).to_numpy().astype(float)
        k = np.clip(np.searchsorted(sf_num, axis.day_num), 1, len(sf_num) - 1)
        before, after = axis.day_num - sf_num[k - 1], axis.day_num - sf_num[k]
        rel = np.where(np.abs(before) < np.abs(after), before, after)
        for a, b in bins:
            cols[f"sf_{a}_{b}"] = axis.mean(((rel >= a) & (rel <= b)).astype(float))
    if holidays:
        hol, work = _holiday_flags(axis.days)
        for name, flag in (("holiday", hol), ("makeup_workday", work)):
            col = axis.mean(flag)
            if np.ptp(col) > 0:
                cols[name] = col
    out = pd.DataFrame(cols)
    # Drop columns that do not vary in this window (e.g. a Spring Festival bin outside it).
    keep = [c for c in out if c == "const" or np.ptp(out[c].to_numpy()) > 0]
    return out[keep]


def _quarter_seasonality(starts: pd.DatetimeIndex, seasonality: str, order: int) -> dict[str, np.ndarray]:
    """Quarter-of-year terms, one value per period: harmonics of period 4 (at most three:
    sin1, cos1 and cos2 span the quarter dummies) or dummies for Q2..Q4."""
    q = ((pd.DatetimeIndex(starts).month.to_numpy() - 1) // 3).astype(float)
    if seasonality == "fourier":
        out = {"sin1": np.sin(np.pi * q / 2), "cos1": np.cos(np.pi * q / 2)}
        if int(order) >= 2:
            out["cos2"] = np.cos(np.pi * q)
        return out if int(order) >= 1 else {}
    if seasonality in ("quarter", "month"):
        return {f"quarter_{k}": (q == k - 1).astype(float) for k in (2, 3, 4)}
    raise ValueError(f"seasonality must be 'fourier', 'quarter' or 'none', got {seasonality!r}")


def _share(axis: DayAxis, start, end) -> np.ndarray:
    inside = (axis.days >= pd.Timestamp(start)) & (axis.days <= pd.Timestamp(end))
    return np.asarray(inside, dtype=float)


def campaign_columns(axis: DayAxis, campaign: Campaign, *, effect: str = "phases", slope: bool = False,
                     start=None, freq: str | None = None) -> pd.DataFrame:
    """Campaign terms without the post-campaign column (see ``post_column``).

    effect: ``phases`` (one share column per phase) or ``level`` (one for the whole window);
    slope: add the months since the start, inside the window (a change of slope); with
        ``freq`` Q or Y, the quarters or years since the period the campaign starts in.
    start: for a unit adopting on its own date, shift every phase by (start - campaign start).
    """
    shift = pd.Timedelta(0) if start is None else pd.Timestamp(start) - campaign.start
    cols: dict[str, np.ndarray] = {}
    if effect == "phases":
        for p in campaign.phases:
            cols[f"phase:{p.name}"] = axis.mean(_share(axis, p.start + shift, p.end + shift))
    elif effect == "level":
        cols["campaign"] = axis.mean(_share(axis, campaign.start + shift, campaign.end + shift))
    else:
        raise ValueError(f"effect must be 'phases' or 'level', got {effect!r}")
    if slope:
        inside = _share(axis, campaign.start + shift, campaign.end + shift)
        if freq in PERIOD_INDEXED:
            k = period_number(axis.starts, freq, origin=period_start([campaign.start + shift], freq)[0])
            cols["slope"] = axis.mean(inside) * k + 0.0  # + 0.0: no -0.0 before the start
        else:
            cols["slope"] = axis.mean(inside * axis.offset(campaign.start + shift) / DAYS_PER_MONTH)
    return pd.DataFrame(cols)


def post_column(axis: DayAxis, end, tau: float, shift_days: float = 0.0) -> np.ndarray:
    """Mean over each period of exp(-(day - end)/tau) for days after ``end`` (0 before);
    tau = inf gives the share of days after the end (a persistent shift)."""
    d = axis.offset(pd.Timestamp(end) + pd.Timedelta(days=shift_days))
    after = d > 0
    if math.isinf(tau):
        val = after.astype(float)
    else:
        val = np.where(after, np.exp(-np.where(after, d, 0.0) / tau), 0.0)
    return axis.mean(val)


def post_column_dlogtau(axis: DayAxis, end, tau: float, shift_days: float = 0.0) -> np.ndarray:
    """Derivative of ``post_column`` with respect to log(tau): mean of exp(-d/tau) d/tau."""
    d = axis.offset(pd.Timestamp(end) + pd.Timedelta(days=shift_days))
    after = d > 0
    dd = np.where(after, d, 0.0)
    return axis.mean(np.where(after, np.exp(-dd / tau) * dd / tau, 0.0))


def half_life(tau: float) -> float:
    return tau * math.log(2.0)


def tau_of(half_life_days: float) -> float:
    return half_life_days / math.log(2.0)
