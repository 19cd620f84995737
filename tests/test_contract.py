"""The three analyses have one shape: ``ca.<analysis>.run(workspace, **options)`` returns a
``ca.Result`` whose table is numeric, whose tidy() has estimates with intervals, whose
summary() is the sentences, whose plot() draws, and which the explorer renders from its options."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import cityanalytics as ca  # noqa: E402

# light settings: the numbers are tested elsewhere, the shape here
RUNS = {
    "compare": lambda ws: ca.compare.run(ws, period="2025-06", indicators=["case_closure_rate", "assessment_score_mean"],
                                         n_boot=0),
    "forecast": lambda ws: ca.forecast.run(ws, period="2025-06", target_id="hl_sorting_coverage", n_paths=200,
                                           backtest_origins=0, models=["logistic", "naive"]),
    "impact": lambda ws: ca.impact.run(ws, campaign_id="C2022-BRGJ", freq="M", robustness_checks=[]),
}
LABELS = {"indicator", "label_zh", "measure", "value_unit", "unit_id", "unit_name", "design", "design_zh", "term",
          "scale", "model", "choice", "status", "funnel_position", "trend"}  # the columns that may hold text


@pytest.fixture(scope="module", params=list(RUNS))
def result(request, demo_city):
    return request.param, RUNS[request.param](demo_city.path)


def test_run_returns_the_shared_result(result):
    name, res = result
    assert isinstance(res, ca.Result), name
    assert res.options and "workspace" in res.options


def test_table_holds_numbers_and_labels_only(result):
    name, res = result
    t = res.table
    assert len(t) > 0
    text = [c for c in t.columns if not (pd.api.types.is_numeric_dtype(t[c]) or pd.api.types.is_bool_dtype(t[c])
                                         or isinstance(t[c].dtype, pd.PeriodDtype)
                                         or pd.api.types.is_datetime64_any_dtype(t[c]))]
    assert set(text) <= LABELS, f"{name}: text in {sorted(set(text) - LABELS)}"
    for c in t.columns.difference(list(LABELS)):  # no formatted number or blank mark as a string
        assert not t[c].astype(str).str.contains("—|%$", regex=True).any(), (name, c)


def test_tidy_summary_sentences_plot(result):
    name, res = result
    tidy = res.tidy()
    assert {"term", "estimate", "conf_low", "conf_high"} <= set(tidy.columns), name
    assert pd.api.types.is_float_dtype(tidy["estimate"]) and tidy["estimate"].notna().any()
    both = tidy.dropna(subset=["conf_low", "conf_high"])
    assert (both["conf_low"] <= both["conf_high"]).all()
    assert isinstance(res.sentences, list) and res.sentences
    assert res.summary() == "\n".join(res.sentences)
    ax = res.plot()
    assert isinstance(ax, plt.Axes) and ax.figure.axes
    plt.close("all")


def test_every_report_section_draws_through_the_shared_sections(result, monkeypatch):
    """Each show_* section of the analysis's report module draws something, and only through
    ``cityanalytics.report.sections`` (whose display is captured here: a section displaying by
    itself would show nothing below)."""
    from cityanalytics.compare import report as compare_report
    from cityanalytics.forecast import report as forecast_report
    from cityanalytics.impact import report as impact_report
    from cityanalytics.report import sections

    name, res = result
    module = {"compare": compare_report, "forecast": forecast_report, "impact": impact_report}[name]
    shown = []
    monkeypatch.setattr(sections, "display", shown.append)
    ui = ca.widgets.explore(res, interactive=False)
    ui.show()
    shows = sorted(n for n in dir(module) if n.startswith("show_"))
    assert len(shows) >= 5, name
    silent = []
    for show in shows:
        before = len(shown)
        ui.section(getattr(module, show))
        if len(shown) == before:
            silent.append(show)
    assert not silent, f"{name}: sections that drew nothing through report.sections: {silent}"
    plt.close("all")
