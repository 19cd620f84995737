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
from cityanalytics.widgets.impact import ImpactSession, impact_controls, impact_update

__all__ = ["explore", "Explorer", "capture", "is_interactive", "PREVIEW_DPI", "comparison_explorer", "ComparisonSession",
           "comparison_controls", "comparison_update", "COMPARISON_DEPENDS", "forecast_explorer", "ForecastSession",
           "forecast_controls", "forecast_update", "ImpactSession", "impact_controls", "impact_update"]


def explore(result, *, interactive: bool | None = None) -> Explorer:
    """The explorer for an analysis result: ``compare.run``'s bulletin, ``forecast.run``'s
    forecast or ``impact.run``'s campaign evaluation. The result carries the options it was
    made with (``result.options``), from which a changed control recomputes it."""
    from cityanalytics.widgets import compare, forecast, impact

    kinds = {"Bulletin": compare, "ForecastResult": forecast, "CampaignReport": impact}
    module = kinds.get(type(result).__name__)
    if module is None:
        raise TypeError(f"no explorer for a {type(result).__name__}; expected one of {', '.join(kinds)}")
    return module.explore(result, interactive=interactive)
