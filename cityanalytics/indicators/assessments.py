"""Assessment indicators (一月一考评): mean score, problems found, rectification rate."""

from __future__ import annotations

import pandas as pd

from cityanalytics.engines import fetch_rows
from cityanalytics.indicators import frame as F
from cityanalytics.indicators.computable import drop_not_computable
from cityanalytics.indicators._grouping import keys_of, with_city
from cityanalytics.stats.intervals import grouped_t_mean


INDICATORS = ("assessment_score_mean", "assessment_problems_found", "assessment_rectification_rate")

def assessment_indicators(assessments: pd.DataFrame, *, start=None, end=None, freq: str = "M",
                          level: float = 0.95, unit_map: dict[str, str] | None = None,
                          include_city: bool = True, engine=None) -> pd.DataFrame:
    """assessments: the table, or where an engine reads it (``cityanalytics.engines``)."""
    assessments = fetch_rows(assessments, engine, "assessments")
    a = assessments.copy()
    month_start = a["period"].dt.start_time
    start = pd.Timestamp(start if start is not None else month_start.min())
    end = pd.Timestamp(end if end is not None else a["period"].dt.end_time.max()).normalize()
    a = a[(month_start >= start.normalize()) & (month_start <= end)]
    if unit_map:
        a["unit_id"] = a["unit_id"].map(lambda u: unit_map.get(u, u))
    a["period"] = F.period_keys(a["period"].dt.start_time, freq, start, end)
    a = with_city(a, include_city)
    keys = ["unit_id", "period"]
    score = grouped_t_mean(a.assign(s=a["score"].astype(float)), keys, "s", level)
    parts = [F.estimate("assessment_score_mean", keys_of(score), score["mean"], score["ci_low"],
                        score["ci_high"], "t", score["n"])]
    problems = a.dropna(subset=["problems_found"]).groupby(keys, sort=True).agg(
        found=("problems_found", "sum"), fixed=("problems_rectified", "sum")).reset_index()
    parts.append(F.count("assessment_problems_found", keys_of(problems), problems["found"].astype(float), level))
    parts.append(F.proportion("assessment_rectification_rate", keys_of(problems), problems["fixed"].astype(float),
                              problems["found"].astype(float), level))
    return drop_not_computable(F.combine(parts, level), assessments, list(INDICATORS))
