"""Each unit's and the city's latest value against the plans' targets, with a status.

Targets come from the registry (``cityanalytics.targets.load_targets``); only those whose
indicator id is computed in the frame, and which are levels (percentages, means) rather than
flows to be summed over a year, can be checked. The plan's target is set against every
unit and the city alike (a district plan's 98% is read as the bar for each street).

Status rule (stated in ``spec`` and ``extra["rule"]``):

- 已达标 met: the value in the report period meets the comparison now;
- 按进度可达标 on track: not met, but the least-squares line through the last ``window``
  periods (12 months by default, at least ``min_points``) meets it at the deadline;
- 有风险 at risk: the projection misses, but the favourable end of its ``level`` confidence
  interval (upper for >=, lower for <=; interval of the fitted mean, t with n − 2 df) meets it;
- 难以达标 off track: otherwise, and whenever the deadline has passed unmet.

With fewer than ``min_points`` periods to fit, an unmet target gets no status (数据不足).

Projections of percentages are clipped to 0-100. A target's scope picks the group where
the frame has one: 城区/城市 -> area_type=城市, 农村 -> area_type=农村, a lane type -> lane_type=….
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.indicators.frame import CITY
from cityanalytics.indicators.registry import get, registry
from cityanalytics.results import AnalysisResult
from cityanalytics.targets import meets

from .sentences import fmt_value
from ._common import as_period, level_of, name_of, unit_names

STATUS = {"met": "已达标", "on_track": "按进度可达标", "at_risk": "有风险", "off_track": "难以达标"}
RULE = ("met: value now meets the target; on track: the least-squares line over the last {window} periods "
        "meets it at the deadline; at risk: the projection misses but the favourable bound of its {level:.0%} "
        "confidence interval meets it; off track: otherwise, or the deadline has passed unmet")
SCOPE_GROUPS = (("农村", "area_type=农村"), ("城区", "area_type=城市"), ("城市", "area_type=城市"),
                ("非机动车道", "lane_type=非机动车道"), ("机动车道", "lane_type=机动车道"),
                ("人行道", "lane_type=人行道"), ("背街小巷", "lane_type=背街小巷"))


def scope_group(scope: str, available: set[str]) -> str:
    for word, group in SCOPE_GROUPS:
        if word in str(scope) and group in available:
            return group
    return ""


def projection(periods: list[pd.Period], values, deadline: pd.Period, level: float,
               min_points: int = 3) -> tuple[float, float, float]:
    """Least-squares line of values on period index, evaluated at the deadline: (fit, low, high)."""
    y = np.asarray(values, dtype=float)
    x = np.array([(p - periods[0]).n for p in periods], dtype=float)
    ok = ~np.isnan(y)
    x, y = x[ok], y[ok]
    if len(y) < max(min_points, 3):
        return np.nan, np.nan, np.nan
    x0 = float((deadline - periods[0]).n)
    b, a = np.polyfit(x, y, 1)
    fit = a + b * x0
    resid = y - (a + b * x)
    s = np.sqrt(np.sum(resid ** 2) / (len(y) - 2))
    sxx = np.sum((x - x.mean()) ** 2)
    se = s * np.sqrt(1 / len(y) + (x0 - x.mean()) ** 2 / sxx)
    tq = stats.t.ppf(1 - (1 - level) / 2, len(y) - 2)
    return float(fit), float(fit - tq * se), float(fit + tq * se)


def target_status(frame: pd.DataFrame, targets: pd.DataFrame, period, *, units: list[str] | None = None,
                  names: dict[str, str] | None = None, window: int = 12, min_points: int = 3,
                  level: float | None = None, focus: str | None = None) -> AnalysisResult:
    """Status of every unit and the city against every checkable target (see the module docstring).

    ``table``: target_id, plan, indicator, name_zh (indicator), scope, group, comparison, target,
    deadline, unit_id, name, value, projection, proj_low, proj_high, status, status_zh, binding.
    ``extra["skipped"]``: targets that could not be checked, with the reason.
    """
    period = as_period(period)
    names = unit_names(frame, names)
    level = level_of(frame) if level is None else level
    present = set(frame["indicator"].unique())
    reg = registry()
    rows, skipped = [], []
    for _, tg in targets.iterrows():
        ind = tg["indicator"]
        if ind not in reg:
            skipped.append((tg["target_id"], ind, "指标不在指标库中"))
            continue
        if ind not in present:
            skipped.append((tg["target_id"], ind, "本报告未计算该指标"))
            continue
        info = get(ind)
        if info.kind == "count":
            skipped.append((tg["target_id"], ind, "流量目标(按期累计)暂不评估"))
            continue
        sub = frame[frame["indicator"] == ind]
        group = scope_group(tg["scope"], set(sub["group"]))
        sub = sub[sub["group"] == group]
        deadline = pd.Period(pd.Timestamp(tg["deadline"]), freq=period.freqstr[0])
        hist = [period - (window - 1 - i) for i in range(window)]
        wide = sub[sub["period"].isin(hist)].pivot_table(index="unit_id", columns="period", values="value",
                                                         aggfunc="first")
        ids = [CITY, *(units if units is not None else sorted(set(sub["unit_id"]) - {CITY}))]
        for uid in ids:
            series = wide.loc[uid].reindex(hist).to_numpy(dtype=float) if uid in wide.index else np.full(window, np.nan)
            value = series[-1]
            fit, lo, hi = projection(hist, series, deadline, level, min_points)
            if info.kind == "proportion":
                fit, lo, hi = (float(np.clip(v, 0, 100)) if not np.isnan(v) else v for v in (fit, lo, hi))
            status = _status(value, fit, lo, hi, float(tg["value"]), tg["comparison"], deadline, period)
            rows.append({"target_id": tg["target_id"], "plan": tg["plan"], "indicator": ind, "name_zh": info.name_zh,
                         "scope": tg["scope"], "group": group, "comparison": tg["comparison"],
                         "target": float(tg["value"]), "deadline": pd.Timestamp(tg["deadline"]).date(),
                         "binding": tg["binding"], "unit_id": uid, "name": name_of(uid, names), "value": value,
                         "projection": fit, "proj_low": lo, "proj_high": hi, "status": status,
                         "status_zh": STATUS[status] if status else ("无数据" if np.isnan(value) else "数据不足")})
    t = pd.DataFrame(rows)
    if len(t) and focus:
        t["focus"] = t["unit_id"] == focus
    rule = RULE.format(window=window, level=level)
    spec = (f"目标状态判定规则:已达标 = 报告期数值已满足目标;按进度可达标 = 近 {window} 期最小二乘直线外推至期限时满足;"
            f"有风险 = 外推值未满足但其 {level:.0%} 置信区间的有利一端满足;难以达标 = 其余情况,或期限已过仍未满足。"
            f"至少 {min_points} 期数据才外推;百分比外推值截断在 0-100。目标按原文适用范围对每个单位和全市逐一对照。")
    skipped_t = pd.DataFrame(skipped, columns=["target_id", "indicator", "reason"])
    lines = _sentences(t, focus)
    return AnalysisResult(table=t, sentences=lines, spec=spec,
                          extra={"rule": rule, "skipped": skipped_t, "window": window})


def _status(value, fit, lo, hi, target, comparison, deadline, period) -> str | None:
    if value is None or np.isnan(value):
        return None
    if meets(value, target, comparison):
        return "met"
    if deadline < period:
        return "off_track"
    if np.isnan(fit):
        return None  # too few periods to project: no status rather than a guess
    if meets(fit, target, comparison):
        return "on_track"
    favourable = hi if comparison == ">=" else lo if comparison == "<=" else np.nan
    if comparison == "=":
        if not (np.isnan(lo) or np.isnan(hi)) and lo <= target <= hi:
            return "at_risk"
        return "off_track"
    if meets(favourable, target, comparison):
        return "at_risk"
    return "off_track"


def _fmt(indicator: str, value) -> str:
    info = get(indicator)
    stat = "proportion" if info.kind == "proportion" else "mean"
    return fmt_value(value, stat, "" if stat == "proportion" else info.unit).strip()


def _sentences(t: pd.DataFrame, focus) -> list[str]:
    if t.empty:
        return ["所选规划中没有可与本报告指标对照的目标。"]
    lines = []
    for _, g in t.groupby("target_id", sort=False):
        first = g.iloc[0]
        ind = first["indicator"]
        target = f"{first['comparison']} {_fmt(ind, first['target'])}"
        text = f"{first['plan']}:{first['name_zh']}({first['scope']}){target},期限 {first['deadline']}"
        city = g[g["unit_id"] == CITY]
        if len(city) and city.iloc[0]["status"]:
            c = city.iloc[0]
            text += f";全市现值 {_fmt(ind, c['value'])},{c['status_zh']}"
        units = g[g["unit_id"] != CITY]
        counts = units["status_zh"].value_counts()
        if len(counts):
            text += ";各单位" + "、".join(f"{k} {v} 个" for k, v in counts.items())
        lines.append(text + "。")
        if focus and focus in set(units["unit_id"]):
            r = units[units["unit_id"] == focus].iloc[0]
            lines.insert(0, f"{r['name']}{first['name_zh']}({first['scope']})现值 {_fmt(ind, r['value'])},目标 {target},"
                            f"{r['status_zh']}。")
    return lines
