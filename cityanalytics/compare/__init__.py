"""Comparisons between units: league tables, funnel plots, composite scores, trends, red and
black lists, target status, and the Chinese sentences a bulletin is written from.

    from cityanalytics.compare import league_table, funnel, composite_score, trend
    res = league_table(frame, "case_ontime_disposal_rate", "2025-06", names=names)
    res.table, res.sentences, res.spec, res.plot()

Every function takes an IndicatorFrame (one indicator, one period and one group at a time)
and returns an AnalysisResult. ``build_bulletin`` runs them all for the monthly bulletin
notebook (notebooks/district_comparison.ipynb).
"""

from .bulletin import Bulletin, build_bulletin, resolve_period
from .composite import PRESETS, composite_score, scenarios
from .funnel import binomial_limit, dispersion, funnel, funnel_ratio, limits, poisson_limit
from .league import league_table, rank_interval
from .levels import Level, level_units
from .lists import red_black_lists
from .targets_status import target_status
from .trend import cochran_armitage, poisson_trend, trend

__all__ = ["league_table", "rank_interval", "funnel", "funnel_ratio", "limits", "binomial_limit", "poisson_limit", "dispersion",
           "composite_score", "scenarios", "PRESETS", "trend", "cochran_armitage", "poisson_trend",
           "red_black_lists", "target_status", "level_units", "Level", "build_bulletin", "Bulletin",
           "resolve_period"]
