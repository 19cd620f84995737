"""Quantiles of durations with right-censoring (open cases), via statsmodels' Kaplan-Meier."""

from __future__ import annotations

import numpy as np
from statsmodels.duration.survfunc import SurvfuncRight


def km_quantiles(time, event, probs, level: float = 0.95) -> dict[float, tuple[float, float, float]]:
    """{p: (quantile, ci_low, ci_high)}; NaN where the curve never falls that far."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    out = {}
    if len(time) == 0 or not event.any():
        return {p: (np.nan, np.nan, np.nan) for p in probs}
    sf = SurvfuncRight(np.maximum(time, 0), event.astype(int))
    for p in probs:
        q = _quantile(sf.surv_times, sf.surv_prob, p)
        try:
            low, high = sf.quantile_ci(p, alpha=1 - level, method="cloglog")
        except Exception:  # too few events for an interval
            low, high = np.nan, np.nan
        # An upper bound of inf means the data do not bound it; NaN says that in tables.
        out[p] = tuple(float(x) if np.isfinite(x) else np.nan for x in (q, low, high))
    return out


def _quantile(times: np.ndarray, surv: np.ndarray, p: float) -> float:
    """The p-quantile of a Kaplan-Meier curve as R's ``survival`` and SAS LIFETEST define it:
    the first event time where S(t) <= 1 - p, or, where S(t) equals 1 - p exactly up to the
    next event time, the midpoint of the two (with no censoring, the ordinary sample median).
    statsmodels' ``quantile`` takes S(t) < 1 - p and so gives the later of the two times."""
    target = 1 - p
    below = np.flatnonzero(surv <= target + 1e-12)
    if len(below) == 0:
        return np.nan
    i = below[0]
    if abs(surv[i] - target) <= 1e-12 and i + 1 < len(times):
        return float((times[i] + times[i + 1]) / 2)
    return float(times[i])
