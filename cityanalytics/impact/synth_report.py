"""The synthetic control in the campaign report: which design the data allow, the synthetic
control of a campaign's treated place(s), and how it compares with the ITS and the DiD.

    from cityanalytics.impact.synth_report import choice_for, synth_for_report, show_synth
    choice = choice_for(rep)       # ITS only / DiD / synthetic control, and why
    sc = synth_for_report(rep)     # None when the design does not apply (also rep.synth)
    show_synth(rep)                # the notebook's section

The design rule (which designs apply, which one leads, and why, with its thresholds) is
``design_choice.choose_design``; ``analysis`` runs the synthetic control when it applies; this
module renders the section through ``cityanalytics.report.sections``: the choice, donors and weights, the gap with placebo lines, the interval,
the warnings, the effects by phase next to the ITS and DiD, and every design on one estimand
with a sentence on whether they agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityanalytics.impact.analysis import choice_for, synth_for_report
from cityanalytics.impact.design_choice import agreement, side_by_side
from cityanalytics.impact.synth import SynthResult
from cityanalytics.report import sections
from cityanalytics.text import BLANK, fmt, md_escape, yes_no

__all__ = ["choice_for", "synth_for_report", "compare_designs", "weights_table", "common_table", "agreement_zh",
           "its_versus_sc_zh", "show_synth"]

SYNTH_CHECKS_ZH = "活动前拟合、处理单位是否在对照单位的凸包内、单一对照单位占权重、活动前期数"
DESIGN_ZH = {"its": "中断时间序列", "did": "双重差分", "synth": "合成控制", "staggered": "分批推行的双重差分", "": "无"}


def _phase_effects(result) -> pd.DataFrame:
    if result is None:
        return pd.DataFrame(columns=["phase", "coef", "ci_low", "ci_high"])
    t = result.table
    rows = t[t["term"].astype(str).str.startswith("phase:")]
    return pd.DataFrame({"phase": rows["term"].str.removeprefix("phase:"), "coef": rows["coef"],
                         "ci_low": rows["ci_low"], "ci_high": rows["ci_high"]})


def compare_designs(rep, sc: SynthResult) -> tuple[pd.DataFrame, str]:
    """Effects by phase, side by side (outcome's unit), and one sentence on whether they agree:
    the synthetic control's mean gap over a phase's periods agrees with a design when it has the
    same sign and lies inside that design's interval."""
    ph = sc.phases.set_index("phase")
    rows, agree, total = [], 0, 0
    its_eff = _phase_effects(rep.its).set_index("phase") if rep.its is not None else None
    did_eff = _phase_effects(rep.did).set_index("phase") if rep.did is not None else None
    for name in [p.name for p in rep.campaign.phases]:
        if name not in ph.index:
            continue
        row = {"阶段": name, "合成控制(平均差距)": ph.at[name, "mean_gap"]}
        for tag, eff in (("中断时间序列", its_eff), ("双重差分", did_eff)):
            if eff is None or name not in eff.index:
                continue
            c, lo, hi = eff.loc[name, ["coef", "ci_low", "ci_high"]]
            row[tag] = c
            row[f"{tag}区间"] = f"{fmt(lo, '+.2f')} 至 {fmt(hi, '+.2f')}"
            if tag == "中断时间序列" and np.isfinite(lo):
                total += 1
                g = ph.at[name, "mean_gap"]
                agree += int(lo <= g <= hi and np.sign(g) == np.sign(c))
        rows.append(row)
    sd = sc.inference.get("sdid") if sc.inference else None
    if sd:
        rows.append({"阶段": "活动开始后平均", "合成控制(平均差距)": sc.att,
                     "合成双重差分": sd["estimate"], "合成双重差分区间": f"{fmt(sd['lo'], '+.2f')} 至 {fmt(sd['hi'], '+.2f')}"})
    table = pd.DataFrame(rows)
    if total == 0:
        sentence = "中断时间序列没有可比的分阶段区间,无法逐阶段比较两种设计。"
    elif agree == total:
        sentence = (f"合成控制与中断时间序列结论一致:{total} 个阶段的合成控制估计均与中断时间序列同号,"
                    "且落在其 95% 区间内。")
    else:
        sentence = (f"合成控制与中断时间序列在 {total} 个阶段中有 {total - agree} 个不一致(不同号或落在区间外):"
                    "两种设计的假设不同(自身趋势外推 vs 对照单位加权组合),请结合拟合误差与安慰剂检验判断。")
    return table, sentence


def weights_table(sc: SynthResult, top: int = 10) -> pd.DataFrame:
    w = sc.weights[sc.weights["weight"] >= 0.001].head(top)
    return pd.DataFrame({"对照单位": w["donor"].to_numpy(), "权重": [fmt(x, ".1%") for x in w["weight"]]})


def _on_scale(x: float, scale: str) -> str:
    """An effect on its scale: % change (pct) or three significant digits in the outcome's unit."""
    return fmt(x, "+.1f", "%") if scale == "pct" else fmt(x, "+.3g")


def common_table(table: pd.DataFrame) -> pd.DataFrame:
    """``design_choice.side_by_side`` with Chinese headers, for the reader."""
    rows = []
    for _, r in table.iterrows():
        ci = (f"{BLANK}(见置换 p 值)" if r["design"] == "synth" else "无法估计") if pd.isna(r["ci_low"]) else \
            f"{_on_scale(r['ci_low'], r['scale'])} 至 {_on_scale(r['ci_high'], r['scale'])}"
        rows.append({"设计": r["method_zh"], "活动开始后平均效应": _on_scale(r["estimate"], r["scale"]),
                     f"{r['level']:.0%} 区间": ci, "p 值": "" if pd.isna(r["p_value"]) else f"{r['p_value']:.3f}"})
    return pd.DataFrame(rows)


def agreement_zh(table: pd.DataFrame) -> str:
    """One sentence: do the designs that ran agree on the effect since the start?"""
    a = agreement(table)
    if a["n"] < 2:
        return "只有一种设计给出了估计,无从比较。" if a["n"] else "没有可比较的估计。"
    scale = table["scale"].iloc[0]
    lo, hi = a["range"]
    spread = f"估计在 {_on_scale(lo, scale)} 至 {_on_scale(hi, scale)} 之间"
    sign = "方向一致(均为" + ("减少" if hi < 0 else "增加") + ")" if a["same_sign"] else "方向不一致"
    if a["n_intervals"] < 2:
        return f"{a['n']} 种设计的{sign},{spread};可比的区间不足两个,不判断区间是否重叠。"
    if a["same_sign"] and a["overlap"]:
        tail = "区间相互重叠,各设计结论一致" + (",且区间均不含 0。" if a["all_exclude_zero"] else "。")
    elif a["overlap"]:
        tail = "区间相互重叠,但点估计方向不同:效应可能很小,不能确定方向。"
    else:
        tail = "区间并不都重叠:各设计对效应大小的判断不同,差异来自各自的假设(自身趋势外推、平行趋势、对照单位加权组合),请结合活动前拟合与安慰剂检验判断哪一个可信。"
    return f"{a['n']} 种设计的{sign},{spread};{tail}"


def its_versus_sc_zh(table: pd.DataFrame) -> str:
    """The synthetic control (its SDID interval) against the ITS on the same estimand."""
    t = table.set_index("design")
    if "its" not in t.index or "sdid" not in t.index:
        return ""
    i, d = t.loc["its"], t.loc["sdid"]
    sc_est = t.loc["synth", "estimate"] if "synth" in t.index else d["estimate"]
    overlap = max(i["ci_low"], d["ci_low"]) <= min(i["ci_high"], d["ci_high"])
    same = (sc_est > 0) == (i["estimate"] > 0)
    return (f"合成控制与中断时间序列比较:活动开始后平均效应,合成控制 {_on_scale(sc_est, d['scale'])}"
            f"(合成双重差分区间 {_on_scale(d['ci_low'], d['scale'])} 至 {_on_scale(d['ci_high'], d['scale'])}),"
            f"中断时间序列 {_on_scale(i['estimate'], i['scale'])}(区间 {_on_scale(i['ci_low'], i['scale'])} 至 "
            f"{_on_scale(i['ci_high'], i['scale'])});" + ("方向相同" if same else "方向相反")
            + (",区间重叠,两者一致。" if overlap else ",区间不重叠:以对照城市为参照与以自身历史为参照得出的效应大小不同,"
               "中断时间序列不能排除同期的共同冲击,合成控制可以。"))


def show_synth(rep, sc: SynthResult | None = None, replications: int = 200) -> SynthResult | None:
    """The notebook's section: the design choice and why, then (when it applies) donors and
    weights, the gap with placebo lines, the interval, the warnings, the effects by phase next to
    the ITS and DiD; last, every design that applies on one estimand and whether they agree."""
    import matplotlib.pyplot as plt

    choice = choice_for(rep)
    sections.markdown(f"**设计选择:{DESIGN_ZH[choice.chosen]}。** {md_escape(choice.reason_zh)}")
    rows = "\n".join(f"| {md_escape(d.name_zh)} | {yes_no(d.applies)} | {md_escape(d.reason_zh)} |"
                     for d in choice.designs)
    sections.markdown("| 设计 | 适用 | 理由 |\n| --- | --- | --- |\n" + rows + "\n\n" + md_escape(choice.summary_zh))
    if "synth" in choice.applicable and sc is None:
        try:
            sc = synth_for_report(rep, replications=replications)
        except ValueError as exc:  # the data cannot carry it after all: say why, as the other sections do
            sections.note(f"合成控制未做:{exc}")
    if sc is not None:
        warned = [str(w) for w in sc.warnings]
        sections.bullets([s for s in sc.sentences if s not in warned])
        if warned:
            sections.markdown("**合成控制设计提示**\n\n" + "\n".join(f"- {md_escape(w)}" for w in warned))
        else:
            sections.markdown(f"**合成控制设计提示**:无(已检查{SYNTH_CHECKS_ZH})。")
        sections.table(weights_table(sc))
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        sc.plot(ax=axes[0], kind="path")
        sc.plot(ax=axes[1], kind="gap")
        fig.tight_layout()
        sections.figure(fig)
        table, sentence = compare_designs(rep, sc)
        sections.markdown("**分阶段效应**(合成控制为该阶段各期的平均差距,中断时间序列与双重差分为阶段系数)")
        sections.table(table, decimals=3)
        sections.note(sentence)
    common = side_by_side(rep, choice, sc)
    if len(common):
        sections.markdown("**各设计同一口径的估计**(活动开始后至数据末的平均效应;中断时间序列与双重差分按一个水平项重估)")
        sections.table(common_table(common))
        lines = [agreement_zh(common), its_versus_sc_zh(common), *common.attrs.get("notes", [])]
        sections.paragraphs(lines)
    if sc is not None:
        sections.markdown(f"<small>{md_escape(sc.spec)}</small>")
    return sc
