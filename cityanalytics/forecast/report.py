"""What the sorting_forecast notebook calls: its parameters in, a ForecastResult out.

    res = run_notebook(workspace="data/demo", period="2025-06", target_id="hl_sorting_coverage")

``workspace`` is a workspace folder, a folder of canonical tables or a ``Workspace``. When it
holds no table to forecast from, ``missing_table`` says so in one line and the notebook shows
that line instead of its sections (``Absent``).

The target comes from the targets registry (``target_id``) or from a value and a deadline.
A registry target also says what is counted (communities or households, started or
compliant) and, from its scope, which communities (城区/居民小区 -> 城市, 农村 -> 农村).
"""

from __future__ import annotations

import pandas as pd

from cityanalytics.forecast.api import DEFAULT_MODELS, ForecastResult, forecast_coverage
from cityanalytics.forecast.series import load_series
from cityanalytics.forecast.target import Target
from cityanalytics.indicators.frame import CITY
from cityanalytics.report.tables import show_table
from cityanalytics.text import md_escape as E  # data text into Markdown


def make_target(target_id: str = "", value: float | None = None, deadline: str = "",
                measure: str = "communities") -> Target | None:
    """The registry target ``target_id``, else ``Target(value, deadline)``, else None."""
    if target_id:
        return Target.from_registry(target_id)
    if value is not None and deadline:
        return Target(float(value), deadline, measure=measure)
    return None


def data_end(period: str, series_end: pd.Period) -> pd.Timestamp | None:
    """The report period's last day, but not later than the data: a register has no as-of
    date of its own, and months after its last entry must not pass for months without growth."""
    if not period:
        return None
    from cityanalytics.compare.data import parse_period

    p = parse_period(period).asfreq("M", "end")  # a quarter or a year ends with its last month
    return min(p, series_end).end_time


def missing_table(workspace, table: str = "communities") -> str | None:
    """One line saying why there is no forecast (the workspace lacks the table), or None."""
    from cityanalytics.workspace import open_workspace

    if open_workspace(workspace).has(table):
        return None
    what = {"communities": "社区(小区)垃圾分类台账(communities 表)",
            "observations": "按月汇总的指标表(observations 表)"}.get(table, f"{E(table)} 表")  # Markdown
    return f"工作区没有{what},无法预测覆盖率,本报告各节略去。"


class Absent:
    """Stands in for the explorer when there is nothing to forecast: every section is skipped."""

    def show(self) -> None:
        pass

    def section(self, render) -> None:
        pass


def run_notebook(*, workspace, period: str = "", table: str = "communities", indicator: str = "",
                 target_id: str = "", target_value: float | None = None, target_deadline: str = "",
                 measure: str = "communities", area_type: str = "auto", units=(), models=DEFAULT_MODELS,
                 levels=(0.8, 0.95), n_paths: int = 1000, backtest_origins: int = 4, seed: int = 0) -> ForecastResult:
    target = make_target(target_id, target_value, target_deadline, measure)
    event = target.event if target is not None and target_id else "started"
    measure = target.measure if target is not None and target_id else measure
    area = (target.area_type if target is not None else None) if area_type == "auto" else (area_type or None)
    series = load_series(workspace, table=table, measure=measure, event=event, area_type=area,
                         indicator=indicator or None)
    end = data_end(period, series.months[-1])
    if end is not None and end.to_period("M") < series.months[-1]:
        series = series.cut(end.to_period("M"))
    chosen = list(units) if units else None
    if chosen is not None and CITY in series.unit_ids and CITY not in chosen:
        chosen.append(CITY)
    return forecast_coverage(series, target, models=tuple(models), levels=tuple(levels), n_paths=n_paths,
                             backtest_origins=backtest_origins, seed=seed, units=chosen)


# --- the notebook's sections (one function per cell, so the JupyterLab explorer can re-render them) ---

def show_sentences(res: ForecastResult) -> None:
    from IPython.display import Markdown, display

    display(Markdown("\n\n".join(E(s) for s in res.sentences)))


def show_probabilities(res: ForecastResult) -> None:
    from IPython.display import display

    display(show_table(res.probability_table()))


def show_pace(res: ForecastResult) -> None:
    from IPython.display import display

    display(show_table(res.pace_table()))


def show_fan(res: ForecastResult) -> None:
    import matplotlib.pyplot as plt
    from IPython.display import display

    fig = res.plot()
    display(fig)
    plt.close(fig)


def show_backtest(res: ForecastResult) -> None:
    from IPython.display import display

    display(show_table(res.backtest_table()))


def show_method(res: ForecastResult) -> None:
    from IPython.display import Markdown, display

    display(Markdown(E(res.spec)))


# --- did earlier forecasts come true ---------------------------------------------------------

def score_earlier(res: ForecastResult) -> dict:
    """The same run's earlier stored forecasts scored against this run's observed series
    (kept in ``res.extra["scoring"]``): runs (earlier periods with forecasts), scored rows,
    observed values, and whether this is a report run (one that stores and reads results)."""
    if "scoring" not in res.extra:
        from cityanalytics.forecast import scoring
        from cityanalytics.report import history

        earlier = history.earlier("forecasts")
        observed = scoring.observed_frame(res.series)
        res.extra["scoring"] = {"runs": len(earlier), "observed": observed,
                                "scored": scoring.score(scoring.combine(earlier), observed),
                                "stored": history.context().results_dir is not None}
    return res.extra["scoring"]


def save_forecasts(res: ForecastResult | None) -> None:
    """Keep this run's forecasts, and its scores of earlier ones, with the report (results/),
    so the next period's run can score them. Nothing is written outside a report run."""
    if res is None:
        return
    from cityanalytics.forecast import scoring
    from cityanalytics.report import history

    history.save("forecasts", scoring.forecasts_frame(res))
    scored = score_earlier(res)["scored"]
    if len(scored):
        history.save("forecast_scores", scored)


def show_scoring(res: ForecastResult | None) -> None:
    """Section 上期预测兑现情况: sentences, the running record by model and by unit, and the
    earlier forecasts' fans against what happened."""
    if res is None:
        return
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    from cityanalytics.forecast import scoring
    from cityanalytics.forecast.plots import scoring_chart

    s = score_earlier(res)
    scored = s["scored"]
    text = scoring.sentences(scored, s["runs"], stored=s["stored"])
    display(Markdown("\n\n".join(E(t) for t in text)))
    if scored.empty:
        return
    display(show_table(scoring.summary_table(scored, "model")))
    display(show_table(scoring.summary_table(scored, "unit_id", names={u: res.series.name(u) for u in scored["unit_id"].unique()})))
    fig = scoring_chart(scored, s["observed"])
    display(fig)
    plt.close(fig)
    display(Markdown(E(scoring.METHOD)))
