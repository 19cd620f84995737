"""Which designs a campaign and its panel support, why, and their estimates side by side.

    choice = choose_design(panel, campaign, "value", campaigns=tables["campaigns"])
    choice.chosen, choice.applicable   # "synth", ["its", "did", "synth"]
    choice.table            # 设计 / 适用 / 理由
    choice.sentence_zh      # the choice and its reasons in one paragraph
    table = side_by_side(rep, choice, sc)   # one row per design: estimate, interval (numbers only)
    agreement(table)        # same sign? intervals overlap?

The rules (thresholds are module constants):

- interrupted time series (ITS): one common start (not a staggered roll-out) and at least
  ITS_MIN_PRE_HARD periods before it; fewer than the recommended ``warnings.ITS_MIN_PRE`` is said;
- difference-in-differences (DiD, two-way fixed effects): untreated units exist;
- synthetic control (SC): at most SC_MAX_TREATED treated units (their mean is the treated
  series), at least SC_MIN_DONORS donors and SC_MIN_PRE periods before the start. A donor is
  an untreated unit with the outcome in every period and not covered, while the panel runs, by
  another campaign of the campaigns table that targets the same outcome;
- staggered roll-out: Callaway-Sant'Anna (never and not-yet treated units as controls).

The design of choice (``chosen``) is the roll-out's, else the synthetic control when it applies
(one treated place gives a DiD a single treated cluster, and a weighted mix of donors need not
assume parallel trends), else the DiD, else the ITS.

The side-by-side table puts every design on one estimand, the average effect over the periods
from the start to the end of the data: ITS and DiD are refitted with one effect term for that
whole span (a level shift; for counts a log-rate ratio shown in %), the synthetic control gives
its mean gap over those periods (in % of the synthetic path for counts) and synthetic DiD its
estimate with the placebo interval; Callaway-Sant'Anna its simple average over adopted cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.panel import PERIOD_ZH
from cityanalytics.impact.warnings import ITS_MIN_PRE

SC_MAX_TREATED = 3
SC_MIN_DONORS = 5
SC_MIN_PRE = 12
ITS_MIN_PRE_HARD = 3  # below this no trend can be fitted at all

NAMES_ZH = {"its": "中断时间序列(ITS)", "did": "双重差分(DiD)", "synth": "合成控制(SC)",
            "staggered": "分批推行的双重差分(Callaway-Sant'Anna)"}
OUTCOME_COLUMNS = ("value", "count", "disposal_hours")


@dataclass(frozen=True)
class Design:
    key: str  # its, did, synth, staggered
    applies: bool
    reason_zh: str

    @property
    def name_zh(self) -> str:
        return NAMES_ZH[self.key]


@dataclass
class DesignChoice:
    designs: list
    treated: list
    controls: list
    donors: list
    excluded: dict  # unit -> why it cannot be a donor (Chinese)
    n_pre: int
    n_post: int
    start_period: pd.Timestamp
    staggered: bool
    freq: str
    notes: list = field(default_factory=list)

    def applies(self, key: str) -> bool:
        return any(d.key == key and d.applies for d in self.designs)

    @property
    def applicable(self) -> list:
        return [d.key for d in self.designs if d.applies]

    @property
    def chosen(self) -> str:
        """The design the report leads with (see the module docstring); "" when none applies."""
        for key in ("staggered", "synth", "did", "its"):
            if self.applies(key):
                return key
        return ""

    @property
    def reason_zh(self) -> str:
        """Why the chosen design leads, and why the synthetic control does or does not apply."""
        lead = next((d for d in self.designs if d.key == self.chosen), None)
        if lead is None:
            return "数据不足以支持任何设计:" + ";".join(d.reason_zh for d in self.designs) + "。"
        out = f"以{lead.name_zh}为主:{lead.reason_zh}"
        sc = next(d for d in self.designs if d.key == "synth")
        if sc is not lead and not self.staggered:
            out += f";合成控制不适用:{sc.reason_zh}"
        return out + "。"

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"设计": [d.name_zh for d in self.designs],
                             "适用": ["是" if d.applies else "否" for d in self.designs],
                             "理由": [d.reason_zh for d in self.designs]})

    @property
    def summary_zh(self) -> str:
        """The data the choice rests on and the designs that apply, in one sentence."""
        unit = PERIOD_ZH.get(self.freq, "期")
        used = "、".join(d.name_zh for d in self.designs if d.applies) or "没有可用的设计"
        return (f"活动覆盖 {len(self.treated)} 个单位,面板中另有 {len(self.controls)} 个未覆盖单位"
                f"(其中 {len(self.donors)} 个可作合成控制的对照),活动前 {self.n_pre} {unit}、"
                f"活动开始后 {self.n_post} {unit}数据。适用的设计:{used}。")

    @property
    def sentence_zh(self) -> str:
        """summary_zh and every design's reason."""
        why = ";".join(f"{d.name_zh}{'适用' if d.applies else '不适用'}:{d.reason_zh}" for d in self.designs)
        return self.summary_zh + why + "。"


def _start_period(periods: pd.DatetimeIndex, day: pd.Timestamp) -> pd.Timestamp:
    """The panel period that contains ``day`` (a campaign starting mid-month starts in that month)."""
    before = periods[periods <= day]
    return before.max() if len(before) else periods.min()


def _other_campaigns(campaigns: pd.DataFrame | None, campaign: Campaign, outcome_names, lo, hi) -> dict:
    """unit -> name of another campaign on the same outcome that overlaps [lo, hi]."""
    if campaigns is None or campaigns.empty:
        return {}
    rows = campaigns[campaigns["campaign_id"].astype(str) != str(campaign.campaign_id)]
    wanted = {str(o) for o in outcome_names if str(o)}
    out = {}
    for _, r in rows.iterrows():
        text = r.get("outcomes")
        targets = set() if pd.isna(text) else {t.strip() for t in str(text).replace(";", ";").split(";") if t.strip()}
        if wanted and targets and not (targets & wanted):  # no stated outcome: it may have moved this one
            continue
        start = pd.Timestamp(r["start_date"])
        end = pd.Timestamp(r["end_date"]) if pd.notna(r["end_date"]) else pd.Timestamp.max
        if start <= hi and end >= lo:
            out.setdefault(str(r["unit_id"]), str(r["name_zh"]))
    return out


def choose_design(panel: pd.DataFrame, campaign: Campaign, outcome: str = "", *, campaigns=None,
                  outcome_names=(), freq: str | None = None, sc_max_treated: int = SC_MAX_TREATED,
                  sc_min_donors: int = SC_MIN_DONORS, sc_min_pre: int = SC_MIN_PRE) -> DesignChoice:
    """The designs the panel (long: unit_id, period, ``outcome``) supports for ``campaign``.

    outcome: the panel's outcome column ("": the first of value, count, disposal_hours).
    campaigns: the campaigns table, to keep units covered by another campaign on the same
    outcome (``outcome_names``: the campaign's outcomes or indicator) out of the donors."""
    if not outcome:
        outcome = next((c for c in OUTCOME_COLUMNS if c in panel.columns), "")
    if outcome not in panel.columns:
        raise ValueError(f"outcome {outcome!r} is not a column of the panel (columns: {', '.join(panel.columns)})")
    freq = freq or panel.attrs.get("freq", "M")
    unit = PERIOD_ZH.get(freq, "期")
    periods = pd.DatetimeIndex(sorted(pd.to_datetime(panel["period"]).unique()))
    first_day = min(campaign.adoption.values()) if campaign.adoption else campaign.start
    start = _start_period(periods, pd.Timestamp(first_day))
    n_pre = int((periods < start).sum())
    n_post = int((periods >= start).sum())
    units = sorted(panel["unit_id"].astype(str).unique())
    treated = [u for u in units if u in set(campaign.units)]
    controls = [u for u in units if u not in set(campaign.units)]
    filled = panel.dropna(subset=[outcome]).groupby(panel["unit_id"].astype(str))["period"].nunique()
    excluded = {u: f"{int(filled.get(u, 0))}/{len(periods)} 期有数据" for u in controls
                if int(filled.get(u, 0)) < len(periods)}
    lo, hi = periods.min(), pd.to_datetime(panel["period_end"]).max() if "period_end" in panel else periods.max()
    others = _other_campaigns(campaigns, campaign, outcome_names or campaign.outcomes, lo, hi)
    for u in controls:
        if u in others and u not in excluded:
            excluded[u] = f"数据期内开展了针对同一结果的「{others[u]}」"
    donors = [u for u in controls if u not in excluded]
    gappy = [u for u in treated if int(filled.get(u, 0)) < len(periods)]
    staggered = campaign.staggered
    designs = []
    if staggered:
        designs.append(Design("its", False, "分批推行,各单位开始时间不同,没有单一的活动开始时点"))
        designs.append(Design("did", False, "分批推行时普通双向固定效应会把先推行的单位当作对照而有偏,改用 Callaway-Sant'Anna"))
        designs.append(Design("synth", False, "分批推行,没有单一的处理单位和开始时点"))
        designs.append(Design("staggered", True, f"{len(treated)} 个单位在不同日期推行,以从未推行和尚未推行的单位作对照"))
    else:
        if n_pre < ITS_MIN_PRE_HARD:
            designs.append(Design("its", False, f"活动前仅 {n_pre} {unit},不足以估计趋势"))
        else:
            weak = ITS_MIN_PRE.get(freq, 0)
            note = f"(少于建议的 {weak} {unit},趋势和季节估计不稳)" if n_pre < weak else ""
            designs.append(Design("its", True, f"活动前有 {n_pre} {unit}数据,可按覆盖单位自身的趋势和季节推算反事实{note}"))
        if controls:
            designs.append(Design("did", True, f"有 {len(controls)} 个未覆盖单位可作对照(双向固定效应)"))
        else:
            designs.append(Design("did", False, "所有单位都被覆盖,没有未覆盖的单位作对照"))
        thresholds = f"(阈值:覆盖至多 {sc_max_treated} 个单位、对照至少 {sc_min_donors} 个、活动前至少 {sc_min_pre} {unit})"
        if not treated:
            designs.append(Design("synth", False, "面板中没有被覆盖的单位"))
        elif not controls:
            designs.append(Design("synth", False, "所有单位都被覆盖,没有可合成对照的单位"))
        elif gappy:
            designs.append(Design("synth", False, f"覆盖单位 {'、'.join(gappy)} 有缺期,合成控制需要每一期的数据"))
        elif len(treated) > sc_max_treated:
            designs.append(Design("synth", False, f"覆盖 {len(treated)} 个单位,多个单位被覆盖时以双重差分为主{thresholds}"))
        elif len(donors) < sc_min_donors:
            designs.append(Design("synth", False, f"可用对照单位仅 {len(donors)} 个{thresholds}"))
        elif n_pre < sc_min_pre:
            designs.append(Design("synth", False, f"活动前仅 {n_pre} {unit},权重会拟合噪声{thresholds}"))
        else:
            what = "该单位" if len(treated) == 1 else f"这 {len(treated)} 个单位的平均"
            designs.append(Design("synth", True, f"覆盖 {len(treated)} 个单位,有 {len(donors)} 个数据完整且未开展同类活动的"
                                              f"对照单位、活动前 {n_pre} {unit},可用对照单位加权合成{what}{thresholds}"))
        designs.append(Design("staggered", False, "所有覆盖单位同一天开始,不是分批推行"))
    return DesignChoice(designs, treated, controls, donors, excluded, n_pre, n_post, start, staggered, freq)


# --- one estimand for every design ----------------------------------------------------------

COLUMNS = ["design", "method_zh", "estimate", "ci_low", "ci_high", "level", "scale", "p_value"]


def common_campaign(campaign: Campaign) -> Campaign:
    """The campaign as one open span from its start to the end of the data."""
    return Campaign.from_dates(campaign.name_zh, [("活动开始后", campaign.start, None)], campaign.units,
                               campaign.outcomes, campaign_id=campaign.campaign_id)


def _row(design, method_zh, result, level) -> dict:
    t = result.table
    t = t[~t["term"].isin(["post", "pre_placebo"])]
    r = t.iloc[0]
    if "pct" in t.columns:
        return {"design": design, "method_zh": method_zh, "estimate": float(r["pct"]), "ci_low": float(r["pct_low"]),
                "ci_high": float(r["pct_high"]), "level": level, "scale": "pct",
                "p_value": float(r["p_value"]) if pd.notna(r.get("p_value")) else np.nan}
    return {"design": design, "method_zh": method_zh, "estimate": float(r["coef"]), "ci_low": float(r["ci_low"]),
            "ci_high": float(r["ci_high"]), "level": level, "scale": "value",
            "p_value": float(r["p_value"]) if pd.notna(r.get("p_value")) else np.nan}


def side_by_side(rep, choice: DesignChoice, sc=None) -> pd.DataFrame:
    """One row per design that applies to ``rep`` (a ``report.CampaignReport``), on the common
    estimand (see the module docstring); ``sc``: the synthetic control when it ran. Numbers
    only (``attrs["notes"]``: designs that could not be refitted, in Chinese)."""
    from cityanalytics.impact.did import did
    from cityanalytics.impact.its import its

    first = next((r for r in (rep.its, rep.did, rep.staggered) if r is not None), None)
    level = float(first.options.get("level", 0.95)) if first is not None else 0.95
    out = rep.outcome
    col = out.column if out is not None else "count"
    is_count = out is None or out.is_count
    rows, notes = [], []
    if choice.staggered:
        if rep.staggered is not None:
            rows.append(_row("staggered", "Callaway-Sant'Anna 推行后平均效应", rep.staggered, level))
        table = pd.DataFrame(rows, columns=COLUMNS)
        table.attrs["notes"] = notes
        return table
    common = common_campaign(rep.campaign)
    expo = rep.exposure or None
    wts = rep.weights or None
    fits = []
    if choice.applies("its") and rep.its is not None:
        fits.append(("its", "中断时间序列(活动开始后一个水平)", lambda: its(
            rep.panel, common, outcome=col, family=rep.its.options.get("family", "poisson") if is_count else "gaussian",
            effect="level", post="level", level=level, exposure=expo, weights=wts)))
    if choice.applies("did") and rep.did is not None:
        fits.append(("did", "双重差分(活动开始后一个水平)", lambda: did(
            rep.panel, common, outcome=col, model=rep.did.options.get("model", "ols"), effect="level", post="level",
            level=level, exposure=expo, covariates=rep.covariates, weights=wts, event_study=False)))
    for key, method, fit in fits:
        try:
            rows.append(_row(key, method, fit(), level))
        except ValueError as exc:  # the data support the phase model but not this one: say so
            notes.append(f"{NAMES_ZH[key]}的同口径估计未做:{exc}")
    if sc is not None:
        post = sc.table.iloc[sc.options["t0"]:]
        scale = "pct" if is_count else "value"
        base = float(post["synthetic"].mean()) if is_count else 1.0
        f = (lambda x: 100.0 * x / base) if is_count else (lambda x: x)  # counts: % of the synthetic path
        p = sc.inference.get("permutation", {}).get("p_value", np.nan) if sc.inference else np.nan
        rows.append({"design": "synth", "method_zh": "合成控制(活动开始后平均差距)", "estimate": f(sc.att),
                     "ci_low": np.nan, "ci_high": np.nan, "level": level, "scale": scale, "p_value": p})
        sd = sc.inference.get("sdid") if sc.inference else None
        if sd:
            rows.append({"design": "sdid", "method_zh": "合成双重差分(SDID,安慰剂区间)", "estimate": f(sd["estimate"]),
                         "ci_low": f(float(sd["lo"])), "ci_high": f(float(sd["hi"])), "level": sd["level"],
                         "scale": scale, "p_value": np.nan})
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs["notes"] = notes
    return table


def agreement(table: pd.DataFrame) -> dict:
    """Do the designs agree? same_sign: every point estimate on one side of 0; overlap: one
    value lies inside every interval given (max of the lows <= min of the highs)."""
    est = table["estimate"].dropna()
    with_ci = table.dropna(subset=["ci_low", "ci_high"])
    same_sign = bool(len(est) >= 2 and ((est > 0).all() or (est < 0).all()))
    overlap = bool(len(with_ci) >= 2 and with_ci["ci_low"].max() <= with_ci["ci_high"].min())
    excludes_zero = [bool(lo > 0 or hi < 0) for lo, hi in zip(with_ci["ci_low"], with_ci["ci_high"])]
    return {"n": int(len(est)), "n_intervals": int(len(with_ci)), "same_sign": same_sign, "overlap": overlap,
            "all_exclude_zero": bool(excludes_zero and all(excludes_zero)),
            "range": (float(est.min()), float(est.max())) if len(est) else (np.nan, np.nan)}
