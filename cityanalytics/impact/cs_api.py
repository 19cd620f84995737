"""Callaway-Sant'Anna on any long panel, as a notebook calls it (R ``did``'s ``att_gt`` and ``aggte``).

    from cityanalytics.impact import att_gt

    r = att_gt(mpdta, y="lemp", time="year", unit="countyreal", group="first.treat")
    r.table                      # every ATT(g, t) with its standard error and interval
    r.pretest                    # Wald pre-test of parallel trends (all pre-treatment ATT(g, t) = 0)
    r.aggregate("dynamic")       # event study (leads included); also "simple", "group", "calendar"
    r.aggregate("dynamic", min_e=-2, max_e=2, balance_e=1)
    r.tidy(), r.vcov(), r.summary(), r.plot()

Defaults follow R ``did`` 2.x: never-treated controls, a varying base period, the doubly robust
estimator (``est_method="dr"``) when covariates are given, analytic standard errors from the
influence functions (R's ``bstrap=FALSE``; R's default multiplier bootstrap is not done here) and
pointwise normal intervals. The numbers match R to machine precision on R's ``mpdta`` example
(tests/test_impact_cs_reference.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.impact import cs_core
from cityanalytics.results import AnalysisResult

CONTROL_ZH = {"nevertreated": "从未处理的单位", "notyettreated": "从未处理及尚未处理的单位"}
METHOD_ZH = {"dr": "双重稳健(Sant'Anna-Zhao 2020)", "reg": "结果回归", "ipw": "标准化逆概率加权"}
KIND_ZH = {"simple": "推行后平均效应", "group": "按推行批次", "calendar": "按日历期", "dynamic": "按事件时间(事件研究)"}
KIND_LABEL = {"group": "group", "calendar": "time", "dynamic": "event_time"}


def _interval(est, se, level: float) -> dict:
    est, se = np.asarray(est, dtype=float), np.asarray(se, dtype=float)
    z = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(est / se))
    return {"se": se, "ci_low": est - z * se, "ci_high": est + z * se, "p_value": p}


@dataclass
class CSAggregate(AnalysisResult):
    """An aggregation of the ATT(g, t): ``overall`` (att, se, ci_low, ci_high, p_value) and
    ``table`` (one row per cohort, period or event time; empty for ``simple``)."""

    kind: str = "simple"
    overall: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    influence: np.ndarray | None = field(default=None, repr=False)

    def tidy(self) -> pd.DataFrame:
        """R broom's columns: one row per cohort/period/event time, then the overall effect."""
        rows = [{"term": f"{self.kind}:{r[KIND_LABEL[self.kind]]}", "estimate": r["att"], "std_error": r["se"],
                 "statistic": r["att"] / r["se"], "p_value": r["p_value"], "conf_low": r["ci_low"],
                 "conf_high": r["ci_high"]} for r in self.table.to_dict("records")] if len(self.table) else []
        o = self.overall
        rows.append({"term": f"{self.kind}:overall", "estimate": o["att"], "std_error": o["se"],
                     "statistic": o["att"] / o["se"], "p_value": o["p_value"], "conf_low": o["ci_low"],
                     "conf_high": o["ci_high"]})
        return pd.DataFrame(rows)


def _plot_aggregate(result: CSAggregate, ax=None):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    t = result.table
    if not len(t):
        o = result.overall
        t = pd.DataFrame([{"label": "平均", "att": o["att"], "ci_low": o["ci_low"], "ci_high": o["ci_high"]}])
        x = [0]
        ax.set_xticks([0], ["推行后平均"])
    else:
        x = t[KIND_LABEL[result.kind]].to_numpy()
    y, lo, hi = (t[c].to_numpy(dtype=float) for c in ("att", "ci_low", "ci_high"))
    ok = np.isfinite(lo) & np.isfinite(hi)
    ax.errorbar(np.asarray(x)[ok], y[ok], yerr=[y[ok] - lo[ok], hi[ok] - y[ok]], fmt="o", ms=4, capsize=2)
    ax.plot(np.asarray(x)[~ok], y[~ok], "o", mfc="white", color="C0")
    ax.axhline(0, color="0.3", lw=0.8)
    if result.kind == "dynamic":
        ax.axvline(-0.5, color="0.5", ls="--", lw=0.8)
    xlabel = {"dynamic": "相对推行开始的期数", "group": "推行批次", "calendar": "日历期"}.get(result.kind, "")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("效应")
    ax.set_title(f"Callaway-Sant'Anna:{KIND_ZH[result.kind]}({result.options['level']:.0%} 逐点区间)")
    return ax


@dataclass
class ATTgtResult(AnalysisResult):
    """Every ATT(g, t) (``table``), the pre-test (``pretest``), aggregations on demand
    (``aggregate``). ``cells`` holds the estimates and influence functions by period index;
    ``periods`` the period labels."""

    cells: cs_core.Cells | None = field(default=None, repr=False)
    periods: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    pretest: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        """R broom's ``tidy(att_gt)`` columns: term, group, time, estimate, std_error, statistic,
        p_value, conf_low, conf_high."""
        t = self.table
        return pd.DataFrame({"term": [f"ATT({g},{s})" for g, s in zip(t["group"], t["time"])],
                             "group": t["group"], "time": t["time"], "estimate": t["att"], "std_error": t["se"],
                             "statistic": t["att"] / t["se"], "p_value": t["p_value"],
                             "conf_low": t["ci_low"], "conf_high": t["ci_high"]})

    def vcov(self) -> pd.DataFrame:
        """Covariance of the ATT(g, t) estimates (analytic, from the influence functions)."""
        names = [f"ATT({g},{s})" for g, s in zip(self.table["group"], self.table["time"])]
        return pd.DataFrame(self.cells.vcov(), index=names, columns=names)

    def aggregate(self, kind: str = "dynamic", *, min_e: int | None = None, max_e: int | None = None,
                  balance_e: int | None = None) -> CSAggregate:
        """R ``aggte``: ``simple``, ``group``, ``calendar`` or ``dynamic`` (event time in periods,
        leads included; ``min_e``/``max_e`` limit it, ``balance_e`` keeps only cohorts seen that
        many periods after their start). Standard errors include the influence of estimating the
        cohort shares, as R's analytic ones do."""
        agg = cs_core.aggregate(self.cells, kind, min_e=-np.inf if min_e is None else min_e,
                                max_e=np.inf if max_e is None else max_e, balance_e=balance_e)
        level = self.options["level"]
        att, inf = agg.overall
        overall = {"att": att, **{k: float(v) for k, v in _interval(att, cs_core.se_of(inf[:, None])[0], level).items()}}
        label = KIND_LABEL.get(kind)
        rows = []
        for key, a, f in agg.rows:
            value = int(key) if kind == "dynamic" else self.periods[int(key)]
            rows.append({label: value, "att": a, "se": float(cs_core.se_of(f[:, None])[0])})
        table = pd.DataFrame(rows, columns=[label, "att", "se"] if label else ["att", "se"])
        if len(table):
            iv = _interval(table["att"], table["se"], level)
            for k in ("ci_low", "ci_high", "p_value"):
                table[k] = iv[k]
        opts = {**self.options, "kind": kind, "min_e": min_e, "max_e": max_e, "balance_e": balance_e}
        res = CSAggregate(table=table, kind=kind, overall=overall, options=opts, influence=inf,
                          plotter=_plot_aggregate)
        res.spec = _aggregate_spec(res)
        res.sentences = [f"{KIND_ZH[kind]}:总体 ATT = {att:.4f}(标准误 {overall['se']:.4f},"
                         f"{level:.0%} 区间 {overall['ci_low']:.4f} 至 {overall['ci_high']:.4f},p = {overall['p_value']:.3f})。"]
        return res


def _aggregate_spec(r: CSAggregate) -> str:
    o = r.options
    how = {"simple": "全部推行后 ATT(g,t) 按批次规模加权平均",
           "group": "每个批次推行后各期的简单平均,再按批次规模加权",
           "calendar": "每期已推行批次按规模加权,再对各期简单平均",
           "dynamic": "每个事件时间上按批次规模加权(含推行前各期),总体为事件时间 ≥0 的简单平均"}[r.kind]
    window = ""
    if o.get("min_e") is not None or o.get("max_e") is not None:
        lo, hi = o.get("min_e"), o.get("max_e")
        window += f";事件时间限于 {'-∞' if lo is None else lo} 至 {'∞' if hi is None else hi}"
    if o.get("balance_e") is not None:
        window += f";只用推行后至少观察到 {o['balance_e']} 期的批次"
    return (f"Callaway-Sant'Anna 汇总(R did 的 aggte,type=\"{r.kind}\"):{how}{window}。"
            "标准误为影响函数的解析标准误,计入批次份额的估计误差(与 R did 的 bstrap=FALSE 一致;"
            f"R 默认用乘数自助法),区间为 {o['level']:.0%} 逐点正态区间。")


def _wide(data: pd.DataFrame, y: str, time: str, unit: str, group: str, covariates: list[str]):
    missing = [c for c in [y, time, unit, group, *covariates] if c not in data.columns]
    if missing:
        raise ValueError(f"att_gt: column(s) {missing} not in the data (columns: {list(data.columns)})")
    dup = data.duplicated([unit, time])
    if dup.any():
        i = data.index[dup][0]
        raise ValueError(f"att_gt: row {i}: unit {data.at[i, unit]!r} appears twice in period {data.at[i, time]!r}; "
                         "one row per unit and period is expected")
    for col in [y, *covariates]:
        bad = data[col].isna()
        if bad.any():
            i = data.index[bad][0]
            raise ValueError(f"att_gt: row {i} (unit {data.at[i, unit]!r}, period {data.at[i, time]!r}): column "
                             f"{col!r} is missing; give a value or leave the unit out (R did drops such units)")
    g_by_unit = data.groupby(unit)[group].agg(["min", "max", "size"])
    varies = g_by_unit[(g_by_unit["min"] != g_by_unit["max"]) & g_by_unit[["min", "max"]].notna().all(axis=1)]
    if len(varies):
        raise ValueError(f"att_gt: column {group!r} changes within unit {varies.index[0]!r}; the first treated "
                         "period must be constant within a unit")
    periods = np.sort(data[time].unique())
    wide = data.pivot(index=unit, columns=time, values=y).reindex(columns=periods)
    gaps = wide.isna().any(axis=1)
    if gaps.any():
        u = wide.index[gaps][0]
        raise ValueError(f"att_gt: {int(gaps.sum())} unit(s) lack some periods (e.g. unit {u!r} has no row for "
                         f"{[p for p in periods if pd.isna(wide.at[u, p])][:3]}); a balanced panel is expected")
    X = None
    if covariates:
        X = np.stack([data.pivot(index=unit, columns=time, values=c).reindex(index=wide.index, columns=periods)
                      .to_numpy(dtype=float) for c in covariates], axis=2)
    g = data.groupby(unit)[group].first().reindex(wide.index)
    return wide, periods, g, X


def att_gt(data: pd.DataFrame, *, y: str, time: str, unit: str, group: str, covariates=None,
           control: str = "nevertreated", base_period: str = "varying", est_method: str = "dr",
           anticipation: int = 0, level: float = 0.95) -> ATTgtResult:
    """Group-time average treatment effects of Callaway & Sant'Anna (2021) on a balanced long panel.

    data: one row per unit and period; ``group``: the first treated period (a value of ``time``;
    0 or missing for never treated; a value after the last period counts as never treated).
    covariates: columns for conditional parallel trends (each cell uses their values in its base
    period), estimated by ``est_method``: ``dr`` (doubly robust, Sant'Anna & Zhao 2020; R's
    default), ``reg`` (outcome regression) or ``ipw`` (standardized inverse probability weights).
    control: ``nevertreated`` or ``notyettreated``. base_period: ``varying`` (pre-treatment cells
    compare each period with the one before; R's default) or ``universal`` (every cell compares
    with g - 1 - anticipation). Standard errors: analytic, from the influence functions (R's
    ``bstrap=FALSE``), clustered by unit; intervals pointwise normal at ``level``.
    Units treated in the first period (no pre-period) are left out and counted in
    ``diagnostics["dropped_always_treated"]``; without never-treated units and with
    ``notyettreated`` controls, the last cohort serves as the control and periods from its start
    on are left out (as R does).
    """
    cs_core.check_choices(control, base_period, est_method)
    covariates = [str(c) for c in (covariates or [])]
    wide, periods, g, X = _wide(data, y, time, unit, group, covariates)
    never = g.isna().to_numpy().copy()
    if pd.api.types.is_numeric_dtype(g):
        never |= (g == 0).to_numpy()  # R's code for never treated
    start = np.searchsorted(periods, g.where(~never, periods[0]).to_numpy(dtype=periods.dtype), side="left")
    never |= start >= len(periods)  # first treated after the data end: never treated here
    G = np.where(never, np.inf, start).astype(float)
    a = int(anticipation)
    always = G <= a
    Y = wide.to_numpy(dtype=float)
    ids = wide.index.to_numpy()
    keep = ~always
    Y, G, ids = Y[keep], G[keep], ids[keep]
    X = X[keep] if X is not None else None
    notes = []
    if not np.isinf(G).any():
        if control == "nevertreated":
            raise ValueError("att_gt: no never-treated unit; use control='notyettreated'")
        last = G.max()
        cut = int(last - a)
        Y, X = Y[:, :cut], (X[:, :cut] if X is not None else None)
        periods = periods[:cut]
        G = np.where(G == last, np.inf, G)
        notes.append(f"没有从未处理的单位:最后一批({int(np.isinf(G).sum())} 个单位)作为对照,"
                     "其开始处理及以后的各期不用。")
    if not np.isfinite(G).any():
        raise ValueError("att_gt: no unit starts treatment inside the data (after the first period)")
    cells = cs_core.group_time(Y, G, X=X, control=control, base_period=base_period, est_method=est_method,
                               anticipation=a)
    if not len(cells.att):
        raise ValueError("att_gt: no ATT(g, t) can be estimated (no cohort has a comparison group)")
    diag = {"dropped_always_treated": int(always.sum()), "dropped_always_treated_ids": list(wide.index[always]),
            "notes": notes}
    opts = dict(y=y, time=time, unit=unit, group=group, covariates=covariates, control=control,
                base_period=base_period, est_method=est_method, anticipation=a, level=level)
    return cells_result(cells, periods, opts, diag)


def cells_result(cells: cs_core.Cells, periods, options: dict, diagnostics: dict | None = None) -> ATTgtResult:
    """The result object for ATT(g, t) cells already estimated (``periods``: the label of each
    period index; ``options`` as ``att_gt`` records them, ``base_k`` optional)."""
    periods = np.asarray(periods)
    G = cells.G
    iv = _interval(cells.att, cells.se, options["level"])
    table = pd.DataFrame({"group": periods[cells.group.astype(int)], "time": periods[cells.time.astype(int)],
                          "event_time": cells.event_time.astype(int), "att": cells.att, **iv,
                          "n_treated": cells.n_treated, "n_control": cells.n_control,
                          "post": cells.time >= cells.group})
    cohorts = {periods[int(k)]: int((G == k).sum()) for k in sorted(set(G[np.isfinite(G)].astype(int)))}
    diag = {"n_units": len(G), "n_never": int(np.isinf(G).sum()), "cohort_sizes": cohorts, "n_periods": len(periods),
            "dropped_always_treated": 0, "dropped_always_treated_ids": [], "notes": [], **(diagnostics or {})}
    res = ATTgtResult(table=table, cells=cells, periods=periods, pretest=cs_core.pretest(cells), diagnostics=diag,
                      options=options, plotter=_plot_cells)
    res.spec = _spec(res)
    res.sentences = _sentences(res)
    return res


def _spec(r: ATTgtResult) -> str:
    o, d = r.options, r.diagnostics
    cov = (f"协变量 {', '.join(o['covariates'])}(取各单元格基期的值),估计方法:{METHOD_ZH[o['est_method']]}"
           if o["covariates"] else "无协变量(各估计方法此时都等于处理组与对照组变化之差)")
    base = ("可变基期(推行前各期与其前一期比较,推行后与 g-1 比较)" if o["base_period"] == "varying"
            else "统一基期(所有单元格都与 g-1 比较)" if o.get("base_k", 1) == 1
            else f"统一基期(所有单元格都与推行前 {o['base_k']} 期的平均比较)")
    return (f"模型:Callaway-Sant'Anna(2021)分组-时期平均处理效应 ATT(g,t),平衡面板 {d['n_units']} 个单位 × "
            f"{d['n_periods']} 期,{len(d['cohort_sizes'])} 个处理批次、{d['n_never']} 个从未处理;对照为"
            f"{CONTROL_ZH[o['control']]};{base};预期期数 {o['anticipation']};{cov}。"
            "标准误(默认)为单位层面影响函数的解析标准误,即 R did 在 bstrap=FALSE 时的标准误"
            f"(R 默认用乘数自助法);区间为 {o['level']:.0%} 逐点正态区间。"
            "平行趋势预检验:推行前全部 ATT(g,t)=0 的 Wald 检验(与 R summary(att_gt) 所印相同)。")


def _sentences(r: ATTgtResult) -> list[str]:
    if r.table["post"].any():
        s = r.aggregate("simple").overall
        out = [f"推行后平均效应(按批次规模加权)ATT = {s['att']:.4f}(标准误 {s['se']:.4f},"
               f"{r.options['level']:.0%} 区间 {s['ci_low']:.4f} 至 {s['ci_high']:.4f})。"]
    else:
        out = ["没有可估计的推行后 ATT(g,t)(推行后各期找不到对照单位),只有推行前的比较。"]
    p = r.pretest
    if np.isfinite(p["p_value"]):
        out.append(f"平行趋势预检验(推行前 {p['df']} 个 ATT(g,t) 全为 0 的 Wald 检验):"
                   f"W = {p['statistic']:.3f},p = {p['p_value']:.4f}"
                   + (",推行前差异显著,平行趋势存疑。" if p["p_value"] < 0.05 else ",未见推行前差异。"))
    else:
        out.append(f"平行趋势预检验未做:{p['reason']}。")
    if r.diagnostics["dropped_always_treated"]:
        out.append(f"{r.diagnostics['dropped_always_treated']} 个单位在数据第一期已处理,没有处理前数据,未纳入估计。")
    return out + list(r.diagnostics["notes"])


def _plot_cells(result: ATTgtResult, ax=None):
    """ATT(g, t) by event time, one colour per cohort."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    t = result.table
    cohorts = list(dict.fromkeys(t["group"]))
    width = 0.6 / max(len(cohorts), 1)
    for k, grp in enumerate(cohorts):
        s = t[t["group"] == grp]
        x = s["event_time"].to_numpy() + (k - (len(cohorts) - 1) / 2) * width
        y, lo, hi = (s[c].to_numpy(dtype=float) for c in ("att", "ci_low", "ci_high"))
        ok = np.isfinite(lo)
        ax.errorbar(x[ok], y[ok], yerr=[y[ok] - lo[ok], hi[ok] - y[ok]], fmt="o", ms=3, capsize=2, label=f"批次 {grp}")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.axvline(-0.5, color="0.5", ls="--", lw=0.8)
    ax.set_xlabel("相对推行开始的期数")
    ax.set_ylabel("ATT(g,t)")
    ax.set_title(f"各批次各期效应 ATT(g,t)({result.options['level']:.0%} 逐点区间)")
    ax.legend(fontsize=8)
    return ax
