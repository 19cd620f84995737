"""The report tables, with Chinese headers: probability of reaching the target, pace, backtest."""

from __future__ import annotations

import math

import pandas as pd

from cityanalytics.forecast import models as M
from cityanalytics.forecast.backtest import level_key
from cityanalytics.indicators.frame import CITY
from cityanalytics.text import num, pct


def _order(table: pd.DataFrame) -> pd.DataFrame:
    """The city first, then units from the least to the most likely to reach the target."""
    city = table[table["unit_id"] == CITY]
    units = table[table["unit_id"] != CITY].sort_values(["p_reach", "share"], na_position="last", kind="stable")
    return pd.concat([city, units])


def _interval(lo, hi) -> str:
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return "—"
    return f"{pct(lo)}-{pct(hi)}"


def _span(lo: str, hi: str) -> str:
    if hi == "—":
        return lo
    if lo == hi:
        return lo
    return f"{lo}至{hi}"


def _prob(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    if p >= 0.995 and p < 1:
        return ">99%"
    if 0 < p < 0.005:
        return "<1%"
    return f"{100 * p:.0f}%"


def probability_table(res) -> pd.DataFrame:
    t = _order(res.table)
    out = pd.DataFrame({
        "单位": t["unit_name"],
        "数据截至": [str(p) if p is not None else "—" for p in t["as_of"]],
        "现状": [pct(x) for x in t["share"]],
        "目标": t["target_text"].to_numpy(),
        "期限": [str(d) if d is not None else "—" for d in t["deadline"]],
        "期限预测(中位数)": [pct(x) for x in t["fc_median"]],
    })
    for lv in res.levels:
        k = level_key(lv)
        out[f"{k}%预测区间"] = [_interval(a, b) for a, b in zip(t[f"fc_lo{k}"], t[f"fc_hi{k}"])]
    out["达标概率"] = [_prob(p) for p in t["p_reach"]]
    out["预计达标时间"] = t["reach_median"].to_numpy()
    lv = res.levels[0]
    k = level_key(lv)
    out[f"达标时间{k}%区间"] = [_span(a, b) for a, b in zip(t[f"reach_lo{k}"], t[f"reach_hi{k}"])]
    out["模型"] = t["model_zh"].to_numpy()
    out["状态"] = t["status_zh"].to_numpy()
    out["说明"] = t["note"].to_numpy()
    return out.reset_index(drop=True)


def pace_table(res) -> pd.DataFrame:
    t = _order(res.table)
    unit = "个小区" if res.series is None or res.series.measure == "communities" else "户"
    digits = 1 if unit == "个小区" else 0
    ratio = []
    for r_, need in zip(t["pace_ratio"], t["needed_per_month"]):
        if isinstance(need, float) and math.isnan(need):
            ratio.append("—")
        elif need == 0:
            ratio.append("已达到")
        elif math.isinf(r_):
            ratio.append("近期无进展")
        else:
            ratio.append(f"{r_:.1f}倍")
    done = "已达标" if res.series is not None and res.series.event == "compliant" else "已覆盖"
    return pd.DataFrame({
        "单位": t["unit_name"].to_numpy(),
        f"{done}({unit})": [num(x) for x in t["covered"]],
        f"台账总数({unit})": [num(x) for x in t["total"]],
        f"目标所需({unit})": [num(math.ceil(x - 1e-9)) if not math.isnan(x) else "—" for x in t["threshold_count"]],
        "距期限(月)": [int(x) if not (isinstance(x, float) and math.isnan(x)) and x > 0 else "已到期"
                     for x in t["months_left"]],
        f"每月需新增({unit})": [num(x, digits) for x in t["needed_per_month"]],
        f"近期月均新增({unit})": [num(x, digits) for x in t["recent_per_month"]],
        "需达近期进度的倍数": ratio,
    })


def backtest_table(res) -> pd.DataFrame:
    s = res.backtest
    if s is None or s.empty:
        return pd.DataFrame(columns=["单位", "模型", "回测点数", "平均绝对误差(百分点)", "加权区间评分", "是否选用"])
    choice = res.extra.get("choice", {})
    names = {u: res.series.name(u) for u in s["unit_id"].unique()} if res.series is not None else {}
    out = pd.DataFrame({
        "单位": s["unit_id"].map(names).fillna(s["unit_id"]),
        "模型": s["model"].map(M.LABELS_ZH),
        "回测点数": s["points"].astype(int),
        "起点数": s["origins"].astype(int),
        "平均绝对误差(百分点)": s["mae"].round(2),
        "平均偏差(百分点)": s["bias"].round(2),
    })
    for lv in res.levels:
        k = level_key(lv)
        out[f"{k}%区间覆盖率"] = [pct(100 * x, 0) for x in s[f"cover_{k}"]]
    out["加权区间评分"] = s["wis"].round(3)
    out["是否选用"] = ["是" if choice.get(u, ("", ""))[0] == m else "" for u, m in zip(s["unit_id"], s["model"])]
    reasons = dict(zip(res.table["unit_id"], res.table["model_reason"]))
    out["选择依据"] = [reasons.get(u, "") if choice.get(u, ("", ""))[0] == m else ""
                   for u, m in zip(s["unit_id"], s["model"])]
    return out.reset_index(drop=True)


def calibration_summary(points: pd.DataFrame, levels) -> pd.DataFrame:
    """Interval coverage over all backtest points, by model (the "is 95% really 95%" check)."""
    from cityanalytics.forecast.backtest import add_scores

    if points.empty:
        return pd.DataFrame()
    p = add_scores(points, levels)
    agg = {"points": ("h", "size"), "mae": ("abs_err", "mean"), "wis": ("wis", "mean")}
    agg.update({f"cover_{level_key(lv)}": (f"in{level_key(lv)}", "mean") for lv in levels})
    return p.groupby("model").agg(**agg).reset_index()
