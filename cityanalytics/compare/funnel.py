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

- ``method="phe"``: Public Health England's funnels (Fingertips technical guidance, as coded in
  PHEindicatormethods ``calculate_funnel_limits``/``assign_funnel_significance``). Proportions:
  Wilson score limits, the values whose own Wilson interval just reaches θ0, which come out as
  θ0 ± z_p·sqrt(θ0(1-θ0)/n) (PHE's ``sigma_adjustment`` is that quadratic solved), clipped to
  0-100%; a unit is outside when its value is strictly beyond them. Rates: the rate x/E whose
  own exact Poisson interval just reaches θ0, i.e. x solving P(X <= x | θ0·E) = p for the lower
  and P(X >= x | θ0·E) = p for the upper limit (x continuous through the regularised incomplete
  gamma function; PHE evaluates it at whole event counts by bisection); a unit is outside when
  its own interval excludes θ0, exact Poisson below 10 events and Byars' from 10 (PHE's
  ``phe_rate`` rule, ``stats.intervals.phe_rate``). Means have no PHE funnel: normal limits.

Classification under ``method="exact"`` uses the exact tail probabilities of the observed count
(``exact_outside``), i.e. the uninterpolated limits; see there why. The two definitions differ
most for small units: at n = 10 and θ0 = 0.9 the exact 95% lower limit is 0.72, PHE's 0.71;
at n = 1 they differ by tens of percentage points.

``funnel_ratio`` draws the same funnel for a user's own numerator and denominator columns
(no registered indicator needed), centred on the pooled ratio Σ numerator / Σ denominator.

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
from scipy import special, stats
from scipy.stats import mstats

from cityanalytics.indicators.registry import Indicator
from cityanalytics.results import AnalysisResult
from cityanalytics.stats.intervals import phe_rate

from .sentences import fmt_value
from ._common import NotComparable, Slice, name_of, pick, unit_names

LEVELS = (0.95, 0.998)
METHODS = ("exact", "normal", "phe")
STATS = ("proportion", "rate")
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


def phe_poisson_limit(exposure, theta: float, level: float, side: str) -> np.ndarray:
    """PHE's rate limit (per unit of exposure) at exposures E: the rate x/E whose own exact
    Poisson interval at ``level`` has its far bound at θ0.

    lower: x with P(X <= x | θ0·E) = (1 - level)/2, i.e. Q(x + 1, θ0·E) = q (regularised upper
    incomplete gamma, x continuous), 0 where even x = 0 is not that unlikely (e^(-θ0·E) >= q);
    upper: x with P(X >= x | θ0·E) = q, i.e. P(x, θ0·E) = q. Solved by bisection to machine
    precision; at whole x these are PHE's ``poisson_funnel`` points.
    """
    e = np.asarray(exposure, dtype=float)
    mu = theta * e
    q = (1 - level) / 2
    if side == "lower":
        def f(x):
            return special.gammaincc(x + 1, mu) - q  # increasing in x
    elif side == "upper":
        def f(x):
            return q - special.gammainc(np.maximum(x, 1e-300), mu)  # increasing in x
    else:
        raise ValueError("side must be 'lower' or 'upper'")
    lo = np.zeros_like(mu)
    hi = mu + 12 * np.sqrt(mu + 1) + 40  # beyond the 1e-9 tails
    for _ in range(200):
        mid = (lo + hi) / 2
        up = f(mid) >= 0
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
        if np.all(hi - lo <= 1e-13 * np.maximum(hi, 1)):
            break
    x = (lo + hi) / 2
    if side == "lower":
        x = np.where(f(np.zeros_like(mu)) >= 0, 0.0, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(e > 0, x / np.where(e > 0, e, 1), np.nan)


def phe_outside(count, size, theta: float, level: float, stat: str, value=None) -> tuple[np.ndarray, np.ndarray]:
    """(below, above) under ``method="phe"``.

    Proportions: value strictly beyond the Wilson score limits θ0 ± z·sqrt(θ0(1-θ0)/n).
    Rates: the unit's own interval (exact Poisson below 10 events, Byars' from 10) lies wholly
    below / above θ0 (PHE ``assign_funnel_significance``).
    """
    x, size = np.asarray(count, dtype=float), np.asarray(size, dtype=float)
    if stat == "proportion":
        y = x / size if value is None else np.asarray(value, dtype=float)
        lo, hi = limits(size, theta, level, "proportion", "phe")
        return y < lo, y > hi
    _, low, high = phe_rate(x, size, level)
    return high < theta, low > theta


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
    if overdispersion in (None, "none") and method == "phe" and stat == "rate":
        return phe_poisson_limit(size, theta, level, "lower"), phe_poisson_limit(size, theta, level, "upper")
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
    on the bad / good side). ``extra["curves"]`` holds the limits over a grid of sizes;
    ``spec`` and ``extra["definition"]`` state how the limits were drawn. For a ratio of your
    own columns (no registered indicator) use ``funnel_ratio``.
    """
    _check_options(method, overdispersion)
    s = pick(frame, indicator, period, group, units, exposure)
    name = s.indicator.name_zh
    if s.stat == "count":
        raise NotComparable(f"{indicator} is a count: give exposure (residents per unit) for a funnel of rates",
                            f"{name}为计数指标,缺少各单位人口数据,未画漏斗图")
    if s.city is None:
        raise NotComparable(f"{indicator}: no city figure in {s.period} to centre the funnel on",
                            f"{name}在 {s.period} 没有全市值,未画漏斗图")
    with np.errstate(invalid="ignore", divide="ignore"):  # no due cases: NaN, said below
        theta = float(s.city["numerator"] / s.city["denominator"]) if s.stat == "proportion" else float(s.city["value"])
    u = s.units.dropna(subset=["value", "denominator"])
    u = u[u["denominator"] > 0]
    if u.empty:
        raise NotComparable(f"{indicator}: no unit has a value in {s.period}",
                            f"{name}在 {s.period} 没有单位有数值,未画漏斗图")
    return _funnel(s, u, theta, "全市值", names=unit_names(frame, names), levels=levels, method=method,
                   overdispersion=overdispersion, winsor=winsor, focus=focus)


def funnel_ratio(frame: pd.DataFrame, numerator: str, denominator: str, *, unit: str = "unit_id",
                 stat: str = "proportion", label: str | None = None, per: float = 1.0,
                 unit_label: str | None = None, size_label: str | None = None, direction: str = "higher_better",
                 centre: float | None = None, period: str = "", names: dict[str, str] | None = None,
                 levels: tuple[float, ...] = LEVELS, method: str = "exact", overdispersion: str | None = None,
                 winsor: float = 0.1, focus: str | None = None, source: str = "frame") -> AnalysisResult:
    """Funnel plot for any ratio of two columns, one row per unit (no registered indicator needed).

    ``stat="proportion"``: numerator / denominator in percent (numerator <= denominator, e.g.
    cases closed in time / cases due). ``stat="rate"``: events per ``per`` of the denominator
    (e.g. ``per=10_000`` with residents as the denominator: 件/万人); the funnel's size axis is
    denominator / per. The centre line is the pooled ratio Σ numerator / Σ denominator over the
    units with both values (as PHE), or ``centre`` (in the value's scale: percent, or per
    ``per``), e.g. the province's figure. ``label`` names the ratio in the text (default: the
    numerator column), ``direction`` is higher_better, lower_better or neutral; ``unit_label``
    (default "%" or "/万人"-style for ``per``) and ``size_label`` (default: the denominator
    column) label values and the size axis.

    Rows with a missing numerator or denominator, or a denominator of 0, get no point: they are
    listed in ``extra["excluded"]`` and in a sentence. Negative values, a numerator above its
    denominator (proportions) or a repeated unit raise ValueError naming ``source``, row and
    column. Options and output as ``funnel``.
    """
    _check_options(method, overdispersion)
    if stat not in STATS:
        raise ValueError(f"stat must be one of {STATS}, got {stat!r}")
    if not per > 0:
        raise ValueError(f"per must be positive, got {per!r}")
    if direction not in ("higher_better", "lower_better", "neutral"):
        raise ValueError(f"direction must be higher_better, lower_better or neutral, got {direction!r}")
    u = _ratio_units(frame, numerator, denominator, unit, stat, per, source)
    label = label or numerator
    ind = Indicator(id=label, name_zh=label, name_en=label, kind="proportion" if stat == "proportion" else "count",
                    unit="%" if stat == "proportion" else "", direction=direction, formula_zh=f"{numerator}/{denominator}",
                    formula_en=f"{numerator}/{denominator}", standard="", confidence="", table="", needs=())
    if unit_label is None:  # the default reads the denominator as people; pass e.g. "起/百公里" otherwise
        unit_label = "%" if stat == "proportion" else ("" if per == 1 else f"/{_per_text(per)}")
    ok = u["value"].notna()
    if not ok.any():
        raise NotComparable(f"{source}: no row has both {numerator} and {denominator}",
                            f"{label}:没有单位同时有分子和分母,未画漏斗图")
    total_num, total_den = u.loc[ok, "numerator"].sum(), u.loc[ok, "denominator"].sum()
    if centre is None:
        theta, where = float(total_num / total_den), "合计值(各单位分子之和 / 分母之和)"
    else:
        theta, where = float(centre) / _scale(stat), "给定中心值"
        if not np.isfinite(theta) or theta < 0 or (stat == "proportion" and theta > 1):
            raise ValueError(f"centre must be a number {'from 0 to 100 (percent)' if stat == 'proportion' else '>= 0'}, "
                             f"got {centre!r}")
    city = pd.Series({"unit_id": "", "numerator": total_num, "denominator": total_den, "value": theta * _scale(stat)})
    s = Slice(ind, period, "", u, city, stat, unit_label, 0.95)
    size_label = size_label or (denominator if stat == "proportion" or per == 1 else f"{denominator}(单位:{_per_text(per)})")
    names = unit_names(frame, names)
    res = _funnel(s, u[ok], theta, where, names=names, levels=levels, method=method, overdispersion=overdispersion,
                  winsor=winsor, focus=focus, size_label=size_label)
    excluded = u.loc[~ok, "unit_id"].tolist()
    res.extra["excluded"] = excluded
    res.extra["centre_label"] = "合计值" if centre is None else "给定中心值"
    if excluded:
        res.sentences.append(f"缺少{numerator}或{denominator}(或分母为 0)、未画入漏斗图的单位:"
                             f"{'、'.join(name_of(x, names) for x in excluded)}。")
    return res


def _per_text(per: float) -> str:
    return {1e4: "万人", 1e5: "十万人", 1e3: "千人", 100: "百人"}.get(float(per), f"{per:g}")


def _check_options(method: str, overdispersion) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if overdispersion not in OVERDISPERSION:
        raise ValueError(f"overdispersion must be one of {OVERDISPERSION[1:]} or None")


def _ratio_units(frame: pd.DataFrame, numerator: str, denominator: str, unit: str, stat: str, per: float,
                 source: str) -> pd.DataFrame:
    """unit_id, numerator, denominator (in ``per``s for rates), value, ci_low, ci_high; checked."""
    missing = [c for c in (unit, numerator, denominator) if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: no column {', '.join(map(repr, missing))} (columns: {', '.join(map(str, frame.columns))})")
    ids = frame[unit]
    dup = ids[ids.duplicated(keep=False) & ids.notna()]
    if len(dup):
        raise ValueError(f"{source}: column {unit!r} repeats {dup.iloc[0]!r} (rows {', '.join(map(str, dup.index[:5]))}); "
                         "expected one row per unit")
    if ids.isna().any():
        raise ValueError(f"{source}: column {unit!r} is empty at row {ids.index[ids.isna()][0]}; expected a unit id")
    cols = {}
    for c in (numerator, denominator):
        x = pd.to_numeric(frame[c], errors="coerce")
        bad = x.isna() & frame[c].notna()
        if bad.any():
            r = bad.index[bad][0]
            raise ValueError(f"{source}: row {r}, column {c!r}: {frame.at[r, c]!r} is not a number")
        neg = x < 0
        if neg.any():
            r = neg.index[neg][0]
            raise ValueError(f"{source}: row {r}, column {c!r}: {x[r]:g} is negative; expected a count >= 0")
        cols[c] = x.astype(float)
    num, den = cols[numerator], cols[denominator]
    if stat == "proportion":
        over = num > den
        if over.any():
            r = over.index[over][0]
            raise ValueError(f"{source}: row {r}: {numerator} = {num[r]:g} is larger than {denominator} = {den[r]:g}; "
                             "a proportion needs numerator <= denominator (use stat='rate' for events per population)")
    size = den / (per if stat == "rate" else 1.0)
    ok = num.notna() & size.notna() & (size > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(ok, num / size.where(ok, 1.0), np.nan) * _scale(stat)
    return pd.DataFrame({"unit_id": ids.to_numpy(), "numerator": num.to_numpy(), "denominator": size.to_numpy(),
                         "value": value, "ci_low": np.nan, "ci_high": np.nan})


def _funnel(s: Slice, u: pd.DataFrame, theta: float, centre_text: str, *, names, levels, method, overdispersion,
            winsor, focus, size_label: str | None = None) -> AnalysisResult:
    """The funnel of units ``u`` (rows with a value and a positive size) around θ0 = ``theta``."""
    name = s.indicator.name_zh
    scale = _scale(s.stat)
    sigma = _pooled_sigma(s) if s.stat == "mean" else np.nan
    if s.stat == "mean" and np.isnan(sigma):
        raise NotComparable(f"{s.indicator.id}: no unit has two or more observations to estimate the spread from",
                            f"{name}各单位当期只有 1 个观测值,无法估计离散程度,未画漏斗图")
    if not np.isfinite(theta) or (s.stat == "proportion" and not 0 <= theta <= 1):
        raise NotComparable(f"{s.indicator.id}: the city figure in {s.period} is not a number",
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
    counted = od is None and s.stat in ("proportion", "rate")
    for lv in levels:
        lo, hi = limits(size, theta, lv, s.stat, method, **kw)
        key = _key(lv)
        t[f"lower_{key}"], t[f"upper_{key}"] = lo * scale, hi * scale
        if counted and method == "exact":
            below, above = exact_outside(u["numerator"].to_numpy(dtype=float), size, theta, lv, s.stat)
        elif counted and method == "phe":
            below, above = phe_outside(u["numerator"].to_numpy(dtype=float), size, theta, lv, s.stat, value=y)
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
    definition = _definition(s.stat, method, od)
    spec = _spec(s, method, od, disp, theta * scale, levels, winsor, centre_text, size_label)
    lines = _sentences(t, s, levels, focus)
    extra = {"curves": curves, "theta": theta * scale, "dispersion": disp, "slice": s, "levels": levels,
             "method": method, "overdispersion": od, "definition": definition}
    if size_label:
        extra["size_label"] = size_label
    return AnalysisResult(table=t, sentences=lines, spec=spec, plotter=_plot, extra=extra)


def _definition(stat: str, method: str, od) -> str:
    """The limits and the outside rule in one English sentence (``extra["definition"]``)."""
    if od == "multiplicative":
        return "normal limits theta0 +/- z*sqrt(phi)*s_i, multiplicative over-dispersion (Spiegelhalter 2005)"
    if od == "additive":
        return "normal limits theta0 +/- z*sqrt(s_i^2 + tau^2), additive random effects (Spiegelhalter 2005)"
    if stat == "mean" or method == "normal":
        return {"proportion": "normal limits p0 +/- z*sqrt(p0(1-p0)/n); outside: value beyond the limit",
                "rate": "normal limits theta0 +/- z*sqrt(theta0/E); outside: value beyond the limit",
                "mean": "normal limits theta0 +/- z*sigma/sqrt(n), sigma pooled; outside: value beyond the limit"}[stat]
    if method == "exact":
        dist = "Binomial(n, p0)" if stat == "proportion" else "Poisson(theta0*E)"
        return (f"exact limits: interpolated quantiles of {dist} (Spiegelhalter 2005); outside: exact tail "
                "probability of the observed count below (1 - level)/2")
    if stat == "proportion":
        return ("PHE (Fingertips) Wilson score limits p0 +/- z*sqrt(p0(1-p0)/n), clipped to 0-100%; "
                "outside: value strictly beyond the limit")
    return ("PHE (Fingertips) limits: rates whose exact Poisson interval just reaches theta0; outside: the unit's "
            "own interval (exact Poisson below 10 events, Byars from 10) excludes theta0")


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


def _spec(s: Slice, method, od, disp, centre, levels, winsor, centre_text: str = "全市值",
          size_label: str | None = None) -> str:
    how = {"phe": {"proportion": "英格兰公共卫生署(PHE Fingertips)的 Wilson 得分控制限 p0 ± z·sqrt(p0(1−p0)/n)"
                                 "(单位自身的 Wilson 区间恰好触及中心线处),值严格超出控制限即判为超出",
                   "rate": "英格兰公共卫生署(PHE Fingertips)的控制限:自身精确 Poisson 区间恰好触及中心线的率;"
                           "单位的置信区间(事件数 <10 用精确 Poisson,≥10 用 Byars 近似)不含中心线即判为超出",
                   "mean": "正态近似控制限(PHE 无均值漏斗图;σ 由各单位 t 区间合并估计)"},
           "exact": {"proportion": "二项分布分位数插值的精确控制限(Spiegelhalter 2005)",
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
    size = (f"横轴为{size_label}" if size_label else
            {"proportion": "横轴为分母(应处置数等)", "rate": "横轴为常住人口(万人)", "mean": "横轴为观测数"}[s.stat])
    judge = ""
    if od is None and method == "exact" and s.stat in ("proportion", "rate"):
        judge = ("单位是否超出控制限按精确尾概率判定(P(R≤x) 或 P(R≥x) 小于 (1−水平)/2),"
                 "插值曲线仅用于作图,故 100% 等边界值可能略高于曲线而仍判为限内;")
    when = f",{s.period}" if str(s.period) else ""
    return (f"{s.indicator.name_zh}{when}。中心线为{centre_text} {fmt_value(centre, s.stat, s.unit_label)};"
            f"{how};{judge}控制限水平 {'、'.join(_level_text(x) for x in levels)};{size}。{test}")


def _sentences(t: pd.DataFrame, s: Slice, levels, focus) -> list[str]:
    widest = _key(levels[-1])
    name = s.indicator.name_zh
    lines = []
    for side, label, bound in (("below", "低于", "lower"), ("above", "高于", "upper")):
        hit = t[t["position"] == f"{side}_{widest}"]
        if hit.empty:
            continue
        items = [f"{r['name']}({fmt_value(r['value'], s.stat, s.unit_label)},"
                 f"{'下限' if bound == 'lower' else '上限'} {fmt_value(r[f'{bound}_{widest}'], s.stat, s.unit_label)})"
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
        lines.insert(0, f"{r['name']}{name} {fmt_value(r['value'], s.stat, s.unit_label)},{where}。")
    return lines


def _plot(result: AnalysisResult, ax=None, **kwargs):
    from .plots import funnel_plot

    return funnel_plot(result, ax=ax, **kwargs)
