"""Indicators: pure functions from canonical tables to IndicatorFrames.

    from cityanalytics.indicators import case_indicators
    frame = case_indicators("data/demo/cases.parquet", freq="M")
"""

from cityanalytics.indicators.assessments import assessment_indicators
from cityanalytics.indicators.assets import asset_indicators
from cityanalytics.indicators.cases import case_indicators, with_deadlines
from cityanalytics.indicators.dust import dust_indicators
from cityanalytics.indicators.frame import CITY, COLUMNS
from cityanalytics.indicators.registry import get as indicator_info, registry
from cityanalytics.indicators.sorting import sorting_indicators

__all__ = ["case_indicators", "with_deadlines", "dust_indicators", "sorting_indicators", "assessment_indicators",
           "asset_indicators",
           "indicator_info", "registry", "CITY", "COLUMNS"]
