"""Red and black lists (红榜 / 黑榜) from a rule in the run's parameters, each with its reason.

The rule is a flat mapping (run files allow one level of mapping)::

    list_rule = {"basis": "composite", "red_top": 3, "black_bottom": 3, "outside_limit": 0.998}

- ``basis``: ``"composite"`` (rank by the composite score) or an indicator id (its league rank);
- ``red_top`` / ``black_bottom``: the best / worst N by that rank (ties at the cut-off are all
  listed). With fewer than 2N units ranked, N becomes floor(units / 2) so that no unit can be
  both at the top and at the bottom;
- ``outside_limit``: a funnel level (0.998 = 99.8%); a unit outside that limit on the bad
  side of any compared indicator goes on the black list, on the good side on the red list.
  0 or None turns this off.

A unit with a black-list reason is not put on the red list (its red reasons are kept in the
``note``). Ties: a unit tied with the worst ranked unit is never put on the red list by its
rank, nor one tied with the best on the black list; when every ranked unit ties, nobody is
listed by rank. Units without a rank (e.g. below the minimum denominator of the league
tables, column ``suppressed``) are never listed, neither by rank nor by a funnel limit.
"""

from __future__ import annotations

import math

import pandas as pd

from cityanalytics.indicators.registry import get
from cityanalytics.results import AnalysisResult

from .sentences import fmt_value
from .funnel import _key

DEFAULT_RULE = {"basis": "composite", "red_top": 3, "black_bottom": 3, "outside_limit": 0.998}
RULE_KEYS = set(DEFAULT_RULE)


def check_rule(rule: dict | None) -> dict:
    rule = {**DEFAULT_RULE, **(rule or {})}
    unknown = set(rule) - RULE_KEYS
    if unknown:
        raise ValueError(f"list rule: unknown key(s) {sorted(unknown)}; known: {sorted(RULE_KEYS)}")
    for k in ("red_top", "black_bottom"):
        if not isinstance(rule[k], int) or isinstance(rule[k], bool) or rule[k] < 0:
            raise ValueError(f"list rule: {k} must be a whole number >= 0, got {rule[k]!r}")
    lim = rule["outside_limit"]
    if lim not in (None, 0) and not (isinstance(lim, float) and 0 < lim < 1):
        raise ValueError(f"list rule: outside_limit must be a level like 0.998, or 0 to turn it off; got {lim!r}")
    return rule


def red_black_lists(rule: dict | None, *, composite: pd.DataFrame | None = None,
                    leagues: dict[str, pd.DataFrame] | None = None,
                    funnels: dict[str, AnalysisResult] | None = None,
                    names: dict[str, str] | None = None) -> AnalysisResult:
    """Apply ``rule`` to the composite table, league tables (by indicator) and funnel results.

    ``table``: list (红榜/黑榜), unit_id, name, reasons (Chinese, joined by ;), note.
    """
    rule = check_rule(rule)
    if names is None:  # the names the tables already show
        names = {}
        for table in [composite, *(leagues or {}).values(), *(r.table for r in (funnels or {}).values())]:
            if table is not None and "name" in table:
                names.update(zip(table["unit_id"], table["name"]))
    basis = rule["basis"]
    if basis == "composite":
        if composite is None:
            raise ValueError("list rule: basis 'composite' needs the composite table")
        ranked = composite[["unit_id", "name", "rank", "score"]].dropna(subset=["rank"])
        what = "综合得分"

        def show(r):
            return f"{r['score']:.1f} 分"
    else:
        if not leagues or basis not in leagues:
            raise ValueError(f"list rule: basis {basis!r} is neither 'composite' nor a compared indicator")
        ranked = leagues[basis][["unit_id", "name", "rank", "value"]].dropna(subset=["rank"])
        info = get(basis)
        what = info.name_zh
        stat = "proportion" if info.kind == "proportion" else "mean"

        def show(r):
            return fmt_value(r["value"], stat, info.unit)

    n = len(ranked)
    top_n = min(rule["red_top"], n // 2)
    bottom_n = min(rule["black_bottom"], n // 2)
    reasons: dict[tuple[str, str], list[str]] = {}
    unlisted = _unranked(leagues)

    def add(lst, uid, text):
        if uid not in unlisted:
            reasons.setdefault((lst, uid), []).append(text)

    best, worst = (ranked["rank"].min(), ranked["rank"].max()) if n else (None, None)
    if top_n:
        cut = ranked.nsmallest(top_n, "rank")["rank"].max()
        for _, r in ranked[(ranked["rank"] <= cut) & (ranked["rank"] != worst)].iterrows():
            add("红榜", r["unit_id"], f"{what}排名第 {int(r['rank'])}({show(r)}),位列前 {top_n}")
    if bottom_n:
        cut = ranked.nlargest(bottom_n, "rank")["rank"].min()
        for _, r in ranked[(ranked["rank"] >= cut) & (ranked["rank"] != best)].iterrows():
            add("黑榜", r["unit_id"], f"{what}排名第 {int(r['rank'])}/{n}({show(r)}),位列后 {bottom_n}")
    lim = rule["outside_limit"]
    if lim and funnels:
        for ind, res in funnels.items():
            t = res.table
            s = res.extra["slice"]
            level_of = {_key(lv): lv for lv in res.extra["levels"]}
            key = _key(lim)
            if key not in level_of:
                raise ValueError(f"list rule: outside_limit {lim} is not one of the funnel's levels "
                                 f"{res.extra['levels']}")
            for _, r in t.iterrows():
                # the funnel's classification (exact tails under method="exact"); the position
                # names the widest level crossed, so "outside 95%" is not "outside 99.8%"
                side, _, crossed = str(r["position"]).partition("_")
                outside = side in ("below", "above") and level_of[crossed] >= lim
                below, above = outside and side == "below", outside and side == "above"
                if not outside or s.sign == 0:
                    continue
                bad = (below and s.sign > 0) or (above and s.sign < 0)
                bound = f"lower_{key}" if below else f"upper_{key}"
                text = (f"{s.indicator.name_zh} {fmt_value(r['value'], s.stat, s.unit_label)},"
                        f"{'低于' if below else '高于'} {lim * 100:g}% 控制{'下' if below else '上'}限"
                        f" {fmt_value(r[bound], s.stat, s.unit_label)}")
                add("黑榜" if bad else "红榜", r["unit_id"], text)
    rows = []
    black = {u for (lst, u) in reasons if lst == "黑榜"}
    for (lst, uid), texts in reasons.items():
        if lst == "红榜" and uid in black:
            continue
        note = ""
        if lst == "黑榜" and ("红榜", uid) in reasons:
            note = "另有红榜事由(" + ";".join(reasons[("红榜", uid)]) + "),因有黑榜事由不列入红榜"
        rows.append({"list": lst, "unit_id": uid, "name": (names or {}).get(uid, uid), "reasons": ";".join(texts),
                     "note": note})
    t = pd.DataFrame(rows, columns=["list", "unit_id", "name", "reasons", "note"])
    if len(t):
        order = {u: i for i, u in enumerate(ranked["unit_id"])}
        t["_o"] = t["unit_id"].map(order).fillna(math.inf)
        t = t.sort_values(["list", "_o"], ascending=[False, True]).drop(columns="_o").reset_index(drop=True)
        t = pd.concat([t[t["list"] == "红榜"], t[t["list"] == "黑榜"]], ignore_index=True)
    spec = _spec(rule, what, n, top_n, bottom_n)
    lines = []
    if n >= 2 and best == worst:
        lines.append(f"参与排名的 {n} 个单位{what}并列,不按排名列入红黑榜。")
    for lst in ("红榜", "黑榜"):
        part = t[t["list"] == lst]
        lines.append(f"{lst}:" + ("无" if part.empty else
                                  ";".join(f"{r['name']}({r['reasons']})" for _, r in part.iterrows())) + "。")
    return AnalysisResult(table=t, sentences=lines, spec=spec, extra={"rule": rule})


def _unranked(leagues: dict[str, pd.DataFrame] | None) -> set[str]:
    """Units some league table shows but does not rank for want of cases (``suppressed``)."""
    out: set[str] = set()
    for t in (leagues or {}).values():
        if "suppressed" in t:
            out |= set(t.loc[t["suppressed"].astype(bool), "unit_id"])
    return out


def _spec(rule, what, n, top_n, bottom_n) -> str:
    parts = [f"依据:{what}排名(共 {n} 个单位)",
             f"红榜为前 {top_n} 名、黑榜为后 {bottom_n} 名(并列同计)"]
    if (top_n, bottom_n) != (rule["red_top"], rule["black_bottom"]):
        parts.append(f"单位数不足 {2 * max(rule['red_top'], rule['black_bottom'])} 个,名额减为单位数的一半")
    if rule["outside_limit"]:
        parts.append(f"任一比较指标超出 {rule['outside_limit'] * 100:g}% 控制限:不利一侧列入黑榜,有利一侧列入红榜")
    parts.append("与末位并列的单位不因排名列入红榜,与首位并列的不因排名列入黑榜")
    parts.append("有黑榜事由的单位不列入红榜;样本量不足而未排名的单位不列入榜单")
    return "榜单规则:" + ";".join(parts) + "。"
