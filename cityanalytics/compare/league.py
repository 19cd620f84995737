"""League table: every unit's value, interval, gap to the city, rank with a rank interval, change.

    res = league_table(frame, "case_ontime_disposal_rate", "2025-06", names=level.names)
    res.table        # one row per unit, best first
    res.sentences    # 城东街道按期处置率 97.1% (95% CI …),低于全市 1.2 个百分点,差异显著。

Columns: unit_id, name, numerator, denominator, value, ci_low, ci_high, city_value, diff
(unit minus city), p_value, test, significant, better (difference in the good direction),
rank (1 = best; ties share the best rank), rank_low, rank_high (rank interval),
prev_value, change (value minus the previous period's), change_p, change_significant,
size (what the minimum applies to), suppressed (True: below ``min_denominator``).

Small numbers (as Public Health England's suppression rules do): a unit whose size is below
``min_denominator`` (the denominator of a proportion, the count behind a rate per 10,000
residents) keeps its value in the table but gets no rank and no rank interval, and is never
put on a list; the report states the minimum. Means (scores, dust loads) carry their own t
interval and plain counts are not rates, so the minimum does not apply to them.

Rank interval: parametric bootstrap. Each replicate draws every unit's figure from its
sampling distribution (binomial(n, p̂)/n for proportions, or Beta(x+½, n−x+½) with
``rank_draws="jeffreys"``, which also moves units at 0% or 100%; Poisson for counts and rates;
normal with the interval's standard error for means), ranks the units, and the interval is
the central ``level`` range of each unit's ranks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.results import AnalysisResult
from cityanalytics.text import num

from .sentences import city_line, fmt_value, versus_city
from ._common import CITY, Slice, city_value, name_of, pick, previous, unit_names
from .significance import interval_excludes, two_proportions, two_rates

RANK_DRAWS = ("binomial", "jeffreys")


def league_table(frame: pd.DataFrame, indicator: str, period, *, group: str = "", units: list[str] | None = None,
                 names: dict[str, str] | None = None, exposure: dict[str, float] | None = None,
                 n_boot: int = 2000, seed: int = 0, rank_draws: str = "binomial",
                 focus: str | None = None, alpha: float | None = None, min_denominator: float = 0) -> AnalysisResult:
    """The league table of one indicator in one period (see the module docstring).

    alpha: significance level of the tests; default 1 - the frame's confidence level.
    exposure: residents in 10,000s per unit (and city) to compare counts as rates.
    """
    if rank_draws not in RANK_DRAWS:
        raise ValueError(f"rank_draws must be one of {RANK_DRAWS}")
    s = pick(frame, indicator, period, group, units, exposure)
    names = unit_names(frame, names)
    alpha = 1 - s.level if alpha is None else alpha
    t = s.units.copy()
    t.insert(1, "name", [name_of(u, names) for u in t["unit_id"]])
    cv = city_value(s)
    t["city_value"] = cv
    t["diff"] = t["value"] - cv if s.stat != "count" else np.nan
    t["p_value"], t["test"] = _versus_city(s)
    t["significant"] = _significant(t, s, alpha, cv)
    sign = s.sign if s.sign != 0 else 1
    t["better"] = np.where(t["diff"].isna(), None, np.sign(t["diff"]) * sign > 0) if s.sign != 0 else None
    t["size"] = unit_size(s)
    t["suppressed"] = t["value"].notna() & (t["size"].fillna(0) < min_denominator) & (s.stat in SMALL_NUMBER_STATS)
    ranked = ~t["suppressed"].to_numpy()
    t["rank"] = _ranks(np.where(ranked, t["value"].to_numpy(dtype=float), np.nan), sign)
    low, high = rank_interval(s, n_boot=n_boot, seed=seed, level=1 - alpha, draws=rank_draws, keep=ranked)
    t["rank_low"], t["rank_high"] = low, high
    prev = _previous(frame, s, group, exposure)
    t = t.merge(prev, on="unit_id", how="left")
    t["change"] = t["value"] - t["prev_value"]
    t["change_p"], _ = _change_tests(t, s)
    t["change_significant"] = np.where(t["change_p"].isna(), None, t["change_p"] < alpha)
    t["focus"] = t["unit_id"] == focus if focus else False
    t = t.sort_values(["rank", "name"], na_position="last", kind="stable").reset_index(drop=True)
    t = t.drop(columns=[c for c in ("prev_numerator", "prev_denominator") if c in t])

    city_prev = prev_city_value(frame, s, group, exposure)
    lines = _sentences(t, s, names, focus, city_prev, min_denominator)
    spec = _spec(s, alpha, n_boot, rank_draws, cv, min_denominator)
    return AnalysisResult(table=t, sentences=lines, spec=spec, plotter=_plot,
                          extra={"slice": s, "alpha": alpha, "city_prev": city_prev, "focus": focus,
                                 "names": names or {}, "min_denominator": min_denominator})


def unit_size(s: Slice) -> np.ndarray:
    """What the minimum denominator applies to: the denominator of a proportion, the
    observations behind a mean, the count of a count or a rate."""
    u = s.units
    if s.stat in ("proportion", "mean"):
        return u["denominator"].to_numpy(dtype=float)
    if s.stat == "rate":
        return u["numerator"].to_numpy(dtype=float)
    return u["value"].to_numpy(dtype=float)


SIZE_WORD = {"proportion": "分母", "mean": "观测数", "rate": "件数", "count": "件数"}
SMALL_NUMBER_STATS = ("proportion", "rate")  # what the minimum denominator applies to


# --- tests -----------------------------------------------------------------------------------


def _versus_city(s: Slice):
    u = s.units
    n = len(u)
    if s.city is None or s.stat in ("count", "mean"):
        return np.full(n, np.nan), np.full(n, "ci_excludes_city" if s.stat == "mean" else "", dtype=object)
    X, N = float(s.city["numerator"]), float(s.city["denominator"])
    x1, n1 = u["numerator"].to_numpy(), u["denominator"].to_numpy()
    if s.stat == "proportion":
        return two_proportions(x1, n1, X - x1, N - n1)
    return two_rates(x1, n1, X - x1, N - n1)


def _significant(t: pd.DataFrame, s: Slice, alpha: float, cv: float):
    if s.stat == "count" or np.isnan(cv):
        return [None] * len(t)
    if s.stat == "mean":
        ok = t["ci_low"].notna() & t["ci_high"].notna()
        sig = interval_excludes(cv, t["ci_low"], t["ci_high"])
        return [bool(v) if o else None for v, o in zip(sig, ok)]
    return [None if np.isnan(p) else bool(p < alpha) for p in t["p_value"]]


def _change_tests(t: pd.DataFrame, s: Slice):
    if s.stat == "proportion":
        return two_proportions(t["numerator"], t["denominator"], t["prev_numerator"], t["prev_denominator"])
    if s.stat in ("rate", "count"):
        e = t["denominator"] if s.stat == "rate" else pd.Series(1.0, index=t.index)
        return two_rates(t["numerator"] if s.stat == "rate" else t["value"], e,
                         t["prev_numerator"] if s.stat == "rate" else t["prev_value"], e)
    return np.full(len(t), np.nan), np.full(len(t), "", dtype=object)


def _previous(frame, s: Slice, group, exposure) -> pd.DataFrame:
    cols = ["unit_id", "prev_value", "prev_numerator", "prev_denominator"]
    try:
        p = pick(frame, s.indicator.id, previous(s.period), group, list(s.units["unit_id"]), exposure)
    except ValueError:
        return pd.DataFrame(columns=cols)
    u = p.units
    out = pd.DataFrame({"unit_id": u["unit_id"], "prev_value": u["value"], "prev_numerator": u["numerator"],
                        "prev_denominator": u["denominator"]})
    if s.stat == "count":
        out["prev_numerator"] = u["value"]
    return out


def prev_city_value(frame, s: Slice, group, exposure) -> float:
    """The city's figure in the period before (NaN when the frame does not have it)."""
    try:
        p = pick(frame, s.indicator.id, previous(s.period), group, [], exposure)
    except ValueError:
        return np.nan
    return city_value(p)


# --- ranks -----------------------------------------------------------------------------------


def _ranks(values: np.ndarray, sign: int) -> np.ndarray:
    """1 = best; ties share the best rank ('min' method); NaN values are not ranked."""
    out = np.full(len(values), np.nan)
    ok = ~np.isnan(values)
    if ok.any():
        out[ok] = stats.rankdata(-sign * values[ok], method="min")
    return out


def _draws(s: Slice, n_boot: int, rng: np.random.Generator, draws: str) -> np.ndarray:
    u = s.units
    v = u["value"].to_numpy(dtype=float)
    if s.stat == "proportion":
        x, n = u["numerator"].to_numpy(dtype=float), u["denominator"].to_numpy(dtype=float)
        n_int = np.nan_to_num(n).astype(np.int64)
        if draws == "jeffreys":
            return 100 * rng.beta(x + 0.5, n - x + 0.5, size=(n_boot, len(u)))
        p = np.where(n > 0, x / np.where(n > 0, n, 1), 0.0)
        return 100 * rng.binomial(n_int, np.nan_to_num(p), size=(n_boot, len(u))) / np.where(n > 0, n, np.nan)
    if s.stat == "rate":
        k, e = u["numerator"].to_numpy(dtype=float), u["denominator"].to_numpy(dtype=float)
        return rng.poisson(np.nan_to_num(k), size=(n_boot, len(u))) / e
    if s.stat == "count":
        return rng.poisson(np.nan_to_num(v), size=(n_boot, len(u))).astype(float)
    # means: the interval is a t interval on ``denominator`` observations
    n_obs = u["denominator"].to_numpy(dtype=float)
    q = np.where(n_obs >= 2, stats.t.ppf(1 - (1 - s.level) / 2, np.maximum(n_obs - 1, 1)),
                 stats.norm.ppf(1 - (1 - s.level) / 2))
    se = (u["ci_high"].to_numpy(dtype=float) - u["ci_low"].to_numpy(dtype=float)) / (2 * q)
    return v + np.nan_to_num(se) * rng.standard_normal((n_boot, len(u)))


def rank_interval(s: Slice, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                  draws: str = "binomial", keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval of each unit's rank over parametric bootstrap replicates.

    keep: the units that are ranked (the others, e.g. below the minimum size, get none)."""
    v = s.units["value"].to_numpy(dtype=float)
    low, high = np.full(len(v), np.nan), np.full(len(v), np.nan)
    ok = ~np.isnan(v) if keep is None else (~np.isnan(v) & np.asarray(keep, dtype=bool))
    if ok.sum() == 0 or n_boot <= 0:
        return low, high
    sign = s.sign if s.sign != 0 else 1
    sim = _draws(s, n_boot, np.random.default_rng(seed), draws)[:, ok]
    sim = np.where(np.isnan(sim), v[ok], sim)
    ranks = stats.rankdata(-sign * sim, axis=1, method="min")
    a = 1 - level
    low[ok] = np.quantile(ranks, a / 2, axis=0, method="inverted_cdf")
    high[ok] = np.quantile(ranks, 1 - a / 2, axis=0, method="inverted_cdf")
    return low, high


# --- text ------------------------------------------------------------------------------------


def _sentences(t: pd.DataFrame, s: Slice, names, focus, city_prev, min_denominator=0) -> list[str]:
    city_name = name_of(CITY, names)
    lines = []
    order = t.sort_values("focus", ascending=False, kind="stable") if focus else t
    for _, row in order.iterrows():
        if np.isnan(row["value"]):
            continue
        line = versus_city(row, s.indicator.name_zh, s.stat, s.unit_label, s.level, city_name)
        if row["suppressed"]:
            line = line[:-1] + (f";{SIZE_WORD[s.stat]}仅 {num(row['size'], 0)},少于 {num(min_denominator, 0)},"
                                f"不参与排名。")
        lines.append(line)
    ranked = t.dropna(subset=["rank"])
    if len(ranked) >= 2 and (ranked["rank"] == 1).all():
        lines.append(f"参与排名的 {len(ranked)} 个单位{s.indicator.name_zh}相同"
                     f"({fmt_value(ranked['value'].iloc[0], s.stat, s.unit_label)}),并列第 1,不分先后。")
    if s.city is not None and s.stat != "count":
        change = city_value(s) - city_prev
        lines.insert(1 if focus else 0, city_line(s.city["value"], s.city["ci_low"], s.city["ci_high"], change,
                                                   s.indicator.name_zh, s.stat, s.unit_label, s.level,
                                                   city_name, _previous_label(s.period)))
    return lines


def _previous_label(period: pd.Period) -> str:
    return {"M": "上月", "Q": "上季度", "Y": "上年"}.get(period.freqstr[0], "上期")


def _spec(s: Slice, alpha: float, n_boot: int, draws: str, cv: float, min_denominator: float = 0) -> str:
    tests = {
        "proportion": "单位与全市其余部分比较:双侧两比例 z 检验(合并方差,各期望频数≥5),否则 Fisher 精确检验",
        "rate": "单位与全市其余部分比较:每万人发生率的精确条件检验(二项分布)",
        "mean": "全市值落在单位置信区间之外即为差异显著(无 p 值)",
        "count": "计数指标未按人口折算,不与全市比较",
    }[s.stat]
    direction = {"higher_better": "数值越高越好", "lower_better": "数值越低越好", "neutral": "无好坏方向,按数值从高到低"}
    draw = "二项分布抽样" if draws == "binomial" else "Jeffreys Beta 分布抽样"
    return (f"{s.indicator.name_zh}({s.indicator.id}),{s.period},{s.group or '全部'}。"
            f"差值 = 单位 − 全市({fmt_value(cv, s.stat, s.unit_label)});{tests};显著性水平 {alpha:g},"
            f"未做多重比较校正。排名:{direction[s.indicator.direction]},并列取最优名次;"
            f"排名区间为参数自助法({draw},{n_boot} 次)的 {100 * (1 - alpha):g}% 区间。"
            + (f"小数原则:{SIZE_WORD[s.stat]}少于 {num(min_denominator, 0)} 的单位列出数值但不排名、不列入红黑榜。"
               if min_denominator and s.stat in SMALL_NUMBER_STATS else ""))


def _plot(result: AnalysisResult, ax=None, **kwargs):
    from .plots import league_plot

    return league_plot(result, ax=ax, **kwargs)
