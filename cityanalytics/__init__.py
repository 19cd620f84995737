"""cityanalytics: a policy-analysis workbench for Chinese urban management (城市管理).

    import cityanalytics as ca

    ws = ca.open_workspace("data/demo")            # a workspace, or a folder of canonical tables
    bulletin = ca.compare.run(ws, period="2025-06")  # districts compared, against targets
    forecast = ca.forecast.run(ws, target_id="hl_sorting_coverage")
    campaign = ca.impact.run(ws, campaign_id="C2022-BRGJ")
    for res in (bulletin, forecast, campaign):
        res.table, res.tidy(), res.summary(), res.plot()

    cases = ca.load("exports/案件.xlsx", "cases")    # one export as a canonical table, with its load report
    frame = ca.indicators.case_indicators(cases.frame, freq="M")

Submodules load when first used, so ``import cityanalytics`` stays quick for the command line.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("compare", "forecast", "impact", "indicators", "notebook", "plans", "report", "survey", "widgets",
               "workspace")
_NAMES = {"Workspace": "cityanalytics.workspace", "open_workspace": "cityanalytics.workspace",
          "load": "cityanalytics.io.load", "Result": "cityanalytics.results"}

__all__ = [*_SUBMODULES, *_NAMES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"cityanalytics.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'cityanalytics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
