"""The IndicatorFrame: the one long table every indicator function returns.

| column | meaning |
| indicator | id in the registry |
| unit_id | unit, or CITY for the whole city |
| period | pandas Period (M/Q/Y), or a "start~end" label for the whole window |
| group | breakdown within the unit ("" for none), e.g. "lane_type=机动车道" |
| numerator, denominator | counts behind a rate (NaN for other kinds) |
| value | the figure (percent for proportions) |
| ci_low, ci_high | its interval at the frame's level |
| ci_method | wilson, poisson_exact, t, bootstrap, kaplan_meier |

The confidence level is in ``frame.attrs["ci_level"]``. Breakdowns (by category, lane type,
urban/rural) are rows with a ``group``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityanalytics.stats import intervals

COLUMNS = ["indicator", "unit_id", "period", "group", "numerator", "denominator", "value", "ci_low", "ci_high",
           "ci_method"]
CITY = "city"  # unit_id of city-wide rows
UNASSIGNED = "_unassigned"  # unit_id of rows whose records carry no unit (未归属单位)

FREQS = {"M": "month", "Q": "quarter", "Y": "year", "all": None}


def empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})


def proportion(indicator: str, keys: pd.DataFrame, numerator, denominator, level: float) -> pd.DataFrame:
    value, low, high = intervals.wilson(numerator, denominator, level)
    return _assemble(indicator, keys, numerator, denominator, value, low, high, "wilson")


def count(indicator: str, keys: pd.DataFrame, counts, level: float) -> pd.DataFrame:
    value, low, high = intervals.poisson_exact(counts, level=level)
    return _assemble(indicator, keys, np.nan, np.nan, value, low, high, "poisson_exact")


def estimate(indicator: str, keys: pd.DataFrame, value, low, high, method: str, n=np.nan) -> pd.DataFrame:
    """Means and quantiles: ``denominator`` holds the number of observations behind the value."""
    return _assemble(indicator, keys, np.nan, n, value, low, high, method)


def _assemble(indicator, keys, numerator, denominator, value, low, high, method) -> pd.DataFrame:
    n = len(keys)
    out = pd.DataFrame({
        "indicator": indicator,
        "unit_id": keys["unit_id"].to_numpy(),
        "period": keys["period"].to_numpy(),
        "group": keys["group"].to_numpy() if "group" in keys else np.full(n, ""),
        "numerator": np.broadcast_to(np.asarray(numerator, dtype=float), n),
        "denominator": np.broadcast_to(np.asarray(denominator, dtype=float), n),
        "value": np.asarray(value, dtype=float),
        "ci_low": np.asarray(low, dtype=float),
        "ci_high": np.asarray(high, dtype=float),
        "ci_method": method,
    })
    return out


def combine(parts: list[pd.DataFrame], level: float) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else empty()
    out = out[COLUMNS]
    out.attrs["ci_level"] = level
    return out


def period_keys(timestamps: pd.Series, freq: str, start, end) -> pd.Series:
    """Bucket timestamps into periods (or one whole-window label)."""
    if freq == "all":
        return pd.Series(window_label(start, end), index=timestamps.index, dtype="object")
    if freq not in FREQS:
        raise ValueError(f"freq must be one of {', '.join(FREQS)}, got {freq!r}")
    return timestamps.dt.to_period(freq)


def window_label(start, end) -> str:
    return f"{pd.Timestamp(start):%Y-%m-%d}~{pd.Timestamp(end):%Y-%m-%d}"


def check(frame: pd.DataFrame) -> pd.DataFrame:
    """Raise if a frame does not follow the IndicatorFrame contract."""
    missing = [c for c in COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"not an IndicatorFrame: missing {', '.join(missing)}")
    bad = frame["ci_low"].notna() & frame["ci_high"].notna() & (frame["ci_low"] > frame["ci_high"])
    if bad.any():
        raise ValueError(f"interval bounds reversed in {int(bad.sum())} rows")
    return frame
