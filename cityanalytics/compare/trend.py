"""Trend per unit over the last periods, with a test, and the "worse and getting worse" flag.

Tests over the last ``n_periods`` periods (five by default, the public-health convention),
with scores 0, 1, ..., the period's distance from the first one:

- proportions: Cochran-Armitage chi-square test for trend (1 df). With x_i of n_i in period
  i, p̄ = Σx/Σn, T = Σ t_i (x_i − n_i p̄), Var T = p̄(1−p̄)[Σ n_i t_i² − (Σ n_i t_i)²/Σn],
  χ² = T²/Var T. The slope reported is T / [Σ n_i t_i² − (Σ n_i t_i)²/Σn], the n-weighted
  least-squares slope of the proportion on t (in percentage points per period).
- counts and count rates: the Poisson analogue (score test for a log-linear trend given the
  total), K = Σk, E = Σe, T = Σ t_i (k_i − K e_i/E), Var T = K[Σ e_i t_i²/E − (Σ e_i t_i/E)²];
  the slope reported is the least-squares slope of the values.
- means: least-squares slope of the values with its t test (n − 2 df).

A unit is "getting worse" when the trend is significant and runs against the indicator's
direction; "worse than the city" when the league table's comparison in the current period is
significant and on the bad side (``worse_rule="significant"``, the default) or merely on the
bad side (``"point"``). ``flag`` marks units that are both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.results import AnalysisResult

from .sentences import join_names
from ._common import CITY, as_period, name_of, pick, unit_names

WORSE_RULES = ("significant", "point")


def cochran_armitage(x, n, scores=None) -> dict:
    """Cochran-Armitage test for trend in proportions: chi2 (1 df), z, p_value, slope (fraction/score)."""
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    t = np.arange(len(x), dtype=float) if scores is None else np.asarray(scores, dtype=float)
    big_n = n.sum()
    pbar = x.sum() / big_n
    stat_t = np.sum(t * (x - n * pbar))
    sxx = np.sum(n * t ** 2) - np.sum(n * t) ** 2 / big_n
    var = pbar * (1 - pbar) * sxx
    slope = stat_t / sxx if sxx > 0 else np.nan
    if not var > 0:
        return {"chi2": np.nan, "z": np.nan, "p_value": 1.0 if sxx > 0 else np.nan, "slope": slope}
    z = stat_t / np.sqrt(var)
    return {"chi2": z ** 2, "z": z, "p_value": float(stats.chi2.sf(z ** 2, 1)), "slope": slope}


def poisson_trend(k, exposure=None, scores=None) -> dict:
    """Score test for a log-linear trend in Poisson counts with exposures (given their total)."""
    k = np.asarray(k, dtype=float)
    e = np.ones_like(k) if exposure is None else np.asarray(exposure, dtype=float)
    t = np.arange(len(k), dtype=float) if scores is None else np.asarray(scores, dtype=float)
    big_k, big_e = k.sum(), e.sum()
    stat_t = np.sum(t * (k - big_k * e / big_e))
    var = big_k * (np.sum(e * t ** 2) / big_e - (np.sum(e * t) / big_e) ** 2)
    slope = np.polyfit(t, k / e, 1)[0] if len(t) >= 2 else np.nan
    if not var > 0:
        return {"chi2": np.nan, "z": np.nan, "p_value": 1.0 if big_k == 0 else np.nan, "slope": slope}
    z = stat_t / np.sqrt(var)
    return {"chi2": z ** 2, "z": z, "p_value": float(stats.chi2.sf(z ** 2, 1)), "slope": slope}


def linear_trend(values, scores=None) -> dict:
    """Least-squares slope and its t test (for means)."""
    y = np.asarray(values, dtype=float)
    t = np.arange(len(y), dtype=float) if scores is None else np.asarray(scores, dtype=float)
    if len(y) < 3 or np.all(y == y[0]):
        return {"chi2": np.nan, "z": np.nan, "p_value": 1.0 if len(y) >= 3 else np.nan,
                "slope": 0.0 if len(y) >= 2 else np.nan}
    r = stats.linregress(t, y)
    return {"chi2": np.nan, "z": r.slope / r.stderr if r.stderr > 0 else np.nan, "p_value": float(r.pvalue),
            "slope": float(r.slope)}


def trend(frame: pd.DataFrame, indicator: str, period, *, n_periods: int = 5, group: str = "",
          units: list[str] | None = None, names: dict[str, str] | None = None,
          exposure: dict[str, float] | None = None, league: pd.DataFrame | None = None,
          worse_rule: str = "significant", alpha: float | None = None, min_periods: int = 3,
          focus: str | None = None) -> AnalysisResult:
    """Trend of each unit (and the city, first row) over the ``n_periods`` periods ending at ``period``.

    league: the league table of the same indicator and period (for "worse than the city");
    without it, that column and the flag are left empty.
    """
    if worse_rule not in WORSE_RULES:
        raise ValueError(f"worse_rule must be one of {WORSE_RULES}")
    names = unit_names(frame, names)
    end = as_period(period)
    periods = [end - (n_periods - 1 - i) for i in range(n_periods)]
    slices = [pick(frame, indicator, p, group, units, exposure) for p in periods]
    s0 = slices[-1]
    alpha = 1 - s0.level if alpha is None else alpha
    ids = list(s0.units["unit_id"]) if units is None else list(units)
    long = []
    for i, (p, s) in enumerate(zip(periods, slices)):
        u = s.units.assign(period=p, score=i)
        long.append(u)
        if s.city is not None:
            long.append(pd.DataFrame([s.city]).assign(period=p, score=i))
    series = pd.concat(long, ignore_index=True) if long else pd.DataFrame()
    rows = []
    for uid in [CITY, *ids]:
        g = series[(series["unit_id"] == uid) & series["value"].notna()].sort_values("score")
        rows.append(_row(uid, g, s0.stat, min_periods))
    t = pd.DataFrame(rows)
    t.insert(1, "name", [name_of(u, names) for u in t["unit_id"]])
    sign = s0.sign
    sig = t["p_value"] < alpha
    if sign != 0:
        t["trend"] = np.where(t["p_value"].isna(), "数据不足",
                              np.where(~sig, "无显著变化", np.where(t["slope"] * sign > 0, "改善", "变差")))
    else:
        t["trend"] = np.where(t["p_value"].isna(), "数据不足",
                              np.where(~sig, "无显著变化", np.where(t["slope"] > 0, "上升", "下降")))
    t["getting_worse"] = t["trend"] == "变差"
    t["worse_than_city"] = _worse_than_city(t, league, worse_rule)
    t["flag"] = t["getting_worse"] & (t["worse_than_city"] == True)  # noqa: E712 (None stays False)
    t["focus"] = t["unit_id"] == focus if focus else False
    series["name"] = [name_of(u, names) for u in series["unit_id"]]
    spec = _spec(s0, periods, alpha, worse_rule, min_periods)
    lines = _sentences(t, s0, periods, focus)
    return AnalysisResult(table=t, sentences=lines, spec=spec, plotter=_plot,
                          extra={"series": series, "periods": periods, "slice": s0})


def _row(uid, g: pd.DataFrame, stat: str, min_periods: int) -> dict:
    out = {"unit_id": uid, "periods": len(g), "first_value": np.nan, "last_value": np.nan,
           "slope": np.nan, "chi2": np.nan, "z": np.nan, "p_value": np.nan, "test": ""}
    if len(g) == 0:
        return out
    out["first_value"], out["last_value"] = float(g["value"].iloc[0]), float(g["value"].iloc[-1])
    if len(g) < min_periods:
        return out
    scores = g["score"].to_numpy(dtype=float)
    if stat == "proportion":
        r = cochran_armitage(g["numerator"], g["denominator"], scores)
        r["slope"] = 100 * r["slope"]
        test = "cochran_armitage"
    elif stat == "rate":
        r = poisson_trend(g["numerator"], g["denominator"], scores)
        test = "poisson_score"
    elif stat == "count":
        r = poisson_trend(g["value"], None, scores)
        test = "poisson_score"
    else:
        r = linear_trend(g["value"], scores)
        test = "linear_t"
    out.update(slope=r["slope"], chi2=r["chi2"], z=r["z"], p_value=r["p_value"], test=test)
    return out


def _worse_than_city(t: pd.DataFrame, league: pd.DataFrame | None, rule: str) -> list:
    if league is None:
        return [None] * len(t)
    lg = league.set_index("unit_id")
    out = []
    for uid in t["unit_id"]:
        if uid == CITY or uid not in lg.index or lg.at[uid, "better"] is None or pd.isna(lg.at[uid, "better"]):
            out.append(None)
            continue
        bad = not bool(lg.at[uid, "better"]) and lg.at[uid, "diff"] != 0
        if rule == "significant":
            sig = lg.at[uid, "significant"]
            out.append(None if sig is None or pd.isna(sig) else bool(bad and sig))
        else:
            out.append(bool(bad))
    return out


def _spec(s, periods, alpha, rule, min_periods) -> str:
    test = {"proportion": "Cochran-Armitage 趋势卡方检验(1 自由度)",
            "rate": "Poisson 对数线性趋势得分检验(按人口暴露)",
            "count": "Poisson 对数线性趋势得分检验",
            "mean": "最小二乘斜率 t 检验"}[s.stat]
    worse = "当期与全市其余部分比较差异显著且方向不利" if rule == "significant" else "当期数值劣于全市(不论显著性)"
    return (f"{s.indicator.name_zh}:{periods[0]} 至 {periods[-1]} 共 {len(periods)} 期,{test},"
            f"显著性水平 {alpha:g};少于 {min_periods} 期数据不检验。斜率单位:每期"
            f"{'百分点' if s.stat == 'proportion' else s.unit_label}。“劣于全市”:{worse};"
            f"“双差”= 劣于全市且趋势显著变差。")


def _sentences(t: pd.DataFrame, s, periods, focus) -> list[str]:
    name = s.indicator.name_zh
    n = len(periods)
    unit = "个百分点" if s.stat == "proportion" else s.unit_label
    digits = 2 if s.stat == "rate" else 1

    def one(r) -> str:
        if r["trend"] == "数据不足":
            return f"{r['name']}{name}近 {n} 期数据不足,未做趋势检验。"
        return (f"{r['name']}{name}近 {n} 期{r['trend']}(每期 {r['slope']:+.{digits}f} {unit},"
                f"p = {r['p_value']:.3g})。")

    lines = []
    if focus and focus in set(t["unit_id"]):
        lines.append(one(t[t["unit_id"] == focus].iloc[0]))
    city = t[t["unit_id"] == CITY]
    if len(city):
        lines.append(one(city.iloc[0]))
    units = t[t["unit_id"] != CITY]
    worse = units[units["getting_worse"]]
    better = units[units["trend"] == "改善"]
    if len(worse):
        lines.append(f"{name}显著变差的单位:{join_names(worse['name'])}。")
    if len(better):
        lines.append(f"{name}显著改善的单位:{join_names(better['name'])}。")
    flagged = units[units["flag"]]
    if len(flagged):
        lines.append(f"{name}劣于全市且持续变差(双差)的单位:{join_names(flagged['name'])}。")
    return lines


def _plot(result: AnalysisResult, ax=None, **kwargs):
    from .plots import trend_plot

    return trend_plot(result, ax=ax, **kwargs)
