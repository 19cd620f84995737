"""Confidence intervals, one function per method, each vectorised over arrays.

Following PHEindicatormethods: every method takes counts (or samples) and a confidence
level and returns (value, lower, upper). Proportions are returned as percentages (0-100)
because that is how bureaus publish them ("处置率 98.83%").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

METHODS = ("wilson", "poisson_exact", "t", "bootstrap")


def _alpha(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be between 0 and 1, got {level}")
    return 1 - level


def wilson(numerator, denominator, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proportion in percent with its Wilson score interval; NaN where the denominator is 0."""
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    if np.any(num < 0) or np.any(num > den):
        raise ValueError("wilson: need 0 <= numerator <= denominator")
    safe = np.where(den > 0, den, 1)
    low, high = proportion_confint(num, safe, alpha=_alpha(level), method="wilson")
    value = num / safe
    empty = den <= 0
    return tuple(np.where(empty, np.nan, 100 * x) for x in (value, np.asarray(low), np.asarray(high)))


def poisson_exact(count, exposure=1.0, level: float = 0.95, per: float = 1.0):
    """Count (or rate per ``per`` units of exposure) with the exact (Garwood) Poisson interval."""
    k = np.asarray(count, dtype=float)
    e = np.broadcast_to(np.asarray(exposure, dtype=float), k.shape)
    a = _alpha(level)
    low = np.where(k > 0, stats.chi2.ppf(a / 2, 2 * k) / 2, 0.0)
    high = stats.chi2.ppf(1 - a / 2, 2 * (k + 1)) / 2
    scale = np.where(e > 0, per / np.where(e > 0, e, 1), np.nan)
    return k * scale, low * scale, high * scale


def t_mean(samples, level: float = 0.95) -> tuple[float, float, float]:
    """Mean with a t interval (NaN bounds for fewer than two values)."""
    x = np.asarray(samples, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    mean = x.mean()
    if len(x) < 2:
        return mean, np.nan, np.nan
    half = stats.t.ppf(1 - _alpha(level) / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return mean, mean - half, mean + half


def bootstrap(samples, statistic=np.median, level: float = 0.95, n_resamples: int = 2000,
              seed: int = 0) -> tuple[float, float, float]:
    """A statistic with a percentile bootstrap interval (scipy), reproducible by seed."""
    x = np.asarray(samples, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    value = float(statistic(x))
    if len(x) < 2 or np.all(x == x[0]):
        return value, value, value
    res = stats.bootstrap((x,), statistic, confidence_level=level, n_resamples=n_resamples,
                          method="percentile", random_state=np.random.default_rng(seed), vectorized=False)
    return value, float(res.confidence_interval.low), float(res.confidence_interval.high)


def grouped_t_mean(frame: pd.DataFrame, by: list[str], column: str, level: float = 0.95) -> pd.DataFrame:
    """Mean of ``column`` per group with t intervals, vectorised over groups."""
    g = frame.groupby(by, observed=True, sort=True)[column]
    out = g.agg(n="count", mean="mean", sd="std").reset_index()
    tq = stats.t.ppf(1 - _alpha(level) / 2, np.maximum(out["n"] - 1, 1))
    half = np.where(out["n"] >= 2, tq * out["sd"] / np.sqrt(out["n"]), np.nan)
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    return out
