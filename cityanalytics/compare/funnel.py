"""Funnel plot: each unit's figure against its size, with control limits around the city figure.

Limits (Spiegelhalter 2005, "Funnel plots for comparing institutional performance", Stat Med
24:1185-1202) at probabilities p = (1 - L)/2 and (1 + L)/2 for each level L (95% and 99.8%):

- ``method="exact"`` (default), proportions: binomial quantiles with interpolation. With
  r_p the smallest r such that P(R <= r) >= p for R ~ Binomial(n, θ0),
  α = (P(R <= r_p) - p) / (P(R <= r_p) - P(R <= r_p - 1)) and the limit is (r_p - α) / n
  (clipped at 0). Count rates: the same with R ~ Poisson(θ0·E), limit (r_p - α) / E.
- ``method="normal"``: θ0 ± z_p·s with s = sqrt(θ0(1-θ0)/n) (proportions), sqrt(θ0/E)
  (rates per 10,000 residents, E in 10,000s), σ/sqrt(n) (means, σ pooled from the units'
  t intervals).

Classification under ``method="exact"`` uses the exact tail probabilities of the observed count
(``exact_outside``), i.e. the uninterpolated limits; see there why.

Over-dispersion (Spiegelhalter 2005, "Handling over-dispersion of performance indicators",
Qual Saf Health Care 14:347-351), on the normal scale whatever ``method`` says:
z_i = (y_i - θ0)/s_i, winsorised at ``winsor`` (10%) in each tail (the lowest and highest
floor(winsor·I) z-scores set to the next one in); φ̂ = mean of the squared winsorised z;
I·φ̂ is tested against χ²(I-1).

- ``"multiplicative"``: limits θ0 ± z_p·sqrt(φ̂)·s_i (φ̂ floored at 1);
- ``"additive"`` (random effects, DerSimonian-Laird): τ̂² = max(0, (I·φ̂ - (I-1)) /
  (Σw - Σw²/Σw)) with w = 1/s_i², limits θ0 ± z_p·sqrt(s_i² + τ̂²).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import mstats

from cityanalytics.results import AnalysisResult

from . import sentences as S
from ._common import NotComparable, Slice, name_of, pick

LEVELS = (0.95, 0.998)
METHODS = ("exact", "normal")
OVERDISPERSION = (None, "none", "multiplicative", "additive")


# --- limits ----------------------------------------------------------------------------------


def binomial_limit(n, theta: float, p: float) -> np.ndarray:
    """Interpolated binomial limit (fraction) at probability p for sizes n (Spiegelhalter 2005)."""
    n = np.asarray(n, dtype=float)
    r = stats.binom.ppf(p, n, theta)
    f_r = stats.binom.cdf(r, n, theta)
    f_prev = stats.binom.cdf(r - 1, n, theta)
    alpha = np.where(f_r > f_prev, (f_r - p) / np.where(f_r > f_prev, f_r - f_prev, 1), 0.0)
    return np.clip((r - alpha) / n, 0, 1)


def poisson_limit(exposure, theta: float, p: float) -> np.ndarray:
    """Interpolated Poisson limit (rate) at probability p for exposures E (events ~ Poisson(θ·E))."""
    e = np.asarray(exposure, dtype=float)
    mu = theta * e
    r = stats.poisson.ppf(p, mu)
    f_r = stats.poisson.cdf(r, mu)
    f_prev = stats.poisson.cdf(r - 1, mu)
    alpha = np.where(f_r > f_prev, (f_r - p) / np.where(f_r > f_prev, f_r - f_prev, 1), 0.0)
    return np.clip((r - alpha) / e, 0, None)


def exact_outside(count, size, theta: float, level: float, stat: str) -> tuple[np.ndarray, np.ndarray]:
    """(below, above): the exact tail probability of the observed count is under (1 - level)/2.

    P(R <= x) < q puts a unit below, P(R >= x) < q above, with R ~ Binomial(n, θ0) or
    Poisson(θ0·E). This is how units are classified under ``method="exact"``: it is the
    uninterpolated version of the limits. The interpolated limits are for drawing; taken
    literally they would put every unit at 100% above the upper limit whenever P(R = n) >= q,
    where its count is not extreme at all.
    """
    x, size = np.asarray(count, dtype=float), np.asarray(size, dtype=float)
    q = (1 - level) / 2
    if stat == "proportion":
        lower_tail, upper_tail = stats.binom.cdf(x, size, theta), stats.binom.sf(x - 1, size, theta)
    else:
        mu = theta * size
        lower_tail, upper_tail = stats.poisson.cdf(x, mu), stats.poisson.sf(x - 1, mu)
    return lower_tail < q, upper_tail < q


def standard_error(size, theta: float, stat: str, sigma: float = np.nan) -> np.ndarray:
    """s_i on the value's own scale as a fraction (proportions) or rate/mean."""
    size = np.asarray(size, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if stat == "proportion":
            return np.sqrt(theta * (1 - theta) / size)
        if stat == "rate":
            return np.sqrt(theta / size)
        return sigma / np.sqrt(size)


def limits(size, theta: float, level: float, stat: str, method: str = "exact", *, phi: float = 1.0,
           tau2: float = 0.0, sigma: float = np.nan, overdispersion: str | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) control limits at ``level`` for sizes ``size``.

    theta and the limits are fractions for proportions (multiply by 100 for percent), rates
    per unit of exposure for rates, and means for means.
    """
    lo_p, hi_p = (1 - level) / 2, (1 + level) / 2
    if overdispersion in (None, "none") and method == "exact" and stat in ("proportion", "rate"):
        f = binomial_limit if stat == "proportion" else poisson_limit
        return f(size, theta, lo_p), f(size, theta, hi_p)
    s = standard_error(size, theta, stat, sigma)
    if overdispersion == "multiplicative":
        s = s * np.sqrt(max(phi, 1.0))
    elif overdispersion == "additive":
        s = np.sqrt(s ** 2 + tau2)
    z = stats.norm.ppf(hi_p)
    low, high = theta - z * s, theta + z * s
    if stat == "proportion":
        low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
    elif stat == "rate":
        low = np.clip(low, 0, None)
    return low, high


def dispersion(y, size, theta: float, stat: str, *, sigma: float = np.nan, winsor: float = 0.1) -> dict:
    """φ̂ from winsorised z-scores, its χ² test and the DerSimonian-Laird τ̂² (Spiegelhalter 2005)."""
    y, size = np.asarray(y, dtype=float), np.asarray(size, dtype=float)
    s = standard_error(size, theta, stat, sigma)
    ok = ~np.isnan(y) & (s > 0) & np.isfinite(s)
    i = int(ok.sum())
    if i < 2:
        return {"phi": np.nan, "tau2": np.nan, "chi2": np.nan, "df": max(i - 1, 0), "p_value": np.nan, "n_units": i}
    z = (y[ok] - theta) / s[ok]
    zw = np.asarray(mstats.winsorize(z, limits=(winsor, winsor)), dtype=float) if winsor > 0 else z
    phi = float(np.mean(zw ** 2))
    w = 1 / s[ok] ** 2
    tau2 = max(0.0, (i * phi - (i - 1)) / (w.sum() - (w ** 2).sum() / w.sum()))
    return {"phi": phi, "tau2": float(tau2), "chi2": i * phi, "df": i - 1,
            "p_value": float(stats.chi2.sf(i * phi, i - 1)), "n_units": i}


# --- the comparison --------------------------------------------------------------------------


def _scale(stat: str) -> float:
    return 100.0 if stat == "proportion" else 1.0


def _pooled_sigma(s: Slice) -> float:
    u = s.units.dropna(subset=["ci_low", "ci_high", "denominator"])
    u = u[u["denominator"] >= 2]
    if u.empty:
        return np.nan
    n = u["denominator"].to_numpy(dtype=float)
    tq = stats.t.ppf(1 - (1 - s.level) / 2, n - 1)
    sd = (u["ci_high"].to_numpy() - u["ci_low"].to_numpy()) / (2 * tq) * np.sqrt(n)
    return float(np.sqrt(np.sum((n - 1) * sd ** 2) / np.sum(n - 1)))


def funnel(frame: pd.DataFrame, indicator: str, period, *, group: str = "", units: list[str] | None = None,
           names: dict[str, str] | None = None, exposure: dict[str, float] | None = None,
           levels: tuple[float, ...] = LEVELS, method: str = "exact", overdispersion: str | None = None,
           winsor: float = 0.1, focus: str | None = None) -> AnalysisResult:
    """Funnel plot data for one indicator in one period: points, limits, outliers, dispersion.

    ``table``: unit_id, name, size (denominator, residents in 10,000s, or observations),
    value, z (standardised against the city), then for each level L (e.g. 998 for 99.8%)
    ``lower_L``/``upper_L`` at the unit's size, and ``position`` (within / above_L / below_L
    for the widest limit crossed), ``worse`` / ``better`` (outside the widest level's limit
    on the bad / good side). ``extra["curves"]`` holds the limits over a grid of sizes.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if overdispersion not in OVERDISPERSION:
        raise ValueError(f"overdispersion must be one of {OVERDISPERSION[1:]} or None")
    s = pick(frame, indicator, period, group, units, exposure)
    name = s.indicator.name_zh
    if s.stat == "count":
        raise NotComparable(f"{indicator} is a count: give exposure (residents per unit) for a funnel of rates",
                            f"{name}为计数指标,缺少各单位人口数据,未画漏斗图")
    if s.city is None:
        raise NotComparable(f"{indicator}: no city figure in {s.period} to centre the funnel on",
                            f"{name}在 {s.period} 没有全市值,未画漏斗图")
    scale = _scale(s.stat)
    with np.errstate(invalid="ignore", divide="ignore"):  # no due cases: NaN, said below
        theta = float(s.city["numerator"] / s.city["denominator"]) if s.stat == "proportion" else float(s.city["value"])
    sigma = _pooled_sigma(s) if s.stat == "mean" else np.nan
    if s.stat == "mean" and np.isnan(sigma):
        raise NotComparable(f"{indicator}: no unit has two or more observations to estimate the spread from",
                            f"{name}各单位当期只有 1 个观测值,无法估计离散程度,未画漏斗图")
    u = s.units.dropna(subset=["value", "denominator"])
    u = u[u["denominator"] > 0]
    if u.empty:
        raise NotComparable(f"{indicator}: no unit has a value in {s.period}",
                            f"{name}在 {s.period} 没有单位有数值,未画漏斗图")
    if not np.isfinite(theta) or (s.stat == "proportion" and not 0 <= theta <= 1):
        raise NotComparable(f"{indicator}: the city figure in {s.period} is not a number",
                            f"{name}在 {s.period} 的全市值无法计算,未画漏斗图")
    size = u["denominator"].to_numpy(dtype=float)
    y = u["value"].to_numpy(dtype=float) / scale
    disp = dispersion(y, size, theta, s.stat, sigma=sigma, winsor=winsor)
    od = None if overdispersion in (None, "none") else overdispersion
    kw = dict(phi=disp["phi"], tau2=disp["tau2"], sigma=sigma, overdispersion=od)
    se = standard_error(size, theta, s.stat, sigma)
    t = pd.DataFrame({"unit_id": u["unit_id"].to_numpy(), "name": [name_of(x, names) for x in u["unit_id"]],
                      "size": size, "value": y * scale})
    with np.errstate(divide="ignore", invalid="ignore"):
        t["z"] = (y - theta) / se
    levels = tuple(sorted(levels))
    position = np.array(["within"] * len(t), dtype=object)
    exact = od is None and method == "exact" and s.stat in ("proportion", "rate")
    for lv in levels:
        lo, hi = limits(size, theta, lv, s.stat, method, **kw)
        key = _key(lv)
        t[f"lower_{key}"], t[f"upper_{key}"] = lo * scale, hi * scale
        if exact:
            below, above = exact_outside(u["numerator"].to_numpy(dtype=float), size, theta, lv, s.stat)
        else:
            below, above = y < lo, y > hi
        position = np.where(below, f"below_{key}", np.where(above, f"above_{key}", position))
    t["position"] = position
    sign = s.sign if s.sign != 0 else 0
    widest = _key(levels[-1])
    below, above = t["position"] == f"below_{widest}", t["position"] == f"above_{widest}"
    t["worse"] = (below & (sign > 0)) | (above & (sign < 0))
    t["better"] = (above & (sign > 0)) | (below & (sign < 0))
    t["focus"] = t["unit_id"] == focus if focus else False
    curves = _curves(size, theta, levels, s.stat, method, kw, scale)
    spec = _spec(s, method, od, disp, theta * scale, levels, winsor)
    lines = _sentences(t, s, levels, focus)
    return AnalysisResult(table=t, sentences=lines, spec=spec, plotter=_plot,
                          extra={"curves": curves, "theta": theta * scale, "dispersion": disp, "slice": s,
                                 "levels": levels, "method": method, "overdispersion": od})


def _key(level: float) -> str:
    """0.95 -> '95', 0.998 -> '998'."""
    return f"{level * 100:g}".replace(".", "")


def _curves(size, theta, levels, stat, method, kw, scale) -> pd.DataFrame:
    if len(size) == 0:
        return pd.DataFrame({"size": []})
    lo, hi = max(size.min() * 0.5, 1e-9), size.max() * 1.3
    grid = np.unique(np.geomspace(lo, hi, 200) if stat == "rate" else np.round(np.geomspace(max(lo, 1), hi, 200)))
    out = pd.DataFrame({"size": grid})
    for lv in levels:
        a, b = limits(grid, theta, lv, stat, method, **kw)
        out[f"lower_{_key(lv)}"], out[f"upper_{_key(lv)}"] = a * scale, b * scale
    out["centre"] = theta * scale
    return out


def _level_text(level: float) -> str:
    return f"{level * 100:g}%"


def _spec(s: Slice, method, od, disp, centre, levels, winsor) -> str:
    how = {"exact": {"proportion": "二项分布分位数插值的精确控制限(Spiegelhalter 2005)",
                     "rate": "Poisson 分布分位数插值的精确控制限(Spiegelhalter 2005)",
                     "mean": "正态近似控制限(σ 由各单位 t 区间合并估计)"},
           "normal": {"proportion": "正态近似控制限 p0 ± z·sqrt(p0(1−p0)/n)",
                      "rate": "正态近似控制限 θ0 ± z·sqrt(θ0/E)",
                      "mean": "正态近似控制限 θ0 ± z·σ/sqrt(n)"}}[method][s.stat]
    if od == "multiplicative":
        how = (f"乘性过度离散调整(Spiegelhalter 2005):控制限 θ0 ± z·sqrt(φ)·s,φ = {disp['phi']:.2f}"
               f"(z 值两端各 {winsor:.0%} 缩尾,φ<1 时取 1)")
    elif od == "additive":
        how = (f"加性随机效应调整(DerSimonian-Laird,Spiegelhalter 2005):控制限 θ0 ± z·sqrt(s²+τ²),"
               f"τ² = {disp['tau2']:.3g}(z 值两端各 {winsor:.0%} 缩尾)")
    test = "" if np.isnan(disp["phi"]) else (
        f"过度离散检验:φ = {disp['phi']:.2f},I·φ = {disp['chi2']:.1f},自由度 {disp['df']},p = {disp['p_value']:.3g}。")
    size = {"proportion": "横轴为分母(应处置数等)", "rate": "横轴为常住人口(万人)", "mean": "横轴为观测数"}[s.stat]
    judge = ""
    if od is None and method == "exact" and s.stat in ("proportion", "rate"):
        judge = ("单位是否超出控制限按精确尾概率判定(P(R≤x) 或 P(R≥x) 小于 (1−水平)/2),"
                 "插值曲线仅用于作图,故 100% 等边界值可能略高于曲线而仍判为限内;")
    return (f"{s.indicator.name_zh},{s.period}。中心线为全市值 {S.fmt_value(centre, s.stat, s.unit_label)};"
            f"{how};{judge}控制限水平 {'、'.join(_level_text(x) for x in levels)};{size}。{test}")


def _sentences(t: pd.DataFrame, s: Slice, levels, focus) -> list[str]:
    widest = _key(levels[-1])
    name = s.indicator.name_zh
    lines = []
    for side, label, bound in (("below", "低于", "lower"), ("above", "高于", "upper")):
        hit = t[t["position"] == f"{side}_{widest}"]
        if hit.empty:
            continue
        items = [f"{r['name']}({S.fmt_value(r['value'], s.stat, s.unit_label)},"
                 f"{'下限' if bound == 'lower' else '上限'} {S.fmt_value(r[f'{bound}_{widest}'], s.stat, s.unit_label)})"
                 for _, r in hit.iterrows()]
        lines.append(f"{name}{label} {_level_text(levels[-1])} 控制{'下' if bound == 'lower' else '上'}限的单位:"
                     f"{'、'.join(items)}。")
    if not lines:
        lines.append(f"{name}各单位均在 {_level_text(levels[-1])} 控制限以内。")
    if focus and focus in set(t["unit_id"]):
        r = t[t["unit_id"] == focus].iloc[0]
        where = {"within": f"在 {_level_text(levels[0])} 控制限以内"}.get(r["position"])
        if where is None:
            side, key = r["position"].split("_")
            lv = next(x for x in levels if _key(x) == key)
            where = f"{'低于' if side == 'below' else '高于'} {_level_text(lv)} 控制{'下' if side == 'below' else '上'}限"
        lines.insert(0, f"{r['name']}{name} {S.fmt_value(r['value'], s.stat, s.unit_label)},{where}。")
    return lines


def _plot(result: AnalysisResult, ax=None, **kwargs):
    from .plots import funnel_plot

    return funnel_plot(result, ax=ax, **kwargs)
