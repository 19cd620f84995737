"""Comparisons between units: league tables, funnel plots, composite scores, trends, red and
black lists, target status, and the Chinese sentences a bulletin is written from.

    import cityanalytics as ca
    res = ca.compare.run("data/demo", period="2025-06", indicators=["case_ontime_disposal_rate"])
    res.table, res.tidy(), res.summary(), res.sentences, res.plot(), res.options

``run`` makes the monthly bulletin of the notebook ``notebooks/district_comparison.ipynb``
(its keywords are the notebook's parameters); ``compare.report`` shows it, one ``show_*``
function per section. Each comparison is also a function of its own, taking an
IndicatorFrame (one indicator, one period and one group at a time) and returning an
AnalysisResult (units show by the names the frame carries, or ``names=``):

    from cityanalytics.compare import league_table, funnel, composite_score, trend
    lt = league_table(frame, "case_ontime_disposal_rate", "2025-06")
    lt.table, lt.sentences, lt.spec, lt.plot()
"""

import importlib

from .bulletin import Bulletin, build_bulletin, resolve_period, run
from .composite import PRESETS, composite_score, scenarios
from .funnel import binomial_limit, dispersion, funnel, funnel_ratio, limits, poisson_limit
from .league import league_table, rank_interval
from .levels import Level, level_units
from .lists import red_black_lists
from .targets_status import target_status
from .trend import cochran_armitage, poisson_trend, trend

__all__ = ["run", "Bulletin", "build_bulletin", "resolve_period", "league_table", "rank_interval", "funnel",
           "funnel_ratio", "limits", "binomial_limit", "poisson_limit", "dispersion", "composite_score", "scenarios",
           "PRESETS", "trend", "cochran_armitage", "poisson_trend", "red_black_lists", "target_status", "level_units",
           "Level"]

_LAZY = ("report", "tables", "maps")  # the report's modules (IPython, maps): loaded when first used


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
