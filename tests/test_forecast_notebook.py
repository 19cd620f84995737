"""The sorting-forecast notebook: its parameters and run file, and a run under papermill on demo data."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from notebook_outputs import papermill_outputs

from cityanalytics.demo import write_demo
from cityanalytics.forecast.report import run_notebook
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


def test_notebook_helper_follows_the_registry_target(demo):
    res = run_notebook(workspace=str(demo), period="2025-03", target_id="hl_sorting_coverage", n_paths=200,
                       backtest_origins=2)
    assert res.series.area_type == "城市"  # 城区居民小区: urban communities only
    assert str(res.table["as_of"].iloc[0]) == "2025-03"  # the report period cuts the data
    assert res.target.value == 98 and "海陵区" in res.sentences[0]
    later = run_notebook(workspace=str(demo), period="2026-01", target_id="", target_value=95,
                         target_deadline="2026-06-30", area_type="", n_paths=200, backtest_origins=0)
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


def test_a_workspace_without_the_register_says_so_in_one_line(tmp_path):
    from cityanalytics.forecast.report import missing_table

    (tmp_path / "districts.csv").write_text("unit_id,name_zh,level,parent_id\nc,甲市,市,\n", encoding="utf-8")
    assert missing_table(tmp_path) == "工作区没有社区(小区)垃圾分类台账(communities 表),无法预测覆盖率,本报告各节略去。"
    assert missing_table(tmp_path, "observations").startswith("工作区没有按月汇总的指标表")
