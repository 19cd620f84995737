"""Assessment indicators (一月一考评): mean score, problems found, rectification rate.

The engine (``cityanalytics.engines``, through Ibis) sums per unit and month: scores given,
their sum and sum of squares, problems found and rectified. Periods, city rows and intervals
(t for the mean score, Wilson for the rate) are computed from those sums.
"""

from __future__ import annotations

import pandas as pd

from cityanalytics.engines import backend
from cityanalytics.engines.connect import to_frame
from cityanalytics.indicators.frame import CITY, combine, count, estimate, period_keys, proportion
from cityanalytics.indicators.computable import drop_not_computable
from cityanalytics.indicators._grouping import keys_of
from cityanalytics.indicators._on_engine import engine_table, moments, profile, rolled_up, t_mean


INDICATORS = ("assessment_score_mean", "assessment_problems_found", "assessment_rectification_rate")
SUMS = ["n", "s", "ss", "rated", "found", "fixed"]


def assessment_indicators(assessments: pd.DataFrame, *, start=None, end=None, freq: str = "M",
                          level: float = 0.95, unit_map: dict[str, str] | None = None,
                          include_city: bool = True, engine=None) -> pd.DataFrame:
    """assessments: the table, or where an engine reads it (``cityanalytics.engines``)."""
    with backend(engine) as con:
        t = engine_table(con, assessments, "assessments")
        filled, _ = profile(con, t)
        found = t.problems_found.cast("float64")
        unit = t.unit_id.cast("string")
        rows = to_frame(con, t.group_by(unit_id=unit.substitute(unit_map) if unit_map else unit,
                                        month=t.period.cast("string")).aggregate(
            **moments(t.score), rated=found.count(), found=found.sum(),
            fixed=found.notnull().ifelse(t.problems_rectified.cast("float64"), None).sum()))
    rows = rows.dropna(subset=["month"])
    rows["month"] = pd.PeriodIndex(rows["month"].astype(str), freq="M")
    month_start = rows["month"].dt.start_time
    start = pd.Timestamp(start if start is not None else month_start.min())
    end = pd.Timestamp(end if end is not None else rows["month"].dt.end_time.max()).normalize()
    rows = rows[(month_start >= start.normalize()) & (month_start <= end)]
    rows = rows.assign(period=period_keys(rows["month"].dt.start_time, freq, start, end))
    a = rolled_up(rows, ["unit_id", "period"], SUMS, include_city, CITY)

    score = t_mean(a, level)
    parts = [estimate("assessment_score_mean", keys_of(score), score["mean"], score["ci_low"],
                      score["ci_high"], "t", score["n"])]
    problems = a[a["rated"] > 0].reset_index(drop=True)
    fixed = problems["fixed"].fillna(0).astype(float)
    parts.append(count("assessment_problems_found", keys_of(problems), problems["found"].astype(float), level))
    parts.append(proportion("assessment_rectification_rate", keys_of(problems), fixed,
                            problems["found"].astype(float), level))
    return drop_not_computable(combine(parts, level), filled, list(INDICATORS))
