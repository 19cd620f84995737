"""Choosing the design from the data (ITS only / DiD / synthetic control / Callaway-Sant'Anna) on
hand-made panels, the estimates side by side on one estimand, the demo city's city-wide campaign
and its truth, and the campaign notebook on that campaign."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.design_choice import agreement, choose_design

MONTHS = pd.date_range("2020-01-01", periods=36, freq="MS")


def panel(units, periods=MONTHS, missing=()) -> pd.DataFrame:
    """A long monthly value panel; ``missing``: (unit, period index) pairs left out."""
    rows = []
    for j, u in enumerate(units):
        for i, p in enumerate(periods):
            if (u, i) in missing:
                continue
            rows.append({"unit_id": u, "period": p, "period_end": p + pd.offsets.MonthEnd(0),
                         "days": p.days_in_month, "value": 10.0 + j + 0.1 * i})
    out = pd.DataFrame(rows)
    out.attrs["freq"] = "M"
    return out


def camp(units, start="2022-07-01", end="2022-09-30", **kw) -> Campaign:
    return Campaign.from_dates("测试活动", [("集中整治", start, end)], units, **kw)


def applies(choice) -> dict:
    return {d.key: d.applies for d in choice.designs}


UNITS = [f"U{i:02d}" for i in range(10)]


def test_every_unit_covered_leaves_only_the_its():
    c = choose_design(panel(UNITS[:4]), camp(UNITS[:4]), outcome="value")
    assert applies(c) == {"its": True, "did": False, "synth": False, "staggered": False}
    assert c.n_pre == 30 and c.n_post == 6  # 2020-01 .. 2022-06 before, 2022-07 .. 2022-12 after
    assert "没有未覆盖的单位" in c.table.set_index("设计").loc["双重差分(DiD)", "理由"]
    assert "适用的设计:中断时间序列(ITS)。" in c.sentence_zh
    assert c.chosen == "its" and c.reason_zh.startswith("以中断时间序列(ITS)为主") and "面板中" not in c.reason_zh


def test_one_treated_unit_with_donors_gets_the_synthetic_control():
    c = choose_design(panel(UNITS), camp(["U00"]), outcome="value")
    assert applies(c) == {"its": True, "did": True, "synth": True, "staggered": False}
    assert c.chosen == "synth" and c.applicable == ["its", "did", "synth"]
    assert c.treated == ["U00"] and c.donors == UNITS[1:] and not c.excluded
    assert "9 个数据完整" in c.table.set_index("设计").loc["合成控制(SC)", "理由"]


def test_too_few_donors_too_many_treated_or_too_short_a_past_rule_out_the_synthetic_control():
    few = choose_design(panel(UNITS[:5]), camp(["U00"]), outcome="value")  # 4 donors < 5
    assert applies(few) == {"its": True, "did": True, "synth": False, "staggered": False}
    assert "可用对照单位仅 4 个" in few.table.iloc[2]["理由"]
    many = choose_design(panel(UNITS), camp(UNITS[:4]), outcome="value")  # 4 treated > 3
    assert not many.applies("synth") and many.applies("did") and "覆盖 4 个单位" in many.table.iloc[2]["理由"]
    assert many.chosen == "did" and "合成控制不适用" in many.reason_zh and "至多 3 个" in many.reason_zh
    short = choose_design(panel(UNITS, MONTHS[:16]), camp(["U00"], "2021-03-01", "2021-04-30"), outcome="value")
    assert short.n_pre == 14 and short.applies("synth")  # 14 >= 12
    shorter = choose_design(panel(UNITS, MONTHS[:16]), camp(["U00"], "2020-11-15", "2021-01-31"), outcome="value")
    assert shorter.n_pre == 10 and not shorter.applies("synth") and shorter.applies("its")  # the month of the start counts as after
    assert "少于建议的 24 个月" in shorter.table.iloc[0]["理由"]
    none = choose_design(panel(UNITS, MONTHS[:4]), camp(["U00"], "2020-03-01", "2020-03-31"), outcome="value")
    assert not none.applies("its") and none.applies("did")  # 2 pre-periods: no trend to fit


def test_donors_with_gaps_or_another_campaign_on_the_same_outcome_are_left_out():
    p = panel(UNITS, missing={("U08", 3), ("U09", 30)})
    others = pd.DataFrame({
        "campaign_id": ["C-SAME", "C-OTHER", "C-EARLY"], "name_zh": ["同类整治", "别的整治", "早年整治"],
        "unit_id": ["U07", "U06", "U05"], "phase": ["一"] * 3, "phase_order": [1] * 3,
        "start_date": pd.to_datetime(["2021-05-01", "2021-05-01", "2019-01-01"]),
        "end_date": pd.to_datetime(["2021-08-31", "2021-08-31", "2019-06-30"]),
        "outcomes": ["value", "别的指标", "value"]})
    c = choose_design(p, camp(["U00"], outcomes=("value",)), outcome="value", campaigns=others)
    assert c.excluded == {"U07": "数据期内开展了针对同一结果的「同类整治」", "U08": "35/36 期有数据",
                          "U09": "35/36 期有数据"}
    assert c.donors == ["U01", "U02", "U03", "U04", "U05", "U06"]  # U05's campaign ended before the data
    assert c.applies("synth")
    p2 = panel(UNITS[:8], missing={("U07", 0)})
    c2 = choose_design(p2, camp(["U00"], outcomes=("value",)), outcome="value", campaigns=others)
    assert c2.donors == UNITS[1:7] and c2.applies("synth")  # U06's campaign targets another outcome: still a donor
    blank = others.assign(outcomes=[None, None, None])  # a campaign that names no outcome may have moved any
    assert "U06" in choose_design(p2, camp(["U00"], outcomes=("value",)), "value", campaigns=blank).excluded
    gappy = choose_design(panel(UNITS, missing={("U00", 5)}), camp(["U00"]), "value")
    assert not gappy.applies("synth") and "覆盖单位 U00 有缺期" in gappy.table.iloc[2]["理由"]


def test_a_staggered_rollout_goes_to_callaway_santanna():
    c = choose_design(panel(UNITS), Campaign.from_dates("分批", None, [], adoption={"U00": "2021-01-01",
                                                                                 "U01": "2021-07-01"}),
                      outcome="value")
    assert applies(c) == {"its": False, "did": False, "synth": False, "staggered": True}
    assert "分批推行" in c.table.iloc[0]["理由"] and c.chosen == "staggered"


def test_unknown_outcome_column_is_an_error():
    with pytest.raises(ValueError, match="outcome 'count' is not a column"):
        choose_design(panel(UNITS), camp(["U00"]), outcome="count")


def test_agreement_reads_signs_and_overlap():
    t = pd.DataFrame({"estimate": [-1.0, -0.8, -1.2], "ci_low": [-1.5, -1.0, np.nan], "ci_high": [-0.5, -0.6, np.nan]})
    a = agreement(t)
    assert a["same_sign"] and a["overlap"] and a["all_exclude_zero"] and a["n_intervals"] == 2
    assert a["range"] == (-1.2, -0.8)
    t2 = pd.DataFrame({"estimate": [-1.0, 0.3], "ci_low": [-1.5, -0.1], "ci_high": [-0.9, 0.7]})
    a2 = agreement(t2)
    assert not a2["same_sign"] and not a2["overlap"] and not a2["all_exclude_zero"]


# ---- the demo city's city-wide campaign -----------------------------------------------------------

@pytest.fixture(scope="module")
def demo_tables():
    from cityanalytics.demo import generate

    return generate(n_cases=1_000)  # the observations do not depend on the number of cases


@pytest.fixture(scope="module")
def citywide_truth():
    from cityanalytics.demo import generate_truth

    return next(c for c in generate_truth(n_cases=1_000)["campaigns"] if c["campaign_id"] == "C2024-QSBR")


def test_citywide_truth_records_the_effect_by_month(citywide_truth):
    t = citywide_truth
    assert [p["effect"] for p in t["phases"]] == [-0.5, -2.0, -1.5]
    assert (t["phases"][0]["start"], t["phases"][-1]["end"]) == ("2024-09-01", "2024-12-09")  # 100 days
    by_month = t["effect_by_month"]
    assert list(by_month) == [f"2024-{m:02d}" for m in (9, 10, 11, 12)] + [f"2025-{m:02d}" for m in range(1, 7)]
    # by hand: September = 15 days at -0.5 and 15 at -2.0; October, November at -2.0
    assert by_month["2024-09"] == pytest.approx((15 * -0.5 + 15 * -2.0) / 30)
    assert by_month["2024-10"] == by_month["2024-11"] == -2.0
    # December: 9 days at -1.5, then 22 days decaying with a 60-day half-life (sum of a geometric series)
    r = 0.5 ** (1 / 60)
    assert by_month["2024-12"] == pytest.approx((9 * -1.5 + -1.5 * r * (1 - r**22) / (1 - r)) / 31, abs=1e-6)
    # June 2025: days 174..203 after the last day (2024-12-09 + 174 days = 2025-06-01)
    june = -1.5 * sum(r**k for k in range(174, 204)) / 30
    assert by_month["2025-06"] == pytest.approx(june, abs=1e-6)
    assert t["mean_effect_post"] == pytest.approx(np.mean(list(by_month.values())), abs=1e-6)
    assert (t["pre_periods"], t["post_periods"]) == (68, 10)


def test_citywide_donors_are_untreated_and_complete(demo_tables, citywide_truth):
    camp_rows = demo_tables["campaigns"]
    c3 = camp_rows[camp_rows["campaign_id"] == "C2024-QSBR"]
    assert set(c3["unit_id"]) == {"990100"} and list(c3["phase"]) == ["宣传动员", "集中整治", "巩固提升"]
    donors = set(citywide_truth["donor_units"])
    assert len(donors) == 19 and not donors & set(camp_rows["unit_id"])  # no campaign anywhere in a donor
    districts = demo_tables["districts"].set_index("unit_id")
    assert (districts.loc[sorted(donors), "level"] == "市").all()
    obs = demo_tables["observations"]
    obs = obs[obs["indicator"] == "hotline_urban_per_10k"]  # the bulletin (the plans' own figures sit beside it)
    assert set(obs["indicator"]) == {"hotline_urban_per_10k"} and set(obs["unit_id"]) == donors | {"990100"}
    assert obs.groupby("unit_id")["period"].nunique().eq(78).all() and obs["value"].notna().all()
    # value = complaints / residents in 10,000s, as the bulletin prints it
    np.testing.assert_allclose(obs["value"].astype(float), (obs["numerator"] / obs["denominator"]).astype(float),
                               atol=0.005 + 1e-9)


def test_citywide_known_effect_is_in_the_data(demo_tables, citywide_truth):
    from cityanalytics.demo import citywide

    params, rates, _ = citywide.expected_rates(2025)
    obs = demo_tables["observations"]
    obs = obs[obs["indicator"] == "hotline_urban_per_10k"]  # the bulletin (the plans' own figures sit beside it)
    city = obs[obs["unit_id"] == "990100"].set_index("period")["value"].astype(float)
    post = [str(p) for p in pd.period_range("2024-09", "2025-06", freq="M")]
    month = {str(p): i for i, p in enumerate(pd.period_range("2019-01", "2025-06", freq="M"))}
    excess = np.array([city[p] - rates[0, month[p]] for p in post])  # observed minus the no-campaign rate
    # Poisson noise on a rate of ~8 per 10,000 over 89.6 (10,000s): sd ~0.3 a month, ~0.1 over 10 months
    assert excess.mean() == pytest.approx(citywide_truth["mean_effect_post"], abs=0.3)
    pre = np.array([city[p] - rates[0, month[p]] for p in month if p < "2024-09"])
    assert abs(pre.mean()) < 0.1  # before the campaign: nothing but noise


def test_side_by_side_on_the_citywide_campaign_covers_the_truth(demo_tables, citywide_truth):
    from cityanalytics.impact.design_choice import side_by_side
    from cityanalytics.impact.analysis import analyse
    from cityanalytics.impact.synth_report import agreement_zh, choice_for, its_versus_sc_zh, synth_for_report

    rep = analyse(tables=demo_tables, campaign_id="C2024-QSBR", outcome="hotline_urban_per_10k", freq="M",
                  robustness_checks=[])
    choice = choice_for(rep)
    assert choice.chosen == "synth" and choice.applicable == ["its", "did", "synth"] and len(choice.donors) == 19
    sc = synth_for_report(rep, replications=100)
    table = side_by_side(rep, choice, sc).set_index("design")
    assert list(table.index) == ["its", "did", "synth", "sdid"] and set(table["scale"]) == {"value"}
    truth = citywide_truth["mean_effect_post"]
    sd = table.loc["sdid"]
    assert sd["ci_low"] <= truth <= sd["ci_high"] < 0
    assert table.loc["synth", "estimate"] == pytest.approx(sc.att) and table.loc["synth", "p_value"] <= 0.1
    # the DiD refit with one level term: the treated city's mean post gap minus its mean pre gap
    # against the controls' mean, exactly (OLS with unit and period effects, one treated unit)
    wide = rep.panel.pivot(index="period", columns="unit_id", values="value")
    gap = wide["990100"] - wide.drop(columns="990100").mean(axis=1)
    post = wide.index >= "2024-09-01"
    assert table.loc["did", "estimate"] == pytest.approx(gap[post].mean() - gap[~post].mean(), abs=1e-9)
    assert table.loc["did", "ci_low"] <= truth <= table.loc["did", "ci_high"]
    sentence = agreement_zh(table.reset_index())
    assert "方向一致(均为减少)" in sentence and "区间相互重叠" in sentence
    assert its_versus_sc_zh(table.reset_index()).startswith("合成控制与中断时间序列比较:活动开始后平均效应,合成控制 -0.")


# ---- the scheduled run, along the road ./dev.sh reports takes ------------------------------------

@pytest.mark.slow
def test_scheduled_citywide_run_from_raw_exports_shows_the_synthetic_control(tmp_path, citywide_truth):
    """demo -> raw exports -> recipe build -> `cityanalytics reports --only campaign_impact_citywide`:
    the report has the design choice, donors and weights, the gap plot, the interval (covering the
    demo's true effect), the warnings section and the sentence comparing it with the ITS."""
    import json
    import re

    from cityanalytics.cli import main
    from cityanalytics.demo import write_demo
    from cityanalytics.demo.exports import write_exports
    from cityanalytics.workspace.build import build, write

    write_demo(tmp_path / "canonical", n_cases=2_000)
    ws = tmp_path / "ws"
    write_exports(tmp_path / "canonical", ws)
    result = build(ws)
    write(result)
    obs = next(t for t in result.tables if t.name == "observations")
    assert obs.rows_rejected == 0  # every city and month came through the recipe (beside the plans' own figures)
    assert (obs.frame["indicator"] == "hotline_urban_per_10k").sum() == 20 * 78
    assert "campaign_impact_citywide" in (ws / "params" / "schedule.yaml").read_text(encoding="utf-8")
    out = tmp_path / "out"
    assert main(["reports", "--workspace", str(ws), "--only", "campaign_impact_citywide", "--outputs", str(out),
                 "--no-pdf", "--no-progress"]) == 0
    run = out / "2025-06" / "campaign_impact_citywide"
    nb = json.loads((run / "report.ipynb").read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    markdown = "\n".join("".join(o["data"]["text/markdown"]) for o in outputs if "text/markdown" in o.get("data", {}))
    html = "\n".join("".join(o["data"]["text/html"]) for o in outputs if "text/html" in o.get("data", {}))
    for text in ("设计选择:合成控制", "以合成控制(SC)为主", "主要权重为", "空间安慰剂", "时间安慰剂", "逐一剔除",
                 "各设计同一口径的估计", "合成控制与中断时间序列比较", "方向相同", "合成控制设计提示"):
        assert text in markdown, text
    for text in ("对照单位", "权重", "合成双重差分(SDID,安慰剂区间)", "中断时间序列(活动开始后一个水平)"):
        assert text in html, text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4  # includes the path and placebo-gap figure
    m = re.search(re.escape("合成双重差分(SDID)估计平均效应 ") + r"(\S+?)" + re.escape(",95% 区间 ") + r"(\S+) 至 (\S+?)"
                  + re.escape("("), markdown.replace("\\", ""))
    assert m, "the SDID interval sentence"
    estimate, lo, hi = (float(x) for x in m.groups())
    assert lo <= citywide_truth["mean_effect_post"] <= hi < 0 and lo < estimate < hi
    assert "合成演示数据" in (run / "report.html").read_text(encoding="utf-8")


def test_section_names_the_warnings_of_a_weak_synthetic_control(monkeypatch):
    """A treated place above every donor: the section says the fit is poor and it lies outside the
    donors' convex hull, under 合成控制设计提示, and still shows the table of every design."""
    import matplotlib

    matplotlib.use("Agg")

    from cityanalytics.impact import synth_report
    from cityanalytics.impact.analysis import analyse
    from cityanalytics.plotting import use_cjk_font
    from cityanalytics.report import sections

    use_cjk_font()

    rng = np.random.default_rng(5)
    months = [f"{y}-{m:02d}" for y in range(2019, 2023) for m in range(1, 13)]
    rows = []
    for j in range(8):
        level = 10.0 + j if j else 40.0  # unit A0 far above every donor
        for i, period in enumerate(months):
            wiggle = 3 * np.sin(i / 2) if j == 0 else 0.0
            rows.append({"unit_id": f"A{j}", "unit_name": f"甲{j}", "period": period, "indicator": "x",
                         "value": level + 0.05 * i + wiggle + rng.normal(0, 0.2), "source": "测试"})
    tables = {"observations": pd.DataFrame(rows), "districts": None, "unit_changes": None, "campaigns": None,
              "cases": None}
    rep = analyse(tables=tables, phases={"整治": ["2022-01-01", "2022-06-30"]}, treated_units=["A0"], outcome="x",
                  freq="M", robustness_checks=[])
    shown = []
    monkeypatch.setattr(sections, "display", lambda x: shown.append(getattr(x, "data", x)))  # what the section shows
    sc = synth_report.show_synth(rep, replications=20)
    text = "\n".join(x for x in shown if isinstance(x, str))
    assert {w.code for w in sc.warnings} >= {"outside_hull", "poor_fit"}
    assert "**合成控制设计提示**" in text and "不在对照单位的凸包内" in text and "活动前拟合差" in text
    assert "| 合成控制(SC) | 是 |" in text and "各设计同一口径的估计" in text
