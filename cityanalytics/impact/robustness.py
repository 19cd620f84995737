"""Robustness checks: placebo campaign dates, placebo units, leave-one-unit-out, and
randomization inference.

Every check re-estimates one number - the campaign's average effect - under a change of
design. By default that number is the DiD coefficient of one level for the whole campaign
window (``did(effect="level", post="exclude")``: Poisson PML for counts, log rate ratio);
``method="its"`` uses the ITS equivalent on the covered units' total. Any callable
``estimator(panel, campaign) -> (estimate, se, p_value)`` can be given instead.

- placebo dates: the whole campaign moved earlier, into the pre-campaign data only (the
  real campaign's periods are dropped), at several dates; an honest design finds nothing,
  i.e. about 5% of placebo dates "significant" at the 5% level. On quarterly and yearly
  panels the moves are whole quarters or years; a policy without a last day is moved as
  such (in force to the end of the pre-campaign data);
- placebo units: the campaign given to control units only (every subset of the controls of
  the treated group's size, or a sample of them), the real treated units left out;
- leave-one-unit-out: the estimate without each unit in turn;
- randomization inference: the campaign given to every possible set of units of the same
  size (or a random sample of 999 sets); the p-value is the share of assignments whose
  estimate is at least as far from zero as the real one. It needs no large-sample theory,
  which is what a design with few treated units lacks. For a staggered roll-out the
  adoption dates are permuted across units.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd

from cityanalytics.impact.campaign import Campaign, Phase
from cityanalytics.impact.panel import PERIOD_INDEXED, PERIOD_ZH, period_number, period_start
from cityanalytics.results import AnalysisResult

Estimator = Callable[[pd.DataFrame, Campaign], tuple[float, float, float]]


@dataclass
class CheckResult(AnalysisResult):
    """table: one row per re-estimate; ``actual``: the real estimate; ``summary_row``: the
    line this check contributes to the robustness summary."""

    placebos: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    actual: float = math.nan
    title_zh: str = ""
    options: dict = field(default_factory=dict)
    summary_row: dict = field(default_factory=dict)


def default_estimator(method: str = "did", outcome: str = "count", model: str | None = None,
                      freq: str | None = None, exposure: str | None = None, covariates=None,
                      weights: str | None = None) -> Estimator:
    """The campaign-window average effect by DiD (or ITS, or Callaway-Sant'Anna for a
    staggered roll-out): (estimate, se, p). ``exposure`` and ``covariates`` as in ``did``
    (the ITS takes the exposure; Callaway-Sant'Anna neither)."""
    if method == "staggered":
        from cityanalytics.impact.staggered import callaway_santanna

        def est(panel, campaign):
            r = callaway_santanna(panel, campaign, outcome=outcome, se="influence", compare_twfe=False, freq=freq)
            row = r.table.set_index("term").loc["att_simple"]
            return float(row["coef"]), float(row["se"]), float(row["p_value"])
    elif method == "did":
        from cityanalytics.impact.did import did

        def est(panel, campaign):
            r = did(panel, campaign, outcome=outcome, model=model, effect="level", post="exclude",
                    event_study=False, freq=freq, exposure=exposure, covariates=covariates, weights=weights)
            row = r.table.iloc[0]
            return float(row["coef"]), float(row["se"]), float(row["p_value"])
    elif method == "its":
        from cityanalytics.impact.its import its

        def est(panel, campaign):
            r = its(panel, campaign, outcome=outcome, effect="level", post="exclude", n_draws=10, freq=freq,
                    exposure=exposure, weights=weights)
            row = r.table.iloc[0]
            return float(row["coef"]), float(row["se"]), float(row["p_value"])
    else:
        raise ValueError(f"method must be 'did', 'its' or 'staggered', got {method!r}")
    return est


# Placebo moves on quarterly and yearly panels, in periods: the step and the pre-period each
# placebo keeps (a trend needs a few points before it).
PLACEBO_STEP_PERIODS = {"Q": 1, "Y": 1}
PLACEBO_MIN_PRE_PERIODS = {"Q": 8, "Y": 4}


def shift_campaign(campaign: Campaign, days: int | None = None, *, periods: int | None = None,
                   freq: str | None = None) -> Campaign:
    """The same campaign ``days`` earlier (negative: later), or ``periods`` quarters / years /
    months earlier (``freq`` Q, Y or M: calendar moves, so a campaign starting on 1 April
    still starts on 1 April). A phase without a last day stays open."""
    if periods is not None:
        months = {"M": 1, "Q": 3, "Y": 12}.get(freq or "")
        if months is None:
            raise ValueError(f"shift by periods needs freq M, Q or Y, got {freq!r}")
        d = pd.DateOffset(months=months * int(periods))
    else:
        d = pd.Timedelta(days=int(days))
    one = pd.Timedelta(days=1)

    def last(day):  # a last day moves with the day after it: 30 June less a quarter is 31 March
        return day - d if periods is None else (day + one) - d - one

    phases = tuple(Phase(p.name, p.start - d, last(p.end), p.order) for p in campaign.phases)
    return replace(campaign, phases=phases, adoption={u: t - d for u, t in campaign.adoption.items()},
                   unit_end={u: last(t) for u, t in campaign.unit_end.items()})


def _safe(estimator, panel, campaign) -> tuple[float, float, float]:
    try:
        return estimator(panel, campaign)
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
        return math.nan, math.nan, math.nan


def _result(rows: list[dict], actual: float, title: str, kind: str, alpha: float, log_scale: bool,
            extra: dict | None = None) -> CheckResult:
    from cityanalytics.impact import plots

    t = pd.DataFrame(rows)
    valid = t.dropna(subset=["estimate"]) if len(t) else t
    rej = float((valid["p_value"] < alpha).mean()) if len(valid) and "p_value" in valid else math.nan
    if log_scale and len(t):
        t["pct"] = 100 * np.expm1(t["estimate"])
    summary = {"check": kind, "label_zh": title, "n": int(len(valid)),
               "share_significant": rej,
               "min": float(valid["estimate"].min()) if len(valid) else math.nan,
               "max": float(valid["estimate"].max()) if len(valid) else math.nan,
               "actual": actual, **(extra or {})}
    res = CheckResult(table=t, placebos=t, actual=actual, title_zh=title, options={"log_scale": log_scale},
                      summary_row=summary, plotter=plots.plot_placebo)
    return res


def placebo_dates(panel: pd.DataFrame, campaign: Campaign, estimator: Estimator | None = None, *,
                  step_days: int = 91, min_pre_days: int = 730, max_placebos: int = 12, alpha: float = 0.05,
                  log_scale: bool = True, actual: float | None = None, step_periods: int | None = None,
                  min_pre_periods: int | None = None) -> CheckResult:
    """The campaign moved back by multiples of ``step_days`` inside the pre-campaign data
    (which ends the day before the real start); each placebo keeps ``min_pre_days`` of data
    before it and its whole window before the real start. On a quarterly or yearly panel the
    moves are whole periods (``step_periods``, default 1; ``min_pre_periods``, default 8
    quarters or 4 years). A policy without a last day is moved as such: each placebo runs
    from its start to the end of the pre-campaign data."""
    estimator = estimator or default_estimator()
    freq = panel.attrs.get("freq")
    real_start = min(campaign.adoption.values()) if campaign.adoption else campaign.start
    pre = panel[panel["period_end"] < real_start].copy()
    pre.attrs.update(panel.attrs)
    first = pre["period"].min()
    rows = []
    if freq in PERIOD_INDEXED:
        step = int(step_periods or PLACEBO_STEP_PERIODS[freq])
        need = int(min_pre_periods if min_pre_periods is not None else PLACEBO_MIN_PRE_PERIODS[freq])
        lo = min(campaign.start, real_start)
        # Whole periods from the earliest start to the last day: the placebo must end before
        # the real start (an open policy: one step, it then runs to the end of the pre data).
        length = step if campaign.open_ended else int(
            period_number([campaign.end], freq, origin=period_start([lo], freq)[0])[0]) + 1
        for k in range(max_placebos):
            shift = length + k * step
            fake = shift_campaign(campaign, periods=shift, freq=freq)
            before = period_number([period_start([fake.start], freq)[0]], freq, origin=first)[0]
            if pd.isna(first) or before < need:
                break
            e, s, p = _safe(estimator, pre, fake)
            rows.append({"label": _period_label(fake.start, freq), "shift_periods": shift,
                         "shift_days": (campaign.start - fake.start).days, "estimate": e, "se": s, "p_value": p})
        title = f"安慰剂时间:把活动整体提前到活动前的数据中(每次提前 {step} {PERIOD_ZH[freq]})"
    else:
        # The placebo window must end before the real start: shift by at least its length.
        length = step_days if campaign.open_ended else (campaign.end - min(campaign.start, real_start)).days + 1
        for k in range(max_placebos):
            fake = shift_campaign(campaign, length + k * step_days)
            if fake.start - pd.Timedelta(days=min_pre_days) < first:
                break
            e, s, p = _safe(estimator, pre, fake)
            rows.append({"label": f"{fake.start:%Y-%m-%d}", "shift_days": (campaign.start - fake.start).days,
                         "estimate": e, "se": s, "p_value": p})
        title = "安慰剂时间:把活动整体提前到活动前的数据中"
    return _result(rows, actual if actual is not None else math.nan, title, "placebo_dates", alpha, log_scale)


def _period_label(day, freq: str) -> str:
    day = pd.Timestamp(day)
    return f"{day.year}年" if freq == "Y" else f"{day.year}年第{(day.month - 1) // 3 + 1}季度"


def placebo_units(panel: pd.DataFrame, campaign: Campaign, estimator: Estimator | None = None, *,
                  controls=None, max_sets: int = 200, seed: int = 0, alpha: float = 0.05, log_scale: bool = True,
                  actual: float | None = None) -> CheckResult:
    """The campaign given to subsets of the control units (the real treated units dropped):
    as many units as the campaign covered, but never more than half of the controls."""
    estimator = estimator or default_estimator()
    units = sorted(panel["unit_id"].astype(str).unique())
    co = [u for u in (controls or units) if u in units and u not in set(campaign.units)]
    # At most half of the controls play "treated", so each placebo keeps a real control group.
    k = max(1, min(len(campaign.units), len(co) // 2)) if len(co) >= 2 else 0
    rows = []
    if k >= 1:
        sets = _subsets(co, k, max_sets, seed)
        sub = panel[panel["unit_id"].astype(str).isin(co)].copy()
        sub.attrs.update(panel.attrs)
        for s in sets:
            fake = _assign(campaign, list(s))
            e, se, p = _safe(estimator, sub, fake)
            rows.append({"label": ",".join(s), "estimate": e, "se": se, "p_value": p})
    return _result(rows, actual if actual is not None else math.nan,
                   f"安慰剂单位:把活动分配给 {k} 个未覆盖单位", "placebo_units", alpha, log_scale)


def leave_one_out(panel: pd.DataFrame, campaign: Campaign, estimator: Estimator | None = None, *,
                  alpha: float = 0.05, log_scale: bool = True, actual: float | None = None) -> CheckResult:
    estimator = estimator or default_estimator()
    rows = []
    for u in sorted(panel["unit_id"].astype(str).unique()):
        sub = panel[panel["unit_id"].astype(str) != u].copy()
        sub.attrs.update(panel.attrs)
        camp = campaign
        if u in campaign.units:
            left = [x for x in campaign.units if x != u]
            if not left:
                continue
            camp = _assign(campaign, left, keep_dates=True)
        e, s, p = _safe(estimator, sub, camp)
        rows.append({"label": u, "treated": u in campaign.units, "estimate": e, "se": s, "p_value": p})
    res = _result(rows, actual if actual is not None else math.nan, "逐一剔除单位", "leave_one_out", alpha, log_scale)
    return res


def randomization_inference(panel: pd.DataFrame, campaign: Campaign, estimator: Estimator | None = None, *,
                            max_sets: int = 999, seed: int = 0, alpha: float = 0.05, log_scale: bool = True,
                            statistic: str = "estimate") -> CheckResult:
    """Exact (or sampled) randomization inference over treatment assignments.

    statistic: ``estimate`` or ``t`` (estimate / se, studentised). The p-value counts the
    real assignment among the assignments: (1 + #{|stat_perm| >= |stat|}) / (1 + n_perm) for
    sampled sets, #{...} / n for the complete enumeration.
    """
    estimator = estimator or default_estimator()
    units = sorted(panel["unit_id"].astype(str).unique())
    e0, s0, p0 = estimator(panel, campaign)
    stat0 = e0 if statistic == "estimate" else e0 / s0
    rng = np.random.default_rng(seed)
    rows = []
    if campaign.staggered:
        dates = [campaign.adoption.get(u) for u in units]
        seen = set()
        for _ in range(max_sets * 3):
            if len(rows) >= max_sets:
                break
            perm = tuple(rng.permutation(len(units)))
            key = tuple(str(dates[i]) for i in perm)
            if key in seen:
                continue
            seen.add(key)
            adoption = {u: dates[i] for u, i in zip(units, perm) if dates[i] is not None}
            fake = replace(campaign, units=tuple(sorted(adoption)), adoption=adoption,
                           unit_end={u: campaign.end for u in adoption})
            e, s, p = _safe(estimator, panel, fake)
            rows.append({"label": "|".join(f"{u}:{pd.Timestamp(d):%Y-%m}" for u, d in sorted(adoption.items())),
                         "estimate": e, "se": s, "p_value": p})
        exact = False
    else:
        k = len([u for u in campaign.units if u in units])
        total = math.comb(len(units), k)
        exact = total <= max_sets
        sets = _subsets(units, k, max_sets, seed)
        for s_ in sets:
            fake = _assign(campaign, list(s_))
            e, s, p = _safe(estimator, panel, fake)
            rows.append({"label": ",".join(s_), "estimate": e, "se": s, "p_value": p,
                         "actual": set(s_) == set(campaign.units)})
    t = pd.DataFrame(rows)
    stats_ = t["estimate"] if statistic == "estimate" else t["estimate"] / t["se"]
    ok = stats_.notna()
    extreme = int((stats_[ok].abs() >= abs(stat0) - 1e-12).sum())
    if exact:
        p_ri = extreme / int(ok.sum())
    else:
        p_ri = (1 + extreme) / (1 + int(ok.sum()))
    title = ("随机化推断:在单位间随机交换推行日期" if campaign.staggered
             else "随机化推断:把活动随机分配给同样数量的单位")
    res = _result(rows, e0, title, "randomization", alpha, log_scale,
                  extra={"p_value_ri": p_ri, "exact": exact, "p_value_model": p0})
    res.summary_row["p_value_ri"] = p_ri
    return res


def _subsets(units: list[str], k: int, max_sets: int, seed: int) -> list[tuple[str, ...]]:
    total = math.comb(len(units), k)
    if total <= max_sets:
        return list(itertools.combinations(units, k))
    rng = np.random.default_rng(seed)
    out, seen = [], set()
    while len(out) < max_sets:
        s = tuple(sorted(rng.choice(units, size=k, replace=False).tolist()))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def _assign(campaign: Campaign, units: list[str], keep_dates: bool = False) -> Campaign:
    start = campaign.start
    adoption = {u: campaign.adoption.get(u, start) if keep_dates else start for u in units}
    return replace(campaign, units=tuple(sorted(units)), adoption=adoption,
                   unit_end={u: campaign.end for u in units})


@dataclass
class RobustnessResult(AnalysisResult):
    checks: dict = field(default_factory=dict, repr=False)


def robustness(panel: pd.DataFrame, campaign: Campaign, *, method: str = "did", outcome: str = "count",
               model: str | None = None, checks=("placebo_dates", "placebo_units", "leave_one_out", "randomization"),
               max_sets: int = 252, seed: int = 0, alpha: float = 0.05, exposure: str | None = None,
               covariates=None, weights: str | None = None) -> RobustnessResult:
    """Run the checks with the default estimator and summarise them in one table."""
    if campaign.staggered and method == "did":
        method = "staggered"
    est = default_estimator(method, outcome, model, panel.attrs.get("freq"), exposure=exposure, covariates=covariates,
                            weights=weights)
    log_scale = outcome == "count"
    actual, se0, p0 = est(panel, campaign)
    done = {}
    if "placebo_dates" in checks and not campaign.staggered:
        done["placebo_dates"] = placebo_dates(panel, campaign, est, alpha=alpha, log_scale=log_scale, actual=actual)
    if "placebo_units" in checks and method == "did" and not campaign.staggered:
        done["placebo_units"] = placebo_units(panel, campaign, est, max_sets=max_sets, seed=seed, alpha=alpha,
                                              log_scale=log_scale, actual=actual)
    if "placebo_units" in checks and method == "its":
        done["placebo_units"] = _its_placebo_units(panel, campaign, est, alpha, log_scale, actual)
    if "leave_one_out" in checks and method in ("did", "staggered"):
        done["leave_one_out"] = leave_one_out(panel, campaign, est, alpha=alpha, log_scale=log_scale, actual=actual)
    if "randomization" in checks and method in ("did", "staggered"):
        done["randomization"] = randomization_inference(panel, campaign, est, max_sets=max_sets, seed=seed,
                                                        alpha=alpha, log_scale=log_scale)
    table = pd.DataFrame([c.summary_row for c in done.values()])
    from cityanalytics.impact import sentences

    res = RobustnessResult(table=table, checks=done)
    res.extra.update(actual=actual, se=se0, p_value=p0, method=method, log_scale=log_scale, alpha=alpha)
    res.sentences = sentences.robustness_sentences(res)
    res.spec = sentences.robustness_spec(res)
    res.plotter = _plot_all
    return res


def _its_placebo_units(panel, campaign, est, alpha, log_scale, actual) -> CheckResult:
    """ITS on each control unit with the campaign's dates: there should be no effect."""
    rows = []
    for u in sorted(set(panel["unit_id"].astype(str)) - set(campaign.units)):
        e, s, p = _safe(est, panel, _assign(campaign, [u]))
        rows.append({"label": u, "estimate": e, "se": s, "p_value": p})
    return _result(rows, actual, "安慰剂单位:对每个未覆盖单位做同样的中断时间序列", "placebo_units", alpha, log_scale)


def _plot_all(result, ax=None):
    import matplotlib.pyplot as plt

    from cityanalytics.impact import plots

    n = len(result.checks)
    if n == 0:
        _, a = plt.subplots(figsize=(6, 3.4)) if ax is None else (None, ax)
        return plots.say_no_data(a, "没有做成的稳健性检验(数据不足)")
    if ax is not None and n == 1:
        return plots.plot_placebo(next(iter(result.checks.values())), ax=ax)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    for a, c in zip(axes[0], result.checks.values()):
        plots.plot_placebo(c, ax=a)
    fig.tight_layout()
    return axes[0]

