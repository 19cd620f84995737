"""Page-1 findings (cityanalytics.report.summary) from hand-made results: the sentences carry the
numbers and intervals of the tables they come from, lights follow the status, data text is escaped."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from cityanalytics.report import changes as report_changes
from cityanalytics.report import summary


def _bulletin(lists_rows, target_rows):
    lists = pd.DataFrame(lists_rows, columns=["list", "unit_id", "name", "reasons"])
    targets = pd.DataFrame(target_rows, columns=["unit_id", "name", "value", "projection", "proj_low", "proj_high",
                                                 "status", "status_zh"])
    targets = targets.assign(target_id="t1", plan="某区“十四五”规划", indicator="sorting_coverage_communities",
                             name_zh="生活垃圾分类小区覆盖率", scope="城区居民小区", comparison=">=", target=98.0,
                             deadline="2025-12-31")
    return SimpleNamespace(targets=SimpleNamespace(table=targets), lists=SimpleNamespace(table=lists), skipped={},
                           leagues={}, level=SimpleNamespace(names={"city": "全市"}), notes=[])


def test_comparison_findings_targets_lights_lists_and_changes():
    b = _bulletin(
        [("红榜", "a", "甲街道", "综合得分排名第 1(99.8 分),位列前 3"),
         ("黑榜", "c", "丙镇", "综合得分排名第 10/10(96.2 分),位列后 3;按期处置率 95.5%,低于控制下限")],
        [("city", "全市", 96.3, 98.9, 98.6, 99.2, "on_track", "按进度可达标"),
         ("a", "甲街道", 100.0, 100.0, 100.0, 100.0, "met", "已达标"),
         ("b", "乙街道", 97.0, 97.9, 97.0, 98.8, "at_risk", "有风险"),
         ("c", "丙镇", 75.0, 76.5, 73.4, 79.6, "off_track", "难以达标")])
    changes = report_changes.Changes("2025-06", "2025-05", [report_changes.Change("list", "丙镇本期进入黑榜(上期不在黑榜)。", True, 32.0),
                                                 report_changes.Change("rank", "乙街道……", False, 21.0)])
    assert summary.comparison_findings(b, changes) == [
        "某区“十四五”规划目标「生活垃圾分类小区覆盖率(城区居民小区)>= 98.0%」,期限 2025-12-31:全市现值 96.3%,"
        "按近期趋势到期预计 98.9%(区间 98.6% 至 99.2%),按进度可达标(绿灯);各单位绿灯 1 个、黄灯 1 个、红灯 1 个"
        "(红灯:丙镇 75.0%)。",
        "红榜 1 个单位——甲街道:综合得分排名第 1(99.8 分),位列前 3。",
        "黑榜 1 个单位——丙镇:综合得分排名第 10/10(96.2 分),位列后 3。",
        "与上期相比:丙镇本期进入黑榜(上期不在黑榜)。",
    ]


def test_empty_red_and_black_lists_are_said_on_page_one():
    target = [("city", "全市", 96.3, 98.9, 98.6, 99.2, "on_track", "按进度可达标")]
    found = summary.comparison_findings(_bulletin([], target))
    assert found[-1] == "红榜、黑榜:本期没有单位入榜(入榜规则见“红黑榜”一节)。"
    only_black = summary.comparison_findings(_bulletin([("红榜", "a", "甲街道", "综合得分排名第 1")], target))
    assert only_black[-2:] == ["红榜 1 个单位——甲街道:综合得分排名第 1。", "黑榜:本期没有单位入榜(入榜规则见“红黑榜”一节)。"]


def test_forecast_findings_likely_and_unlikely_units():
    table = pd.DataFrame([
        ("city", "全市", "ok", 96.3, 99.2, 97.7, 100.0, 0.82, "98%", "2025-12"),
        ("a", "甲街道", "ok", 97.0, 99.9, 99.0, 100.0, 0.97, "98%", "2025-12"),
        ("b", "乙街道", "complete", 100.0, 100.0, 100.0, 100.0, 1.0, "98%", "2025-12"),
        ("c", "丙镇", "ok", 75.0, 80.6, 77.8, 86.1, 0.0, "98%", "2025-12"),
        ("d", "丁镇", "ok", 95.0, 97.9, 95.9, 99.0, 0.62, "98%", "2025-12"),
    ], columns=["unit_id", "unit_name", "status", "share", "fc_median", "fc_lo80", "fc_hi80", "p_reach", "target_text",
                "deadline"])
    res = SimpleNamespace(table=table, levels=(0.8, 0.95), sentences=[])
    assert summary.forecast_findings(res, report_changes.Changes("2025-06", None)) == [
        "全市覆盖率现为 96.3%,到 2025-12 预计 99.2%(80% 预测区间 97.7% 至 100.0%),达到 98% 目标的概率为 82%。",
        "很可能按期达标(概率不低于 90%)的单位 1 个:甲街道(97%);另有 1 个单位已全覆盖。",
        "不太可能按期达标(概率低于 50%)的单位 1 个:丙镇(0%,到期预计 80.6%,区间 77.8% 至 86.1%)。",
    ]  # no earlier results: nothing about changes on page 1 (the section says so)


def test_page_html_escapes_data_text():
    page = summary.Page(["<script>alert(1)</script>镇 黑榜"], report_changes.Changes("2025-06", None))
    html = page._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;镇 黑榜" in html
    assert html.startswith('<div class="ca-summary"><h2>摘要</h2>')


def test_campaign_findings_effect_with_interval_and_persistence():
    its_table = pd.DataFrame({
        "term": ["phase:宣传启动", "phase:综合治理", "post"], "label_zh": ["宣传启动阶段", "综合治理阶段", "活动结束时(此后衰减)"],
        "coef": [0.5, -0.48, -0.41], "se": [0.3, 0.03, 0.06], "p_value": [0.1, 1e-9, 1e-9],
        "pct": [64.9, -38.1, -33.5], "pct_low": [-8.0, -41.7, -40.8], "pct_high": [195.0, -34.2, -25.2]})
    its = SimpleNamespace(table=its_table, options={"level": 0.95}, method_zh="中断时间序列",
                          diagnostics={"half_life": 47.0, "half_life_low": 25.0, "half_life_high": 81.0,
                                       "persistent": False})
    rep = SimpleNamespace(its=its, did=None, staggered=None, warnings=[], notes=[])
    assert summary.campaign_findings(rep) == [
        # +64.9% is larger, but its interval spans 0: the largest clear effect is reported
        "中断时间序列:综合治理阶段效应 -38.1%(95% 区间 -41.7% 至 -34.2%)。",
        "中断时间序列:活动结束时效应 -33.5%(95% 区间 -40.8% 至 -25.2%),此后逐步减弱,半衰期约 47 天(区间 25 至 81 天)。",
    ]


def test_a_report_on_one_unit_starts_with_that_unit():
    b = _bulletin([("黑榜", "c", "丙镇", "按期处置率 95.5%,低于 99.8% 控制下限 95.8%")],
                  [("c", "丙镇", 75.0, 76.5, 73.4, 79.6, "off_track", "难以达标")])
    league = pd.DataFrame({"unit_id": ["a", "c"], "value": [99.0, 95.5], "ci_low": [98.0, 92.8],
                           "ci_high": [99.5, 97.2], "rank": [1.0, 2.0], "rank_low": [1.0, 1.0], "rank_high": [1.0, 2.0]})
    b.leagues = {"case_ontime_disposal_rate": SimpleNamespace(table=league, sentences=[])}
    b.focus, b.level.names["c"] = "c", "丙镇"
    changes = report_changes.Changes("2025-06", "2025-05", [report_changes.Change("list", "甲街道本期进入红榜(上期不在红榜)。", True, 31.0),
                                                 report_changes.Change("rank", "丙镇按期处置率名次由第 1 位降至第 2 位……", True, 21.0)])
    found = summary.comparison_findings(b, changes)
    assert found[0] == ("丙镇:按期处置率 95.5%(区间 92.8% 至 97.2%),第 2 位(名次区间 1–2);"
                        "生活垃圾分类小区覆盖率目标难以达标(红灯);本期在黑榜。")
    assert found[-2:] == ["与上期相比:丙镇按期处置率名次由第 1 位降至第 2 位……", "与上期相比:甲街道本期进入红榜(上期不在红榜)。"]
