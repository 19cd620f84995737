"""Working time on the Chinese official calendar: public holidays and adjusted workdays (调休).

Case time limits (GB/T 30428.8 / CJ/T 315) are set in working hours, so "on time" depends
on which days are worked. Holidays and 调休 workdays come from the ``chinesecalendar``
package, which publishes the State Council's schedule each year. Years it does not cover
yet fall back to Monday-Friday, and ``WorkCalendar.fallback_years`` says which.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DEFAULT_WORKING_HOURS = ((9, 12), (13, 18))  # 8 working hours a day: 9-12 and 13-18


def is_workday(day: dt.date) -> tuple[bool, bool]:
    """(is a workday, was decided by the official calendar) for one date."""
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day)), True
    except NotImplementedError:  # year not published in the installed package
        return day.weekday() < 5, False


@dataclass
class WorkCalendar:
    """An hourly grid of working time between ``start`` and ``end``.

    ``hourly`` has one row per clock hour with ``working`` (0/1) and ``cum_before``, the
    working hours elapsed before that hour since ``start``. Deadlines are computed by an
    as-of lookup in this grid (numpy here, an ASOF JOIN in DuckDB).
    """

    start: str = "2015-01-01"
    end: str = "2030-12-31"
    working_hours: tuple[tuple[int, int], ...] = DEFAULT_WORKING_HOURS
    fallback_years: list[int] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        days = pd.date_range(self.start, self.end, freq="D")
        workday = np.empty(len(days), dtype=bool)
        fallback = set()
        for i, day in enumerate(days.date):
            workday[i], official = is_workday(day)
            if not official:
                fallback.add(day.year)
        self.fallback_years = sorted(fallback)
        in_hours = np.zeros(24, dtype=bool)
        for a, b in self.working_hours:
            in_hours[a:b] = True
        hours = pd.date_range(self.start, pd.Timestamp(self.end) + pd.Timedelta(hours=23), freq="h")
        working = np.repeat(workday, 24) & np.tile(in_hours, len(days))
        cum = np.concatenate([[0], np.cumsum(working)[:-1]])
        self.hourly = pd.DataFrame({"hour": hours.astype("datetime64[ns]"), "working": working.astype(np.int8),
                                    "cum_before": cum.astype(np.int64)})

    @classmethod
    def covering(cls, times: pd.Series, working_hours=DEFAULT_WORKING_HOURS) -> "WorkCalendar":
        """A calendar for whatever years ``times`` span: from 1 January of the earliest year
        (2015 at the latest) to 31 December of the year after the latest (deadlines run past
        the data; 2030 at the earliest). Years the official calendar does not publish fall
        back to Monday-Friday and are listed in ``fallback_years``, never an error."""
        t = pd.to_datetime(times).dropna()
        first = min(int(t.min().year), 2015) if len(t) else 2015
        last = max(int(t.max().year) + 1, 2030) if len(t) else 2030
        return cls(start=f"{first}-01-01", end=f"{last}-12-31", working_hours=working_hours)

    def fallback_years_of(self, times: pd.Series) -> list[int]:
        """The years among ``times`` whose working days were not published officially."""
        years = set(pd.to_datetime(times).dropna().dt.year.astype(int))
        return sorted(years & set(self.fallback_years))

    @property
    def hours_per_day(self) -> int:
        return sum(b - a for a, b in self.working_hours)

    def _check_range(self, times: pd.Series) -> None:
        lo, hi = pd.Timestamp(self.start), pd.Timestamp(self.end) + pd.Timedelta(days=1)
        t = times.dropna()
        if len(t) and (t.min() < lo or t.max() >= hi):
            raise ValueError(f"times outside the calendar {self.start}..{self.end}: {t.min()} .. {t.max()}")

    def elapsed(self, times: pd.Series) -> np.ndarray:
        """Working hours from ``start`` to each time (fractional within a working hour)."""
        times = pd.to_datetime(times)
        self._check_range(times)
        idx = ((times - pd.Timestamp(self.start)) // pd.Timedelta(hours=1)).to_numpy(dtype="float64")
        ok = ~np.isnan(idx)
        i = idx[ok].astype(np.int64)
        frac = ((times[ok] - self.hourly["hour"].to_numpy()[i]) / pd.Timedelta(hours=1)).to_numpy()
        out = np.full(len(times), np.nan)
        out[ok] = self.hourly["cum_before"].to_numpy()[i] + self.hourly["working"].to_numpy()[i] * frac
        return out

    def add_working_hours(self, times: pd.Series, hours) -> pd.Series:
        """The time at which ``hours`` working hours have passed after each time."""
        target = self.elapsed(times) + np.asarray(hours, dtype=float)
        ok = ~np.isnan(target)
        cum_after = self.hourly["cum_before"].to_numpy() + self.hourly["working"].to_numpy()
        # first working hour whose end reaches the target
        i = np.searchsorted(cum_after, target[ok], side="left")
        if len(i) and i.max() >= len(cum_after):
            raise ValueError(f"a deadline falls after the calendar's end ({self.end})")
        start_of_hour = self.hourly["hour"].to_numpy()[i]
        into = target[ok] - self.hourly["cum_before"].to_numpy()[i]
        due = np.full(len(target), np.datetime64("NaT"), dtype="datetime64[ns]")
        due[ok] = start_of_hour + (into * 3600e9).round().astype("timedelta64[ns]")
        return pd.Series(due, index=getattr(times, "index", None))

    def working_hours_between(self, start: pd.Series, end: pd.Series) -> np.ndarray:
        return self.elapsed(end) - self.elapsed(start)
