"""What ``notebooks/campaign_impact.ipynb`` calls: load, pick the campaign, run the analyses,
and give tables with Chinese headers.

    rep = analyse(data_dir="data/demo", campaign_id="C2022-BRGJ", freq="W")
    rep.sentences            # the key points
    display_table(rep.its)   # any result's table, with Chinese column names
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.panel import FREQ_ZH, case_panel

TABLES = ["districts", "unit_changes", "cases", "campaigns"]


@dataclass
class CampaignReport:
    campaign: Campaign
    panel: pd.DataFrame
    names: dict  # unit_id -> name_zh
    data_dir: str
    freq: str
    outcome_label: str
    its: object = None
    did: object = None
    staggered: object = None
    robustness: object = None
    load_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)
    tables: dict = field(default_factory=dict, repr=False)  # the loaded inputs, for a refit with other settings

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


def load_inputs(data_dir: str | Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The canonical tables the analysis needs, through the loaders (validated), and a
    small table of rows read / kept / rejected."""
    from cityanalytics import quality

    loaded = quality.load_tables(data_dir, TABLES)
    frames, rows = {}, []
    for name, t in loaded.tables.items():
        if t.frame is None:
            if name in ("cases", "campaigns"):
                raise FileNotFoundError(f"{data_dir}: table {name} could not be loaded ({t.problem})")
            frames[name] = None
            continue
        frames[name] = t.frame
        rep = t.report
        rows.append({"表": name, "文件": Path(t.file).name, "读入行": rep.rows_read,
                     "保留行": len(t.frame), "拒绝行": rep.rows_rejected})
    return frames, pd.DataFrame(rows)


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


def analyse(data_dir: str, campaign_id: str = "", *, campaign_name: str = "", phases=None, treated_units=None,
            control_units=None, outcomes=None, outcome_label: str = "", freq: str = "W", its_units: str = "treated",
            effect: str = "phases", post: str = "decay", family: str = "poisson", did_model: str = "poisson",
            event_window=None, control_group: str = "notyet", robustness_checks=None, ri_max_sets: int = 252,
            level: float = 0.95, tables: dict | None = None, window=None) -> CampaignReport:
    """Run every analysis the notebook shows for one campaign.

    window: (start, end) to run the campaign's dates as a what-if (``Campaign.with_window``).
    """
    from cityanalytics.impact.did import did
    from cityanalytics.impact.its import its
    from cityanalytics.impact.robustness import robustness
    from cityanalytics.impact.staggered import callaway_santanna

    if tables is None:
        tables, load_summary = load_inputs(data_dir)
    else:
        load_summary = pd.DataFrame()
    camp = build_campaign(tables, campaign_id, campaign_name=campaign_name, phases=phases,
                          treated_units=treated_units, outcomes=outcomes, window=window)
    if not camp.outcomes:
        raise ValueError("no outcomes: the campaign names no subcategories; set the outcomes parameter")
    names = {}
    if tables.get("districts") is not None:
        d = tables["districts"]
        names = dict(zip(d["unit_id"].astype(str), d["name_zh"].astype(str)))
    changes = tables.get("unit_changes")
    panel = case_panel(tables["cases"], list(camp.outcomes), freq=freq, unit_changes=changes)
    label = outcome_label or ("、".join(camp.outcomes) + " 案件数")
    rep = CampaignReport(camp, panel, names, str(data_dir), freq, label, load_summary=load_summary, tables=tables)
    window = tuple(event_window) if event_window else None
    checks = tuple(robustness_checks) if robustness_checks is not None else (
        "placebo_dates", "placebo_units", "leave_one_out", "randomization")
    controls = [str(u) for u in control_units] if control_units else None
    if camp.staggered:
        rep.staggered = callaway_santanna(panel, camp, control=control_group, event_window=window, level=level,
                                          outcome_label=label)
        rep.notes.append("分批推行的活动不做单一序列的中断时间序列(各单位开始时间不同)。")
    else:
        its_sel = None if its_units == "treated" else its_units
        rep.its = its(panel, camp, units=its_sel, family=family, effect=effect, post=post, level=level,
                      outcome_label=label)
        rep.did = did(panel, camp, controls=controls, model=did_model, effect=effect, post=post,
                      event_window=window, level=level, outcome_label=label)
    if checks:
        sub = panel if controls is None else panel[panel["unit_id"].isin(list(camp.units) + controls)]
        sub.attrs.update(panel.attrs)
        rep.robustness = robustness(sub, camp, model=did_model if not camp.staggered else "ols", checks=checks,
                                    max_sets=ri_max_sets)
    return rep


# --- display -------------------------------------------------------------------------------

def scope_markdown(rep: CampaignReport) -> str:
    c = rep.campaign
    lo, hi = rep.panel.attrs.get("window", (rep.panel["period"].min(), rep.panel["period_end"].max()))
    units = "、".join(rep.names.get(u, u) for u in c.units)
    lines = [f"**活动**:{c.describe_zh()}", f"**覆盖单位**({len(c.units)} 个):{units}",
             f"**结果变量**:{rep.outcome_label}(按上报时间计数)",
             f"**数据**:{rep.data_dir},{pd.Timestamp(lo):%Y-%m-%d} 至 {pd.Timestamp(hi):%Y-%m-%d},"
             f"{FREQ_ZH[rep.freq]}度汇总,{rep.panel['unit_id'].nunique()} 个单位,"
             f"{int(rep.panel['count'].sum()):,} 件目标类别案件"]
    if not c.staggered:
        ctrl = sorted(set(rep.panel["unit_id"]) - set(c.units))
        lines.insert(2, f"**对照单位**({len(ctrl)} 个):" + "、".join(rep.names.get(u, u) for u in ctrl))
    return "\n\n".join(lines)


def _fmt_pct(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return "∞" if math.isinf(x) else f"{x:+.1f}%"


def _ci(lo, hi, pct=True) -> str:
    if pct:
        return f"{_fmt_pct(lo)} 至 {_fmt_pct(hi)}"
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

    display(Markdown("\n\n".join(f"- {s}" for s in rep.sentences)))
    if rep.warnings:
        display(Markdown("**设计提示**\n\n" + "\n".join(f"- {w}" for w in rep.warnings)))


def show_its(rep: CampaignReport) -> None:
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    from cityanalytics.impact.plots import plot_profile

    if rep.its is None:
        display(Markdown("分批推行的活动各单位开始时间不同,不做单一序列的中断时间序列,见下文分批推行的双重差分。"))
        return
    display(effects_table(rep.its))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [2, 1]})
    rep.its.plot(ax=axes[0])
    if rep.its.profile is not None:
        plot_profile(rep.its, ax=axes[1])
    else:
        axes[1].axis("off")
    fig.tight_layout()
    display(fig)
    plt.close(fig)


def show_did(rep: CampaignReport) -> None:
    import matplotlib.pyplot as plt
    from IPython.display import display

    for result, extra in ((rep.did, pretrend_table), (rep.staggered, None)):
        if result is None:
            continue
        display(effects_table(result))
        if extra is not None:
            display(extra(result))
        fig, ax = plt.subplots(figsize=(10, 4))
        result.plot(ax=ax)
        display(fig)
        plt.close(fig)
        if result is rep.staggered:
            display(event_table(result))


def show_robustness(rep: CampaignReport) -> None:
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    if rep.robustness is None:
        display(Markdown("本次未做稳健性检验。"))
        return
    display(robustness_table(rep.robustness))
    rep.robustness.plot()
    fig = plt.gcf()
    display(fig)
    plt.close(fig)


def show_spec(rep: CampaignReport) -> None:
    from IPython.display import Markdown, display

    display(Markdown("\n\n".join(f"- {r.spec}" for r in rep.results)))
