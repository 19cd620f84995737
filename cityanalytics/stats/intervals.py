"""Confidence intervals, one function per method, each vectorised over arrays.

Following PHEindicatormethods (the R package behind England's Fingertips indicators): every
method takes counts (or samples) and a confidence level and returns (value, lower, upper).
Proportions are returned as percentages (0-100) because that is how bureaus publish them
("处置率 98.83%").

Missing in, missing out: a NaN numerator, denominator, count or exposure gives NaN value and
bounds in that position; so does a denominator (or exposure) of 0, where PHE stops with an
error (a street with no due cases in a month is routine here, not a mistake). Impossible counts
(negative, or a numerator above its denominator) raise ValueError naming the first position,
as PHE does.

Counts and rates (``phe_rate``) follow PHE's rule in ``phe_rate``/``phe_dsr``'s count limits:
the exact (Garwood, chi-square) Poisson limits for fewer than 10 events and Byars'
approximation (Breslow and Day 1987) from 10 events up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

METHODS = ("wilson", "poisson_exact", "byars", "phe_rate", "t", "bootstrap")
BYARS_FROM = 10  # PHE: exact Poisson limits below 10 events, Byars' from 10 up


def _alpha(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be between 0 and 1, got {level}")
    return 1 - level


def _z(level: float) -> float:
    return float(stats.norm.ppf(1 - _alpha(level) / 2))


def _first_bad(mask: np.ndarray) -> str:
    """'position 3' (or 'position (2, 0)') of the first True in mask, for error messages."""
    idx = tuple(int(i) for i in np.argwhere(np.atleast_1d(mask))[0])
    return f"position {idx[0]}" if len(idx) == 1 else f"position {idx}"


def _check_nonnegative(name: str, what: str, x: np.ndarray) -> None:
    bad = x < 0  # NaN compares False: missing values pass through as NaN
    if np.any(bad):
        raise ValueError(f"{name}: {what} must be >= 0; {_first_bad(bad)} has {x[bad][0]:g}")


def wilson(numerator, denominator, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proportion in percent with its Wilson score interval (Wilson 1927; Newcombe & Altman 2000).

    bounds = (2x + z² ∓ z·sqrt(z² + 4x(1 − x/n))) / (2(n + z²)), z the normal quantile at
    (1 + level)/2, exactly PHEindicatormethods' ``wilson_lower``/``wilson_upper``.
    NaN numerator or denominator, or a denominator of 0: NaN value and bounds.
    Negative counts or numerator > denominator: ValueError naming the first position.
    """
    x, n = np.broadcast_arrays(np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float))
    _check_nonnegative("wilson", "numerators", x)
    _check_nonnegative("wilson", "denominators", n)
    over = x > n
    if np.any(over):
        raise ValueError(f"wilson: a numerator is larger than its denominator at {_first_bad(over)} "
                         f"({x[over][0]:g} > {n[over][0]:g}); need 0 <= numerator <= denominator")
    z = _z(level)
    ok = n > 0  # False for NaN and 0
    safe_n = np.where(ok, n, 1.0)
    safe_x = np.where(ok, x, 0.0)
    root = z * np.sqrt(z * z + 4 * safe_x * (1 - safe_x / safe_n))
    low = (2 * safe_x + z * z - root) / (2 * (safe_n + z * z))
    high = (2 * safe_x + z * z + root) / (2 * (safe_n + z * z))
    value = safe_x / safe_n
    return tuple(np.where(ok, 100 * v, np.nan) for v in (value, np.clip(low, 0, 1), np.clip(high, 0, 1)))


def poisson_exact(count, exposure=1.0, level: float = 0.95, per: float = 1.0):
    """Count (or rate per ``per`` units of exposure) with the exact (Garwood) Poisson interval.

    lower = χ²((1 − level)/2; 2x)/2 (0 for x = 0), upper = χ²((1 + level)/2; 2x + 2)/2.
    NaN count or exposure, or an exposure of 0: NaN; a negative count: ValueError.
    """
    k, e = np.broadcast_arrays(np.asarray(count, dtype=float), np.asarray(exposure, dtype=float))
    _check_nonnegative("poisson_exact", "counts", k)
    a = _alpha(level)
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, stats.chi2.ppf(a / 2, 2 * np.where(k > 0, k, 1)) / 2, np.where(k == 0, 0.0, np.nan))
        high = stats.chi2.ppf(1 - a / 2, 2 * (k + 1)) / 2
    scale = _per_exposure(e, per)
    return k * scale, low * scale, high * scale


def byars(count, exposure=1.0, level: float = 0.95, per: float = 1.0):
    """Count (or rate per ``per`` units of exposure) with Byars' approximate Poisson interval.

    Byars' approximation (Breslow and Day 1987, vol. II p. 69), as PHEindicatormethods'
    ``byars_lower``/``byars_upper``, with z the normal quantile at (1 + level)/2:
    lower = x·(1 − 1/(9x) − z/(3·sqrt(x)))³, upper = (x+1)·(1 − 1/(9(x+1)) + z/(3·sqrt(x+1)))³.
    For 0 events the lower bound is 0 (the exact one); where the approximation gives a
    negative lower bound (1 event at 99.8%) it is NaN, as PHE returns NA: use ``phe_rate``,
    which takes the exact limits below 10 events. NaN in, NaN out; negative counts: ValueError.
    """
    k, e = np.broadcast_arrays(np.asarray(count, dtype=float), np.asarray(exposure, dtype=float))
    _check_nonnegative("byars", "counts", k)
    z = _z(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = k * (1 - 1 / (9 * k) - z / (3 * np.sqrt(k))) ** 3
        low = np.where(k == 0, 0.0, np.where(low < 0, np.nan, low))
        k1 = k + 1
        high = k1 * (1 - 1 / (9 * k1) + z / (3 * np.sqrt(k1))) ** 3
    scale = _per_exposure(e, per)
    return k * scale, low * scale, high * scale


def phe_rate(count, exposure=1.0, level: float = 0.95, per: float = 1.0):
    """Count or crude rate with PHE's interval: exact Poisson below 10 events, Byars' from 10.

    This is PHEindicatormethods' ``phe_rate`` (and the count limits inside ``phe_dsr`` before
    the Dobson adjustment): ``poisson_exact`` where x < 10, ``byars`` where x >= 10.
    Returns (value, lower, upper) like the other methods.
    """
    k = np.asarray(count, dtype=float)
    v_e, lo_e, hi_e = poisson_exact(count, exposure, level, per)
    v_b, lo_b, hi_b = byars(count, exposure, level, per)
    use_byars = np.broadcast_to(k >= BYARS_FROM, np.shape(v_e))
    return v_e, np.where(use_byars, lo_b, lo_e), np.where(use_byars, hi_b, hi_e)


def _per_exposure(exposure: np.ndarray, per: float) -> np.ndarray:
    """per / exposure, NaN where the exposure is missing or not positive."""
    _check_nonnegative("rate", "exposures", exposure)
    ok = exposure > 0
    return np.where(ok, per / np.where(ok, exposure, 1.0), np.nan)


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
