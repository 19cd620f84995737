"""The comparison, forecast and data-quality reports on any workspace: thin data, small numbers,
ties, rows without a unit, and sections the data cannot fill (every notebook runs on a
workspace). Hand-made frames and tiny hand-made workspaces; answers computed by hand."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from notebook_outputs import papermill_outputs

from cityanalytics.compare import build_bulletin, composite_score, funnel, league_table, red_black_lists
from cityanalytics.compare._common import NotComparable
from cityanalytics.compare.data import UNASSIGNED, latest_complete_month, parse_period
from cityanalytics.indicators.frame import CITY, proportion
from cityanalytics.workspace import open_workspace

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
P = pd.Period("2025-03", "M")
ALL_SIX = ["case_ontime_disposal_rate", "case_closure_rate", "case_rework_rate", "road_dust_sample_compliance_rate",
           "sorting_coverage_communities", "assessment_score_mean"]


def closure_frame(counts: dict[str, tuple[int, int]], indicator: str = "case_closure_rate") -> pd.DataFrame:
    """An IndicatorFrame of one proportion in 2025-03: unit -> (numerator, denominator), city = the sum."""
    units = list(counts)
    num = [counts[u][0] for u in units]
    den = [counts[u][1] for u in units]
    keys = pd.DataFrame({"unit_id": [*units, CITY], "period": pd.PeriodIndex([P] * (len(units) + 1), freq="M"),
                         "group": ""})
    f = proportion(indicator, keys, np.array([*num, sum(num)], float), np.array([*den, sum(den)], float), 0.95)
    f.attrs["ci_level"] = 0.95
    return f


def tiny_workspace(root: Path, per_unit=(3, 4, 2), months=("2025-01", "2025-02", "2025-03"),
                   disposed: bool = True) -> Path:
    """Districts and cases only: a city, one district, three streets with a few cases a month each,
    and one case at the last minute of the last month (so that month is complete)."""
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"unit_id": ["c0", "d1", "s1", "s2", "s3"], "name_zh": ["甲市", "甲区", "一街道", "二街道", "三街道"],
                  "level": ["市", "区", "街道", "街道", "街道"], "parent_id": [None, "c0", "d1", "d1", "d1"]}
                 ).to_csv(root / "districts.csv", index=False)
    rows = []
    for m in months:
        start = pd.Timestamp(f"{m}-01 09:00")
        for unit, n in zip(["s1", "s2", "s3"], per_unit):
            for i in range(n):
                t = start + pd.Timedelta(days=i)
                rows.append({"case_id": f"{m}-{unit}-{i}", "unit_id": unit, "category": "事件", "reported_at": t,
                             "disposed_at": t + pd.Timedelta(hours=5) if disposed else None,
                             "closed_at": t + pd.Timedelta(hours=6), "due_at": t + pd.Timedelta(hours=24)})
    last = pd.Period(months[-1], "M").end_time.floor("min")
    rows.append({"case_id": "last", "unit_id": "s1", "category": "事件", "reported_at": last, "disposed_at": None,
                 "closed_at": None, "due_at": last + pd.Timedelta(hours=24)})
    pd.DataFrame(rows).to_csv(root / "cases.csv", index=False)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_workspace(tmp_path_factory.mktemp("tiny"))


# --- small numbers and ties (hand-made frames) ----------------------------------------------------


def test_a_unit_below_the_minimum_is_shown_not_ranked_and_ties_share_the_best_rank():
    f = closure_frame({"a": (90, 100), "b": (45, 50), "c": (8, 10), "d": (70, 100)})
    t = league_table(f, "case_closure_rate", P, n_boot=200, min_denominator=30).table.set_index("unit_id")
    assert t.loc["c", "value"] == pytest.approx(80.0) and bool(t.loc["c", "suppressed"])
    assert np.isnan(t.loc["c", "rank"]) and np.isnan(t.loc["c", "rank_low"])
    assert t.loc[["a", "b", "d"], "rank"].tolist() == [1, 1, 3]  # 90% and 90% tie at 1; 70% is third
    res = league_table(f, "case_closure_rate", P, n_boot=0, min_denominator=30, names={"c": "丙街道"})
    assert any(s.startswith("丙街道结案率 80.0%") and s.endswith(";分母仅 10,少于 30,不参与排名。")
               for s in res.sentences)
    assert "分母少于 30 的单位列出数值但不排名、不列入红黑榜" in res.spec
    # without a minimum every unit is ranked
    t0 = league_table(f, "case_closure_rate", P, n_boot=0).table.set_index("unit_id")
    assert t0["rank"].to_dict() == {"a": 1, "b": 1, "c": 3, "d": 4}


def test_all_units_tied_are_said_to_tie_and_none_goes_on_a_list():
    f = closure_frame({"a": (40, 40), "b": (35, 35), "c": (50, 50)})
    league = league_table(f, "case_closure_rate", P, n_boot=0, names={"a": "甲", "b": "乙", "c": "丙"})
    assert league.table["rank"].tolist() == [1, 1, 1]
    assert "参与排名的 3 个单位结案率相同(100.0%),并列第 1,不分先后。" in league.sentences
    rule = {"basis": "case_closure_rate", "red_top": 3, "black_bottom": 3, "outside_limit": 0}
    lists = red_black_lists(rule, leagues={"case_closure_rate": league.table}, names={"a": "甲", "b": "乙", "c": "丙"})
    assert lists.table.empty  # before: all three were first, and all three went on the 黑榜
    assert lists.sentences == ["参与排名的 3 个单位结案率并列,不按排名列入红黑榜。", "红榜:无。", "黑榜:无。"]
    comp = composite_score(f, P, {"case_closure_rate": 1}, normalisation="raw", names={"a": "甲", "b": "乙", "c": "丙"})
    assert comp.sentences[0] == "参与排名的 3 个单位综合得分相同(100.0),并列,不分高低。"
    assert not [s for s in comp.sentences if "最高的是" in s]


def test_no_unit_tied_with_the_worst_is_on_the_red_list_nor_tied_with_the_best_on_the_black_list():
    # 100%, then three at 90%: ranks 1, 2, 2, 2. With two places on each list, the cut for the red
    # list (rank <= 2) reaches the units tied with the worst: only a is red; b, c, d are black.
    f = closure_frame({"a": (50, 50), "b": (45, 50), "c": (45, 50), "d": (45, 50)})
    league = league_table(f, "case_closure_rate", P, n_boot=0)
    assert league.table.set_index("unit_id")["rank"].to_dict() == {"a": 1, "b": 2, "c": 2, "d": 2}
    rule = {"basis": "case_closure_rate", "red_top": 2, "black_bottom": 2, "outside_limit": 0}
    t = red_black_lists(rule, leagues={"case_closure_rate": league.table}).table
    assert t.loc[t["list"] == "红榜", "unit_id"].tolist() == ["a"]
    assert sorted(t.loc[t["list"] == "黑榜", "unit_id"]) == ["b", "c", "d"]
    # a unit below the minimum is never listed, even when it would be last
    f2 = closure_frame({"a": (50, 50), "b": (45, 50), "c": (40, 50), "e": (1, 10)})
    league2 = league_table(f2, "case_closure_rate", P, n_boot=0, min_denominator=30)
    rule = {"basis": "case_closure_rate", "red_top": 1, "black_bottom": 1, "outside_limit": 0}
    t2 = red_black_lists(rule, leagues={"case_closure_rate": league2.table}).table
    assert t2[["list", "unit_id"]].values.tolist() == [["红榜", "a"], ["黑榜", "c"]]


def test_best_and_worst_are_never_the_same_unit_in_the_composite_sentence():
    f = closure_frame({"a": (30, 30), "b": (30, 30), "c": (27, 30)})
    comp = composite_score(f, P, {"case_closure_rate": 1}, normalisation="raw", names={"a": "甲", "b": "乙", "c": "丙"})
    assert comp.sentences[0] == "综合得分最高的是乙、甲(100.0),最低的是丙(90.0)。"


# --- thin data: nothing to draw is said, never raised ----------------------------------------------


def test_plots_with_nothing_to_draw_say_so():
    f = closure_frame({"a": (0, 0), "b": (0, 0)})  # every value blank, as on the 311 data
    with pytest.raises(NotComparable) as exc:
        funnel(f, "case_closure_rate", P)
    assert "未画漏斗图" in exc.value.zh
    league = league_table(f, "case_closure_rate", P, n_boot=0)
    ax = league.plot()
    assert [t.get_text() for t in ax.texts] == ["结案率:2025-03 各单位均无数值,无图可画。"]
    # a funnel result without limit curves (the KeyError 'lower_95' of the issue) draws a line of text
    ok = funnel(closure_frame({"a": (9, 10), "b": (5, 10)}), "case_closure_rate", P)
    ok.extra["curves"] = pd.DataFrame({"size": []})
    ax = ok.plot()
    assert [t.get_text() for t in ax.texts] == ["结案率:2025-03 没有可画的控制限或数据点。"]


def test_every_figure_of_a_tiny_workspace_draws(tiny):
    b = build_bulletin(tiny, indicators=ALL_SIX, weights_preset="gbt30428_unit", n_boot=50)
    for r in [*b.leagues.values(), *b.funnels.values(), *b.trends.values(), b.composite]:
        assert r.plot() is not None
    assert b.period == P  # the last complete month the cases cover
    assert set(b.leagues) == {"case_ontime_disposal_rate", "case_closure_rate"}
    assert b.dropped == {"case_rework_rate": "reopened列全部为空", "road_dust_sample_compliance_rate": "缺少dust_samples表",
                         "sorting_coverage_communities": "缺少communities表", "assessment_score_mean": "缺少assessments表"}
    # every street has 2-4 cases: shown, none ranked (minimum 30 by default), no list
    t = b.leagues["case_closure_rate"].table
    assert t["suppressed"].all() and t["rank"].isna().all() and t["denominator"].sum() == 9
    assert b.lists is None and b.skipped["lists"] == "红黑榜:参与排名的单位不足 2 个(样本量少于 30 的单位不排名),未列榜单"


# --- workspace: tables, periods, rows without a unit ----------------------------------------------


def test_periods_month_quarter_year_and_the_default_asked_of_the_workspace(tiny):
    from cityanalytics.report.batch import default_period

    assert parse_period("2025-03") == P and parse_period("2025q1") == pd.Period("2025Q1", "Q")
    assert parse_period("2025") == pd.Period("2025", "Y")
    with pytest.raises(ValueError, match="a quarter 2025Q2"):
        parse_period("March")
    assert latest_complete_month(tiny) == P
    # the batch's period (its folder and title page) is the one the body reports
    assert default_period([("workspace", tiny, "dir")]) == "2025-03"
    q = build_bulletin(tiny, period="2025Q1", indicators=["case_closure_rate"], n_boot=0, min_denominator=0)
    assert q.period == pd.Period("2025Q1", "Q")
    assert q.leagues["case_closure_rate"].table.set_index("unit_id")["denominator"].to_dict() == \
        {"s1": 9, "s2": 12, "s3": 6}  # three months of 3, 4 and 2 cases (the last-minute case is still open)
    assert q.as_of == "2025-04-01 00:00:00"
    late = build_bulletin(tiny, period="2025-02", as_of="2025-02-28 12:00", indicators=["case_closure_rate"], n_boot=0)
    assert late.as_of == "2025-02-28 12:00:00"


def test_rows_without_a_unit_count_in_the_city_and_are_shown_as_unassigned(tiny):
    ws = open_workspace(tiny)
    cases = ws.table("cases")
    extra = cases[cases["reported_at"].dt.to_period("M") == P].head(3).copy()
    extra["unit_id"] = pd.NA
    extra["case_id"] = extra["case_id"] + "-x"
    ws._cache["cases"] = pd.concat([cases, extra], ignore_index=True)  # as the loader keeps them
    b = build_bulletin(ws, indicators=["case_closure_rate"], n_boot=0, min_denominator=0)
    city = b.leagues["case_closure_rate"].extra["slice"].city
    assert city["denominator"] == 9 + 3  # the streets' 9 closed-or-due cases and the 3 without a unit
    o = b.overview().set_index("unit_id")
    assert o.loc[UNASSIGNED, "单位"] == "未归属单位" and o.loc[UNASSIGNED, "结案率(%)"] == pytest.approx(100.0)
    assert UNASSIGNED not in set(b.leagues["case_closure_rate"].table["unit_id"])  # never ranked
    assert "未归属单位:报告期内 3 件案件没有所属单位,占全部 13 件的 23.1%;计入全市合计,在总览中单列,不参与排名和榜单。" in b.notes


def test_data_quality_says_which_indicators_each_table_can_support(tmp_path):
    from cityanalytics import quality

    loaded = quality.load_tables(tiny_workspace(tmp_path / "w", disposed=False))
    t = quality.indicator_support(loaded).reset_index()
    row = t[t["指标"] == "处置率(case_disposal_rate)"].iloc[0]
    assert row["能否计算"] == "不能" and row["原因"] == "disposed_at列全部为空(disposed_at column empty)"
    assert t.loc[t["指标"] == "结案率(case_closure_rate)", "能否计算"].item() == "能"
    assert set(t["表"]) == {"案件(cases)"}  # tables the workspace does not hold are one line, not rows
    assert quality.absent_text(loaded).startswith("工作区没有以下 10 张表")
    assert "以克论净采样(dust_samples)" in quality.absent_text(loaded)
    assert quality.unassigned_rows(loaded).empty


# --- the notebooks on a workspace holding only cases -------------------------------------------------


def _lines_with(text: str, words) -> list[str]:
    return [line for line in text.splitlines() if any(w in line for w in words)]


@pytest.mark.slow
def test_the_comparison_and_quality_notebooks_run_on_cases_only(tiny, tmp_path):
    words = ("以克论净", "垃圾分类")
    markdown, html, images = papermill_outputs(ROOT / "notebooks" / "district_comparison.ipynb",
                                               tmp_path / "c.ipynb", {"workspace": str(tiny), "n_boot": 100})
    assert "报告期:**2025-03**(月度)" in markdown and "**城市管理月度考评通报(街镇比较,2025-03)**" in markdown
    assert "小数原则:样本量(比例指标的分母、每万人发生率的件数)少于 30 的单位" in markdown
    assert "**红黑榜**:本报告略去,参与排名的单位不足 2 个(样本量少于 30 的单位不排名),未列榜单。" in markdown
    only = _lines_with(markdown + "\n" + html, words)
    assert len(only) == 1 and only[0].startswith("数据不支持、本报告未比较的指标:")
    assert "road dust" not in markdown and images

    markdown, html, _ = papermill_outputs(ROOT / "notebooks" / "data_quality.ipynb", tmp_path / "q.ipynb",
                                          {"workspace": str(tiny)})
    assert markdown.startswith("本报告说明从工作区读入了什么:行政单元、案件各表")
    only = _lines_with(markdown + "\n" + html, words)
    assert len(only) == 1 and only[0].startswith("工作区没有以下 10 张表")
    assert "结案率(case_closure_rate)" in html

    markdown, _, images = papermill_outputs(ROOT / "notebooks" / "sorting_forecast.ipynb", tmp_path / "f.ipynb",
                                            {"workspace": str(tiny)})
    assert markdown == "工作区没有社区(小区)垃圾分类台账(communities 表),无法预测覆盖率,本报告各节略去。"
    assert not images


def test_quarter_and_year_periods_reach_the_runner_quality_and_forecast(tiny):
    from cityanalytics import quality
    from cityanalytics.forecast.api import data_end
    from cityanalytics.report import layout

    assert layout.check_period("2025Q2") == "2025Q2" and layout.check_period("2025") == "2025"
    with pytest.raises(ValueError, match="a quarter"):
        layout.check_period("2025Q5")
    loaded = quality.load_tables(tiny, ["districts", "cases"])
    rows = quality.overview(loaded, "2025Q1")
    assert rows.loc["案件(cases)", "报告期行"] == 3 * (3 + 4 + 2) + 1  # every case is in 2025Q1
    assert quality.overview(loaded, "2025-02").loc["案件(cases)", "报告期行"] == 9
    assert data_end("2025Q1", pd.Period("2025-06", "M")) == pd.Period("2025-03", "M").end_time
    assert data_end("2025", pd.Period("2025-06", "M")) == pd.Period("2025-06", "M").end_time  # never past the data


@pytest.mark.slow
def test_the_folder_the_title_page_and_the_body_name_the_same_period(tiny, tmp_path):
    """No --period: the batch asks the workspace (its last complete month, 2025-03, not today's)."""
    import shutil

    from cityanalytics import cli

    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "district_comparison.ipynb", project / "notebooks")
    shutil.copytree(tiny, project / "data" / "city")
    (project / "params").mkdir()
    (project / "params" / "cmp.yaml").write_text(
        "notebook: notebooks/district_comparison.ipynb\ntitle: 考评通报\nsource: 测试数据\n"
        "parameters:\n  workspace: data/city\n  n_boot: 50\n  target_plan: ''\n", encoding="utf-8")
    assert cli.main(["run", str(project / "params" / "cmp.yaml"), "--no-pdf", "--no-progress"]) == 0
    html = (project / "outputs" / "2025-03" / "cmp" / "report.html").read_text(encoding="utf-8")
    assert '<th>报告期</th><td class="ca-period">2025-03</td>' in html  # the title page
    assert "报告期:<strong>2025-03</strong>(月度)" in html  # the body
    assert "城市管理月度考评通报(街镇比较,2025-03)" in html
    assert not (project / "outputs" / pd.Timestamp.today().strftime("%Y-%m")).exists()


def test_no_computable_indicator_is_a_report_that_says_so(tmp_path, capsys):
    from cityanalytics.compare import report

    root = tiny_workspace(tmp_path / "w")
    cases = pd.read_csv(root / "cases.csv")
    cases["disposed_at"] = None
    cases["closed_at"] = None  # a 311 export without closure times
    cases.to_csv(root / "cases.csv", index=False)
    b = build_bulletin(root, indicators=["case_closure_rate", "case_ontime_disposal_rate"],
                       weights_preset="gbt30428_unit", n_boot=0)
    assert b.dropped == {"case_closure_rate": "closed_at列全部为空", "case_ontime_disposal_rate": "disposed_at列全部为空",
                         "case_rework_rate": "reopened列全部为空"}  # the preset's third weight
    assert "所选指标都不能由这些数据计算,本报告没有可比较的指标。" in b.notes
    assert not b.leagues and b.composite is None and b.lists is None
    for section in (report.show_introduction, report.show_scope, report.show_key_points, report.show_overview,
                    report.show_leagues, report.show_funnels, report.show_map, report.show_composite,
                    report.show_trends, report.show_lists, report.show_targets, report.show_all_sentences):
        section(b)  # every section renders (one line where there is nothing to show)
    assert b.table.empty and list(b.table.columns)[:6] == ["indicator", "label_zh", "measure", "value_unit", "unit_id",
                                                           "unit_name"]
