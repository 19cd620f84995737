"""The campaign-impact notebook: committed clean, parameters and run files consistent, and a run
under papermill on demo data for each kind of campaign (phased, staggered) and on a small
observations-only workspace (a per-capita value, Gaussian models, a covariate)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from notebook_outputs import papermill_outputs

from cityanalytics.demo import write_demo
from cityanalytics.report.params import load_run, notebook_parameters, parameters_cell

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "campaign_impact.ipynb"
RUNS = {"campaign_impact_100day": "C2022-BRGJ", "campaign_impact_rollout": "C2021-XGG"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo(out, n_cases=120_000)
    return out


def test_notebook_is_committed_without_outputs_and_declares_its_parameters():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# 专项行动成效评估")
    index = parameters_cell(nb)
    assert index == 1
    assert "ca.notebook.setup(" in nb.cells[index + 1].source  # project root and Chinese fonts
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    declared = notebook_parameters(NOTEBOOK)
    assert declared["workspace"].default == "data/demo" and declared["period"].default == ""
    assert "data_dir" not in declared
    for name in ("campaign_id", "phases", "treated_units", "control_units", "outcomes", "outcome", "exposure",
                 "covariates", "weights", "freq", "effect", "post", "family", "did_model", "event_window",
                 "robustness_checks", "ri_max_sets"):
        assert name in declared


@pytest.mark.parametrize("run", sorted(RUNS))
def test_run_files_load_against_the_notebook(run):
    spec = load_run(ROOT / "params" / f"{run}.yaml", root=ROOT)
    assert spec.notebook == NOTEBOOK and spec.title.startswith("专项行动成效评估")
    assert spec.parameters["campaign_id"] == RUNS[run]
    assert spec.parameters["workspace"] == "data/demo"



@pytest.mark.slow
def test_notebook_runs_the_100_day_campaign_under_papermill(demo, tmp_path):
    out = tmp_path / "campaign_impact_100day.ipynb"
    markdown, html, images = papermill_outputs(NOTEBOOK, out, {
        "workspace": str(demo), "period": "2025-06", "campaign_id": "C2022-BRGJ", "freq": "M",
        "robustness_checks": ["placebo_dates", "leave_one_out", "randomization"], "ri_max_sets": 19})
    for text in ("覆盖单位", "对照单位", "综合治理阶段", "半衰期约", "件/月", "双重差分", "平行趋势", "案件表", "计数模型",
                 "随机化推断", "模型:中断时间序列", "Newey-West", "聚类"):
        assert text in markdown, text
    for header in ("95% 区间", "少发(件/月)", "前置期系数联合为 0", "随机化 p 值"):
        assert header in html, header
    assert len(images) == 3  # ITS + half-life profile, event study, robustness panels


@pytest.mark.slow
def test_notebook_runs_the_staggered_rollout_under_papermill(demo, tmp_path):
    out = tmp_path / "campaign_impact_rollout.ipynb"
    markdown, html, images = papermill_outputs(NOTEBOOK, out, {
        "workspace": str(demo), "campaign_id": "C2021-XGG", "freq": "M",
        "robustness_checks": ["randomization"], "ri_max_sets": 19})
    for text in ("Callaway-Sant'Anna", "普通双向固定效应", "推行后平均效应", "刀切法", "分批推行"):
        assert text in markdown, text
    assert "相对时期" in html and len(images) == 2


@pytest.mark.slow
def test_notebook_runs_on_an_observations_only_workspace(tmp_path):
    """No cases, no campaigns: a monthly per-capita indicator in the observations table, the
    campaign typed in as parameters, a second indicator as the DiD covariate."""
    from test_impact_observations import PHASES, TREATED, observations

    ws = tmp_path / "ws"
    ws.mkdir()
    observations().to_csv(ws / "observations.csv", index=False, encoding="utf-8")
    out = tmp_path / "campaign_impact_observations.ipynb"
    markdown, html, images = papermill_outputs(NOTEBOOK, out, {
        "workspace": str(ws), "campaign_id": "", "campaign_name": "生活垃圾减量专项行动", "phases": PHASES,
        "treated_units": TREATED, "outcome": "waste_kg_per_capita", "covariates": ["population"],
        "weights": "population", "freq": "M", "post": "level", "robustness_checks": ["leave_one_out", "randomization"], "ri_max_sets": 19})
    for text in ("生活垃圾减量专项行动", "waste_kg_per_capita", "千克/人", "观测值表", "线性模型", "东区",
                 "双重差分", "估计已控制协变量:population", "线性回归(最小二乘)", "逐一剔除单位",
                 "加权最小二乘(权重 population)", "按 population 加权平均"):
        assert text in markdown, text
    assert "件/月" not in markdown and "少发" not in markdown  # no case wording for a per-capita value
    assert "95% 区间" in html and "前置期系数联合为 0" in html
    assert len(images) == 3  # ITS (no decay profile: post level), event study, robustness panels
