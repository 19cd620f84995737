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
    lines = bulletin.sentences
    assert lines[0].startswith("白沙镇")
    assert bulletin.key_sentences[0].startswith("白沙镇")
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


# --- the result contract: ca.compare.run(workspace, **options) -> Bulletin ---------------------

@pytest.fixture(scope="module")
def result(demo):
    import cityanalytics as ca

    return ca.compare.run(str(demo), period="2025-06", indicators=INDICATORS, weights_preset="gbt30428_unit",
                          target_plan="海陵", n_boot=200, unit_id=BAISHA, overdispersion="none", engine="",
                          targets_path="")


def test_run_takes_the_notebook_parameters_and_keeps_them(demo, result, bulletin):
    import cityanalytics as ca
    from cityanalytics.compare import Bulletin
    from cityanalytics.workspace import Workspace

    assert isinstance(result, Bulletin)
    assert isinstance(result.options["workspace"], Workspace) and result.options["workspace"].root == demo
    assert result.options["overdispersion"] == "none" and result.options["n_boot"] == 200
    assert result.options["unit_id"] == BAISHA and result.options["indicators"] == INDICATORS
    # the notebook's spellings ("none", "") are build_bulletin's None: the same numbers
    pd.testing.assert_frame_equal(result.table, bulletin.table)
    assert result.sentences == bulletin.sentences
    again = ca.compare.run(**result.options)  # the options reproduce the result
    pd.testing.assert_frame_equal(again.tidy(), result.tidy())


def test_table_is_one_numeric_row_per_unit_and_indicator(result):
    from cityanalytics.compare.bulletin import TABLE_COLUMNS

    t = result.table
    assert list(t.columns) == TABLE_COLUMNS
    assert len(t) == sum(len(r.table) for r in result.leagues.values())
    labels = {"indicator", "label_zh", "measure", "value_unit", "unit_id", "unit_name", "funnel_position", "trend"}
    for c in t.columns:
        if c in labels:
            continue
        assert pd.api.types.is_float_dtype(t[c]) or str(t[c].dtype) == "boolean", (c, t[c].dtype)
    assert not t.isin(["—"]).any().any()
    row = t[(t["indicator"] == "case_ontime_disposal_rate") & (t["unit_id"] == BAISHA)].iloc[0]
    league = result.leagues["case_ontime_disposal_rate"].table.set_index("unit_id").loc[BAISHA]
    assert row["unit_name"] == "白沙镇" and row["label_zh"] == "按期处置率" and row["value_unit"] == "%"
    assert row["value"] == pytest.approx(league["value"])
    assert row["rank_high"] == pytest.approx(league["rank_high"], nan_ok=True)
    assert bool(row["suppressed"]) == bool(league["suppressed"])
    ranked = t[t["rank"].notna()]
    assert len(ranked) and (ranked["rank_low"] <= ranked["rank"]).all() and (ranked["rank"] <= ranked["rank_high"]).all()
    assert bool(row["focus"]) and t["focus"].sum() == len(result.leagues)
    # codes, not Chinese words, in the code columns
    assert set(t["trend"]) <= {"better", "worse", "up", "down", "none", "insufficient"}
    assert set(t["funnel_position"]) - {""} <= {"within", "above_95", "below_95", "above_998", "below_998"}
    score = t[t["indicator"] == "assessment_score_mean"]
    assert (score["funnel_position"] == "").all() and score["funnel_z"].isna().all()  # no funnel for it


def test_tidy_summary_plot(result):
    tidy = result.tidy()
    assert list(tidy.columns) == ["indicator", "unit_id", "unit_name", "term", "estimate", "conf_low", "conf_high",
                                  "p_value", "n"]
    assert all(pd.api.types.is_float_dtype(tidy[c]) for c in ["estimate", "conf_low", "conf_high", "p_value", "n"])
    assert set(tidy["term"]) == {"value", "rank", "trend_slope"}
    value = tidy[(tidy["term"] == "value") & (tidy["indicator"] == "case_closure_rate")].set_index("unit_id")
    league = result.leagues["case_closure_rate"].table.set_index("unit_id")
    assert value.at[BAISHA, "estimate"] == pytest.approx(league.at[BAISHA, "value"])
    assert value.at[BAISHA, "conf_low"] == pytest.approx(league.at[BAISHA, "ci_low"])
    assert value.at[CITY, "estimate"] == pytest.approx(league["city_value"].iloc[0])
    summary = result.summary()
    assert isinstance(summary, str) and summary.splitlines() == result.sentences
    assert isinstance(result.sentences, list) and summary.startswith("白沙镇")
    import matplotlib

    matplotlib.use("Agg")
    ax = result.plot()
    assert isinstance(ax, matplotlib.axes.Axes) and ax.get_title()


def test_the_explorer_renders_the_result_in_a_report_run(result, monkeypatch):
    from cityanalytics import widgets
    from cityanalytics.compare import report
    from cityanalytics.report import sections

    shown = []
    monkeypatch.setattr(sections, "display", shown.append)
    ui = widgets.explore(result, interactive=False)
    assert ui.state is result and ui.controls == {}
    ui.show()
    ui.section(report.show_scope)  # the workspace from the result's options
    ui.section(report.show_all_sentences)
    text = "\n".join(o.data for o in shown if isinstance(getattr(o, "data", None), str))
    assert "报告期:**2025-06**" in text and "重点单位:**白沙镇**" in text and str(result.options["workspace"].root) in text
    assert "## 全部结论" in text and f"- {result.sentences[0]}" in text


def test_units_show_by_the_names_the_frame_carries(result):
    from cityanalytics.compare import composite_score, league_table, red_black_lists, trend

    frame, period = result.frame, result.period
    assert frame.attrs["unit_names"][BAISHA] == "白沙镇"
    units = result.level.units
    bare = league_table(frame, "case_closure_rate", period, units=units, n_boot=0)
    named = league_table(frame, "case_closure_rate", period, units=units, names={u: f"单位{u}" for u in units},
                         n_boot=0)
    assert bare.table.set_index("unit_id").at[BAISHA, "name"] == "白沙镇"
    assert named.table.set_index("unit_id").at[BAISHA, "name"] == f"单位{BAISHA}"  # names= still wins
    assert trend(frame, "case_closure_rate", period, units=units).table.set_index("unit_id").at[BAISHA, "name"] == "白沙镇"
    comp = composite_score(frame, period, {"case_closure_rate": 1, "case_ontime_disposal_rate": 1}, units=units)
    assert comp.table.set_index("unit_id").at[BAISHA, "name"] == "白沙镇"
    lists = red_black_lists({"basis": "composite", "red_top": 5, "black_bottom": 5, "outside_limit": 0},
                            composite=comp.table)
    assert set(lists.table["name"]) <= set(result.level.names.values())


def test_every_compared_indicator_names_its_source_table():
    from cityanalytics.compare.data import COMPARED_TABLES, table_of
    from cityanalytics.indicators.registry import as_table
    from cityanalytics.report.params import load_run

    run_indicators = load_run(ROOT / "params" / "district_comparison.yaml").parameters["indicators"]
    for ind in {*INDICATORS, *run_indicators}:
        assert table_of(ind) in COMPARED_TABLES
    registry = as_table()
    compared = registry[registry["table"].isin(list(COMPARED_TABLES))]
    assert len(compared) >= 15 and (compared["table"].str.len() > 0).all()
    other = registry.loc[~registry["table"].isin(list(COMPARED_TABLES)), "id"].iloc[0]
    with pytest.raises(ValueError, match="the comparison does not read"):
        table_of(other)


def test_report_sections_are_show_functions():
    from cityanalytics.compare import report
    from cityanalytics.widgets.compare import COMPARISON_DEPENDS

    names = [n for n in report.__all__ if n.startswith("show_")]
    assert len(names) == 12 and all(callable(getattr(report, n)) for n in names)
    assert set(COMPARISON_DEPENDS) <= set(names)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "ca.compare.run(" in code and "ca.widgets.explore(res)" in code
    for n in names:
        assert f"ui.section(report.{n})" in code, n


def test_run_without_indicators_compares_the_default_set(demo):
    import cityanalytics as ca
    from cityanalytics.compare.bulletin import DEFAULT_INDICATORS

    res = ca.compare.run(demo, n_boot=0)
    assert res.options["indicators"] is None  # what the caller gave; the default is applied inside
    compared = set(res.leagues) | set(res.dropped)
    assert compared == set(DEFAULT_INDICATORS)  # each default compared, or dropped with its reason
    assert set(res.table["indicator"]) == set(res.leagues)
