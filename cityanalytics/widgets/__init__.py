"""JupyterLab controls over the analysis notebooks, and the same notebooks' static default view.

``explore(result)`` gives the explorer for a comparison (``Bulletin``), a forecast
(``ForecastResult``) or a campaign evaluation (``CampaignReport``); in a report run it renders
the default view and makes no widget. ``explorer`` holds what all three share; ``compare``,
``forecast`` and ``impact`` each hold one analysis's controls and how a change recomputes it.
"""

from cityanalytics.widgets.compare import (COMPARISON_DEPENDS, ComparisonSession, comparison_controls,
                                           comparison_explorer, comparison_update)
from cityanalytics.widgets.explorer import PREVIEW_DPI, Explorer, capture, is_interactive
from cityanalytics.widgets.forecast import ForecastSession, forecast_controls, forecast_explorer, forecast_update
from cityanalytics.widgets.impact import ImpactSession, impact_controls, impact_explorer, impact_update

__all__ = ["Explorer", "capture", "is_interactive", "PREVIEW_DPI", "comparison_explorer", "ComparisonSession",
           "comparison_controls", "comparison_update", "COMPARISON_DEPENDS", "forecast_explorer", "ForecastSession",
           "forecast_controls", "forecast_update", "impact_explorer", "ImpactSession", "impact_controls",
           "impact_update"]
