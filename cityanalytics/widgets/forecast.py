"""Controls over the sorting-coverage forecast notebook: units, model, interval levels, target."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import pandas as pd

from cityanalytics.widgets.explorer import Explorer, dropdown, units_picker

FORECAST_LEVELS = [("80% 与 95%", (0.8, 0.95)), ("50% 与 80%", (0.5, 0.8)), ("90% 与 99%", (0.9, 0.99))]
FORECAST_DEPENDS = {"show_backtest": ("units", "model", "levels")}


@dataclass
class ForecastSession:
    """The notebook's forecast, whose series and target the explorer refits from."""

    base: object  # ForecastResult
    models: tuple
    n_paths: int
    backtest_origins: int
    seed: int


def _deadline_options(base) -> list[str]:
    last_year = base.series.months[-1].year
    dates = {f"{y}-12-31" for y in range(last_year, last_year + 4)}
    if base.target is not None:
        dates.add(str(pd.Timestamp(base.target.deadline).date()))
    return sorted(dates)


def forecast_controls(session: ForecastSession) -> dict:
    import ipywidgets

    from cityanalytics.forecast.models import LABELS_ZH
    from cityanalytics.indicators.frame import CITY

    res = session.base
    names = {u: n for u, n in zip(res.table["unit_id"], res.table["unit_name"]) if u != CITY}
    levels = tuple(res.levels)
    options = FORECAST_LEVELS if levels in [v for _, v in FORECAST_LEVELS] else \
        [(" 与 ".join(f"{round(100 * x)}%" for x in levels), levels)] + FORECAST_LEVELS
    controls = {
        "model": dropdown("模型", [("按回测自动选择", "auto")] + [(LABELS_ZH.get(m, m), m) for m in session.models],
                           "auto", "260px"),
        "levels": dropdown("预测区间", options, levels, "200px"),
    }
    if res.target is not None and res.target.kind == "share":
        controls["target_value"] = ipywidgets.FloatSlider(value=float(res.target.value), min=50, max=100, step=0.5,
                                                 description="目标值(%)", continuous_update=False,
                                                 style={"description_width": "initial"})
        controls["deadline"] = dropdown("期限", _deadline_options(res),
                                         str(pd.Timestamp(res.target.deadline).date()), "200px")
    controls["units"] = units_picker("单位", names, names)  # last: the tall list goes to the end of the bar
    return controls


def forecast_update(session: ForecastSession, values: dict):
    """Refit for the chosen units, model, interval levels and target value and deadline."""
    from cityanalytics.forecast.api import forecast_coverage
    from cityanalytics.indicators.frame import CITY

    base = session.base
    target = base.target
    if target is not None and "target_value" in values:
        value, deadline = float(values["target_value"]), values["deadline"]
        if (value, deadline) != (float(target.value), str(pd.Timestamp(target.deadline).date())):
            target = replace(target, value=value, deadline=deadline, target_id=None,
                             label=f"自定义目标:{deadline} 前达到 {value:g}%")
    models = session.models if values["model"] == "auto" else (values["model"],)
    units = [*values["units"], CITY] if CITY in base.series.unit_ids else list(values["units"])
    if not units:
        raise ValueError("请至少选择一个单位")  # a series without a city row
    return forecast_coverage(base.series, target, models=models, levels=values["levels"], n_paths=session.n_paths,
                             backtest_origins=session.backtest_origins, seed=session.seed, units=units)


def forecast_explorer(res, *, models, n_paths: int, backtest_origins: int, seed: int,
                      interactive: bool | None = None) -> Explorer:
    """Controls over ``notebooks/sorting_forecast.ipynb``: units, model, interval levels, target."""
    session = ForecastSession(res, tuple(models), n_paths, backtest_origins, seed)
    return Explorer(res, partial(forecast_controls, session), partial(forecast_update, session), FORECAST_DEPENDS,
                    interactive)


@dataclass
class Unavailable:
    """The explorer of a forecast that could not be made (``res.missing``): no controls; each
    section renders as it would (the first says why, the others show nothing) and the sections
    that are not the forecast's own (page 1's change section) are left out."""

    state: object

    def show(self) -> None:
        pass

    def section(self, render) -> None:
        from cityanalytics.forecast.report import absent

        absent(self.state)


def explore(res, interactive: bool | None = None):
    """The explorer of ``forecast.run``'s result; a changed control refits from the result's
    series with the options it was run with (``res.options``: models, n_paths, backtest_origins,
    seed)."""
    from cityanalytics.forecast.api import DEFAULT_MODELS

    if getattr(res, "missing", ""):
        return Unavailable(res)
    o = res.options
    return forecast_explorer(res, models=o.get("models", DEFAULT_MODELS), n_paths=o.get("n_paths", 1000),
                             backtest_origins=o.get("backtest_origins", 4), seed=o.get("seed", 0),
                             interactive=interactive)
