"""The synthetic control in the campaign report: which design the data allow, the synthetic
control of a campaign's treated place(s), and how it compares with the ITS and the DiD.

    from cityanalytics.impact.synth_report import choose_design, synth_for_report, show_synth
    choice = choose_design(rep.panel, rep.campaign)   # ITS only / DiD / synthetic control, and why
    sc = synth_for_report(rep)                        # None when the design does not apply
    show_synth(rep)                                   # the notebook's section

The design rule (which designs apply, which one leads, and why, with its thresholds) is
``design_choice.choose_design``; this module runs the synthetic control when it applies and
renders the section: the choice, donors and weights, the gap with placebo lines, the interval,
the warnings, the effects by phase next to the ITS and DiD, and every design on one estimand
with a sentence on whether they agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityanalytics.impact.design_choice import DesignChoice, agreement, choose_design, side_by_side
from cityanalytics.impact.synth import SynthResult, synth_control
from cityanalytics.report.tables import show_table
from cityanalytics.text import md_escape as E

SYNTH_CHECKS_ZH = "活动前拟合、处理单位是否在对照单位的凸包内、单一对照单位占权重、活动前期数"
DESIGN_ZH = {"its": "中断时间序列", "did": "双重差分", "synth": "合成控制", "staggered": "分批推行的双重差分", "": "无"}


def _outcome_column(panel: pd.DataFrame) -> str:
    for c in ("value", "count", "disposal_hours"):
        if c in panel.columns:
            return c
    raise ValueError(f"the panel has no outcome column (value, count or disposal_hours): {list(panel.columns)}")


def _period_of(periods: pd.Series, ends: pd.Series, day) -> pd.Timestamp:
    """The period that contains ``day`` (the last one when the day is past the data)."""
    day = pd.Timestamp(day)
    inside = (periods <= day) & (ends >= day)
    if inside.any():
        return periods[inside].iloc[0]
    return periods[periods <= day].iloc[-1] if (periods <= day).any() else periods.iloc[0]


def choice_for(rep) -> DesignChoice:
    """``design_choice.choose_design`` on the report's panel, with its campaigns table (units
    covered by another campaign on the same outcome are no donors)."""
    col = rep.outcome.column if rep.outcome is not None else _outcome_column(rep.panel)
    o = rep.outcome
    names = ((o.indicator,) if o.source == "observations" else tuple(o.subcategories)) if o is not None else ()
    return choose_design(rep.panel, rep.campaign, col, campaigns=(rep.tables or {}).get("campaigns"),
                         outcome_names=names or rep.campaign.outcomes, freq=rep.freq)


def synth_for_report(rep, *, replications: int = 200, level: float = 0.95, seed: int = 0) -> SynthResult | None:
    """The synthetic control of the campaign's treated unit(s) (their mean when several), or
    None when ``choose_design`` says it does not apply. Kept on the report, so page 1 and the
    section further down share one fit (and one set of placebos)."""
    key = (replications, level, seed)
    cache = rep.__dict__.setdefault("_synth_cache", {})
    if key not in cache:
        cache[key] = _synth_for_report(rep, replications=replications, level=level, seed=seed)
    return cache[key]


def _synth_for_report(rep, *, replications: int, level: float, seed: int) -> SynthResult | None:
    choice = choice_for(rep)
    if "synth" not in choice.applicable:
        return None
    col = rep.outcome.column if rep.outcome is not None else _outcome_column(rep.panel)
    panel = rep.panel
    wide = panel.pivot_table(index="period", columns="unit_id", values=col, aggfunc="first", dropna=False)
    ends = panel.drop_duplicates("period").set_index("period")["period_end"].reindex(wide.index)
    periods = pd.Series(wide.index, index=wide.index)
    names = rep.names or {}
    label = (names.get(choice.treated[0], choice.treated[0]) if len(choice.treated) == 1
             else f"{rep.campaign.name_zh}覆盖单位平均")
    Y = pd.DataFrame({label: wide[choice.treated].mean(axis=1, skipna=False)})
    shown = {u: names.get(u, u) for u in choice.donors}
    if len(set(shown.values())) < len(shown):  # two donors share a name: keep the ids
        shown = {u: f"{names.get(u, u)}({u})" for u in choice.donors}
    for u in choice.donors:
        Y[shown[u]] = wide[u]
    if Y[label].isna().any():
        first = Y.index[Y[label].isna()][0]
        raise ValueError(f"the treated series {label!r} has no value for period {first:%Y-%m-%d}: the synthetic "
                         "control needs every period")
    start = _period_of(periods, ends, rep.campaign.start)
    phases = [(p.name, _period_of(periods, ends, p.start), _period_of(periods, ends, p.end))
              for p in rep.campaign.phases]
    sc = synth_control(Y, label, start, phases=phases, sdid_replications=replications, level=level, seed=seed,
                       unit_label="对照单位", outcome_zh=rep.outcome_label)
    if choice.excluded:
        left = "、".join(f"{names.get(u, u)}({why})" for u, why in choice.excluded.items())
        sc.sentences.append(f"以下未覆盖单位未纳入供体池:{left}。")
    sc.options["choice"] = choice
    return sc


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
            row[f"{tag}区间"] = f"{lo:+.2f} 至 {hi:+.2f}"
            if tag == "中断时间序列" and np.isfinite(lo):
                total += 1
                g = ph.at[name, "mean_gap"]
                agree += int(lo <= g <= hi and np.sign(g) == np.sign(c))
        rows.append(row)
    sd = sc.inference.get("sdid") if sc.inference else None
    if sd:
        rows.append({"阶段": "活动开始后平均", "合成控制(平均差距)": sc.att,
                     "合成双重差分": sd["estimate"], "合成双重差分区间": f"{sd['lo']:+.2f} 至 {sd['hi']:+.2f}"})
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
    return pd.DataFrame({"对照单位": w["donor"].to_numpy(), "权重": [f"{x:.1%}" for x in w["weight"]]})


def _num(x: float, scale: str) -> str:
    if x is None or x != x:
        return "—"
    return f"{x:+.1f}%" if scale == "pct" else f"{x:+.3g}"


def common_table(table: pd.DataFrame) -> pd.DataFrame:
    """``design_choice.side_by_side`` with Chinese headers, for the reader."""
    rows = []
    for _, r in table.iterrows():
        ci = ("—(见置换 p 值)" if r["design"] == "synth" else "无法估计") if r["ci_low"] != r["ci_low"] else \
            f"{_num(r['ci_low'], r['scale'])} 至 {_num(r['ci_high'], r['scale'])}"
        rows.append({"设计": r["method_zh"], "活动开始后平均效应": _num(r["estimate"], r["scale"]),
                     f"{r['level']:.0%} 区间": ci, "p 值": "" if r["p_value"] != r["p_value"] else f"{r['p_value']:.3f}"})
    return pd.DataFrame(rows)


def agreement_zh(table: pd.DataFrame) -> str:
    """One sentence: do the designs that ran agree on the effect since the start?"""
    a = agreement(table)
    if a["n"] < 2:
        return "只有一种设计给出了估计,无从比较。" if a["n"] else "没有可比较的估计。"
    scale = table["scale"].iloc[0]
    lo, hi = a["range"]
    spread = f"估计在 {_num(lo, scale)} 至 {_num(hi, scale)} 之间"
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
    return (f"合成控制与中断时间序列比较:活动开始后平均效应,合成控制 {_num(sc_est, d['scale'])}"
            f"(合成双重差分区间 {_num(d['ci_low'], d['scale'])} 至 {_num(d['ci_high'], d['scale'])}),"
            f"中断时间序列 {_num(i['estimate'], i['scale'])}(区间 {_num(i['ci_low'], i['scale'])} 至 "
            f"{_num(i['ci_high'], i['scale'])});" + ("方向相同" if same else "方向相反")
            + (",区间重叠,两者一致。" if overlap else ",区间不重叠:以对照城市为参照与以自身历史为参照得出的效应大小不同,"
               "中断时间序列不能排除同期的共同冲击,合成控制可以。"))


def show_synth(rep, sc: SynthResult | None = None, replications: int = 200) -> SynthResult | None:
    """The notebook's section: the design choice and why, then (when it applies) donors and
    weights, the gap with placebo lines, the interval, the warnings, the effects by phase next to
    the ITS and DiD; last, every design that applies on one estimand and whether they agree."""
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    choice = choice_for(rep)
    display(Markdown(f"**设计选择:{DESIGN_ZH[choice.chosen]}。** {E(choice.reason_zh)}"))
    rows = "\n".join(f"| {E(d.name_zh)} | {'是' if d.applies else '否'} | {E(d.reason_zh)} |" for d in choice.designs)
    display(Markdown("| 设计 | 适用 | 理由 |\n| --- | --- | --- |\n" + rows + "\n\n" + E(choice.summary_zh)))
    if "synth" in choice.applicable and sc is None:
        try:
            sc = synth_for_report(rep, replications=replications)
        except ValueError as exc:  # the data cannot carry it after all: say why, as the other sections do
            display(Markdown(f"合成控制未做:{E(exc)}"))
    if sc is not None:
        warned = [str(w) for w in sc.warnings]
        display(Markdown("\n".join(f"- {E(s)}" for s in sc.sentences if s not in warned)))
        if warned:
            display(Markdown("**合成控制设计提示**\n\n" + "\n".join(f"- {E(w)}" for w in warned)))
        else:
            display(Markdown(f"**合成控制设计提示**:无(已检查{SYNTH_CHECKS_ZH})。"))
        display(show_table(weights_table(sc)))
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        sc.plot(ax=axes[0], kind="path")
        sc.plot(ax=axes[1], kind="gap")
        fig.tight_layout()
        display(fig)
        plt.close(fig)
        table, sentence = compare_designs(rep, sc)
        display(Markdown("**分阶段效应**(合成控制为该阶段各期的平均差距,中断时间序列与双重差分为阶段系数)"))
        display(show_table(table, decimals=3))
        display(Markdown(E(sentence)))
    common = side_by_side(rep, choice, sc)
    if len(common):
        display(Markdown("**各设计同一口径的估计**(活动开始后至数据末的平均效应;中断时间序列与双重差分按一个水平项重估)"))
        display(show_table(common_table(common)))
        lines = [agreement_zh(common), its_versus_sc_zh(common), *common.attrs.get("notes", [])]
        display(Markdown("\n\n".join(E(x) for x in lines if x)))
    if sc is not None:
        display(Markdown(f"<small>{E(sc.spec)}</small>"))
    return sc
