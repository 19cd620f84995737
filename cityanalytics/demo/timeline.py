"""The demo city's time axis and random streams, shared by every generator module."""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2019-01-01")
END = pd.Timestamp("2025-06-30")  # last day with data (inclusive)
TRUTH_END = pd.Timestamp("2026-12-31")  # the truth file carries adoption curves this far
DAYS = pd.date_range(START, END, freq="D")
N_DAYS = len(DAYS)
MONTHS = pd.period_range(START, END, freq="M")

START_S = int(START.value // 10**9)  # epoch seconds of the first day
END_S = int((END + pd.Timedelta(days=1)).value // 10**9) - 1  # 2025-06-30 23:59:59

# Lunar New Year's day (春节); case volumes dip around it.
SPRING_FESTIVAL = ("2019-02-05", "2020-01-25", "2021-02-12", "2022-02-01", "2023-01-22", "2024-02-10", "2025-01-29")

# One independent random stream per table, so that --cases N changes the cases table and
# nothing else. Fixed integers, never hash(): Python's string hashing is salted per process.
STREAMS = {"units": 1, "cases": 2, "dust": 3, "communities": 4, "assessments": 5, "citywide": 6}


def rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), STREAMS[stream]])


def day_index(date: str | pd.Timestamp) -> int:
    """Position of a date on the daily axis (may fall outside 0..N_DAYS-1)."""
    return int((pd.Timestamp(date) - START).days)


def years_since_start(days: np.ndarray) -> np.ndarray:
    return days / 365.25
