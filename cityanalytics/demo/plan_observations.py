"""The figures 示范市 reports against the plans' targets: an observations feed for every target
that reaches the plan-progress report as an aggregate (the registry's ``table: observations``).

The demo city is made to carry every registered plan (海陵 and 淄博 十四五 plans, 扎兰屯's
百日攻坚, 常州's 2023 work plan), so the report has a value for each of the 84 targets: the ones
the canonical tables compute (sorting coverage, compliant communities, 以克论净 dust) come from
those tables; the rest come from this feed, reported as the city's bureau would:

- 十四五 plans: the 2020 baseline and a value for each year 2021-2024 (``"2020"`` ... ``"2024"``);
- 百日攻坚 (deadline 2022-10-31): June 2022 before the campaign, then every month to October;
- 2023 work plan: the 2022 value, then every quarter of 2023.

A level target (a rate, a per-capita figure) moves from its baseline towards the target; a count
target (建成 N 座) is reported as what was completed in each period (the report adds them up from
the plan's start). Each target is built either to be met or on track (``HIT``) or to miss
(``MISS``): a missed level covers ``MISS_SHARE`` of the way from baseline to target in the time
the straight-line path needs for all of it; a missed count completes about ``MISS_SHARE`` of its
pace; a target whose deadline has passed misses by ending ``PASSED_SHORT`` short. Baselines are
the plans' figures where a plan gives one (海陵's 100% 无害化, 扎兰屯's 95% 亮灯率 in earlier
years), otherwise a plausible value below the target. The truth (``truth()``) lists every
target's design, so a test can check the report's counts.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cityanalytics.indicators.registry import registry
from cityanalytics.targets import load_targets

from .truth import LABEL_ZH
from .units import CITY_ID, CITY_NAME

SOURCE = f"{CITY_NAME}城市管理局规划指标进展统计(虚构,{LABEL_ZH})"
MISS_SHARE = 0.5
PASSED_SHORT = 0.15  # a missed target whose deadline has passed ends this share of the way short

# Targets built to miss, with why (read in the truth and the report's test).
MISS = {
    "hl_signing_rate": "签约推进慢,2024 年仅走完基线到目标的一半",
    "hl_bin_washing_points": "清洗点建设只达到所需进度的一半",
    "hl_enforcement_staff": "执法人员配备增长慢",
    "zb_park_coverage": "公园绿地服务半径覆盖率提升慢",
    "zb_rooftop_ads_zero": "楼顶广告拆除慢,2024 年仍有存量",
    "zb_lighting_main": "主干道亮灯率提升慢",
    "zb_bridge_hazards": "桥梁隐患整改率提升慢",
    "zlt_mechanical_sweeping": "百日攻坚结束时机械化清扫率未达 60%",
    "zlt_property_tendering": "百日攻坚结束时物业招投标率未达 100%",
    "zlt_pavement_repair": "百日攻坚结束时维修面积不足 5,700 m²",
    "cz_pocket_parks_2023": "2023 年底口袋公园未建满 28 个",
    "cz_demolition_2023": "2023 年在案违建拆除比例未达 15%",
}
# Built from the canonical tables; the design follows from the demo's models (truth "communities").
TABLE_DESIGN = {
    "hl_sorting_coverage": ("behind", "三个单位的逻辑斯蒂曲线上限 K 为 0.93-0.97,城区小区覆盖率按曲线到 2025 年底约 97.7%,"
                                      "达不到 98%(见 truth communities);领先于直线进度,但按期达标概率低(黄)"),
    "hl_two_fixed": ("behind", "“两定一撤”按分类启动计,曲线上限低于 1 的单位使其到 2025 年底达不到 100%(黄)"),
    "cz_new_compliant_2023": ("behind", "示范市只有 828 个小区,一年新增达标 425 个超出其规模"),
    "cz_compliant_share_2023": ("on_track", "2023 年底建成区达标小区占比已超过 75%"),
    "zb_dust_motor_lane": ("on_track", "以克论净尘土量按车道限值生成,均值远低于 3 g/m²"),
    "zb_dust_non_motor_lane": ("on_track", "均值远低于 8 g/m²"),
    "zb_dust_footway": ("on_track", "均值远低于 10 g/m²"),
    "zb_dust_back_street": ("on_track", "均值远低于 10 g/m²"),
}
# Baselines (the value before the plan starts) where the default (target x 0.8, or 0 for counts) would mislead.
BASELINES = {
    "hl_harmless": 100.0,  # already 100% (常州市城市管理局2022年工作总结 reports 100%)
    "hl_enforcement_staff": 3.2, "zb_green_space_rate": 38.9, "zb_park_coverage": 78.0,
    "zb_water_surface": 1.9, "zb_park_per_capita": 18.6, "zb_greenway_per_10k": 1.6,
    "zb_rooftop_ads_zero": 120.0, "zb_resource_util": 45.0, "zb_intact_carriageway": 95.0,
    "zb_intact_footway": 90.0, "zb_intact_minor": 88.0, "zb_lighting_main": 94.0, "zb_lighting_secondary": 92.0,
    "zlt_lighting_overall": 95.0,  # 往年95% (扎兰屯市百日攻坚实施方案)
    "zlt_mechanical_sweeping": 52.0, "zlt_fault_response_24h": 30.0,
    "zlt_water_daily_tests": 10.0, "zlt_water_monthly_tests": 42.0, "zlt_water_annual_tests": 106.0,
    "cz_new_energy_veh_2023": 6.0, "cz_green_waste_2023": 90.0, "cz_demolition_2023": 4.0,
}
# Final values where the target's wording asks for more than its number: 在往年95%的基础上有所提升.
FINAL = {"zlt_lighting_overall": 96.2}
PERIODS = {  # plan kind -> (baseline period, reporting periods)
    "five_year": ("2020", ["2021", "2022", "2023", "2024"]),
    "hundred_day": ("2022-06", ["2022-07", "2022-08", "2022-09", "2022-10"]),
    "work_year": ("2022", ["2023Q1", "2023Q2", "2023Q3", "2023Q4"]),
}


def _kind(plan: str) -> str:
    return "five_year" if "十四五" in plan else ("hundred_day" if "百日" in plan else "work_year")


def _fraction(period: str, plan_kind: str, deadline: pd.Timestamp) -> float:
    """Share of the plan's time elapsed at the end of ``period``."""
    from cityanalytics.plans.progress import period_end, plan_start

    start = plan_start({"five_year": "十四五", "hundred_day": "百日", "work_year": "2023年工作意见"}[plan_kind],
                       deadline)
    t0 = start - pd.Timedelta(days=1)
    return min(1.0, max(0.0, (period_end(period) - t0).days / (deadline - t0).days))


def _round(x: float, unit: str) -> float:
    return round(x, 1) if unit == "%" else round(x, 2)


def _level_path(b: float, target: float, fracs: list[float], hit: bool, passed: bool,
                wobble: list[float]) -> list[float]:
    span = target - b
    out = []
    for f, w in zip(fracs, wobble):
        if hit:
            v = b + span * min(1.0, 1.2 * f)
        elif passed:
            v = b + span * (1 - PASSED_SHORT) * f
        else:
            v = b + span * MISS_SHARE * f
        out.append(v + w * abs(span))
    if hit:
        out[-1] = target if (b == target or passed) else out[-1]
    return out


def generate(seed: int) -> tuple[pd.DataFrame, dict]:
    """The feed (observations rows for the demo city) and its truth: each target's design."""
    rng = np.random.default_rng([seed, 7])
    reg = registry()
    targets = load_targets()
    shared = targets["indicator"].value_counts()
    rows, design = [], {}
    for t in targets.to_dict("records"):
        tid, ind = t["target_id"], t["indicator"]
        if tid in TABLE_DESIGN:
            outcome, why = TABLE_DESIGN[tid]
            design[tid] = {"road": "table", "table": reg[ind].table, "design": outcome, "why": why}
            continue
        if reg[ind].table != "observations":
            continue
        info, target, unit = reg[ind], float(t["value"]), t["unit"]
        deadline = pd.Timestamp(t["deadline"])
        plan_kind = _kind(t["plan"])
        base_p, periods = PERIODS[plan_kind]
        if plan_kind == "five_year" and deadline.year < 2025:  # a target due early in the plan
            periods = [p for p in periods if int(p) <= deadline.year + 1]
        fracs = [_fraction(p, plan_kind, deadline) for p in periods]
        passed = deadline < pd.Timestamp("2025-06-30")
        hit = tid not in MISS
        cumulative = info.kind == "count" and t["comparison"] == ">="
        key = tid if shared[ind] > 1 else ind  # one indicator, several scopes: report by target id
        if cumulative:
            pace = 1.15 if hit else MISS_SHARE
            if not hit and passed:
                pace = 1 - PASSED_SHORT
            totals = [min(target * pace * f, target * max(1.0, pace)) for f in fracs]
            if hit:
                totals[-1] = max(totals[-1], target if (passed or fracs[-1] >= 1) else totals[-1])
            whole = float(target).is_integer() and target >= 1
            cum = [math.ceil(x) if (whole and hit) else (math.floor(x) if whole else round(x, 1)) for x in totals]
            flows = [cum[0]] + [cum[i] - cum[i - 1] for i in range(1, len(cum))]
            series = [(p, float(v)) for p, v in zip(periods, flows)]
        else:
            b = BASELINES.get(tid, round(target * 0.8, 2) if target else 0.0)
            wobble = list(rng.uniform(-0.01, 0.01, len(periods)))
            values = _level_path(b, target, fracs, hit, passed, wobble)
            if unit == "%":
                values = [min(100.0, max(0.0, v)) for v in values]
                if hit and target >= 100:  # a share cannot close in on 100% along a line: it gets there
                    values[-1] = 100.0
            if tid in FINAL:
                values[-1] = FINAL[tid]
            series = [(base_p, b)] + list(zip(periods, values))
        for period, value in series:
            rows.append({"unit_id": CITY_ID, "unit_name": CITY_NAME, "period": period, "indicator": key,
                         "value": _round(value, unit), "numerator": np.nan, "denominator": np.nan,
                         "unit": unit, "source": SOURCE})
        design[tid] = {"road": "observations", "indicator": key, "design": "on_track" if hit else "behind",
                       "why": MISS.get(tid, "按直线进度或更快推进" if not passed else "期限前已达标"),
                       "cumulative": cumulative}
    frame = pd.DataFrame(rows)
    counts = pd.Series([d["design"] for d in design.values()]).value_counts()
    truth = {
        "source": SOURCE,
        "rule": "on_track = the plan-progress report's 绿 (met, or on the straight-line path with a probability "
                "of at least 50%); behind = 黄 or 红; no_data = 无数据",
        "counts": {k: int(counts.get(k, 0)) for k in ("on_track", "behind", "no_data")},
        "built_to_miss": sorted([k for k, d in design.items() if d["design"] == "behind"]),
        "targets": design,
    }
    return frame, truth


# ---- the raw export: the bureau's yearly / monthly statistics against the plans ------------------

PLAN_OBSERVATIONS_FILE = "规划指标进展统计.csv"
PLAN_HEADERS = ["统计期", "行政区划代码", "单位名称", "指标编号", "指标名称", "数值", "计量单位", "数据来源"]


def raw_plan_observations(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per indicator (or target id) and period, as the bureau's statistics sheet has it."""
    reg = registry()
    ids = load_targets().set_index("target_id")["indicator"]

    def name(key: str) -> str:
        return reg[ids.get(key, key)].name_zh if ids.get(key, key) in reg else key

    return pd.DataFrame({
        "统计期": rows["period"].astype(str), "行政区划代码": rows["unit_id"].astype(str),
        "单位名称": rows["unit_name"].astype(str), "指标编号": rows["indicator"].astype(str),
        "指标名称": rows["indicator"].astype(str).map(name),
        "数值": rows["value"].map(lambda v: "" if pd.isna(v) else f"{float(v):.15g}"),
        "计量单位": rows["unit"].astype(str), "数据来源": rows["source"].astype(str),
    }, index=rows.index)[PLAN_HEADERS]


def write_plan_observations(rows: pd.DataFrame, out, titles: list[str], encoding: str):
    """The GBK CSV: two title rows, then the header and the rows."""
    import io
    from pathlib import Path

    buffer = io.StringIO()
    for line in titles:
        buffer.write(line + "\n")
    raw_plan_observations(rows).to_csv(buffer, index=False, lineterminator="\n")
    path = Path(out) / PLAN_OBSERVATIONS_FILE
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path
