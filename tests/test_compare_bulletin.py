"""The monthly bulletin on demo data: its numbers agree with the indicator layer, the focus unit
leads, the run files load, and the notebook runs under papermill."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest
from notebook_outputs import papermill_outputs

from cityanalytics.compare import build_bulletin
from cityanalytics.compare.data import latest_complete_month
from cityanalytics.demo import write_demo
from cityanalytics.indicators import case_indicators
from cityanalytics.indicators.frame import CITY

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "district_comparison.ipynb"
INDICATORS = ["case_ontime_disposal_rate", "case_closure_rate", "case_rework_rate", "case_filed",
              "road_dust_sample_compliance_rate", "sorting_coverage_communities", "assessment_score_mean"]
BAISHA = "990103102000"  # 白沙镇


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo(out, n_cases=30_000)
    return out


@pytest.fixture(scope="module")
def bulletin(demo):
    return build_bulletin(demo, period="", indicators=INDICATORS, weights_preset="gbt30428_unit",
                          target_plan="海陵", n_boot=200, unit_id=BAISHA)


def test_period_defaults_to_the_latest_complete_month(demo, bulletin):
    assert latest_complete_month(demo) == pd.Period("2025-06", "M")  # the demo ends on 2025-06-30
    assert bulletin.period == pd.Period("2025-06", "M")
    # the period the run asks for is the period reported (folder, title page and body agree);
    # past the data's end the report says where the data end and shows no figure of another month
    later = build_bulletin(demo, period="2026-10", indicators=["case_closure_rate"], n_boot=0)
    assert later.period == pd.Period("2026-10", "M")
    assert "数据只覆盖到 2025-06(最近的完整月份),报告期 2026-10 的数据不完整或没有数据。" in later.notes
    assert not later.leagues and later.skipped["case_closure_rate"] == "结案率:2026-10 没有数据"
    earlier = build_bulletin(demo, period="2024-11", indicators=["case_closure_rate"], n_boot=0)
    assert earlier.period == pd.Period("2024-11", "M") and not [n for n in earlier.notes if "报告期" in n]


def test_league_numbers_are_the_indicator_layer_s(demo, bulletin):
    lvl = bulletin.level
    p = pd.Period("2025-06", "M")
    direct = case_indicators(str(demo / "cases.parquet"), start="2024-07-01", end="2025-06-30",
                             unit_map=lvl.unit_map, indicators=["case_ontime_disposal_rate"])
    direct = direct[(direct["indicator"] == "case_ontime_disposal_rate") & (direct["period"] == p)].set_index("unit_id")
    t = bulletin.leagues["case_ontime_disposal_rate"].table.set_index("unit_id")
    assert set(t.index) == set(lvl.units) and len(t) == 10
    for u in lvl.units:
        assert t.at[u, "value"] == pytest.approx(direct.at[u, "value"])
        assert t.at[u, "denominator"] == direct.at[u, "denominator"]
    assert t["city_value"].iloc[0] == pytest.approx(direct.at[CITY, "value"])
    # the city is the sum of the units (石鼓镇's old id is rolled into 石鼓街道)
    assert t["denominator"].sum() == direct.at[CITY, "denominator"]
    # counts compared per 10,000 residents from the districts table
    filed = bulletin.leagues["case_filed"].table.set_index("unit_id")
    assert filed.at[BAISHA, "denominator"] == pytest.approx(5.2)  # 52,000 residents


def test_focus_unit_leads_and_is_marked(bulletin):
    lines = bulletin.sentences()
    assert lines[0].startswith("白沙镇")
    assert bulletin.key_sentences()[0].startswith("白沙镇")
    for r in bulletin.leagues.values():
        assert r.table.loc[r.table["focus"], "unit_id"].tolist() == [BAISHA]
    assert bulletin.composite.table.loc[bulletin.composite.table["focus"], "unit_id"].tolist() == [BAISHA]
    targets = bulletin.targets.table
    assert set(targets["target_id"]) == {"hl_sorting_coverage"} and set(targets["group"]) == {"area_type=城市"}
    assert targets["status"].notna().all()
    assert set(bulletin.lists.table["list"]) <= {"红榜", "黑榜"}
    assert (bulletin.lists.table["reasons"].str.len() > 0).all()


def test_retired_and_district_units(demo):
    old = build_bulletin(demo, indicators=["case_closure_rate"], n_boot=0, unit_id="990102101000")  # 石鼓镇
    assert old.focus == "990102004000" and any("石鼓街道" in n for n in old.notes)
    district = build_bulletin(demo, indicators=["case_closure_rate"], n_boot=0, unit_id="990103")
    assert district.level.level == "区" and district.level.units == ["990102", "990103", "990171"]
    with pytest.raises(ValueError, match="not a unit"):
        build_bulletin(demo, indicators=["case_closure_rate"], n_boot=0, unit_id="nowhere")


def test_run_files_load_against_the_notebook():
    from cityanalytics.report.params import load_run

    comparison = load_run(ROOT / "params" / "district_comparison.yaml")
    report = load_run(ROOT / "params" / "district_report.yaml")
    assert comparison.notebook == report.notebook == NOTEBOOK
    assert comparison.for_each is None and report.for_each == "unit_id"
    assert comparison.parameters["weights_preset"] == "gbt30428_unit"


def test_notebook_is_committed_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.splitlines()[0] == "# 城市管理考评通报(区县/街道比较)"
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = nb.cells[tagged[0]].source
    for name in ("workspace = \"data/demo\"", "period = \"\"", "as_of = \"\"", "min_denominator = 30", "unit_id = \"\"", "level =", "indicators =",
                 "weights =", "list_rule =", "target_plan =", "ci_level ="):
        assert name in params
    after = next(c for c in nb.cells[tagged[0] + 1:] if c.cell_type == "code")
    assert "ca.notebook.setup(" in after.source
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
    # labels come from the registry and the districts table, not typed in the notebook
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and c is not nb.cells[tagged[0]])
    for label in ("按期处置率", "街道", "白沙镇"):
        assert label not in code


@pytest.mark.slow
def test_notebook_runs_under_papermill(demo, tmp_path):
    out = tmp_path / "district_comparison.ipynb"
    markdown, html, images = papermill_outputs(
        NOTEBOOK, out, {"workspace": str(demo), "unit_id": BAISHA, "period": "2025-06", "n_boot": 200})
    assert "报告期:**2025-06**" in markdown and "重点单位:**白沙镇**" in markdown
    assert "- 白沙镇按期处置率" in markdown  # the focus unit's lines first in the key points
    assert "红榜" in markdown and "黑榜" in markdown and "海陵区" in markdown
    assert "fde2e1" in html  # the focus row highlighted
    # league and trend per indicator, a funnel for all but the assessment score (one score per
    # street a month: no spread to draw limits from, said in the report), the rank heat map and
    # the map of the main indicator (the demo writes synthetic boundaries beside its tables)
    assert "考评平均得分各单位当期只有 1 个观测值" in markdown
    assert (demo / "boundaries.geojson").is_file()
    assert len(images) == 6 + 5 + 6 + 1 + 1
