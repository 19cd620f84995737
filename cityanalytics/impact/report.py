"""The campaign report's sections, one function per notebook cell (``notebooks/campaign_impact.ipynb``),
drawn through ``cityanalytics.report.sections``; the display tables (Chinese headers, "−38.1%",
intervals as text) are made here from the report's numeric tables.

    import cityanalytics as ca
    from cityanalytics.impact import report

    rep = ca.impact.run("data/demo", campaign_id="C2022-BRGJ", freq="W")
    report.show_its(rep)             # the ITS effects table, path and half-life profile
    report.effects_table(rep, "did") # one design's effects as the report shows them
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cityanalytics.impact.analysis import CampaignReport
from cityanalytics.impact.panel import FREQ_ZH
from cityanalytics.impact.sentences import exposure_zh
from cityanalytics.report import sections
from cityanalytics.text import BLANK, fmt, md_escape, num

NOT_ESTIMABLE = "无法估计(数据不足)"


def scope_markdown(rep: CampaignReport) -> str:
    c = rep.campaign
    lo, hi = rep.panel.attrs.get("window", (rep.panel["period"].min(), rep.panel["period_end"].max()))
    units = "、".join(md_escape(rep.names.get(u, u)) for u in c.units)
    o = rep.outcome
    if o is None or o.source == "cases":
        how = "按上报时间计数" if o is None or o.is_count else "已处置案件的平均处置时长"
    else:
        how = f"观测值表指标 {o.indicator}" + (f",单位 {o.unit}" if o.unit else "")
    if o is not None and o.is_count:
        how += f",以{exposure_zh(rep.exposure)}为暴露量"
    col = o.column if o is not None else "count"
    size = (f"{num(int(rep.panel['count'].sum()))} 件目标类别案件" if col == "count"
            else f"{num(int(rep.panel[col].notna().sum()))} 个单位-时期观测值")
    lines = [f"**活动**:{md_escape(c.describe_zh())}", f"**覆盖单位**({len(c.units)} 个):{units}",
             f"**结果变量**:{md_escape(rep.outcome_label)}({md_escape(how)})",
             f"**设计**:{md_escape(rep.design_zh)}",
             f"**数据**:{md_escape(rep.workspace)},{pd.Timestamp(lo):%Y-%m-%d} 至 {pd.Timestamp(hi):%Y-%m-%d},"
             f"{FREQ_ZH[rep.freq]}度汇总,{rep.panel['unit_id'].nunique()} 个单位,{size}"]
    if rep.covariates:
        lines.append("**协变量**(双重差分):" + "、".join(md_escape(x) for x in rep.covariates))
    if rep.weights:
        lines.append(f"**权重**:{md_escape(rep.weights)}(双重差分为加权最小二乘,中断时间序列取加权平均)")
    if not c.staggered:
        ctrl = sorted(set(rep.panel["unit_id"]) - set(c.units))
        lines.insert(2, f"**对照单位**({len(ctrl)} 个):" + "、".join(md_escape(rep.names.get(u, u)) for u in ctrl))
    return "\n\n".join(lines)


# --- display tables from the numeric ones -------------------------------------------------------

def change_text(x) -> str:
    """A % change as the tables show it: '−38.1%' with its sign, '∞' where exp(b) overflowed."""
    return "∞" if not pd.isna(x) and math.isinf(x) else fmt(x, "+.1f", "%")


def interval_text(low, high, pct: bool = True) -> str:
    if pd.isna(low) or pd.isna(high):
        return NOT_ESTIMABLE
    if pct:
        return f"{change_text(low)} 至 {change_text(high)}"
    return f"{fmt(low, '+.3f')} 至 {fmt(high, '+.3f')}"


def effects_table(rep: CampaignReport, design: str) -> pd.DataFrame:
    """One design's effects (its, did, staggered) from ``rep.table``, with Chinese headers."""
    t = rep.table
    t = t[t["design"] == design]
    rows = []
    for _, r in t.iterrows():
        pct = r["scale"] == "pct"
        row = {"项目": r["label_zh"]}
        row["变化"] = change_text(r["estimate"]) if pct else f"{r['estimate']:+.3f}"
        row[f"{r['level']:.0%} 区间"] = interval_text(r["conf_low"], r["conf_high"], pct)
        row["系数"] = round(float(r["coef"]), 4)
        row["标准误"] = round(float(r["std_error"]), 4)
        row["p 值"] = None if pd.isna(r["p_value"]) else round(float(r["p_value"]), 4)
        if not pd.isna(r["averted_per_month"]):
            row["少发(件/月)"] = (f"{num(r['averted_per_month'])}({num(r['averted_per_month_low'])} 至 "
                                  f"{num(r['averted_per_month_high'])})")
        if not pd.isna(r["averted"]):
            row["少发合计(件)"] = num(r["averted"])
        rows.append(row)
    return pd.DataFrame(rows)


def event_table(result) -> pd.DataFrame:
    """The event study of a staggered roll-out, with Chinese headers."""
    es = result.event_study
    pct = "pct" in es.columns
    out = pd.DataFrame({"相对时期": es["event_time"].astype(int)})
    if pct:
        out["效应"] = es["pct"].map(change_text)
        out["95% 区间"] = [interval_text(a, b) for a, b in zip(es["pct_low"], es["pct_high"])]
    else:
        out["效应"] = es["coef"].round(3)
        out["95% 区间"] = [interval_text(a, b, pct=False) for a, b in zip(es["ci_low"], es["ci_high"])]
    out["p 值"] = es["p_value"].round(3)
    return out


def pretrend_table(result) -> pd.DataFrame:
    """The DiD's parallel-trend tests."""
    p = result.pretrend
    rows = []
    if not pd.isna(p.get("pretrend_p")):
        q, d2 = p["joint_df"]
        rows.append({"检验": "前置期系数联合为 0", "统计量": f"F({q},{d2}) = {p['joint_F']:.2f}",
                     "p 值": round(p["pretrend_p"], 4)})
    elif p.get("joint_note"):
        rows.append({"检验": "前置期系数联合为 0", "统计量": p["joint_note"], "p 值": None})
    if not pd.isna(p.get("pretrend_slope_p")):
        rows.append({"检验": "活动前处理组特有线性趋势为 0", "统计量": f"每期 {p['slope']:+.4f}(标准误 {p['slope_se']:.4f})",
                     "p 值": round(p["pretrend_slope_p"], 4)})
    return pd.DataFrame(rows)


def robustness_table(result) -> pd.DataFrame:
    """The robustness checks: how many, the share significant, the range of the estimates."""
    t = result.table
    out = pd.DataFrame({"检验": t["label_zh"], "次数": t["n"]})
    out["显著比例(5%)"] = t["share_significant"].map(lambda x: fmt(100 * x, ".0f", "%"))
    if result.extra["log_scale"]:
        def shown(x):
            return change_text(100 * math.expm1(x))
    else:
        def shown(x):
            return fmt(x, "+.3f")
    out["估计范围"] = [BLANK if pd.isna(a) else f"{shown(a)} 至 {shown(b)}" for a, b in zip(t["min"], t["max"])]
    if "p_value_ri" in t.columns:
        out["随机化 p 值"] = t["p_value_ri"].map(lambda x: "" if pd.isna(x) else f"{x:.3f}")
    return out


# --- the notebook's sections (one function per cell, so the JupyterLab explorer can re-render them) ---

def show_scope(rep: CampaignReport) -> None:
    sections.markdown(scope_markdown(rep))


def show_key_points(rep: CampaignReport) -> None:
    sections.bullets(rep.sentences, loose=True)
    if rep.warnings:
        sections.markdown("**设计提示**\n\n" + "\n".join(f"- {md_escape(w)}" for w in rep.warnings))


def _not_done(rep: CampaignReport, title_zh: str, otherwise: str = "") -> None:
    """The note saying why ``title_zh`` was not done, else ``otherwise`` (default: "<title>未做。")."""
    why = [n for n in rep.notes if n.startswith(title_zh + "未做")]
    sections.note(why[0] if why else (otherwise or f"{title_zh}未做。"))


def show_its(rep: CampaignReport) -> None:
    import matplotlib.pyplot as plt

    from cityanalytics.impact.plots import plot_profile

    if rep.its is None:
        if rep.campaign.staggered:
            sections.note("分批推行的活动各单位开始时间不同,不做单一序列的中断时间序列,见下文分批推行的双重差分。")
        else:
            _not_done(rep, "中断时间序列")
        return
    sections.table(effects_table(rep, "its"))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [2, 1]})
    rep.its.plot(ax=axes[0])
    if rep.its.profile is not None:
        plot_profile(rep.its, ax=axes[1])
    else:
        axes[1].axis("off")
    fig.tight_layout()
    sections.figure(fig)


def show_did(rep: CampaignReport) -> None:
    import matplotlib.pyplot as plt

    if rep.did is None and rep.staggered is None:
        _not_done(rep, "分批推行的双重差分" if rep.campaign.staggered else "双重差分")
        return
    for design in ("did", "staggered"):
        result = getattr(rep, design)
        if result is None:
            continue
        sections.table(effects_table(rep, design))
        if design == "did":
            sections.table(pretrend_table(result))
        fig, ax = plt.subplots(figsize=(10, 4))
        result.plot(ax=ax)
        sections.figure(fig)
        if design == "staggered":
            sections.table(event_table(result))


def show_robustness(rep: CampaignReport) -> None:
    if rep.robustness is None:
        _not_done(rep, "稳健性检验", "本次未做稳健性检验。")
        return
    sections.table(robustness_table(rep.robustness))
    sections.figure(np.ravel(rep.robustness.plot())[0].figure)


def show_spec(rep: CampaignReport) -> None:
    if rep.results:
        sections.bullets((r.spec for r in rep.results), loose=True)
    else:
        sections.markdown("没有完成的模型(数据不足),见设计提示。")
