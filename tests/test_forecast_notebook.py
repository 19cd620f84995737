"""The sorting-forecast notebook: its parameters and run file, ``forecast.run`` (the contract every
analysis result keeps), its sections, and a run under papermill on demo data."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest
from notebook_outputs import papermill_outputs

import cityanalytics as ca
from cityanalytics.demo import write_demo
from cityanalytics.forecast import ForecastResult
from cityanalytics.forecast import report as forecast_report
from cityanalytics.report.params import load_run, notebook_parameters, parameters_cell

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "sorting_forecast.ipynb"
RUN_FILE = ROOT / "params" / "sorting_forecast.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo(out, n_cases=1_000)
    return out


def test_notebook_is_committed_without_outputs_and_declares_its_parameters():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# 生活垃圾分类覆盖率预测")
    index = parameters_cell(nb)
    assert index == 1
    assert "ca.notebook.setup(" in nb.cells[index + 1].source
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    declared = notebook_parameters(NOTEBOOK)
    assert declared["workspace"].default == "data/demo" and declared["period"].default == ""
    for name in ("target_id", "target_value", "target_deadline", "units", "models", "levels"):
        assert name in declared


def test_run_file_loads_against_the_notebook():
    spec = load_run(RUN_FILE, root=ROOT)
    assert spec.notebook == NOTEBOOK and spec.title == "生活垃圾分类覆盖率预测"
    assert spec.parameters["target_id"] == "hl_sorting_coverage"


def test_run_follows_the_registry_target(demo):
    res = ca.forecast.run(str(demo), period="2025-03", target_id="hl_sorting_coverage", n_paths=200,
                          backtest_origins=2)
    assert res.series.area_type == "城市"  # 城区居民小区: urban communities only
    assert str(res.table["as_of"].iloc[0]) == "2025-03"  # the report period cuts the data
    assert res.target.value == 98 and "海陵区" in res.sentences[0]
    later = ca.forecast.run(demo, period="2026-01", target_id="", target_value=95, target_deadline="2026-06-30",
                            area_type="", n_paths=200, backtest_origins=0)
    assert str(later.table["as_of"].iloc[0]) == "2025-06"  # never past the data's end
    assert later.series.area_type is None and later.target.value == 95


@pytest.mark.slow
def test_notebook_runs_under_papermill(demo, tmp_path):
    out = tmp_path / "sorting_forecast.ipynb"
    markdown, html, images = papermill_outputs(
        NOTEBOOK, out, {"workspace": str(demo), "period": "2025-06", "n_paths": 300})
    assert "截至2025年6月,全市城市居民小区生活垃圾分类覆盖率为" in markdown
    assert "达到98%目标的概率为" in markdown and "白沙镇" in markdown
    assert "回测中所选模型的平均绝对误差" in markdown
    for header in ("达标概率", "预计达标时间", "每月需新增(个小区)", "加权区间评分"):
        assert header in html
    assert len(images) == 1  # the fan charts, one figure with a panel per unit


def test_a_workspace_without_the_register_says_so_in_one_line(tmp_path, shown):
    from cityanalytics.report import summary

    (tmp_path / "districts.csv").write_text("unit_id,name_zh,level,parent_id\nc,甲市,市,\n", encoding="utf-8")
    res = ca.forecast.run(tmp_path, target_id="hl_sorting_coverage")
    line = "工作区没有社区(小区)垃圾分类台账(communities 表),无法预测覆盖率,本报告各节略去。"
    assert isinstance(res, ForecastResult) and res.missing == line and res.sentences == [line]
    assert res.table.empty and res.tidy().empty and res.summary() == line
    assert ca.forecast.run(tmp_path, table="observations").missing.startswith("工作区没有按月汇总的指标表")
    # the notebook's cells, unchanged: the first section says why, once; the others show nothing
    ui = ca.widgets.explore(res)
    ui.show()
    for render in (summary.show_forecast, forecast_report.save_forecasts, forecast_report.show_sentences,
                   forecast_report.show_probabilities, forecast_report.show_fan, forecast_report.show_scoring,
                   summary.show_changes, forecast_report.show_method):
        ui.section(render)
    assert shown == [line]


@pytest.fixture()
def shown(monkeypatch):
    """The Markdown texts the report sections display (tables and figures as their type name)."""
    from IPython.display import Markdown

    from cityanalytics.report import sections

    out = []
    monkeypatch.setattr(sections, "display", lambda obj: out.append(obj.data if isinstance(obj, Markdown)
                                                                     else type(obj).__name__))
    return out


@pytest.fixture(scope="module")
def result(demo):
    return ca.forecast.run(demo, period="2025-06", target_id="hl_sorting_coverage", n_paths=200, backtest_origins=2,
                           seed=3)


def test_the_result_keeps_the_contract(result, demo):
    t = result.table
    text = [c for c in t.columns if t[c].dtype == object or pd.api.types.is_string_dtype(t[c])]
    assert text == ["unit_id", "unit_name", "status", "model", "choice"]  # labels and codes; the rest numbers
    assert {str(t[c].dtype) for c in ("as_of", "deadline", "reached_on")} == {"period[M]"}
    numeric = t.drop(columns=text + ["as_of", "deadline", "reached_on"])
    assert all(pd.api.types.is_numeric_dtype(numeric[c]) for c in numeric)
    assert not {"note", "target_text", "model_zh", "status_zh", "reach_median"} & set(t.columns)
    tidy = result.tidy()
    assert list(tidy.columns) == ["unit_id", "unit_name", "term", "estimate", "conf_low", "conf_high", "level"]
    assert len(tidy) == 3 * len(t) and set(tidy["term"]) == {"coverage", "deadline_coverage", "p_reach"}
    city = tidy[(tidy["unit_id"] == "city") & (tidy["term"] == "deadline_coverage")].iloc[0]
    row = t.set_index("unit_id").loc["city"]
    assert (city["estimate"], city["conf_low"], city["conf_high"], city["level"]) == (
        row["fc_median"], row["fc_lo95"], row["fc_hi95"], 0.95)
    assert isinstance(result.sentences, list) and result.summary() == "\n".join(result.sentences)
    assert result.options["seed"] == 3 and str(result.options["workspace"]) == str(demo)
    assert result.options["target_id"] == "hl_sorting_coverage" and result.options["n_paths"] == 200
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    ax = result.plot()
    assert isinstance(ax, Axes) and len([a for a in ax.figure.axes if a.get_visible()]) == len(t)
    plt.close("all")


def test_the_words_beside_the_numbers_are_stored_as_before(result):
    from cityanalytics.forecast.tables import labelled, stored_columns
    from cityanalytics.report import resultsets

    stored = resultsets.forecast(result)["forecast_units"]
    assert list(stored.columns) == stored_columns(result.levels) and len(stored.columns) == 34
    pd.testing.assert_frame_equal(stored, labelled(result))
    city = stored.set_index("unit_id").loc["city"]
    assert city["target_text"] == "98%" and city["status_zh"] == "正常预测" and city["model_zh"]
    assert city["reach_median"].endswith("月") and "回测" in city["model_reason"]
    t = result.table.set_index("unit_id")
    for column in ("share", "fc_median", "p_reach", "needed_per_month"):
        assert stored.set_index("unit_id")[column].equals(t[column])


def test_sections_render_through_the_shared_section_module(result, shown):
    for render in (forecast_report.show_sentences, forecast_report.show_probabilities, forecast_report.show_pace,
                   forecast_report.show_fan, forecast_report.show_backtest, forecast_report.show_method,
                   forecast_report.show_scoring, forecast_report.save_forecasts):
        render(result)
    assert shown[0].startswith("目标:") and "Styler" in shown and "Figure" in shown
    assert shown[-1] == "此次不是报告运行(cityanalytics run / reports),不读取也不保存各期预测,预测兑现情况从略。"
    assert forecast_report.show_fan.__name__ == "show_fan"  # the explorer reads which controls a section follows


def test_explore_recomputes_with_the_result_options(result):
    ui = ca.widgets.explore(result, interactive=False)
    assert ui.state is result and ui.controls == {}
    live = ca.widgets.explore(result, interactive=True)
    values = live.values()
    units = list(values["units"][:2])
    got = live.update({**values, "units": units})
    want = ca.forecast.forecast_coverage(result.series, result.target, models=result.options["models"],
                                         levels=values["levels"], n_paths=200, backtest_origins=2, seed=3,
                                         units=[*units, "city"])
    pd.testing.assert_frame_equal(got.table, want.table)
