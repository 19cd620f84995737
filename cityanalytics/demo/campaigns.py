"""Campaigns with known effects: two injected into the case intensity, one into the
province's monthly bulletin (the observations table).

1. 百日攻坚 (扎兰屯市城市精细化管理百日攻坚活动实施方案, 扎政办字〔2022〕51号): three phases, five central streets
   covered and five not. During each phase the targeted subcategories' intensity is
   multiplied by the phase factor; after the campaign the log-effect of the last phase decays
   exponentially with HALF_LIFE_DAYS.
2. 非法小广告联动治理: adopted by units on different dates (staggered), three units never.
   From adoption the log-effect ramps linearly to its full size over RAMP_DAYS, then stays.
3. 全市市容环境秩序百日攻坚 (``citywide``): the whole city, outcome the province's monthly
   bulletin of hotline complaints per 10,000 residents, neighbouring cities as donors.

Effects are multiplicative factors on the Poisson intensity per unit-day-subcategory; the
truth file repeats every number here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import citywide, timeline
from .units import SERIES, unit_id_on

# --- campaign 1: the 100-day campaign ------------------------------------------------------
C1_ID = "C2022-BRGJ"
C1_NAME = "示范市城市精细化管理百日攻坚活动"
C1_SOURCE = ("扎兰屯市城市精细化管理百日攻坚活动实施方案(扎政办字〔2022〕51号): "
             "宣传启动阶段 2022年7月22日-8月1日; 综合治理阶段 8月1日-9月30日; 检查考评阶段 10月1日-10月31日")
# The plan gives 7-22..8-01 for publicity and 8-01..9-30 for governance; 8-01 would belong to
# both, so publicity ends on 7-31 here.
C1_PHASES = (
    ("宣传启动", "2022-07-22", "2022-07-31", 0.90),
    ("综合治理", "2022-08-01", "2022-09-30", 0.60),
    ("检查考评", "2022-10-01", "2022-10-31", 0.70),
)
C1_TARGETS = ("占道经营", "乱堆物料", "暴露垃圾")
C1_UNITS = (0, 1, 2, 4, 5)  # series covered: the central streets; the other five are controls
HALF_LIFE_DAYS = 45.0

# --- campaign 2: staggered adoption --------------------------------------------------------
C2_ID = "C2021-XGG"
C2_NAME = "非法小广告联动治理"
C2_PHASE = "推行实施"
C2_TARGETS = ("非法小广告", "违章张贴")
C2_FULL_FACTOR = 0.65  # -35% once fully ramped up
RAMP_DAYS = 120
C2_ADOPTION = {  # series -> first day; series not listed never adopt
    1: "2021-04-01",
    4: "2021-10-01",
    6: "2022-03-01",
    9: "2022-09-01",
    3: "2023-03-01",
    8: "2023-11-01",
    0: "2024-05-01",
}


def c1_log_factor(day: np.ndarray) -> np.ndarray:
    """Log multiplier on targeted intensity in covered units, per day index."""
    out = np.zeros(day.shape, dtype=float)
    for _, start, end, factor in C1_PHASES:
        inside = (day >= timeline.day_index(start)) & (day <= timeline.day_index(end))
        out[inside] = np.log(factor)
    last_end = timeline.day_index(C1_PHASES[-1][2])
    after = day > last_end
    out[after] = np.log(C1_PHASES[-1][3]) * 0.5 ** ((day[after] - last_end) / HALF_LIFE_DAYS)
    return out


def c2_log_factor(day: np.ndarray, adopted: str) -> np.ndarray:
    since = day - timeline.day_index(adopted)
    ramp = np.clip(since / RAMP_DAYS, 0.0, 1.0)
    return np.log(C2_FULL_FACTOR) * np.where(since >= 0, ramp, 0.0)


def case_log_factors(subcategories: list[str]) -> np.ndarray:
    """Array [day, series, subcategory] of log multipliers from both campaigns."""
    day = np.arange(timeline.N_DAYS)
    out = np.zeros((timeline.N_DAYS, len(SERIES), len(subcategories)))
    c1 = c1_log_factor(day)
    for k, sub in enumerate(subcategories):
        if sub in C1_TARGETS:
            for s in C1_UNITS:
                out[:, s, k] += c1
        if sub in C2_TARGETS:
            for s, adopted in C2_ADOPTION.items():
                out[:, s, k] += c2_log_factor(day, adopted)
    return out


def campaigns_frame() -> pd.DataFrame:
    rows = []
    for s in C1_UNITS:
        for order, (phase, start, end, _) in enumerate(C1_PHASES, start=1):
            rows.append((C1_ID, C1_NAME, unit_id_on(s, start), phase, order, start, end, ";".join(C1_TARGETS)))
    for s, adopted in sorted(C2_ADOPTION.items(), key=lambda kv: (kv[1], kv[0])):
        # Still running when the data ends: the phase is closed at the last day of data.
        rows.append((C2_ID, C2_NAME, unit_id_on(s, adopted), C2_PHASE, 1, adopted,
                     str(timeline.END.date()), ";".join(C2_TARGETS)))
    rows += citywide.campaign_rows()  # 3. the city-wide campaign (outcome: the province's bulletin)
    df = pd.DataFrame(rows, columns=["campaign_id", "name_zh", "unit_id", "phase", "phase_order",
                                     "start_date", "end_date", "outcomes"])
    df["start_date"] = pd.to_datetime(df["start_date"])
    df["end_date"] = pd.to_datetime(df["end_date"])
    return df


def truth() -> list[dict]:
    return [
        {
            "campaign_id": C1_ID, "name_zh": C1_NAME, "design": "phased, covered vs not covered units",
            "source": C1_SOURCE,
            "targets": list(C1_TARGETS),
            "treated_units": [SERIES[s].unit_id for s in C1_UNITS],
            "control_units": [u.unit_id for i, u in enumerate(SERIES) if i not in C1_UNITS],
            "phases": [{"phase": p, "phase_order": i, "start": a, "end": b, "intensity_factor": f,
                        "log_effect": round(float(np.log(f)), 6)}
                       for i, (p, a, b, f) in enumerate(C1_PHASES, start=1)],
            "after_end": {
                "formula": "log_factor(t) = log(last phase factor) * 0.5 ** ((t - end) / half_life_days)",
                "half_life_days": HALF_LIFE_DAYS,
                "from": C1_PHASES[-1][2],
            },
            "applies_to": "case intensity (expected count) per unit-day-subcategory, multiplicative",
            "assessment_score_bump": 2.0,
        },
        {
            "campaign_id": C2_ID, "name_zh": C2_NAME, "design": "staggered adoption, some units never",
            "targets": list(C2_TARGETS),
            "adoption": {SERIES[s].unit_id: d for s, d in sorted(C2_ADOPTION.items())},
            "never_adopted": [u.unit_id for i, u in enumerate(SERIES) if i not in C2_ADOPTION],
            "full_intensity_factor": C2_FULL_FACTOR,
            "full_log_effect": round(float(np.log(C2_FULL_FACTOR)), 6),
            "ramp_days": RAMP_DAYS,
            "formula": "log_factor(t) = log(full factor) * clip((t - adoption) / ramp_days, 0, 1)",
            "campaigns_table_end_date": "the last day of data (still running)",
            "applies_to": "case intensity (expected count) per unit-day-subcategory, multiplicative",
        },
        citywide.truth(),
    ]
