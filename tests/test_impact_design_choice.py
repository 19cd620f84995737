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
