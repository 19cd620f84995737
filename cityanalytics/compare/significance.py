"""Tests behind "差异显著": a unit against the rest of the city, a period against the last.

- Proportions: the unit's x1/n1 against the rest of the city's (X - x1)/(N - n1). Pearson's
  two-proportion z-test (pooled variance, no continuity correction; z**2 is the 2x2
  chi-square) when every expected cell count is at least 5, otherwise Fisher's exact test
  (two-sided, scipy). The method used is given per row.
- Count rates (per 10,000 residents): exact conditional test. Given k1 + k2 events, k1 is
  Binomial(k1 + k2, e1 / (e1 + e2)) under equal rates (scipy ``binomtest``, two-sided).
- Means and quantiles: no counts to split the city with, so a unit differs from the city
  when its interval does not contain the city's value (no p-value).

Comparing with the rest of the city rather than the whole city keeps the two samples
independent; the difference reported is still unit minus the whole city, the figure a
bulletin prints.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

MIN_EXPECTED = 5.0


def _elementwise(test, x1, n1, x2, n2) -> tuple[np.ndarray, np.ndarray]:
    """``test(x1, n1, x2, n2) -> (p, method)`` for each element whose sizes ``n1``, ``n2`` are
    positive and counts ``x1``, ``x2`` known; NaN and "" elsewhere."""
    x1, n1, x2, n2 = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (x1, n1, x2, n2))
    p = np.full(x1.shape, np.nan)
    method = np.full(x1.shape, "", dtype=object)
    for i in range(len(x1)):
        if not (n1[i] > 0 and n2[i] > 0) or np.isnan(x1[i] + x2[i]):
            continue
        p[i], method[i] = test(x1[i], n1[i], x2[i], n2[i])
    return p, method


def two_proportions(x1, n1, x2, n2) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided p-values and method names for x1/n1 against x2/n2, element-wise."""
    return _elementwise(_two_proportions_one, x1, n1, x2, n2)


def _two_proportions_one(x1, n1, x2, n2) -> tuple[float, str]:
    total = n1 + n2
    pooled = (x1 + x2) / total
    expected = np.array([n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled)])
    if expected.min() >= MIN_EXPECTED:
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (x1 / n1 - x2 / n2) / se
        return float(2 * stats.norm.sf(abs(z))), "z"
    if pooled in (0.0, 1.0):  # no variation at all: nothing to detect
        return 1.0, "fisher"
    table = [[int(round(x1)), int(round(n1 - x1))], [int(round(x2)), int(round(n2 - x2))]]
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue), "fisher"


def two_rates(k1, e1, k2, e2) -> tuple[np.ndarray, np.ndarray]:
    """Exact conditional (binomial) test of two Poisson rates k1/e1 and k2/e2."""
    return _elementwise(_two_rates_one, k1, e1, k2, e2)


def _two_rates_one(k1, e1, k2, e2) -> tuple[float, str]:
    n = int(round(k1 + k2))
    return (1.0 if n == 0 else float(stats.binomtest(int(round(k1)), n, e1 / (e1 + e2)).pvalue)), "poisson_conditional"


def interval_excludes(value, low, high) -> np.ndarray:
    """True where ``value`` lies outside [low, high]; NaN-safe (False when the interval is missing)."""
    value, low, high = (np.asarray(a, dtype=float) for a in (value, low, high))
    with np.errstate(invalid="ignore"):
        out = (value < low) | (value > high)
    return np.where(np.isnan(low) | np.isnan(high), False, out)
