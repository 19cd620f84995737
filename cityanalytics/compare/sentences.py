"""Short Chinese sentences for the bulletin, written from the numbers and the registry names.

    城东街道按期处置率 97.1% (95% CI 96.8%-97.4%),低于全市 1.2 个百分点,差异显著。

Every function takes rows of a comparison table and returns plain strings; nothing here
computes a statistic. Numbers go through ``cityanalytics.text`` so they read the same in
every report.
"""

from __future__ import annotations

import numpy as np

from cityanalytics.text import BLANK, ci, missing, num, pct, points


def fmt_value(x, stat: str, unit: str, digits: int | None = None) -> str:
    """97.06 -> '97.1%'; 1.234 (rate) -> '1.23 件/万人'; 89.5 (mean, 分) -> '89.5 分'."""
    if missing(x):
        return BLANK
    if stat == "proportion":
        return pct(x, 1 if digits is None else digits)
    if stat == "count":
        return f"{num(x, 0 if digits is None else digits)} {unit}"
    return f"{num(x, 2 if digits is None and stat == 'rate' else (1 if digits is None else digits))} {unit}"


def fmt_interval(low, high, level: float, stat: str) -> str:
    if stat == "proportion":
        return ci(low, high, level)
    digits = 2 if stat == "rate" else (0 if stat == "count" else 1)
    return ci(low, high, level, formatter=lambda x, d: num(x, d), digits=digits)


def fmt_diff(diff, stat: str, unit: str) -> str:
    """Size of a difference: '1.2 个百分点', '0.35 件/万人', '0.8 分'."""
    if stat == "proportion":
        return points(diff)
    digits = 2 if stat == "rate" else 1
    return f"{abs(diff):.{digits}f} {unit}"


def _rounds_to_zero(diff, stat: str) -> bool:
    digits = 2 if stat == "rate" else 1
    return round(abs(diff), digits) == 0


def versus_city(row, name_zh: str, stat: str, unit: str, level: float, city_name: str = "全市") -> str:
    """One unit against the city, as in 城东街道按期处置率 97.1% (…),低于全市 1.2 个百分点,差异显著。"""
    head = f"{row['name']}{name_zh} {fmt_value(row['value'], stat, unit)}"
    interval = fmt_interval(row["ci_low"], row["ci_high"], level, stat)
    if interval:
        head += f" {interval}"
    diff = row.get("diff", np.nan)
    if stat == "count" or missing(diff):
        return head + "。"
    if _rounds_to_zero(diff, stat):
        tail = f"与{city_name}持平"
    else:
        tail = f"{'高于' if diff > 0 else '低于'}{city_name} {fmt_diff(diff, stat, unit)}"
    sig = row.get("significant")
    if missing(sig):
        tail += ",样本不足以判断差异是否显著"
    else:
        tail += f",差异{'显著' if bool(sig) else '不显著'}"
    return f"{head},{tail}。"


def city_line(value, low, high, change, name_zh: str, stat: str, unit: str, level: float,
              city_name: str = "全市", previous_label: str = "上月") -> str:
    """全市按期处置率 97.7% (95% CI …),较上月下降 0.1 个百分点。"""
    text = f"{city_name}{name_zh} {fmt_value(value, stat, unit)}"
    interval = fmt_interval(low, high, level, stat)
    if interval:
        text += f" {interval}"
    if not missing(change):
        if _rounds_to_zero(change, stat):
            text += f",与{previous_label}持平"
        else:
            text += f",较{previous_label}{'上升' if change > 0 else '下降'} {fmt_diff(change, stat, unit)}"
    return text + "。"


def join_names(names) -> str:
    names = list(names)
    return "、".join(names) if names else "无"
