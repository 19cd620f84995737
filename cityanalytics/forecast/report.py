"""The sorting_forecast notebook's sections: what a ``ForecastResult`` shows, one function per
section, each drawn through ``cityanalytics.report.sections``.

    res = ca.forecast.run(workspace, period="2025-06", target_id="hl_sorting_coverage")
    ui = ca.widgets.explore(res)
    ui.section(report.show_sentences)      # 主要结论
    ui.section(report.show_probabilities)  # 各单位按期达标概率
    ui.section(report.save_forecasts)      # kept with the report, scored by the next period's run
    ...

A result without a forecast (a workspace without the table, ``res.missing``) shows the one
line saying why in the first section asked for, and nothing in the others.
"""

from __future__ import annotations

import functools

from cityanalytics.forecast.api import ForecastResult
from cityanalytics.report import sections

_SAID = "_missing_said"  # where a result remembers that it has said why there is no forecast


def absent(res: ForecastResult | None) -> bool:
    """True when there is nothing to show; the first time, the one line saying why is shown."""
    if res is None:
        return True
    if not res.missing:
        return False
    if not res.extra.get(_SAID):
        res.extra[_SAID] = True
        sections.markdown(res.missing)  # already Markdown, data text escaped
    return True


def section(show):
    """A notebook section: shows nothing for a result without a forecast but, the first
    time, the line saying why (``absent``). Keeps the function's name, which the explorer
    reads to know which controls the section depends on."""

    @functools.wraps(show)
    def render(res) -> None:
        if not absent(res):
            show(res)

    return render


@section
def show_sentences(res: ForecastResult) -> None:
    """主要结论: the forecast's sentences."""
    sections.paragraphs(res.sentences)


@section
def show_probabilities(res: ForecastResult) -> None:
    """各单位按期达标概率."""
    sections.table(res.probability_table())


@section
def show_pace(res: ForecastResult) -> None:
    """进度要求: the pace needed against the recent pace."""
    sections.table(res.pace_table())


@section
def show_fan(res: ForecastResult) -> None:
    """预测扇形图: one panel per unit."""
    sections.figure(res.plot())


@section
def show_backtest(res: ForecastResult) -> None:
    """模型回测."""
    sections.table(res.backtest_table())


@section
def show_method(res: ForecastResult) -> None:
    """方法说明: the specification."""
    sections.note(res.spec)


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


@section
def save_forecasts(res: ForecastResult | None) -> None:
    """Keep this run's forecasts, and its scores of earlier ones, with the report (results/),
    so the next period's run can score them. Shows nothing; nothing is written outside a
    report run."""
    from cityanalytics.forecast import scoring
    from cityanalytics.report import history

    history.save("forecasts", scoring.forecasts_frame(res))
    scored = score_earlier(res)["scored"]
    if len(scored):
        history.save("forecast_scores", scored)


@section
def show_scoring(res: ForecastResult | None) -> None:
    """上期预测兑现情况: sentences, the running record by model and by unit, and the earlier
    forecasts' fans against what happened."""
    from cityanalytics.forecast import scoring
    from cityanalytics.forecast.plots import scoring_chart

    s = score_earlier(res)
    scored = s["scored"]
    sections.paragraphs(scoring.sentences(scored, s["runs"], stored=s["stored"]))
    if scored.empty:
        return
    sections.table(scoring.summary_table(scored, "model"))
    names = {u: res.series.name(u) for u in scored["unit_id"].unique()}
    sections.table(scoring.summary_table(scored, "unit_id", names=names))
    sections.figure(scoring_chart(scored, s["observed"]))
    sections.note(scoring.METHOD)
