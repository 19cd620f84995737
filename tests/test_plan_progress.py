"""The plan-progress report: every registered target mapped to the indicator registry, the
progress arithmetic on hand-made targets, and the report on the demo city against its truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from cityanalytics.indicators.registry import registry
from cityanalytics.plans import judge, path_value, period_end, plan_start
from cityanalytics.plans.progress import Series
from cityanalytics.targets import load_targets

CANONICAL = {"cases", "dust_samples", "communities", "assessments", "observations", "assets", "inspections",
             "survey_responses", "places"}
FIVE_YEAR = "某区“十四五”城市管理发展规划"


# ---- every target has its indicator, with all fields ------------------------------------------


def test_every_registered_target_maps_to_a_full_indicator_entry():
    targets, reg = load_targets(), registry()
    assert len(targets) == 84
    for t in targets.itertuples():
        assert t.indicator in reg, f"{t.target_id}: {t.indicator} is not in indicators.yaml"
        info = reg[t.indicator]
        for field in ("name_zh", "name_en", "formula_zh", "formula_en", "unit", "standard", "table"):
            assert str(getattr(info, field)).strip(), f"{t.indicator}: {field} empty"
        # direction agrees with how the target is met: >= on a higher-better indicator, <= on a lower-better one
        assert info.direction == {">=": "higher_better", "<=": "lower_better"}[t.comparison], t.target_id
        assert info.table in CANONICAL, (t.indicator, info.table)  # the road: a canonical table or the feed
        assert info.needs, t.indicator
        # the unit: the same, up to m2 / m² and the measure word of a count (座 / 个 for kiosks)
        same = info.unit.replace("²", "2") == t.unit.replace("²", "2")
        assert same or info.kind == "count", (t.target_id, info.unit, t.unit)
        # the plan's sentence (checked verbatim against the plan's text by test_targets)
        assert t.quote.strip() and t.source_file.startswith(("000_", "001_", "003_", "004_"))


def test_zibo_dust_limits_are_the_dust_indicator_per_lane():
    """淄博市城市精细化管理“十四五”规划: 机动车道、非机动车道、人行道、背街小巷 不超 3、8、10、10 g/m²."""
    t = load_targets()
    dust = t[t["indicator"] == "road_dust_g_m2"].set_index("scope")["value"].to_dict()
    assert dust == {"机动车道": 3.0, "非机动车道": 8.0, "人行道": 10.0, "背街小巷": 10.0}
    info = registry()["road_dust_g_m2"]
    assert info.table == "dust_samples" and info.direction == "lower_better" and "lane_type" in info.needs


def test_dust_checked_per_sample_and_per_road():
    """Two roads, 机动车道 limit 3: samples 2.0, 4.0 (road A, mean 3.0: within) and 3.5 (road B: over)."""
    from cityanalytics.plans.sources import Sources

    samples = pd.DataFrame({
        "sample_id": ["s1", "s2", "s3"], "road_id": ["A", "A", "B"], "road_name": ["甲路", "甲路", "乙路"],
        "unit_id": ["u1"] * 3, "road_class": ["主干路"] * 3, "lane_type": ["机动车道"] * 3,
        "sampled_on": pd.to_datetime(["2025-06-03", "2025-06-10", "2025-06-12"]), "dust_g_m2": [2.0, 4.0, 3.5],
    })
    s, reason = Sources({"dust_samples": samples}).series(
        {"target_id": "x", "indicator": "road_dust_g_m2", "scope": "机动车道"})
    assert reason == ""
    assert s.values[-1] == pytest.approx((2.0 + 4.0 + 3.5) / 3)  # the lane's mean in the month
    assert (s.extra["samples_ok"], s.extra["samples"]) == (1, 3)  # only 2.0 <= 3
    assert (s.extra["roads_ok"], s.extra["roads"]) == (1, 2)  # road A's mean 3.0 <= 3; road B's 3.5 > 3


# ---- the arithmetic, by hand -----------------------------------------------------------------


def _target(value=98.0, comparison=">=", deadline="2025-12-31", plan=FIVE_YEAR, tid="t1"):
    return {"target_id": tid, "plan": plan, "value": value, "comparison": comparison, "deadline": deadline}


def _series(points: dict) -> Series:
    return Series([period_end(p) for p in points], list(points.values()), "observations", "手工数据")


def test_periods_and_plan_starts():
    assert period_end("2024") == pd.Timestamp("2024-12-31")
    assert period_end("2024-02") == pd.Timestamp("2024-02-29")
    assert period_end("2023Q3") == pd.Timestamp("2023-09-30")
    assert period_end("2024H1") == pd.Timestamp("2024-06-30")
    assert plan_start(FIVE_YEAR, "2025-12-31") == pd.Timestamp("2021-01-01")
    # 百日攻坚: 100 days ending on the deadline, 2022-07-24 .. 2022-10-31
    assert plan_start("扎兰屯市城市精细化管理百日攻坚活动实施方案", "2022-10-31") == pd.Timestamp("2022-07-24")
    assert plan_start("常州市城市管理局2023年工作意见", "2023-12-31") == pd.Timestamp("2023-01-01")


def test_straight_line_path():
    # 2020-12-31 -> 2025-12-31 is 1,826 days (2024 is a leap year); to 2023-06-30 is 365 + 365 + 181 = 911.
    assert path_value(50, "2020-12-31", 98, "2025-12-31", "2023-06-30") == pytest.approx(50 + 48 * 911 / 1826)
    assert path_value(50, "2020-12-31", 98, "2025-12-31", "2026-06-30") == 98  # held after the deadline


def test_behind_with_a_trend_that_misses_is_red():
    # 50, 58, 66 a year: path at 2022-12-31 (730 days) = 50 + 48 * 730 / 1826 = 69.190; 66 is 3.19 behind.
    # The straight line through the three points reaches 50 + 8 * 1826 / 365 = 90.0 at the deadline: P = 0.
    p = judge(_target(), _series({"2020": 50, "2021": 58, "2022": 66}), "2022-12-31")
    assert p.baseline == 50 and p.value == 66
    assert p.path == pytest.approx(50 + 48 * 730 / 1826)
    assert p.gap == pytest.approx(66 - (50 + 48 * 730 / 1826)) and not p.ahead
    assert p.probability == 0.0 and p.light == "red"


def test_without_a_probability_the_shortfall_decides():
    # two values: no trend. Shortfall 3.19 <= 10% of 48 = 4.8: amber; 60 is 9.19 short: red; 72 is ahead: green.
    assert judge(_target(), _series({"2020": 50, "2022": 66}), "2022-12-31").light == "amber"
    assert judge(_target(), _series({"2020": 50, "2022": 60}), "2022-12-31").light == "red"
    ahead = judge(_target(), _series({"2020": 50, "2022": 72}), "2022-12-31")
    assert ahead.light == "green" and ahead.ahead and math.isnan(ahead.probability)


def test_a_count_target_is_the_cumulative_count_against_its_deadline():
    """建成 300 个 by 2025-12-31: 40, 60 and 70 built in 2021-2023 -> 170 by 2023-12-31, against a path of
    300 * 1095 / 1826 = 179.90. The trend's probability is cross-checked with statsmodels' OLS prediction."""
    import statsmodels.api as sm
    from scipy import stats

    p = judge(_target(value=300), _series({"2021": 40, "2022": 60, "2023": 70}), "2023-12-31", cumulative=True)
    assert p.baseline == 0 and p.value == 170
    assert p.path == pytest.approx(300 * 1095 / 1826) and not p.ahead
    days = np.array([0, 365, 730, 1095]) / 365.25  # 2020-12-31 (0 built), then each year end
    fit = sm.OLS([0, 40, 100, 170], sm.add_constant(days)).fit()
    pred = fit.get_prediction(np.array([[1.0, 1826 / 365.25]])).summary_frame()
    se = math.sqrt(pred["mean_se"].iloc[0] ** 2 + fit.scale)
    expected = 1 - stats.t.cdf((300 - pred["mean"].iloc[0]) / se, df=2)
    assert p.probability == pytest.approx(expected, rel=1e-9)
    assert pred["mean"].iloc[0] == pytest.approx(277.15, abs=0.05)  # by hand: -7.998 + 57.038 * 4.99932
    assert p.probability < 0.5 and p.light == "red"


def test_a_passed_deadline_is_judged_on_the_last_value_before_it():
    plan = "扎兰屯市城市精细化管理百日攻坚活动实施方案"
    s = _series({"2022-06": 52, "2022-08": 56, "2022-10": 58.8, "2023-06": 65})
    p = judge(_target(60, deadline="2022-10-31", plan=plan), s, "2025-06-30")
    assert p.passed and p.value == 58.8 and p.baseline == 52 and p.light == "red"  # 65 came after the deadline
    ok = judge(_target(55, deadline="2022-10-31", plan=plan), s, "2025-06-30")
    assert ok.met and ok.light == "green"


def test_a_lower_is_better_stock():
    # 楼顶广告清零: 120 in 2020, 72.1 in 2024; path at 2024-12-31 = 120 * (1 - 1461 / 1826) = 23.99.
    p = judge(_target(0, "<="), _series({"2020": 120, "2024": 72.1}), "2024-12-31")
    assert p.path == pytest.approx(120 * (1 - 1461 / 1826))
    assert p.gap == pytest.approx(-(72.1 - 120 * (1 - 1461 / 1826))) and p.light == "red"
    assert judge(_target(0, "<="), _series({"2020": 120, "2024": 0}), "2024-12-31").light == "green"


def test_no_data_says_why():
    p = judge(_target(), None, "2025-06-30", no_data_reason="工作区没有汇总数据(observations)表")
    assert p.light == "none" and p.reason == "工作区没有汇总数据(observations)表"
    assert judge(_target(), _series({"2026": 90}), "2025-06-30").light == "none"  # nothing by the report date


# ---- the demo city -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from cityanalytics.demo import write_demo

    out = tmp_path_factory.mktemp("demo")
    write_demo(out, n_cases=300)
    return out


def test_demo_report_matches_the_truth(demo):
    from cityanalytics.plans import plan_progress

    truth = json.loads((demo / "truth.json").read_text(encoding="utf-8"))["plan_targets"]
    res = plan_progress(demo, period="2025-06", n_paths=200, seed=1)
    t = res.table
    assert len(t) == 84 and set(t["target_id"]) == set(load_targets()["target_id"])
    c = res.counts()
    assert {"on_track": c["green"], "behind": c["amber"] + c["red"], "no_data": c["none"]} == truth["counts"]
    assert truth["counts"] == {"on_track": 69, "behind": 15, "no_data": 0}
    got = t.set_index("target_id")["light"].map({"green": "on_track", "amber": "behind", "red": "behind"})
    assert got.to_dict() == {k: d["design"] for k, d in truth["targets"].items()}
    assert sorted(t.loc[t["light"] != "green", "target_id"]) == truth["built_to_miss"]
    # each target's road: the table-computed ones and the feed
    roads = t.set_index("target_id")["road"]
    assert roads[["hl_sorting_coverage", "zb_dust_motor_lane", "cz_new_compliant_2023"]].eq("table").all()
    # lighting-on and minor-road intactness from the demo's asset register and its checks; the park and
    # green-land targets from its place layers
    assert roads[["zb_lighting_main", "zb_lighting_secondary", "zlt_lighting_overall", "zb_intact_minor",
                  "zb_park_coverage", "zb_park_per_capita", "zb_green_space_rate"]].eq("table").all()
    assert roads.to_dict() == {k: d["road"] for k, d in truth["targets"].items()}
    assert (roads == "observations").sum() == 69
    assert list(t["binding"].iloc[:3]) == ["约束性"] * 3  # binding targets first
    shown = res.display_table()
    assert not (shown.isna().any().any() or (shown.astype(str).apply(lambda s: s.str.strip()) == "").any().any())


def test_notebook_lists_every_target_with_a_value_or_a_reason(demo, tmp_path):
    import papermill as pm

    out = tmp_path / "plan_progress.ipynb"
    pm.execute_notebook("notebooks/plan_progress.ipynb", str(out), kernel_name="python3", progress_bar=False,
                        parameters={"workspace": str(demo), "period": "2025-06", "n_paths": 200})
    import nbformat

    nb = nbformat.read(out, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code" and c.get("outputs"))
    assert "summary" in first.metadata.get("tags", [])  # page 1 comes first
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    for tid in load_targets()["target_id"]:
        assert f">{tid}<" in html, tid
    assert "84 项目标" in html and "绿 69 项" in html


def test_lighting_targets_come_from_assets_when_the_workspace_holds_them():
    """Six lamps checked in 2025-06 (last check counts): 主干路 L1 lit, L2 lit, L3 off -> 2/3; 次干路 L4 off,
    L5 off and 背街小巷 L6 lit -> 次干道和背街小巷 1/3; all six -> 3/6 = 50%. Without assets: the feed."""
    from cityanalytics.plans.sources import Sources

    assets = pd.DataFrame({"asset_id": [f"L{i}" for i in range(1, 7)], "kind": ["路灯"] * 6, "unit_id": ["U"] * 6,
                           "road_class": ["主干路", "主干路", "主干路", "次干路", "次干路", "背街小巷"]})
    checks = pd.DataFrame({"asset_id": ["L1", "L1", "L2", "L3", "L4", "L5", "L6"],
                           "inspected_at": pd.to_datetime(["2025-06-02 21:00", "2025-06-20 21:00", "2025-06-02 21:00",
                                                           "2025-06-02 21:00", "2025-06-03 21:00", "2025-06-03 21:00",
                                                           "2025-06-03 21:00"]),
                           "ok": [False, True, True, False, False, False, True]})
    src = Sources({"assets": assets, "inspections": checks})
    got = {}
    for ind in ("lighting_on_rate_main", "lighting_on_rate_secondary", "lighting_on_rate_overall"):
        s, _ = src.series({"target_id": ind, "indicator": ind, "scope": ""})
        assert s.road == "table" and s.dates == [pd.Timestamp("2025-06-30")]
        got[ind] = s.values[0]
    assert got == pytest.approx({"lighting_on_rate_main": 200 / 3, "lighting_on_rate_secondary": 100 / 3,
                                 "lighting_on_rate_overall": 50.0})
    s, reason = Sources({}).series({"target_id": "x", "indicator": "lighting_on_rate_main", "scope": ""})
    assert s is None and "observations" in reason


def test_data_quality_lists_only_the_feed_indicators_the_feed_carries():
    from cityanalytics.indicators.computable import computability

    feed = pd.DataFrame({"indicator": ["green_space_rate", "hl_smart_sorting_kiosks"], "value": [40.1, 12.0]})
    listed = computability({"observations": feed})
    fed = set(listed.loc[listed["table"] == "observations", "indicator"])
    assert fed == {"green_space_rate", "sorting_kiosks_built"}  # the second by its target's id
    assert listed.loc[listed["indicator"].isin(fed), "computable"].all()
    assert "observations" not in set(computability({})["table"])
