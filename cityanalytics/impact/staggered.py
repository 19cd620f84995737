"""Staggered roll-outs: Callaway & Sant'Anna (2021) group-time effects, next to plain TWFE.

When units adopt a measure on different dates and its effect grows or differs across units,
the plain TWFE coefficient compares late adopters with early adopters whose effect is still
changing, and can be far from any average effect (even of the wrong sign). Callaway and
Sant'Anna avoid those comparisons:

1. ATT(g, t) for each cohort g (units starting in period g) and period t: the change of the
   cohort's mean outcome from the period before it started (g - 1) to t, minus the same
   change among the controls - units never treated (``control="never"``) or also those not
   yet treated by t (``control="notyet"``, the default);
2. aggregated with cohort-size weights to an event study (effect e periods after the start)
   and to an overall ATT (all post-start cells, cohort-size weights: CS's "simple");
3. standard errors (default) from the influence functions as R ``did`` computes its analytic
   ones: unit level (clustered by unit), including the influence of estimating the cohort
   shares, sqrt(mean(IF^2)/n) with no small-sample factor; intervals from t(n-1). Pre-start
   cells (t < g - 1) compare t with g - 1 and should be near zero.

The cells and aggregations are cs_core's (R ``did``'s ATT(g, t) with a universal base; a base
of k > 1 periods is this module's extension). ``att_gt`` (cs_api) is the general entry point:
any long panel, covariates (doubly robust), varying or universal base, the four R aggregations
and the pre-test; ``StaggeredResult.att_gt`` gives the same on a campaign's cells.

Outcome: counts as log(count/days) (0.5 for a zero count), continuous outcomes as they are.
The periods of a unit's first partial period count as treated (event time 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.impact import cs_core
from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.cs_api import ATTgtResult, att_gt, cells_result  # noqa: F401  (att_gt: public API)
from cityanalytics.impact.panel import check_freq, period_start
from cityanalytics.impact.sentences import outcome_zh
from cityanalytics.results import AnalysisResult


@dataclass
class StaggeredResult(AnalysisResult):
    """table: the overall ATT (CS) and the plain TWFE coefficient; event_study: CS by event
    time; group_time: every ATT(g, t); twfe: the plain TWFE DiDResult for comparison;
    att_gt: the same cells as an ATTgtResult (``.aggregate("group")``, ``.pretest``, ``.tidy()``)."""

    event_study: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    group_time: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    twfe: object = field(default=None, repr=False)
    att_gt: ATTgtResult | None = field(default=None, repr=False)
    diagnostics: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    method_zh: str = "Callaway-Sant'Anna"


def _wide(panel: pd.DataFrame, outcome: str, units: list[str]) -> tuple[pd.DataFrame, bool]:
    df = panel[panel["unit_id"].astype(str).isin(units)].copy()
    df["unit_id"] = df["unit_id"].astype(str)
    count = outcome == "count"
    if count:
        c = df["count"].to_numpy(dtype=float)
        df["y"] = np.log(np.where(c > 0, c, 0.5) / df["days"].to_numpy(dtype=float))
    else:
        df["y"] = df[outcome].astype(float)
    wide = df.pivot(index="unit_id", columns="period", values="y").sort_index(axis=1)
    return wide, count


def _estimates(Y, G, control, base_k, selectors, weight_influence: bool = True):
    """The cells (cs_core, universal base of ``base_k`` periods; the base period's own cell is
    dropped) and, for each selector name -> predicate on (g, t), the cohort-share weighted
    mean of the selected cells: (theta, IF with the cohort-share term, n_cells)."""
    cells = cs_core.group_time(Y, G, control="nevertreated" if control == "never" else "notyettreated",
                               base_period="universal", base_k=base_k)
    cells = cs_core.subset(cells, ~cells.reference)
    res = {}
    for name, pred in selectors.items():
        sel = np.array([pred(int(g), int(t)) for g, t in zip(cells.group, cells.time)], dtype=bool)
        if sel.any():
            res[name] = (*cs_core.weighted(cells, sel, weight_influence), int(sel.sum()))
    return cells, res


DEFAULT_BASE = {"D": 28, "W": 8, "M": 12, "Q": 4, "Y": 2}


def callaway_santanna(panel: pd.DataFrame, campaign: Campaign, *, outcome: str = "count", control: str = "notyet",
                      units=None, level: float = 0.95, event_window: tuple[int, int] | None = None,
                      base_periods: int | None = None, se: str = "auto", freq: str | None = None,
                      compare_twfe: bool = True, outcome_label: str | None = None,
                      unit_names: dict | None = None) -> StaggeredResult:
    """Group-time ATTs and their aggregations for a staggered roll-out.

    units: the units to use (default: every unit in the panel; units outside the campaign
    are never treated). control: ``notyet`` (never + not-yet-treated) or ``never``.
    base_periods: the base is the mean of this many periods before the start (default 12
    months / 8 weeks / 28 days; 1 is CS's single base period). A longer base averages out
    the noise of one month, at the price of assuming parallel trends over it.
    se: ``influence`` (analytic, as R ``did`` computes it: the cohort-share term included, no
    n/(n-1) factor), ``influence_fixed`` (the cohorts the campaign reached as a fixed design:
    no cohort-share term, times n/(n-1); narrower when effects differ by cohort),
    ``jackknife`` (leave one unit out) or ``auto`` (the default): influence,
    or the jackknife when some cohort has a single unit, whose own noise the influence
    function cannot see. The result's ``att_gt`` holds the same cells for the group, calendar
    and dynamic aggregations, the Wald pre-test and ``tidy()``.
    unit_names: unit_id -> name, for the sentences (a unit treated before the data begin is
    named there: it has no pre-period and is left out).
    """
    if control not in ("notyet", "never"):
        raise ValueError(f"control must be 'notyet' or 'never', got {control!r}")
    if se not in ("auto", "influence", "influence_fixed", "jackknife"):
        raise ValueError(f"se must be 'auto', 'influence', 'influence_fixed' or 'jackknife', got {se!r}")
    freq = check_freq(freq or panel.attrs.get("freq") or "M")
    base_k = int(base_periods or DEFAULT_BASE[freq])
    all_units = sorted(panel["unit_id"].astype(str).unique()) if units is None else [str(u) for u in units]
    wide, count = _wide(panel, outcome, all_units)
    wide = wide.dropna(axis=0, how="any")  # a balanced panel: units with a gap are left out
    periods = wide.columns.to_numpy()
    T = len(periods)
    ids = wide.index.to_list()
    Y = wide.to_numpy()
    n = len(ids)
    # Cohort: index of the period containing the adoption date (inf: never in the window).
    G = np.full(n, np.inf)
    for i, u in enumerate(ids):
        if u in campaign.adoption:
            g = np.searchsorted(periods, np.datetime64(period_start([campaign.adoption[u]], freq)[0]))
            G[i] = g if g < T else np.inf
    always = G <= 0
    always_ids = [u for u, a in zip(ids, always) if a]
    if always.any():  # treated from the first period: no pre-period, cannot be used
        keep = ~always
        Y, G, ids = Y[keep], G[keep], [u for u, k in zip(ids, keep) if k]
        n = len(ids)
    cohorts = sorted({int(g) for g in G if np.isfinite(g)})
    if not cohorts:
        raise ValueError("no unit of the campaign starts inside the data window")
    n_never = int(np.isinf(G).sum())
    sizes_n = [int((G == g).sum()) for g in cohorts]
    method = se if se != "auto" else ("jackknife" if min(sizes_n) < 2 else "influence")
    pre_w, post_w = event_window or {"D": (14, 60), "W": (8, 26), "M": (6, 12), "Q": (4, 8), "Y": (3, 5)}[freq]
    selectors = {"att_simple": lambda g, t: t >= g, "pre_placebo": lambda g, t: t < g}
    for e in range(-pre_w, post_w + 1):
        selectors[e] = (lambda e_: (lambda g, t: t - g == e_))(e)
    cells, est = _estimates(Y, G, control, base_k, selectors, weight_influence=method != "influence_fixed")
    if "att_simple" not in est:
        raise ValueError("no cohort has a comparison group in any period after its start (too few units or periods) / "
                         "没有任何推行批次在推行后找得到对照单位(单位或期数太少),无法估计")
    df_t = max(n - 1, 1)
    tq = stats.t.ppf(0.5 + level / 2, df_t)
    ses = {}
    if method in ("influence", "influence_fixed"):
        small = n / max(n - 1, 1) if method == "influence_fixed" else 1.0  # R did applies no such factor
        for name, (theta, psi, _) in est.items():
            ses[name] = float(cs_core.se_of(psi[:, None])[0] * np.sqrt(small))
    else:
        reps = {name: [] for name in est}
        for i in range(n):
            keep = np.arange(n) != i
            _, est_i = _estimates(Y[keep], G[keep], control, base_k, selectors)
            for name in est:
                reps[name].append(est_i[name][0] if name in est_i else np.nan)
        for name, vals in reps.items():
            v = np.asarray(vals, dtype=float)
            v = v[np.isfinite(v)]
            m = len(v)
            ses[name] = float(np.sqrt((m - 1) / m * np.sum((v - v.mean()) ** 2))) if m > 1 else np.nan

    def row(name) -> dict:
        theta, _, k = est[name]
        s_ = ses[name]
        return {"coef": theta, "se": s_, "ci_low": theta - tq * s_, "ci_high": theta + tq * s_,
                "p_value": float(2 * stats.t.sf(abs(theta / s_), df_t)) if s_ and s_ > 0 else np.nan, "n_cells": k}

    gt = pd.DataFrame({"cohort": pd.to_datetime(periods[cells.group.astype(int)]),
                       "period": pd.to_datetime(periods[cells.time.astype(int)]), "g": cells.group.astype(int),
                       "t": cells.time.astype(int), "event_time": cells.event_time.astype(int), "att": cells.att,
                       "se": cells.se, "n_treated": cells.n_treated, "n_control": cells.n_control})
    es = pd.DataFrame([{"event_time": e, **row(e)} for e in range(-pre_w, post_w + 1) if e in est],
                      columns=["event_time", "coef", "se", "ci_low", "ci_high", "p_value", "n_cells"])
    if base_k == 1:
        es = pd.concat([es, pd.DataFrame([{"event_time": -1, "coef": 0.0, "se": 0.0, "ci_low": 0.0, "ci_high": 0.0,
                                            "p_value": np.nan, "n_cells": 0}])], ignore_index=True)
    es = es.sort_values("event_time", ignore_index=True)
    table_rows = [{"term": "att_simple", "label_zh": "推行后平均效应(CS)", **row("att_simple")}]
    if "pre_placebo" in est:
        table_rows.append({"term": "pre_placebo", "label_zh": "推行前平均(应接近 0)", **row("pre_placebo")})
    table = pd.DataFrame(table_rows)
    if count:
        for frame in (table, es):
            frame["pct"] = 100 * np.expm1(frame["coef"])
            frame["pct_low"] = 100 * np.expm1(frame["ci_low"])
            frame["pct_high"] = 100 * np.expm1(frame["ci_high"])
    twfe = None
    if compare_twfe:
        from cityanalytics.impact.did import did

        treated = [u for u in ids if u in campaign.adoption and np.isfinite(G[ids.index(u)])]
        controls = [u for u in ids if u not in treated]
        sub = panel[panel["unit_id"].astype(str).isin(ids)]
        twfe = did(sub, campaign, outcome=outcome, treated=treated, control_units=controls, model="ols", effect="level",
                   post="level", event_window=(pre_w, post_w), level=level, freq=freq, outcome_label=outcome_label)
        r0 = twfe.table.iloc[0].to_dict()
        r0.update(term="twfe_static", label_zh="普通双向固定效应(对照)")
        table = pd.concat([table, pd.DataFrame([r0])[table.columns.intersection(list(r0))]], ignore_index=True)
    sizes = {pd.Timestamp(periods[g]).strftime("%Y-%m-%d"): k for g, k in zip(cohorts, sizes_n)}
    diag = {"n_units": n, "n_never": n_never, "cohort_sizes": sizes, "n_cohorts": len(cohorts),
            "control": control, "freq": freq, "dropped_always_treated": int(always.sum()), "df_t": df_t,
            "always_treated": always_ids,
            "always_treated_names": [(unit_names or {}).get(u, u) for u in always_ids],
            "data_start": pd.Timestamp(periods[0]),
            "se_method": method, "base_periods": base_k}
    from cityanalytics.impact import plots, sentences
    from cityanalytics.impact.warnings import staggered_warnings

    opts = dict(outcome=outcome, outcome_label=outcome_label or outcome_zh(outcome), control=control, level=level, freq=freq,
                campaign=campaign, scale="pct" if count else "level", log_scale=count,
                event_window=(pre_w, post_w), base_periods=base_k, se=method)
    cs_opts = dict(y=outcome, time="period", unit="unit_id", group="adoption", covariates=[],
                   control="nevertreated" if control == "never" else "notyettreated", base_period="universal",
                   est_method="dr", anticipation=0, level=level, base_k=base_k)
    gt_result = cells_result(cells, pd.to_datetime(periods).strftime("%Y-%m-%d").to_numpy(), cs_opts)
    res = StaggeredResult(table=table, event_study=es, group_time=gt, twfe=twfe, att_gt=gt_result, diagnostics=diag,
                          warnings=staggered_warnings({"cohort_sizes": sizes, "n_never": n_never, "control": control,
                                                         "se_method": method}),
                          options=opts, plotter=plots.plot_staggered)
    res.spec = sentences.staggered_spec(res)
    res.sentences = sentences.staggered_sentences(res)
    return res
