"""Chinese report tables: the comparison tables with Chinese headers, numbers formatted,
the focus unit's row highlighted. The results' own ``.table`` keeps the English columns
(the API); these views are for the page, and ``compare.report`` shows them.

Numbers and blanks are written by ``cityanalytics.text`` (``num``, ``yes_no``, ``p_value``,
``BLANK``); the tables are ``cityanalytics.report.tables.show_table`` views (index hidden, cells
and headers HTML-escaped: unit names are data text), plus the focus unit's row highlighted and
unit names kept on one line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityanalytics.indicators.registry import get
from cityanalytics.report.tables import show_table
from cityanalytics.text import BLANK, num, p_value, yes_no


HIGHLIGHT = "background-color: #fde2e1; font-weight: bold"


def _styled(df: pd.DataFrame, focus_mask) -> "pd.io.formats.style.Styler":
    """Index hidden, unit names kept on one line (PDF pages are narrow), focus row highlighted."""
    mask = np.asarray(focus_mask, dtype=bool) if focus_mask is not None else np.zeros(len(df), bool)
    styler = show_table(df)
    if "单位" in df:
        styler = styler.set_properties(subset=["单位"], **{"white-space": "nowrap"})
    if mask.any():
        styler = styler.apply(lambda row: [HIGHLIGHT if mask[row.name] else "" for _ in row], axis=1)
    return styler


def _with_star(value, significant, digits) -> str:
    text = num(value, digits)
    return text + "*" if significant is True or (isinstance(significant, (bool, np.bool_)) and significant) else text


def league(result):
    """名次, 名次区间, 单位, value, interval, n, gap to the city and its significance, change (* = significant)."""
    t, s = result.table, result.extra["slice"]
    digits = 2 if s.stat == "rate" else (0 if s.stat == "count" else 1)
    diff_unit = "百分点" if s.stat == "proportion" else s.unit_label
    d = pd.DataFrame({
        "名次": [num(r, 0) for r in t["rank"]],
        "名次区间": [f"{num(a, 0)}-{num(b, 0)}" for a, b in zip(t["rank_low"], t["rank_high"])],
        "单位": t["name"],
        f"数值({s.unit_label})": [num(v, digits) for v in t["value"]],
        f"{s.level:.0%} 置信区间": [f"{num(a, digits)}-{num(b, digits)}" if not pd.isna(a) else BLANK
                                 for a, b in zip(t["ci_low"], t["ci_high"])],
    })
    if s.stat == "proportion":
        d["样本量"] = [num(v, 0) for v in t["denominator"]]
    if s.stat != "count":
        d[f"与全市差({diff_unit})"] = [num(v, digits) for v in t["diff"]]
        d["差异显著"] = [yes_no(v) for v in t["significant"]]
    d[f"较上期({diff_unit})"] = [_with_star(v, sig, digits) for v, sig in zip(t["change"], t["change_significant"])]
    if "suppressed" in t and t["suppressed"].any():
        d["备注"] = ["样本不足,不排名" if x else "" for x in t["suppressed"]]
    return _styled(d, t["focus"])


def funnel(result):
    t, s = result.table, result.extra["slice"]
    levels = result.extra["levels"]
    digits = 2 if s.stat == "rate" else 1
    pos = {"within": "控制限内"}
    for lv in levels:
        key = f"{lv * 100:g}".replace(".", "")
        pos[f"below_{key}"] = f"低于 {lv * 100:g}% 下限"
        pos[f"above_{key}"] = f"高于 {lv * 100:g}% 上限"
    size = result.extra.get("size_label") or {"proportion": "分母", "rate": "常住人口(万人)", "mean": "观测数"}[s.stat]
    d = pd.DataFrame({"单位": t["name"], size: [num(v, 2 if s.stat == "rate" else 0) for v in t["size"]],
                      f"{s.indicator.name_zh}({s.unit_label})": [num(v, digits) for v in t["value"]],
                      "z 值": [num(v, 2) for v in t["z"]]})
    for lv in levels:
        key = f"{lv * 100:g}".replace(".", "")
        d[f"{lv * 100:g}% 控制限"] = [f"{num(a, digits)}-{num(b, digits)}"
                                    for a, b in zip(t[f"lower_{key}"], t[f"upper_{key}"])]
    d["位置"] = [pos.get(p, p) for p in t["position"]]
    return _styled(d, t["focus"])


def composite(result):
    t = result.table
    inds = [c.split(":", 1)[1] for c in t.columns if c.startswith("term:")]
    d = pd.DataFrame({"名次": [num(v, 0) for v in t["rank"]], "单位": t["name"]})
    for ind in inds:
        d[get(ind).name_zh] = [num(v, 1) for v in t[ind]]
    d["综合得分"] = [num(v, 2 if result.extra["normalisation"] == "zscore" else 1) for v in t["score"]]
    if "band" in t:
        d["等级"] = t["band"].fillna(BLANK)
    d["名次最大变动"] = [num(v, 0) for v in t["max_rank_change"]]
    d["变动最大的情形"] = t["most_moved_in"].replace("", BLANK)
    return _styled(d, t["focus"])


def weights(result):
    w = result.extra["weights"].copy()
    w.columns = [get(c).name_zh for c in w.columns]
    out = (100 * w).map(lambda v: num(v, 1))
    out.insert(0, "情形", out.index)
    return out.reset_index(drop=True)


def trend(result):
    t, s = result.table, result.extra["slice"]
    digits = 2 if s.stat == "rate" else 1
    unit = "百分点" if s.stat == "proportion" else s.unit_label
    d = pd.DataFrame({"单位": t["name"],
                      "首期值": [num(v, digits) for v in t["first_value"]],
                      "末期值": [num(v, digits) for v in t["last_value"]],
                      f"每期变化({unit})": [num(v, digits + 1) for v in t["slope"]],
                      "p 值": [p_value(v) for v in t["p_value"]],
                      "趋势": t["trend"],
                      "劣于全市": [yes_no(v) for v in t["worse_than_city"]],
                      "双差": [("是" if v else "") for v in t["flag"]]})
    return _styled(d, t["focus"])


def lists(result):
    t = result.table
    return pd.DataFrame({"榜单": t["list"], "单位": t["name"], "事由": t["reasons"], "备注": t["note"]})


def targets(result) -> list[tuple[str, object]]:
    """One (heading, table) per target: the units' and the city's value, projection and status."""
    t = result.table
    out = []
    for _, g in t.groupby("target_id", sort=False):
        first = g.iloc[0]
        pct = get(first["indicator"]).kind == "proportion"
        unit = "%" if pct else get(first["indicator"]).unit
        head = (f"{first['plan']}:{first['name_zh']}({first['scope']}){first['comparison']} "
                f"{num(first['target'], 1)}{unit},期限 {first['deadline']},{first['binding']}")
        g = g.reset_index(drop=True)
        d = pd.DataFrame({"单位": g["name"], "现值": [num(v, 1) for v in g["value"]],
                          "期限时外推值": [num(v, 1) for v in g["projection"]],
                          "外推置信区间": [f"{num(a, 1)}-{num(b, 1)}" for a, b in zip(g["proj_low"], g["proj_high"])],
                          "状态": g["status_zh"]})
        out.append((head, _styled(d, g["focus"] if "focus" in g else None)))
    return out


def overview(bulletin):
    t = bulletin.overview()
    out = t.drop(columns="unit_id").copy()
    for c in out.columns[1:]:
        out[c] = [num(v, 1) for v in out[c]]
    out.loc[out.index[-1], "单位"] = bulletin.level.names.get("city", "全市")
    focus = (t["unit_id"] == bulletin.focus).to_numpy() if bulletin.focus else None
    return _styled(out.reset_index(drop=True), focus)
