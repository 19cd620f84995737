"""Forecasts of garbage-sorting coverage: which units will reach their plan targets, and when.

    import cityanalytics as ca
    res = ca.forecast.run("data/demo", period="2025-06", target_id="hl_sorting_coverage")
    res.table, res.tidy(), res.summary(), res.plot()

or, on a register in hand:

    from cityanalytics.forecast import coverage_series, forecast_coverage, Target
    series = coverage_series(communities, measure="communities", area_type="城市")
    res = forecast_coverage(series, Target.from_registry("hl_sorting_coverage"))

Modules, one concern each:

series    the monthly covered/total per unit: from the sorting indicators' coverage counts
          (``indicators.sorting.coverage_counts``, the one definition) or an aggregated table
history   usable history per unit: breaks (data corrections) and status (complete, flat ...)
models    logistic (saturating growth), ar_logit (statsmodels AutoReg on the logit), naive
engine    chunked simulation of many units
backtest  rolling-origin backtest, scores and the model choice per unit
target    targets, probability of reaching them, expected date, pace needed
api       forecast_coverage: all of the above in one call; run: a workspace's forecast with
          the notebook's parameters
tables, plots, sentences   what the report says and draws (the words beside the numbers)
report    the notebook's sections (show_*), and keeping the forecasts for later scoring
scoring   did earlier forecasts come true
calibration   checks against the demo's truth (``python -m cityanalytics.forecast.calibration``)
"""

from cityanalytics.forecast.api import ForecastResult, forecast_coverage, run
from cityanalytics.forecast.models import MODELS
from cityanalytics.forecast.series import (CoverageSeries, coverage_series, load_series, series_from_counts,
                                           series_from_frame)
from cityanalytics.forecast.target import Target

__all__ = ["CoverageSeries", "ForecastResult", "MODELS", "Target", "coverage_series", "forecast_coverage",
           "load_series", "run", "series_from_counts", "series_from_frame"]
