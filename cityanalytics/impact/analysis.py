"""A campaign's evaluation: ``run(workspace, **options)`` loads the workspace's tables, picks
the campaign and the outcome, fits every design the campaign allows and returns one
``CampaignReport``.

    import cityanalytics as ca
    rep = ca.impact.run("data/demo", campaign_id="C2022-BRGJ", freq="W")
    rep = ca.impact.run("ws", phases={"整治": ["2024-03-01", "2024-05-31"]}, treated_units=["A01"],
                        outcome="waste_kg_per_capita")
    rep.table                 # every design's effects, long and numeric (design, term, label_zh, estimate ...)
    rep.tidy()                # the estimates with their intervals
    rep.summary()             # the Chinese key points, one per line
    rep.effect("综合治理阶段", design="did")   # one effect, by its term or the label the table shows
    rep.plot()                # the interrupted time series (or the design that applies)

The options are the notebook's parameters (``notebooks/campaign_impact.ipynb``) and are kept
on the report (``rep.options``), so ``widgets.explore(rep)`` can refit with other settings.
The outcome is case counts (Poisson or negative binomial, an exposure as the offset) or a
value per unit and period from the observations table (Gaussian), through the same ITS and
DiD (see ``impact.inputs``). ``impact.report`` and ``impact.synth_report`` show the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.inputs import Outcome, build_panel, join_columns, load_inputs, resolve_outcome, unit_names
from cityanalytics.impact.panel import FREQ_ZH
from cityanalytics.impact.sentences import exposure_zh

# The effects table: which design, which term, the estimate on its scale (``pct``: % change of
# a count; ``level``: the outcome's own unit) with its interval, and the model coefficient
# (log rate ratio for counts) with its standard error.
TABLE_COLUMNS = ["design", "design_zh", "term", "label_zh", "scale", "estimate", "std_error", "conf_low", "conf_high",
                 "p_value", "level", "coef", "averted", "averted_low", "averted_high", "averted_per_month",
                 "averted_per_month_low", "averted_per_month_high", "half_life", "half_life_low", "half_life_high",
                 "persistent"]
TIDY_COLUMNS = ["design", "term", "label_zh", "scale", "estimate", "conf_low", "conf_high", "coef", "std_error", "p_value"]
DESIGN_ZH = {"its": "中断时间序列", "did": "双重差分", "staggered": "分批推行双重差分", "synth": "合成控制",
             "sdid": "合成双重差分"}
FITTED = ("its", "did", "staggered")  # the designs every run fits; the synthetic control where it applies


@dataclass
class CampaignReport:
    """One campaign's evaluation: the campaign, the panel, each design's result (``its``,
    ``did``, ``staggered``, ``robustness``; ``synth`` where the design chooser says it applies)
    and the options ``run`` was called with."""

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
    campaigns: pd.DataFrame | None = field(default=None, repr=False)  # other campaigns: units they cover are no donors
    options: dict = field(default_factory=dict, repr=False)  # run()'s keywords, the workspace included

    @property
    def results(self) -> list:
        return [r for r in (self.its, self.did, self.staggered, self.robustness) if r is not None]

    @property
    def sentences(self) -> list[str]:
        out = []
        for r in self.results:
            out += [s for s in r.sentences if not s.startswith("注意:")]
        return out

    def summary(self) -> str:
        """The key points in Chinese, one per line."""
        return "\n".join(self.sentences)

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

    @property
    def synth(self):
        """The synthetic control where ``choose_design`` says it applies, else None (fitted on
        first use and kept: the summary page, the table and the section share one fit)."""
        if self.campaign.staggered:
            return None
        try:
            return synth_for_report(self) if "synth" in choice_for(self).applicable else None
        except ValueError:  # the data cannot carry it after all; the section says why
            return None

    @property
    def table(self) -> pd.DataFrame:
        """Every design's effects, one row per design and term, numbers only (see ``TABLE_COLUMNS``):
        ``estimate``, ``conf_low``, ``conf_high`` are % changes for count outcomes (``scale``
        pct) and in the outcome's own unit otherwise (``scale`` level); ``coef`` and
        ``std_error`` are the model's (log rate ratio for counts)."""
        return effects(self)

    def tidy(self) -> pd.DataFrame:
        """The estimates with their intervals, one row per design and term; ``coef`` and
        ``std_error`` are the model's scale (a log rate ratio where ``scale`` is pct), so
        ``coef / std_error`` is the test statistic behind ``p_value``."""
        return self.table[TIDY_COLUMNS]

    def effect(self, name: str, design: str | None = None) -> pd.Series:
        """One effect by its term (``phase:综合治理``, ``post``) or the Chinese label the table
        shows (``综合治理阶段``); ``design`` (its, did, staggered, synth, sdid, or its Chinese
        name) picks one design where several estimate the same term."""
        t = self.table
        if design is not None:
            t = t[(t["design"] == design) | (t["design_zh"] == design)]
            if t.empty:
                raise KeyError(f"no design {design!r}; designs: {', '.join(self.table['design'].unique())}")
        rows = t[t["term"] == name]
        if rows.empty:
            rows = t[t["label_zh"] == name]
        if rows.empty:
            shown = list(dict.fromkeys([*t["term"], *t["label_zh"]]))
            raise KeyError(f"no term {name!r} in the table; terms: {', '.join(map(str, shown))}")
        if len(rows) > 1:
            designs = ", ".join(rows["design"])
            raise KeyError(f"{name!r} is estimated by several designs ({designs}); name one, e.g. "
                           f"effect({name!r}, design={rows['design'].iloc[-1]!r})")
        return rows.iloc[0].rename(name)

    def plot(self, ax=None):
        """The main figure: the interrupted time series (observed, fitted, counterfactual);
        without one, the roll-out's or the DiD's event study, else the synthetic control's path."""
        for result in (self.its, self.staggered, self.did):
            if result is not None:
                return result.plot(ax=ax)
        sc = self.synth
        if sc is not None:
            return sc.plot(ax=ax, kind="path")
        raise NotImplementedError("no design could be fitted on these data; see the report's notes")


def run(workspace, *, tables: dict | None = None, **options) -> CampaignReport:
    """Evaluate a campaign on a workspace (a folder, or a ``Workspace``); ``options`` are the
    notebook's parameters (``analyse`` lists them: campaign_id or phases and treated_units,
    outcome, exposure, covariates, weights, freq, effect, post, family, did_model, event_window,
    control_group, robustness_checks, ri_max_sets, level, window ...).

    tables: the workspace's tables already loaded (``impact.inputs.load_inputs``), used
        instead of reading the workspace again (the explorer passes them when it refits).
    """
    rep = analyse(workspace, tables=tables, **options)
    rep.options = {"workspace": workspace, **options}
    return rep


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


def analyse(workspace=None, campaign_id: str = "", *, campaign_name: str = "", phases=None,
            treated_units=None, control_units=None, outcomes=None, outcome: str = "", outcome_label: str = "",
            exposure: str = "", covariates=None, weights: str = "", freq: str = "W", its_units: str = "treated",
            effect: str = "phases", post: str = "decay", family: str = "poisson", did_model: str = "poisson", event_window=None,
            control_group: str = "notyet", robustness_checks=None, ri_max_sets: int = 252, level: float = 0.95,
            tables: dict | None = None, window=None) -> CampaignReport:
    """Run every analysis the notebook shows for one campaign (``run`` calls this and keeps
    its options on the report).

    workspace: a workspace folder, a folder of canonical tables or a ``Workspace``.
    tables: the workspace's tables already loaded (``inputs.load_inputs``): used instead of
        reading the workspace.
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

    source = workspace
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
    from cityanalytics.workspace import Workspace

    where = str(source.root if isinstance(source, Workspace) else source)
    rep = CampaignReport(camp, panel, names, where, used_freq, label, out, exposure, covariates, weights,
                         load_summary=load_summary, campaigns=tables.get("campaigns"))
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


# --- the synthetic control, where the design chooser says it applies ----------------------------

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


def choice_for(rep):
    """``design_choice.choose_design`` on the report's panel, with its campaigns table (units
    covered by another campaign on the same outcome are no donors)."""
    from cityanalytics.impact.design_choice import choose_design

    col = rep.outcome.column if rep.outcome is not None else _outcome_column(rep.panel)
    o = rep.outcome
    names = ((o.indicator,) if o.source == "observations" else tuple(o.subcategories)) if o is not None else ()
    return choose_design(rep.panel, rep.campaign, col, campaigns=rep.campaigns,
                         outcome_names=names or rep.campaign.outcomes, freq=rep.freq)


def synth_for_report(rep, *, replications: int = 200, level: float = 0.95, seed: int = 0):
    """The synthetic control of the campaign's treated unit(s) (their mean when several), or
    None when ``choose_design`` says it does not apply. Kept on the report, so page 1 and the
    section further down share one fit (and one set of placebos)."""
    key = (replications, level, seed)
    cache = rep.__dict__.setdefault("_synth_cache", {})
    if key not in cache:
        cache[key] = _synth_for_report(rep, replications=replications, level=level, seed=seed)
    return cache[key]


def _synth_for_report(rep, *, replications: int, level: float, seed: int):
    from cityanalytics.impact.synth import synth_control

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
    series = pd.DataFrame({label: wide[choice.treated].mean(axis=1, skipna=False)})
    shown = {u: names.get(u, u) for u in choice.donors}
    if len(set(shown.values())) < len(shown):  # two donors share a name: keep the ids
        shown = {u: f"{names.get(u, u)}({u})" for u in choice.donors}
    for u in choice.donors:
        series[shown[u]] = wide[u]
    if series[label].isna().any():
        first = series.index[series[label].isna()][0]
        raise ValueError(f"the treated series {label!r} has no value for period {first:%Y-%m-%d}: the synthetic "
                         "control needs every period")
    start = _period_of(periods, ends, rep.campaign.start)
    phases = [(p.name, _period_of(periods, ends, p.start), _period_of(periods, ends, p.end))
              for p in rep.campaign.phases]
    sc = synth_control(series, label, start, phases=phases, sdid_replications=replications, level=level, seed=seed,
                       unit_label="对照单位", outcome_zh=rep.outcome_label)
    if choice.excluded:
        left = "、".join(f"{names.get(u, u)}({why})" for u, why in choice.excluded.items())
        sc.sentences.append(f"以下未覆盖单位未纳入供体池:{left}。")
    sc.options["choice"] = choice
    return sc


# --- the effects table --------------------------------------------------------------------------

def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _design_rows(design: str, result) -> list[dict]:
    t = result.table
    if not isinstance(t, pd.DataFrame) or t.empty:
        return []
    pct = "pct" in t.columns
    level = float((getattr(result, "options", None) or {}).get("level", 0.95))
    diag = getattr(result, "diagnostics", None) or {}
    name_zh = getattr(result, "method_zh", None) or DESIGN_ZH[design]
    rows = []
    for _, r in t.iterrows():
        post = r.get("term") == "post"
        row = {"design": design, "design_zh": name_zh, "term": str(r.get("term")),
               "label_zh": str(r.get("label_zh", r.get("term"))), "scale": "pct" if pct else "level",
               "estimate": _number(r["pct"] if pct else r["coef"]),
               "std_error": _number(r.get("se")),
               "conf_low": _number(r["pct_low"] if pct else r["ci_low"]),
               "conf_high": _number(r["pct_high"] if pct else r["ci_high"]),
               "p_value": _number(r.get("p_value")), "level": level, "coef": _number(r.get("coef"))}
        for col in ("averted", "averted_low", "averted_high", "averted_per_month", "averted_per_month_low",
                    "averted_per_month_high"):
            row[col] = _number(r.get(col))
        for col in ("half_life", "half_life_low", "half_life_high"):
            row[col] = _number(diag.get(col)) if post else math.nan
        row["persistent"] = bool(diag.get("persistent")) if post and "persistent" in diag else None
        rows.append(row)
    return rows


def _synth_rows(rep, sc) -> list[dict]:
    """The synthetic control's mean gap by phase, after the campaign and since the start (in
    the outcome's unit, no interval: see the permutation p value), and synthetic DiD's estimate
    with its placebo interval."""
    phases = {p.name for p in rep.campaign.phases}
    rows = []
    base = {"design": "synth", "design_zh": DESIGN_ZH["synth"], "scale": "level", "std_error": math.nan,
            "conf_low": math.nan, "conf_high": math.nan, "p_value": math.nan,
            "level": float(sc.options.get("level", 0.95)), "coef": math.nan}
    for _, r in sc.phases.iterrows():
        name = str(r["phase"])
        if name in phases:
            term, label = f"phase:{name}", f"{name}阶段"
        elif name.startswith("合计"):  # since the start: the att row below
            continue
        else:  # 活动后
            term, label = "after", "活动结束后"
        rows.append({**base, "term": term, "label_zh": label, "estimate": _number(r["mean_gap"]),
                     "coef": _number(r["mean_gap"])})
    perm = (sc.inference or {}).get("permutation") or {}
    rows.append({**base, "term": "att", "label_zh": "活动开始后平均差距", "estimate": _number(sc.att),
                 "coef": _number(sc.att), "p_value": _number(perm.get("p_value"))})
    sd = (sc.inference or {}).get("sdid")
    if sd:
        rows.append({**base, "design": "sdid", "design_zh": DESIGN_ZH["sdid"], "term": "att",
                     "label_zh": "活动开始后平均效应(合成双重差分)", "estimate": _number(sd["estimate"]),
                     "coef": _number(sd["estimate"]), "conf_low": _number(sd["lo"]), "conf_high": _number(sd["hi"]),
                     "level": _number(sd.get("level", base["level"]))})
    return rows


def effects(rep, designs=None) -> pd.DataFrame:
    """``rep.table``: the effects of the designs fitted (``designs``: only these, e.g. ``FITTED``)."""
    rows = []
    for design in ("its", "did", "staggered"):
        result = getattr(rep, design)
        if result is not None and (designs is None or design in designs):
            rows += _design_rows(design, result)
    if designs is None or {"synth", "sdid"} & set(designs):
        sc = rep.synth
        if sc is not None:
            rows += [r for r in _synth_rows(rep, sc) if designs is None or r["design"] in designs]
    out = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    for col in TABLE_COLUMNS:
        if col not in ("design", "design_zh", "term", "label_zh", "scale", "persistent"):
            out[col] = out[col].astype(float)
    out["persistent"] = out["persistent"].astype("boolean")
    return out
