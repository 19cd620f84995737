"""What ``notebooks/campaign_impact.ipynb`` calls: load, pick the campaign and the outcome, run
the analyses, and give tables with Chinese headers.

    rep = analyse(workspace="data/demo", campaign_id="C2022-BRGJ", freq="W")
    rep = analyse(workspace="ws", phases={...}, treated_units=[...], outcome="waste_per_capita")
    rep.sentences            # the key points
    display_table(rep.its)   # any result's table, with Chinese column names

The tables come from a workspace (``cityanalytics.workspace``). The outcome is case counts
(Poisson or negative binomial, an exposure as the offset) or a value per unit and period
from the observations table (Gaussian), through the same ITS and DiD (see ``impact.inputs``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.inputs import (Outcome, build_panel, join_columns, load_inputs, resolve_outcome,
                                         unit_names)
from cityanalytics.impact.panel import FREQ_ZH
from cityanalytics.impact.sentences import exposure_zh
from cityanalytics.report.tables import show_table
from cityanalytics.text import md_escape as E  # data text into Markdown

TABLES = ["districts", "unit_changes", "cases", "campaigns", "observations"]


@dataclass
class CampaignReport:
    campaign: Campaign
    panel: pd.DataFrame
    names: dict  # unit_id -> name_zh
    workspace: str
    freq: str
    outcome_label: str
    outcome: Outcome | None = None
    exposure: str = ""
    covariates: list = field(default_factory=list)
    weights: str = ""
    its: object = None
    did: object = None
    staggered: object = None
    robustness: object = None
    load_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)
    tables: dict = field(default_factory=dict, repr=False)  # the loaded inputs, for a refit with other settings

    @property
    def data_dir(self) -> str:  # the name before workspaces
        return self.workspace

    @property
    def results(self) -> list:
        return [r for r in (self.its, self.did, self.staggered, self.robustness) if r is not None]

    @property
    def sentences(self) -> list[str]:
        out = []
        for r in self.results:
            out += [s for s in r.sentences if not s.startswith("注意:")]
        return out

    @property
    def warnings(self) -> list[str]:
        seen, out = set(), []
        for r in self.results:
            for w in getattr(r, "warnings", []):
                if w.message not in seen:
                    seen.add(w.message)
                    out.append(w.message)
        return out + self.notes

    @property
    def design_zh(self) -> str:
        """Which design applies, in one sentence for the reader."""
        o = self.outcome
        if o is None or o.is_count:
            fam = "计数模型(泊松或负二项,以" + exposure_zh(self.exposure) + "为暴露量)"
        else:
            fam = "线性模型(高斯,效应以结果变量自身的单位表示)"
        how = ("分批推行:Callaway-Sant'Anna 双重差分(与普通双向固定效应并列),不做单一序列的中断时间序列"
               if self.campaign.staggered else "中断时间序列 + 以未覆盖单位为对照的双重差分")
        src = "观测值表(observations)指标「" + o.indicator + "」" if o and o.source == "observations" else "案件表"
        return f"结果变量来自{src},用{fam};设计:{how}。"


def build_campaign(tables: dict, campaign_id: str = "", *, campaign_name: str = "", phases=None,
                   treated_units=None, outcomes=None, window=None) -> Campaign:
    changes = tables.get("unit_changes")
    if campaign_id:
        camp = Campaign.from_table(tables["campaigns"], campaign_id, changes)
        if treated_units:
            camp = Campaign(camp.campaign_id, camp.name_zh, camp.phases, tuple(str(u) for u in treated_units),
                            camp.outcomes, {str(u): camp.adoption.get(str(u), camp.start) for u in treated_units},
                            {str(u): camp.end for u in treated_units})
    else:
        if not phases or not treated_units:
            raise ValueError("without campaign_id, give phases {name: [start, end]} and treated_units")
        camp = Campaign.from_dates(campaign_name or "自定义专项行动", phases, treated_units, outcomes or ())
    if outcomes:
        camp = Campaign(camp.campaign_id, camp.name_zh, camp.phases, camp.units, tuple(outcomes), camp.adoption,
                        camp.unit_end)
    if window:
        camp = camp.with_window(*window)
    return camp


def analyse(workspace=None, campaign_id: str = "", *, data_dir=None, campaign_name: str = "", phases=None,
            treated_units=None, control_units=None, outcomes=None, outcome: str = "", outcome_label: str = "",
            exposure: str = "", covariates=None, weights: str = "", freq: str = "W", its_units: str = "treated",
            effect: str = "phases", post: str = "decay", family: str = "poisson", did_model: str = "poisson", event_window=None,
            control_group: str = "notyet", robustness_checks=None, ri_max_sets: int = 252, level: float = 0.95,
            tables: dict | None = None, window=None) -> CampaignReport:
    """Run every analysis the notebook shows for one campaign.

    workspace: a workspace folder or a folder of canonical tables (``data_dir``: the same, by
        its former name).
    outcome: "" (cases of the campaign's subcategories, or of ``outcomes``), a case measure
        (``count``, ``disposal_hours``), an observations indicator id, or subcategories.
        Counts use ``family`` (poisson/negbin) and ``did_model`` (poisson/ols); values are
        Gaussian whatever those say.
    exposure: counts only: a districts column (population, households ...), an observations
        indicator or a panel column whose log is the offset instead of log(days).
    covariates: panel columns, observations indicators or districts columns for ``did``.
    weights: values only: a column (population ...) for weighted least squares in the DiD and a
        weighted mean over the covered units in the ITS.
    window: (start, end) to run the campaign's dates as a what-if (``Campaign.with_window``).
    """
    from cityanalytics.impact.did import did
    from cityanalytics.impact.its import its
    from cityanalytics.impact.robustness import robustness
    from cityanalytics.impact.staggered import callaway_santanna

    source = workspace if workspace not in (None, "") else data_dir
    _check_choices(family=(family, ("poisson", "negbin")), did_model=(did_model, ("poisson", "ols")),
                   effect=(effect, ("phases", "level")), post=(post, ("decay", "level", "exclude")),
                   control_group=(control_group, ("notyet", "never")), freq=(str(freq).upper(), ("D", "W", "M", "Q", "Y")))
    freq = str(freq).upper()
    if source in (None, "") and tables is None:
        raise ValueError("give the workspace (a workspace folder or a folder of canonical tables)")
    if tables is None:
        tables, load_summary = load_inputs(source, outcome)
    else:
        load_summary = pd.DataFrame()
    if campaign_id and tables.get("campaigns") is None:
        raise FileNotFoundError(f"{source}: campaign_id={campaign_id!r} needs a campaigns table; without one, give "
                                "phases and treated_units")
    camp = build_campaign(tables, campaign_id, campaign_name=campaign_name, phases=phases,
                          treated_units=treated_units, outcomes=outcomes, window=window)
    out = resolve_outcome(outcome, tables, camp.outcomes)
    if out.source == "cases" and out.is_count and not out.subcategories:
        raise ValueError("no outcomes: the campaign names no subcategories; set the outcomes parameter "
                         "(or outcome: an observations indicator)")
    notes: list = []
    panel, used_freq = build_panel(tables, out, freq)
    if used_freq != freq:
        notes.append(f"观测值按{FREQ_ZH[used_freq]}度记录,按{FREQ_ZH[used_freq]}度分析(运行设定为{FREQ_ZH.get(freq, freq)}度)。")
    exposure = str(exposure or "")
    covariates = [str(c) for c in (covariates or [])]
    if exposure and not out.is_count:
        notes.append(f"暴露量「{exposure}」只用于计数结果,本结果为数值,未使用。")
        exposure = ""
    weights = str(weights or "")
    if weights and out.is_count:
        notes.append(f"权重「{weights}」只用于数值结果(加权最小二乘),计数结果按案件数本身加权,未使用。")
        weights = ""
    panel = join_columns(panel, ([exposure] if exposure else []) + ([weights] if weights else []) + covariates,
                         tables, "exposure/covariate/weights")
    names = unit_names(tables)
    label = outcome_label or out.label + (f"({out.unit})" if out.unit and not out.is_count else "")
    rep = CampaignReport(camp, panel, names, str(source), used_freq, label, out, exposure, covariates, weights,
                         load_summary=load_summary, tables=tables)
    rep.notes += notes
    ev_window = tuple(event_window) if event_window else None
    checks = tuple(robustness_checks) if robustness_checks is not None else (
        "placebo_dates", "placebo_units", "leave_one_out", "randomization")
    controls = [str(u) for u in control_units] if control_units else None
    col = out.column
    its_family = family if out.is_count else "gaussian"
    model = did_model if out.is_count else "ols"
    if not out.is_count and (family != "poisson" or did_model != "poisson"):
        rep.notes.append("结果为数值(非计数),中断时间序列与双重差分均用线性(高斯)模型。")
    expo = exposure or None
    wts = weights or None
    if wts:
        rep.notes.append(f"数值结果按「{wts}」加权:中断时间序列取覆盖单位的加权平均,双重差分为加权最小二乘。")
    if camp.staggered:
        rep.staggered = _attempt(rep, "分批推行的双重差分", lambda: callaway_santanna(
            panel, camp, outcome=col, control=control_group, event_window=ev_window, level=level,
            outcome_label=label, unit_names=names))
        rep.notes.append("分批推行的活动不做单一序列的中断时间序列(各单位开始时间不同)。")
        if covariates or expo or wts:
            rep.notes.append("Callaway-Sant'Anna 估计未使用协变量、暴露量与权重(按对数案件率或数值本身比较)。")
    else:
        its_sel = None if its_units == "treated" else its_units
        rep.its = _attempt(rep, "中断时间序列", lambda: its(
            panel, camp, outcome=col, units=its_sel, family=its_family, effect=effect, post=post, level=level,
            outcome_label=label, exposure=expo, weights=wts))
        rep.did = _attempt(rep, "双重差分", lambda: did(
            panel, camp, outcome=col, control_units=controls, model=model, effect=effect, post=post,
            event_window=ev_window, level=level, outcome_label=label, exposure=expo, covariates=covariates,
            weights=wts, unit_names=names))
    if checks:
        sub = panel if controls is None else panel[panel["unit_id"].isin(list(camp.units) + controls)]
        sub.attrs.update(panel.attrs)
        rep.robustness = _attempt(rep, "稳健性检验", lambda: robustness(
            sub, camp, outcome=col, model=model if not camp.staggered else "ols", checks=checks, max_sets=ri_max_sets,
            exposure=None if camp.staggered else expo, covariates=None if camp.staggered else covariates,
            weights=None if camp.staggered else wts))
    return rep


def _check_choices(**given) -> None:
    """Settings are checked before any model runs, so an error below is about the data."""
    for name, (value, allowed) in given.items():
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _attempt(rep: CampaignReport, title_zh: str, fit):
    """Run one analysis; when the data cannot support it (too few periods or units, a campaign
    starting before the data), say why in the report instead of failing. A covariate, exposure
    or weight the run names that cannot be used (collinear, constant, missing) stays an error:
    the run asked for something the report would silently not do."""
    from cityanalytics.impact.within import RankDeficientError

    try:
        return fit()
    except (ValueError, RankDeficientError) as exc:
        text = str(exc)
        if isinstance(exc, RankDeficientError) and set(exc.columns) & set(rep.covariates):
            raise
        if text.startswith(("covariate", "exposure", "weights")):
            raise
        reason = text.split(" / ", 1)[1] if " / " in text else text
        rep.notes.append(f"{title_zh}未做:{reason}")
        return None


# --- display -------------------------------------------------------------------------------

def scope_markdown(rep: CampaignReport) -> str:
    c = rep.campaign
    lo, hi = rep.panel.attrs.get("window", (rep.panel["period"].min(), rep.panel["period_end"].max()))
    units = "、".join(E(rep.names.get(u, u)) for u in c.units)
    o = rep.outcome
    if o is None or o.source == "cases":
        how = "按上报时间计数" if o is None or o.is_count else "已处置案件的平均处置时长"
    else:
        how = f"观测值表指标 {o.indicator}" + (f",单位 {o.unit}" if o.unit else "")
    if o is not None and o.is_count:
        how += f",以{exposure_zh(rep.exposure)}为暴露量"
    col = o.column if o is not None else "count"
    size = (f"{int(rep.panel['count'].sum()):,} 件目标类别案件" if col == "count"
            else f"{int(rep.panel[col].notna().sum()):,} 个单位-时期观测值")
    lines = [f"**活动**:{E(c.describe_zh())}", f"**覆盖单位**({len(c.units)} 个):{units}",
             f"**结果变量**:{E(rep.outcome_label)}({E(how)})",
             f"**设计**:{E(rep.design_zh)}",
             f"**数据**:{E(rep.workspace)},{pd.Timestamp(lo):%Y-%m-%d} 至 {pd.Timestamp(hi):%Y-%m-%d},"
             f"{FREQ_ZH[rep.freq]}度汇总,{rep.panel['unit_id'].nunique()} 个单位,{size}"]
    if rep.covariates:
        lines.append("**协变量**(双重差分):" + "、".join(E(x) for x in rep.covariates))
    if rep.weights:
        lines.append(f"**权重**:{E(rep.weights)}(双重差分为加权最小二乘,中断时间序列取加权平均)")
    if not c.staggered:
        ctrl = sorted(set(rep.panel["unit_id"]) - set(c.units))
        lines.insert(2, f"**对照单位**({len(ctrl)} 个):" + "、".join(E(rep.names.get(u, u)) for u in ctrl))
    return "\n\n".join(lines)


def _fmt_pct(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return "∞" if math.isinf(x) else f"{x:+.1f}%"


def _ci(lo, hi, pct=True) -> str:
    if pct:
        if any(v is None or v != v for v in (lo, hi)):
            return "无法估计(数据不足)"
        return f"{_fmt_pct(lo)} 至 {_fmt_pct(hi)}"
    if any(v is None or v != v for v in (lo, hi)):
        return "无法估计(数据不足)"
    return f"{lo:+.3f} 至 {hi:+.3f}"


def effects_table(result) -> pd.DataFrame:
    """A result's effects with Chinese headers (ITS, DiD or staggered)."""
    t = result.table
    log_scale = "pct" in t.columns
    level = result.options.get("level", 0.95)
    rows = []
    for _, r in t.iterrows():
        row = {"项目": r.get("label_zh", r["term"])}
        if log_scale:
            row["变化"] = _fmt_pct(r["pct"])
            row[f"{level:.0%} 区间"] = _ci(r["pct_low"], r["pct_high"])
        else:
            row["变化"] = f"{r['coef']:+.3f}"
            row[f"{level:.0%} 区间"] = _ci(r["ci_low"], r["ci_high"], pct=False)
        row["系数"] = round(float(r["coef"]), 4)
        row["标准误"] = round(float(r["se"]), 4)
        row["p 值"] = round(float(r["p_value"]), 4) if r.get("p_value") == r.get("p_value") else None
        if "averted_per_month" in t.columns and r.get("averted_per_month") == r.get("averted_per_month"):
            row["少发(件/月)"] = f"{r['averted_per_month']:,.0f}({r['averted_per_month_low']:,.0f} 至 " \
                                 f"{r['averted_per_month_high']:,.0f})"
        if "averted" in t.columns and r.get("averted") == r.get("averted"):
            row["少发合计(件)"] = f"{r['averted']:,.0f}"
        rows.append(row)
    return pd.DataFrame(rows)


def event_table(result) -> pd.DataFrame:
    es = result.event_study
    log_scale = "pct" in es.columns
    out = pd.DataFrame({"相对时期": es["event_time"].astype(int)})
    if log_scale:
        out["效应"] = es["pct"].map(_fmt_pct)
        out["95% 区间"] = [_ci(a, b) for a, b in zip(es["pct_low"], es["pct_high"])]
    else:
        out["效应"] = es["coef"].round(3)
        out["95% 区间"] = [_ci(a, b, pct=False) for a, b in zip(es["ci_low"], es["ci_high"])]
    out["p 值"] = es["p_value"].round(3)
    return out


def pretrend_table(result) -> pd.DataFrame:
    p = result.pretrend
    rows = []
    if p.get("pretrend_p") == p.get("pretrend_p") and p.get("pretrend_p") is not None:
        q, d2 = p["joint_df"]
        rows.append({"检验": "前置期系数联合为 0", "统计量": f"F({q},{d2}) = {p['joint_F']:.2f}",
                     "p 值": round(p["pretrend_p"], 4)})
    elif p.get("joint_note"):
        rows.append({"检验": "前置期系数联合为 0", "统计量": p["joint_note"], "p 值": None})
    if p.get("pretrend_slope_p") == p.get("pretrend_slope_p") and p.get("pretrend_slope_p") is not None:
        rows.append({"检验": "活动前处理组特有线性趋势为 0", "统计量": f"每期 {p['slope']:+.4f}(标准误 {p['slope_se']:.4f})",
                     "p 值": round(p["pretrend_slope_p"], 4)})
    return pd.DataFrame(rows)


def robustness_table(result) -> pd.DataFrame:
    t = result.table
    out = pd.DataFrame({"检验": t["label_zh"], "次数": t["n"]})
    out["显著比例(5%)"] = t["share_significant"].map(lambda x: "—" if x != x else f"{100 * x:.0f}%")
    ls = result.extra["log_scale"]
    f = (lambda x: _fmt_pct(100 * math.expm1(x))) if ls else (lambda x: f"{x:+.3f}")
    out["估计范围"] = [f"{f(a)} 至 {f(b)}" if a == a else "—" for a, b in zip(t["min"], t["max"])]
    if "p_value_ri" in t.columns:
        out["随机化 p 值"] = t["p_value_ri"].map(lambda x: "" if x != x else f"{x:.3f}")
    return out


# --- the notebook's sections (one function per cell, so the JupyterLab explorer can re-render them) ---

def show_scope(rep: CampaignReport) -> None:
    from IPython.display import Markdown, display

    display(Markdown(scope_markdown(rep)))


def show_key_points(rep: CampaignReport) -> None:
    from IPython.display import Markdown, display

    display(Markdown("\n\n".join(f"- {E(s)}" for s in rep.sentences)))
    if rep.warnings:
        display(Markdown("**设计提示**\n\n" + "\n".join(f"- {E(w)}" for w in rep.warnings)))


def show_its(rep: CampaignReport) -> None:
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    from cityanalytics.impact.plots import plot_profile

    if rep.its is None:
        if rep.campaign.staggered:
            display(Markdown("分批推行的活动各单位开始时间不同,不做单一序列的中断时间序列,见下文分批推行的双重差分。"))
        else:
            display(Markdown(_not_done(rep, "中断时间序列")))
        return
    display(show_table(effects_table(rep.its)))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [2, 1]})
    rep.its.plot(ax=axes[0])
    if rep.its.profile is not None:
        plot_profile(rep.its, ax=axes[1])
    else:
        axes[1].axis("off")
    fig.tight_layout()
    display(fig)
    plt.close(fig)


def _not_done(rep: CampaignReport, title_zh: str) -> str:
    why = [n for n in rep.notes if n.startswith(title_zh + "未做")]
    return E(why[0]) if why else f"{title_zh}未做。"  # Markdown


def show_did(rep: CampaignReport) -> None:
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    if rep.did is None and rep.staggered is None:
        display(Markdown(_not_done(rep, "分批推行的双重差分" if rep.campaign.staggered else "双重差分")))
        return
    for result, extra in ((rep.did, pretrend_table), (rep.staggered, None)):
        if result is None:
            continue
        display(show_table(effects_table(result)))
        if extra is not None:
            display(show_table(extra(result)))
        fig, ax = plt.subplots(figsize=(10, 4))
        result.plot(ax=ax)
        display(fig)
        plt.close(fig)
        if result is rep.staggered:
            display(show_table(event_table(result)))


def show_robustness(rep: CampaignReport) -> None:
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    if rep.robustness is None:
        why = [n for n in rep.notes if n.startswith("稳健性检验未做")]
        display(Markdown(E(why[0]) if why else "本次未做稳健性检验。"))
        return
    display(show_table(robustness_table(rep.robustness)))
    rep.robustness.plot()
    fig = plt.gcf()
    display(fig)
    plt.close(fig)


def show_spec(rep: CampaignReport) -> None:
    from IPython.display import Markdown, display

    specs = [f"- {E(r.spec)}" for r in rep.results]
    display(Markdown("\n\n".join(specs) if specs else "没有完成的模型(数据不足),见设计提示。"))
