"""What the report shows of a forecast, in words: the labels beside the numbers, and the tables
with Chinese headers (probability of reaching the target, pace, backtest).

``ForecastResult.table`` holds numbers and codes only; this module says them: the target as a
reader says it ("98%", "新增40个(累计1,022个)"), the expected month of reaching it ("2025年8月",
"晚于2027年12月", "已于2024年5月达到"), the model and status in Chinese, why a model was chosen,
and the unit's notes. ``labelled`` puts those beside the numbers in the column layout the
report has stored since its first period (``forecast_units``), which the next period's change
section reads.
"""

from __future__ import annotations

import math

import pandas as pd

from cityanalytics.forecast.backtest import level_key
from cityanalytics.forecast.history import STATUS_ZH
from cityanalytics.forecast.models import LABELS_ZH
from cityanalytics.forecast.target import month_text, passage_text
from cityanalytics.indicators.frame import CITY
from cityanalytics.text import BLANK, missing, num, pct, probability


def stored_columns(levels) -> list[str]:
    """The stored unit table's columns (``forecast_units``), in order."""
    keys = [level_key(lv) for lv in levels]
    return (["unit_id", "unit_name", "status", "status_zh", "model", "model_zh", "choice", "model_reason", "as_of",
             "covered", "total", "share", "target", "target_text", "deadline", "months_left", "fc_median"]
            + [f"fc_{e}{k}" for k in keys for e in ("lo", "hi")] + ["p_reach", "reach_median"]
            + [f"reach_{e}{k}" for k in keys for e in ("lo", "hi")]
            + ["reach_h_median", "needed_per_month", "recent_per_month", "recent_months", "pace_ratio",
               "threshold_count", "note"])


def target_text(target, share: float, count: float) -> str:
    """The target as a reader says it: "98%", or "新增40个(累计1,022个)" for a count; "—" where
    the target does not apply to the unit."""
    if target is None or missing(share):
        return BLANK
    if target.kind == "share":
        return f"{target.value:g}%"
    return f"新增{target.value:g}个(累计{count:,.0f}个)"


def model_reason(model: str, how: str, scores: dict | None, status: str) -> str:
    """Why this unit's forecast uses this model, in words, with the backtest figures."""
    if status == "flat":
        return "近12个月没有增长,按近期进度(为零)延续"
    if not model:
        return {"complete": "已全部覆盖,无需模型", "not_started": "尚未开展,没有进度可外推",
                "short": "可用历史不足3个月,不用模型", "no_data": "没有数据"}.get(status, BLANK)
    label = LABELS_ZH[model]
    scores = dict(scores or {})
    others = ",".join(f"{LABELS_ZH[m]}{v:.2f}" for m, v in sorted(scores.items(), key=lambda kv: kv[1])
                      if m != model)
    if how == "backtest":
        return f"本单位回测加权区间评分最低({label}{scores[model]:.2f}" + (f";{others}" if others else "") + ")"
    if how == "kept":
        best = min(scores, key=scores.get)
        return (f"本单位回测中{LABELS_ZH[best]}({scores[best]:.2f})略优于{label}({scores.get(model, math.nan):.2f}),"
                f"但差距不超过一个标准误,沿用全部单位合并回测最优的{label}")
    if how == "pooled":
        return f"本单位可回测的月份不足,选用全部单位合并回测最优的{label}"
    if how == "only":
        return f"历史长度只够{label}"
    if how == "default":
        return f"无法回测,按默认顺序选用{label}"
    return f"沿用此前运行的选择:{label}"


def _reach_texts(res, row) -> list[str]:
    """The expected month of reaching the target: the median, then each level's bounds."""
    n = 1 + 2 * len(res.levels)
    if missing(row["target"]):
        return [BLANK] * n
    if not missing(row["reached_on"]):
        return [f"已于{month_text(row['reached_on'])}达到"] + [BLANK] * (n - 1)
    if not row["model"]:
        return [BLANK] * n
    horizon = res.extra["horizon"]
    hs = [row["reach_h_median"]] + [row[f"reach_h_{e}{level_key(lv)}"] for lv in res.levels for e in ("lo", "hi")]
    return [passage_text(row["as_of"], h, horizon) for h in hs]


def unit_labels(res) -> pd.DataFrame:
    """Per unit (``unit_id``), the words the report shows beside the numbers: status_zh,
    model_zh, model_reason, target_text, reach_median / reach_lo<k> / reach_hi<k> and note."""
    t = res.table
    keys = [level_key(lv) for lv in res.levels]
    choice = res.extra.get("choice", {})
    scores = res.extra.get("choice_scores", {})
    notes = getattr(res, "notes", {}) or {}
    rows = []
    for _, r in t.iterrows():
        unit = r["unit_id"]
        reach = _reach_texts(res, r)
        row = {"unit_id": unit, "status_zh": STATUS_ZH[r["status"]], "model_zh": LABELS_ZH.get(r["model"], BLANK),
               "model_reason": model_reason(r["model"], choice.get(unit, ("", "none"))[1], scores.get(unit),
                                            r["status"]),
               "target_text": target_text(res.target, r["target"], r["threshold_count"]),
               "reach_median": reach[0]}
        for j, k in enumerate(keys):
            row[f"reach_lo{k}"], row[f"reach_hi{k}"] = reach[1 + 2 * j], reach[2 + 2 * j]
        row["note"] = ";".join(notes.get(unit, []))
        rows.append(row)
    columns = ["unit_id", "status_zh", "model_zh", "model_reason", "target_text", "reach_median",
               *[f"reach_{e}{k}" for k in keys for e in ("lo", "hi")], "note"]
    return pd.DataFrame(rows, columns=columns)


def labelled(res) -> pd.DataFrame:
    """``res.table`` with its labels (``unit_labels``) beside the numbers, in the stored unit
    table's layout (``stored_columns``). A table read back from storage already has them."""
    t = res.table.reset_index(drop=True)
    if "target_text" in t.columns:
        return t
    if t.empty:
        return pd.DataFrame(columns=stored_columns(res.levels))
    out = t.merge(unit_labels(res), on="unit_id", how="left", validate="one_to_one")
    if res.target is None:  # stored as it always was: no deadline, not a column of missing months
        out["deadline"] = pd.Series([None] * len(out), dtype=object)
    return out[stored_columns(res.levels)]


def _order(table: pd.DataFrame) -> pd.DataFrame:
    """The city first, then units from the least to the most likely to reach the target."""
    city = table[table["unit_id"] == CITY]
    units = table[table["unit_id"] != CITY].sort_values(["p_reach", "share"], na_position="last", kind="stable")
    return pd.concat([city, units])


def _reach_window(lo: str, hi: str) -> str:
    """The expected months' interval in words: "2025年8月至2026年3月" (one month when both agree)."""
    return lo if hi == BLANK or lo == hi else f"{lo}至{hi}"


def probability_table(res) -> pd.DataFrame:
    t = _order(labelled(res))
    out = pd.DataFrame({
        "单位": t["unit_name"],
        "数据截至": [BLANK if missing(p) else str(p) for p in t["as_of"]],
        "现状": [pct(x) for x in t["share"]],
        "目标": t["target_text"].to_numpy(),
        "期限": [BLANK if missing(d) else str(d) for d in t["deadline"]],
        "期限预测(中位数)": [pct(x) for x in t["fc_median"]],
    })
    for lv in res.levels:
        k = level_key(lv)
        out[f"{k}%预测区间"] = [BLANK if missing(a) else f"{pct(a)}-{pct(b)}" for a, b in zip(t[f"fc_lo{k}"], t[f"fc_hi{k}"])]
    out["达标概率"] = [probability(p) for p in t["p_reach"]]
    out["预计达标时间"] = t["reach_median"].to_numpy()
    k = level_key(res.levels[0])
    out[f"达标时间{k}%区间"] = [_reach_window(a, b) for a, b in zip(t[f"reach_lo{k}"], t[f"reach_hi{k}"])]
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
        if missing(need):
            ratio.append(BLANK)
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
        f"目标所需({unit})": [BLANK if missing(x) else num(math.ceil(x - 1e-9)) for x in t["threshold_count"]],
        "距期限(月)": [int(x) if not missing(x) and x > 0 else "已到期" for x in t["months_left"]],
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
        "模型": s["model"].map(LABELS_ZH),
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
    labels = unit_labels(res)
    reasons = dict(zip(labels["unit_id"], labels["model_reason"]))
    out["选择依据"] = [reasons.get(u, "") if choice.get(u, ("", ""))[0] == m else ""
                   for u, m in zip(s["unit_id"], s["model"])]
    return out.reset_index(drop=True)
