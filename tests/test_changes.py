"""What changed since last period (cityanalytics.report.changes), on hand-made result tables.

Every expected sentence below follows from the rule in the module docstring applied by hand to
the few rows of each test; the Wilson interval of 10 rejected rows in 1,000 is computed by hand
in ``test_rejected_share_outside_last_periods_wilson_interval``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cityanalytics import cli
from cityanalytics.report import changes as report_changes
from cityanalytics.report import history

IND = "case_ontime_disposal_rate"  # 按期处置率


def _league(rows):
    return pd.DataFrame(rows, columns=["indicator", "unit_id", "name", "rank", "rank_low", "rank_high", "suppressed"])


PREV_LEAGUE = _league([
    (IND, "a", "甲街道", 1, 1, 1, False),
    (IND, "b", "乙街道", 2, 1, 3, False),
    (IND, "c", "丙镇", 3, 3, 3, False),
    (IND, "d", "丁镇", 4, 4, 4, False),
])
NOW_LEAGUE = _league([
    (IND, "a", "甲街道", 3, 2, 3, False),  # 3 outside [1,1] and 1 outside [2,3]: beyond
    (IND, "b", "乙街道", 1, 1, 2, False),  # 1 inside last period's [1,3]: noise
    (IND, "c", "丙镇", 1, 1, 4, False),  # 1 outside [3,3], but 3 inside this period's [1,4]: noise
    (IND, "d", "丁镇", None, None, None, True),  # not ranked this period: not compared
])


def test_rank_moves_beyond_both_intervals_only():
    moves = report_changes.rank_moves(NOW_LEAGUE, PREV_LEAGUE)
    assert len(moves) == 3
    beyond = [m for m in moves if m.significant]
    assert [m.sentence for m in beyond] == [
        "甲街道按期处置率名次由第 1 位降至第 3 位,超出名次区间(上期 1–1 位,本期 2–3 位)。"]
    changes = report_changes.compare({"league": NOW_LEAGUE}, {"league": PREV_LEAGUE}, period="2025-06", previous_period="2025-05")
    assert changes.sentences() == [
        "甲街道按期处置率名次由第 1 位降至第 3 位,超出名次区间(上期 1–1 位,本期 2–3 位)。",
        "按期处置率:另有 2 个单位名次变动在名次区间以内,属随机波动,不作为进退。",
    ]


def test_rank_moves_without_value_intervals_are_never_called_beyond():
    """One score per unit: no spread, so the league's rank "interval" is the rank itself; a move
    is then said to be unjudgeable, never beyond the interval."""
    score = "assessment_score_mean"  # 考评平均得分
    cols = ["indicator", "unit_id", "name", "rank", "rank_low", "rank_high", "ci_low", "ci_high"]
    prev = pd.DataFrame([(score, "a", "甲街道", 1, 1, 1, None, None), (score, "b", "乙街道", 2, 2, 2, None, None)],
                        columns=cols)
    now = pd.DataFrame([(score, "a", "甲街道", 2, 2, 2, None, None), (score, "b", "乙街道", 1, 1, 1, None, None)],
                       columns=cols)
    moves = report_changes.rank_moves(now, prev)
    assert len(moves) == 2 and not any(m.significant for m in moves)
    changes = report_changes.compare({"league": now}, {"league": prev}, period="2025-06", previous_period="2025-05")
    assert changes.sentences() == [
        "与上期(2025-05)相比,没有超出区间的变化。",
        "考评平均得分:2 个单位名次有变动,但数值没有置信区间(如每单位只有 1 个观测值),名次区间无法估计,不判断进退。",
    ]
    with_ci = now.assign(ci_low=80.0, ci_high=90.0), prev.assign(ci_low=80.0, ci_high=90.0)
    assert all(m.significant for m in report_changes.rank_moves(*with_ci))  # the same moves, with intervals: beyond


def _lists(rows):
    return pd.DataFrame(rows, columns=["list", "unit_id", "name"])


def test_units_entering_and_leaving_the_lists():
    prev = _lists([("红榜", "a", "甲街道"), ("红榜", "b", "乙街道"), ("黑榜", "c", "丙镇")])
    now = _lists([("红榜", "a", "甲街道"), ("黑榜", "c", "丙镇"), ("黑榜", "b", "乙街道")])
    moves = report_changes.list_moves(now, prev)
    assert [m.sentence for m in moves] == ["乙街道本期退出红榜(上期在红榜)。", "乙街道本期进入黑榜(上期不在黑榜)。"]
    changes = report_changes.compare({"lists": now}, {"lists": prev}, period="2025-06", previous_period="2025-05")
    assert changes.strongest(1) == ["乙街道本期进入黑榜(上期不在黑榜)。"]  # entering the black list first
    assert report_changes.list_moves(now, now) == []


def _targets(rows):
    t = pd.DataFrame(rows, columns=["target_id", "unit_id", "name", "value", "status", "status_zh"])
    return t.assign(name_zh="生活垃圾分类小区覆盖率", comparison=">=", target=98.0)


def test_target_status_changes_said_better_or_worse():
    prev = _targets([("t1", "city", "全市", 96.0, "met", "已达标"), ("t1", "a", "甲街道", 97.0, "on_track", "按进度可达标"),
                     ("t1", "b", "乙街道", 90.0, "off_track", "难以达标")])
    now = _targets([("t1", "city", "全市", 98.5, "met", "已达标"), ("t1", "a", "甲街道", 95.0, "off_track", "难以达标"),
                    ("t1", "b", "乙街道", 98.2, "met", "已达标")])
    sentences = [m.sentence for m in report_changes.status_moves(now, prev)]
    assert sentences == [
        "甲街道「生活垃圾分类小区覆盖率 >= 98.0」目标状态恶化:由“按进度可达标”变为“难以达标”(本期 95.0,上期 97.0)。",
        "乙街道「生活垃圾分类小区覆盖率 >= 98.0」目标状态好转:由“难以达标”变为“已达标”(本期 98.2,上期 90.0)。",
    ]
    changes = report_changes.compare({"targets": now}, {"targets": prev}, period="2025-06", previous_period="2025-05")
    assert changes.strongest(1) == sentences[:1]  # a target turning worse ranks first


def _frame(period, rows):
    return pd.DataFrame([{"indicator": i, "unit_id": u, "period": pd.Period(period, "M"), "group": "", "value": v,
                          "ci_low": lo, "ci_high": hi} for i, u, v, lo, hi in rows])


def test_city_estimates_outside_last_periods_interval():
    prev = _frame("2025-05", [(IND, "city", 97.0, 96.0, 98.0), ("case_closure_rate", "city", 97.0, 96.0, 98.0),
                              (IND, "a", 50.0, 10.0, 20.0)])
    now = pd.concat([prev, _frame("2025-06", [(IND, "city", 98.5, 98.0, 99.0),
                                              ("case_closure_rate", "city", 97.5, 96.5, 98.5),
                                              (IND, "a", 90.0, 80.0, 95.0)])], ignore_index=True)
    changes = report_changes.compare({"indicators": now}, {"indicators": prev}, period="2025-06", previous_period="2025-05")
    assert changes.sentences() == [
        "全市按期处置率本期 98.5%(区间 98.0% 至 99.0%),高于上期区间 96.0% 至 98.0%(上期 97.0%)。",
        "全市指标:另有 1 项估计在上期区间以内,变化不显著。",
    ]  # unit rows are the league's business, not compared here


def test_forecast_outside_interval_and_likely_flip():
    cols = ["unit_id", "unit_name", "fc_median", "fc_lo80", "fc_hi80", "fc_lo95", "fc_hi95", "p_reach",
            "target_text", "deadline"]
    prev = pd.DataFrame([("a", "甲街道", 95.0, 93.0, 97.0, 92.0, 99.0, 0.6, "98%", "2025-12"),
                         ("b", "乙街道", 99.0, 98.0, 100.0, 97.0, 100.0, 0.95, "98%", "2025-12")], columns=cols)
    now = pd.DataFrame([("a", "甲街道", 90.0, 88.0, 92.0, 87.0, 93.0, 0.3, "98%", "2025-12"),
                        ("b", "乙街道", 99.5, 98.5, 100.0, 98.0, 100.0, 0.97, "98%", "2025-12")], columns=cols)
    changes = report_changes.compare({"forecast_units": now}, {"forecast_units": prev}, period="2025-06", previous_period="2025-05")
    assert [c.sentence for c in changes.significant] == [
        "甲街道按期达标由可能变为不太可能:达标概率由 60% 变为 30%。",
        "甲街道到期覆盖率预测(95% 区间)本期 90.0%(区间 87.0% 至 93.0%),低于上期区间 92.0% 至 99.0%(上期 95.0%)。",
    ]
    other = now.assign(deadline="2026-12")
    changed = report_changes.compare({"forecast_units": other}, {"forecast_units": prev}, period="2025-06", previous_period="2025-05")
    assert changed.items == [] and changed.notes == ["本期与上期的目标或期限不同,覆盖率预测不作逐项比较。"]


def test_effect_estimates_outside_last_interval():
    cols = ["method", "method_zh", "term", "label_zh", "scale", "estimate", "ci_low", "ci_high"]
    prev = pd.DataFrame([("its", "中断时间序列", "post", "活动结束时", "pct", -33.5, -40.8, -25.2),
                         ("did", "双重差分", "phase:综合治理", "综合治理阶段", "pct", -39.7, -45.4, -33.4)], columns=cols)
    now = pd.DataFrame([("its", "中断时间序列", "post", "活动结束时", "pct", -20.0, -28.0, -11.0),
                        ("did", "双重差分", "phase:综合治理", "综合治理阶段", "pct", -38.0, -44.0, -31.0)], columns=cols)
    changes = report_changes.compare({"effects": now}, {"effects": prev}, period="2025-06", previous_period="2025-05")
    assert changes.sentences() == [
        "中断时间序列「活动结束时」效应本期 -20.0%(区间 -28.0% 至 -11.0%),高于上期区间 -40.8% 至 -25.2%(上期 -33.5%)。",
        "效应估计:另有 1 项估计在上期区间以内,变化不显著。",
    ]


def test_rejected_share_outside_last_periods_wilson_interval():
    # Wilson 95% for 10/1000 by hand: centre (0.01 + z²/2000) / (1 + z²/1000) = 0.011875,
    # half-width z·sqrt(0.01·0.99/1000 + z²/4e6) / (1 + z²/1000) = 0.006434 -> 0.544% to 1.831%;
    # for 50/1000: centre 0.051722, half-width 0.013592 -> 3.813% to 6.531%.
    def counts(rejected):
        return pd.DataFrame({"table": ["cases"], "table_zh": ["案件(cases)"], "loaded": [True], "problem": [""],
                             "rows_read": [1000], "rows_kept": [1000 - rejected], "rows_rejected": [rejected]})

    changes = report_changes.compare({"load_counts": counts(50)}, {"load_counts": counts(10)}, period="2025-06",
                        previous_period="2025-05")
    assert changes.sentences() == [
        "案件(cases)被拒绝行占读入行的比例本期 5.00%(区间 3.81% 至 6.53%),高于上期区间 0.54% 至 1.83%(上期 1.00%)。"]
    same = report_changes.compare({"load_counts": counts(12)}, {"load_counts": counts(10)}, period="2025-06", previous_period="2025-05")
    assert same.significant == []


def test_no_earlier_results_is_one_sentence_and_html_is_escaped():
    assert report_changes.compare({"league": NOW_LEAGUE}, None, period="2025-06").sentences() == [
        "没有本报告上一期的存档结果,无法与上期比较(本期 2025-06)。"]
    prev = _lists([("黑榜", "x", "<img src=x onerror=alert(1)>")])
    html = report_changes.compare({"lists": _lists([])}, {"lists": prev}, period="2025-06", previous_period="2025-05")._repr_html_()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;本期退出黑榜" in html


def test_diff_command(tmp_path, capsys):
    new, old = tmp_path / "2025-06" / "dc", tmp_path / "2025-05" / "dc"
    history.save("league", NOW_LEAGUE, results_dir=new / "results")
    history.save("league", PREV_LEAGUE, results_dir=old / "results")
    assert cli.main(["diff", str(new), str(old)]) == 0
    out = capsys.readouterr().out
    assert "甲街道按期处置率名次由第 1 位降至第 3 位" in out and "另有 2 个单位名次变动在名次区间以内" in out
    assert cli.main(["diff", str(new), str(tmp_path / "2025-04" / "dc")]) == 2
    assert "no stored results" in capsys.readouterr().err


@pytest.mark.parametrize("rows", [[], [("黑榜", "x", "某镇")]])
def test_list_moves_with_empty_lists(rows):
    moves = report_changes.list_moves(_lists(rows), _lists([]))
    assert [m.sentence for m in moves] == [f"{n}本期进入黑榜(上期不在黑榜)。" for _, _, n in rows]
