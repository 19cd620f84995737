"""Page 1 of every report: the three to six findings a reviewer must see, and what changed.

Each analysis has a ``*_findings`` function that turns its result object (and the changes
since last period) into Chinese sentences, each with its number and interval:

- comparison: targets met or missed with their 红黄绿 light (绿: 已达标 or 按进度可达标,
  黄: 有风险, 红: 难以达标), the red and black lists, the biggest changes beyond the intervals;
- forecast: the city's forecast at the deadline and the chance of reaching the target, the
  units likely (≥ 90%) and unlikely (< 50%) to reach it, with their probabilities;
- campaign: the largest effect of each design with its interval, and whether it lasted;
- data quality: rows read, kept and rejected, and the worst problems.

A notebook's ``summary`` cell calls one ``show_*`` function on the result it already computed;
that stores the run's results (``history.save``, a no-op outside a report run), compares them
with the previous period's (``changes``) and shows the findings. The change section further
down (``show_changes``) reuses the same comparison: nothing is computed twice. Every sentence
is escaped where it is written into HTML: unit and campaign names come from the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from cityanalytics.report import changes as report_changes
from cityanalytics.report import history, resultsets, sections
from cityanalytics.text import fmt, html_escape, missing, pct

MAX_FINDINGS = 6
LIGHT = {"met": "绿", "on_track": "绿", "at_risk": "黄", "off_track": "红"}
LIKELY, UNLIKELY = 0.9, 0.5
CHECK_TERMS = ("pre_placebo", "twfe_static")  # a staggered roll-out's checks, not its effect
_PAGE = "_summary_page"  # where a result object keeps its page, for the change section


@dataclass
class Page:
    findings: list[str]
    changes: report_changes.Changes
    results: dict = field(default_factory=dict, repr=False)  # what was stored

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html_escape(s)}</li>" for s in self.findings)
        return f'<div class="ca-summary"><h2>摘要</h2><ol>{items}</ol></div>'

    def __str__(self) -> str:
        return "\n".join(f"{i}. {s}" for i, s in enumerate(self.findings, 1))


# --- small formatting helpers -------------------------------------------------------------------


def _prob(p) -> str:
    return fmt(p, ".0%")


def _names(items: list[str], most: int = 5) -> str:
    shown = "、".join(items[:most])
    return shown + (f" 等 {len(items)} 个" if len(items) > most else "")


def _cap(findings: list[str]) -> list[str]:
    return [s for s in findings if s][:MAX_FINDINGS]


# --- findings per analysis -----------------------------------------------------------------------


def comparison_findings(b, changes: report_changes.Changes | None = None) -> list[str]:
    """Targets with their light, the red and black lists, the city's main figure, the strongest
    changes; a report on one unit (``focus``) starts with that unit's figures and ranks."""
    focus = getattr(b, "focus", None)
    name = b.level.names.get(focus, focus) if focus else None
    out = [_focus_finding(b, focus, name)] if focus else []
    if b.targets is not None and len(b.targets.table):
        for _, g in b.targets.table.groupby("target_id", sort=False):
            out.append(_target_finding(g))
            if len(out) == 2:
                break
    if b.lists is not None:
        t = b.lists.table
        empty = []
        for label in ("红榜", "黑榜"):
            rows = t[t["list"] == label] if "list" in t else t.iloc[0:0]
            if len(rows):
                # each unit's first reason (the list's rule, or a control limit with its value)
                parts = [f"{r['name']}:{str(r['reasons']).split(';')[0]}" for _, r in rows.iterrows()]
                out.append(f"{label} {len(rows)} 个单位——" + ";".join(parts) + "。")
            else:
                empty.append(label)
        if empty:  # an empty list is a finding too: said, not left out
            out.append("、".join(empty) + ":本期没有单位入榜(入榜规则见“红黑榜”一节)。")
    elif b.skipped.get("lists"):
        out.append(b.skipped["lists"] + "。")
    out += _change_findings(changes, first=name)
    if len(out) < 3:
        city = b.level.names.get("city", "全市")
        lines = [s for r in b.leagues.values() for s in r.sentences if s.startswith(city)]
        out += lines[: 3 - len(out)]
    if not out:
        out = [*(b.notes[:1] or ["本报告没有可比较的指标。"])]
    return _cap(out)


def _target_finding(g: pd.DataFrame) -> str:
    first = g.iloc[0]
    target = f"{first['name_zh']}({first['scope']}){first['comparison']} {report_changes._fmt_indicator(first['indicator'], first['target'])}"
    city = g[g["unit_id"] == "city"]
    units = g[g["unit_id"] != "city"]
    text = f"{first['plan']}目标「{target}」,期限 {first['deadline']}:"
    if len(city):
        c = city.iloc[0]
        light = LIGHT.get(c["status"])
        text += (f"全市现值 {pct(c['value'])},按近期趋势到期预计 {pct(c['projection'])}"
                 f"(区间 {pct(c['proj_low'])} 至 {pct(c['proj_high'])}),{c['status_zh']}"
                 + (f"({light}灯)" if light else ""))
    counts = units["status"].map(LIGHT).value_counts()
    if len(units):
        text += (";各单位绿灯 {} 个、黄灯 {} 个、红灯 {} 个".format(
            int(counts.get("绿", 0)), int(counts.get("黄", 0)), int(counts.get("红", 0))))
        red = units[units["status"] == "off_track"]
        if len(red):
            text += "(红灯:" + "、".join(f"{r['name']} {pct(r['value'])}" for _, r in red.iterrows()) + ")"
        other = len(units) - int(counts.sum())
        if other:
            text += f",{other} 个数据不足无法判断"
    return text + "。"


def _focus_finding(b, focus: str, name: str) -> str:
    """The unit's value, interval and rank (with its rank interval) per indicator, its target
    statuses and its place on the lists, in one sentence."""
    parts = []
    for ind, r in b.leagues.items():
        row = r.table[r.table["unit_id"] == focus]
        if row.empty:
            continue
        x = row.iloc[0]
        text = (f"{resultsets.indicator_zh(ind)} {report_changes._fmt_indicator(ind, x['value'])}"
                f"(区间 {report_changes._fmt_indicator(ind, x['ci_low'])} 至 {report_changes._fmt_indicator(ind, x['ci_high'])})")
        if not missing(x.get("rank")):
            text += f",第 {x['rank']:g} 位(名次区间 {x['rank_low']:g}–{x['rank_high']:g})"
        parts.append(text)
        if len(parts) == 3:
            break
    if b.targets is not None and len(b.targets.table):
        mine = b.targets.table[b.targets.table["unit_id"] == focus]
        parts += [f"{t['name_zh']}目标{t['status_zh']}" + (f"({LIGHT[t['status']]}灯)" if t["status"] in LIGHT else "")
                  for _, t in mine.head(2).iterrows()]
    if b.lists is not None:
        on = b.lists.table.loc[b.lists.table["unit_id"] == focus, "list"].tolist()
        parts.append(f"本期在{'、'.join(on)}" if on else "本期未列入红黑榜")
    return f"{name}:" + ";".join(parts) + "。" if parts else f"{name}:本期没有可比较的数值。"


def _change_findings(changes: report_changes.Changes | None, n: int = 2, first: str | None = None) -> list[str]:
    """The ``n`` strongest changes beyond the intervals (those naming ``first`` before the rest)."""
    if changes is None or changes.previous is None:
        return []
    ranked = [c.sentence for c in changes.significant]
    if first:
        ranked = [s for s in ranked if s.startswith(first)] + [s for s in ranked if not s.startswith(first)]
    strongest = ranked[:n]
    return ["与上期相比:" + s for s in strongest] if strongest else [
        f"与上期({changes.previous})相比,没有超出区间的变化。"]


def forecast_findings(res, changes: report_changes.Changes | None = None) -> list[str]:
    """The city's forecast and chance, units likely and unlikely to reach the target, changes."""
    if res is None or res.table is None or res.table.empty:
        return ["没有可预测的单位。"]
    from cityanalytics.forecast.tables import labelled

    t = labelled(res)  # the numbers, with the target as the report says it
    lo_level = min(res.levels) if res.levels else 0.8
    tag = f"{lo_level * 100:.0f}"
    lo, hi = f"fc_lo{tag}", f"fc_hi{tag}"
    out = []
    city = t[t["unit_id"] == "city"]
    has_target = "p_reach" in t.columns and t["p_reach"].notna().any()
    if len(city):
        c = city.iloc[0]
        text = (f"全市覆盖率现为 {pct(c['share'])},到 {c['deadline']} 预计 {pct(c['fc_median'])}"
                f"({tag}% 预测区间 {pct(c.get(lo))} 至 {pct(c.get(hi))})")
        if has_target and not missing(c["p_reach"]):
            text += f",达到 {c['target_text']} 目标的概率为 {_prob(c['p_reach'])}"
        out.append(text + "。")
    units = t[(t["unit_id"] != "city") & t["p_reach"].notna()] if has_target else t.iloc[:0]
    done = units[units["status"] == "complete"]
    open_units = units[units["status"] != "complete"]
    likely = open_units[open_units["p_reach"] >= LIKELY].sort_values("p_reach", ascending=False)
    unlikely = open_units[open_units["p_reach"] < UNLIKELY].sort_values("p_reach")
    if len(likely) or len(done):
        parts = [f"{r['unit_name']}({_prob(r['p_reach'])})" for _, r in likely.iterrows()]
        text = f"很可能按期达标(概率不低于 {LIKELY:.0%})的单位 {len(likely)} 个"
        text += (":" + _names(parts)) if parts else ""
        out.append(text + (f";另有 {len(done)} 个单位已全覆盖" if len(done) else "") + "。")
    if len(unlikely):
        parts = [f"{r['unit_name']}({_prob(r['p_reach'])},到期预计 {pct(r['fc_median'])},"
                 f"区间 {pct(r.get(lo))} 至 {pct(r.get(hi))})" for _, r in unlikely.iterrows()]
        out.append(f"不太可能按期达标(概率低于 {UNLIKELY:.0%})的单位 {len(unlikely)} 个:" + _names(parts, 4) + "。")
    elif has_target and len(open_units):
        out.append(f"没有达标概率低于 {UNLIKELY:.0%} 的单位。")
    out += _change_findings(changes)
    return _cap(out or list(res.sentences[:3]))


def campaign_findings(rep, changes: report_changes.Changes | None = None) -> list[str]:
    """Each design's largest effect and the effect at the campaign's end with its persistence."""
    stored = resultsets.campaign(rep).get("effects")
    out = []
    if stored is not None:
        for method, g in stored.groupby("method", sort=False):
            phases = g[~g["term"].isin(["post", *CHECK_TERMS])]
            if len(phases):
                # the largest effect whose interval excludes 0; when none does, the largest
                excludes_zero = pd.Series([not _spans_zero(r) for _, r in phases.iterrows()], index=phases.index)
                clear = phases[excludes_zero & phases["estimate"].notna()]
                pool = clear if len(clear) else phases[phases["estimate"].notna()]
                r = pool.loc[pool["estimate"].abs().idxmax()] if len(pool) else phases.iloc[0]
                label = r["label_zh"] if "效应" in r["label_zh"] else f"{r['label_zh']}效应"
                out.append(f"{r['method_zh']}:{label} {_effect(r)}"
                           + ("(在区间内不能排除为 0)" if _spans_zero(r) else "") + "。")
            post = g[g["term"] == "post"]
            if len(post):
                out.append(f"{post.iloc[0]['method_zh']}:" + _persistence(post.iloc[0]) + "。")
    synth = _synth_finding(rep)
    if synth:  # the design the data chose for a campaign without untreated units inside it leads
        out.insert(0, synth)
    if rep.warnings:
        out.append("注意:" + str(rep.warnings[0]).removeprefix("注意:"))
    out += _change_findings(changes)
    if not out:
        out = [*(rep.notes[:1] or ["本报告没有可估计的效应。"])]
    return _cap(out)


def _synth_finding(rep) -> str:
    """The synthetic difference-in-differences estimate with its placebo interval, when the
    design chooser says a synthetic control applies (one fit, shared with the section)."""
    from cityanalytics.impact import synth_report

    campaign = getattr(rep, "campaign", None)
    if campaign is None or getattr(rep, "panel", None) is None or campaign.staggered \
            or "synth" not in synth_report.choice_for(rep).applicable:
        return ""
    try:
        sc = synth_report.synth_for_report(rep)
    except ValueError:  # the section says why it was not done
        return ""
    sd = (sc.inference or {}).get("sdid") if sc is not None else None
    if not sd:
        return ""
    perm = (sc.inference or {}).get("permutation") or {}
    rank = f";置换检验排名 {perm['rank']}/{perm['n']}(p = {perm['p_value']:.2f})" if perm.get("n") else ""
    return (f"合成双重差分:活动开始后平均效应 {sd['estimate']:+.3f}({sd['level']:.0%} 区间 "
            f"{sd['lo']:+.3f} 至 {sd['hi']:+.3f}),合成控制平均差距 {sc.att:+.3f}{rank}。")


def _effect(r) -> str:
    level = f"{r['level'] * 100:.0f}%"
    if r["scale"] == "pct":
        return f"{r['estimate']:+.1f}%({level} 区间 {r['ci_low']:+.1f}% 至 {r['ci_high']:+.1f}%)"
    return f"{r['estimate']:+.3f}({level} 区间 {r['ci_low']:+.3f} 至 {r['ci_high']:+.3f})"


def _spans_zero(r) -> bool:
    return not missing(r["ci_low"]) and not missing(r["ci_high"]) and r["ci_low"] <= 0 <= r["ci_high"]


def _persistence(r) -> str:
    text = f"活动结束时效应 {_effect(r)}"
    hl, lo, hi = r["half_life"], r["half_life_low"], r["half_life_high"]
    if r["persistent"] is True or (not missing(r["persistent"]) and bool(r["persistent"])):
        return text + (f",数据不能排除效应持续不衰减(半衰期下限 {lo:.0f} 天)" if not missing(lo) else ",效应持续")
    if not missing(hl) and math.isfinite(hl):
        upper = "无穷" if missing(hi) or not math.isfinite(hi) else f"{hi:.0f}"
        return text + f",此后逐步减弱,半衰期约 {hl:.0f} 天(区间 {lo:.0f} 至 {upper} 天)"
    return text


def quality_findings(loaded, changes: report_changes.Changes | None = None) -> list[str]:
    """Rows read, kept and rejected; the most frequent rejection reasons; missing tables; order faults."""
    from cityanalytics import quality
    from cityanalytics.stats.intervals import wilson

    results = resultsets.quality(loaded)
    counts = results["load_counts"]
    read = counts[counts["loaded"].astype(bool)]
    out = []
    if len(read):
        n_read, n_kept, n_rej = (int(read[c].sum()) for c in ("rows_read", "rows_kept", "rows_rejected"))
        share, low, high = (float(x) for x in wilson(n_rej, max(n_read, 1)))
        out.append(f"读入 {len(read)} 张表共 {n_read:,} 行,保留 {n_kept:,} 行,拒绝 {n_rej:,} 行"
                   f"(拒绝比例 {share:.2f}%,95% 区间 {low:.2f}% 至 {high:.2f}%)。")
    else:
        out.append("工作区没有可读入的规范表。")
    rejections = results["rejections"]
    if len(rejections):
        top = rejections.head(3)
        parts = [f"{quality.table_label(r['table'])}{'「' + str(r['column']) + '」' if r['column'] else ''}"
                 f"{r['reason']} {int(r['rows']):,} 行" for _, r in top.iterrows()]
        out.append("拒绝最多的原因:" + ";".join(parts) + "。")
    elif len(read):
        out.append("没有被拒绝的行。")
    broken = counts[~counts["loaded"].astype(bool) & (counts["problem"] != "file not found")]
    for _, r in broken.head(2).iterrows():
        out.append(f"{r['table_zh']}无法读入:{r['problem']}。")
    try:
        order = quality.out_of_order(loaded)
        bad = order[order["保留数据中违反"] > 0] if len(order) else order
    except Exception:  # a table without the columns a rule needs: the section itself says so
        bad = pd.DataFrame()
    if len(bad):
        out.append(f"保留数据中仍有 {int(bad['保留数据中违反'].sum()):,} 行时间顺序错误(应为 0)。")
    missing = quality.absent(loaded)
    if missing:
        out.append(f"工作区缺 {len(missing)} 张规范表,其指标不能计算(表名见导言)。")  # named once, below
    out += _change_findings(changes)
    return _cap(out)


# --- what the notebooks call ---------------------------------------------------------------------


def compare_with_previous(results: dict, period=None) -> report_changes.Changes:
    """Store ``results`` (in a report run) and compare them with the same run's previous period."""
    history.save_all(results)
    ctx = history.context()
    prev = history.previous()
    return report_changes.compare(results, prev[1] if prev else None, period=ctx.period or (str(period) if period else None),
                     previous_period=prev[0] if prev else None)


def _page(state, results, findings, period=None) -> Page:
    page = getattr(state, _PAGE, None)
    if page is None:
        changes = compare_with_previous(results(), period)
        page = Page(findings(state, changes), changes)
        try:
            setattr(state, _PAGE, page)
        except AttributeError:  # an object that takes no attributes: the page is simply not reused
            pass
    return page


def comparison_page(b) -> Page:
    return _page(b, lambda: resultsets.comparison(b), comparison_findings, b.period)


def forecast_page(res) -> Page:
    return _page(res, lambda: resultsets.forecast(res), forecast_findings)


def campaign_page(rep) -> Page:
    return _page(rep, lambda: resultsets.campaign(rep), campaign_findings)


def quality_page(loaded, period: str | None = None) -> Page:
    return _page(loaded, lambda: resultsets.quality(loaded, period), quality_findings, period or None)


def show_comparison(b) -> None:
    sections.show(comparison_page(b))


def show_forecast(res) -> None:
    from cityanalytics.forecast.report import absent

    if absent(res):  # nothing forecast: the one line saying why, instead of the page
        return
    sections.show(forecast_page(res))


def show_campaign(rep) -> None:
    sections.show(campaign_page(rep))


def show_quality(loaded, period: str | None = None) -> None:
    sections.show(quality_page(loaded, period))


PAGES = {"Bulletin": comparison_page, "ForecastResult": forecast_page, "CampaignReport": campaign_page,
         "Loaded": quality_page}


def show_changes(state) -> None:
    """The change section of whichever analysis ``state`` is (its page is made once)."""
    make = PAGES.get(type(state).__name__)
    if make is None:
        raise TypeError(f"show_changes: no summary page for a {type(state).__name__}")
    sections.show(make(state).changes)
