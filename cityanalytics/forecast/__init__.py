"""Forecasts of garbage-sorting coverage: which units will reach their plan targets, and when.

    from cityanalytics.forecast import coverage_series, forecast_coverage, Target
    series = coverage_series(communities, measure="communities", area_type="城市")
    res = forecast_coverage(series, Target.from_registry("hl_sorting_coverage"))
    res.table, res.sentences, res.plot()

Modules, one concern each:

series    monthly covered/total per unit from the register or an aggregated table
history   usable history per unit: breaks (data corrections) and status (complete, flat ...)
models    logistic (saturating growth), ar_logit (statsmodels AutoReg on the logit), naive
engine    chunked simulation of many units
backtest  rolling-origin backtest, scores and the model choice per unit
target    targets, probability of reaching them, expected date, pace needed
api       forecast_coverage: all of the above in one call
tables, plots, sentences   what the notebook shows
report    the notebook's parameters in, a ForecastResult out
calibration   checks against the demo's truth (``python -m cityanalytics.forecast.calibration``)
"""

from cityanalytics.forecast.api import ForecastResult, forecast_coverage
from cityanalytics.forecast.models import MODELS
from cityanalytics.forecast.series import CoverageSeries, coverage_series, load_series, series_from_frame
from cityanalytics.forecast.target import Target

__all__ = ["CoverageSeries", "ForecastResult", "MODELS", "Target", "coverage_series", "forecast_coverage",
           "load_series", "series_from_frame"]
