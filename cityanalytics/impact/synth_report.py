"""The synthetic control in the campaign report: which design the data allow, the synthetic
control of a campaign's treated place(s), and how it compares with the ITS and the DiD.

    from cityanalytics.impact.synth_report import choose_design, synth_for_report, show_synth
    choice = choose_design(rep.panel, rep.campaign)   # ITS only / DiD / synthetic control, and why
    sc = synth_for_report(rep)                        # None when the design does not apply
    show_synth(rep)                                   # the notebook's section

Design rule (stated to the reader): a campaign whose every unit is treated has no comparison
group, so only the interrupted time series (the place against its own past) applies; when
untreated units exist the DiD applies; when one or a few units (at most SYNTH_MAX_TREATED)
are treated and at least SYNTH_MIN_DONORS untreated units with a complete series exist, the
synthetic control applies and is the design of choice (one treated place gives a DiD a single
treated cluster, and a weighted mix of donors need not assume parallel trends). A staggered
roll-out is read with Callaway-Sant'Anna.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cityanalytics.impact.synth import SynthResult, synth_control
from cityanalytics.text import md_escape as E

SYNTH_MAX_TREATED = 3
SYNTH_MIN_DONORS = 5
DESIGN_ZH = {"its": "中断时间序列", "did": "双重差分", "synth": "合成控制", "staggered": "分批推行的双重差分"}


@dataclass
class DesignChoice:
    chosen: str  # its | did | synth | staggered
    applicable: list = field(default_factory=list)
    reason_zh: str = ""
    treated: list = field(default_factory=list)
    donors: list = field(default_factory=list)  # untreated units with a complete series


def _complete_units(panel: pd.DataFrame, column: str) -> tuple[list, list]:
    wide = panel.pivot_table(index="period", columns="unit_id", values=column, aggfunc="first", dropna=False)
    complete = [u for u in wide.columns if wide[u].notna().all()]
    gaps = [u for u in wide.columns if u not in complete]
    return complete, gaps


def choose_design(panel: pd.DataFrame, campaign, column: str = "") -> DesignChoice:
    column = column or _outcome_column(panel)
    units = sorted(set(panel["unit_id"].astype(str)))
    treated = [u for u in units if u in set(campaign.units)]
    untreated = [u for u in units if u not in set(campaign.units)]
    complete, _ = _complete_units(panel, column)
    donors = [u for u in untreated if u in complete]
    if campaign.staggered:
        return DesignChoice("staggered", ["staggered", "did"],
                            "各单位开始时间不同(分批推行):用 Callaway-Sant'Anna 双重差分,并与普通双向固定效应对照。",
                            treated, donors)
    if not untreated:
        return DesignChoice("its", ["its"], f"活动覆盖了数据中的全部 {len(units)} 个单位,没有未覆盖的对照单位:"
                            "只能用中断时间序列(以自身活动前的走势推算反事实)。", treated, donors)
    applicable = ["its", "did"]
    if len(treated) <= SYNTH_MAX_TREATED and len(donors) >= SYNTH_MIN_DONORS:
        applicable.append("synth")
        return DesignChoice("synth", applicable,
                            f"只有 {len(treated)} 个单位开展活动,另有 {len(donors)} 个未开展活动、数据完整的单位可作对照:"
                            "以合成控制为主(用对照单位的加权组合复现活动前走势,不依赖平行趋势假设),"
                            "并列出中断时间序列与双重差分作对照。", treated, donors)
    why = (f"处理单位 {len(treated)} 个(合成控制适用于至多 {SYNTH_MAX_TREATED} 个)" if len(treated) > SYNTH_MAX_TREATED
           else f"数据完整的对照单位仅 {len(donors)} 个(合成控制至少需要 {SYNTH_MIN_DONORS} 个)")
    return DesignChoice("did", applicable, f"有 {len(untreated)} 个未覆盖单位可作对照:以双重差分为主,"
                        f"中断时间序列作对照;{why},不做合成控制。", treated, donors)


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


def synth_for_report(rep, *, replications: int = 200, level: float = 0.95, seed: int = 0) -> SynthResult | None:
    """The synthetic control of the campaign's treated unit(s) (their mean when several), or
    None when ``choose_design`` says it does not apply."""
    col = rep.outcome.column if rep.outcome is not None else _outcome_column(rep.panel)
    choice = choose_design(rep.panel, rep.campaign, col)
    if "synth" not in choice.applicable:
        return None
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
    _, gaps = _complete_units(panel, col)
    dropped = [names.get(u, u) for u in gaps if u not in choice.treated]
    if dropped:
        sc.sentences.append(f"以下对照单位数据有缺期,未纳入供体池:{'、'.join(dropped)}。")
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


def show_synth(rep, sc: SynthResult | None = None, replications: int = 200) -> SynthResult | None:
    """The notebook's section: the design choice, then (when it applies) donors and weights, the gap
    with placebo lines, the interval, the warnings and the comparison with the ITS."""
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    col = rep.outcome.column if rep.outcome is not None else _outcome_column(rep.panel)
    choice = choose_design(rep.panel, rep.campaign, col)
    applies = "、".join(DESIGN_ZH[d] for d in choice.applicable)
    display(Markdown(f"**设计选择:{DESIGN_ZH[choice.chosen]}。** {E(choice.reason_zh)}(适用的设计:{applies}。)"))
    if "synth" not in choice.applicable:
        return None
    sc = sc if sc is not None else synth_for_report(rep, replications=replications)
    display(Markdown("\n".join(f"- {E(s)}" for s in sc.sentences)))
    display(weights_table(sc))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    sc.plot(ax=axes[0], kind="path")
    sc.plot(ax=axes[1], kind="gap")
    fig.tight_layout()
    display(fig)
    plt.close(fig)
    table, sentence = compare_designs(rep, sc)
    display(table)
    display(Markdown(E(sentence)))
    display(Markdown(f"<small>{E(sc.spec)}</small>"))
    return sc
