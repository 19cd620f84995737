"""Composite score over chosen indicators, and how the ranks move under other weights.

    res = composite_score(frame, "2025-06", PRESETS["gbt30428_unit"]["weights"], normalisation="raw")

Normalisation (every term is made "higher is better" with the registry's direction):

- ``"raw"``: the percentages themselves, 100 − value for lower-is-better ones, as in the
  GB/T 30428.4-style presets (按期处置率×60% + 结案率×30% + (1−返工率)×10%). Proportions only.
  The score is on 0-100 and gets an A-E band (90/75/60/40; an analyst default that follows
  the grading of digital city-management vendors' assessment modules).
- ``"minmax"``: 100·(v − min)/(max − min) across the units (100·(max − v)/(max − min) for
  lower-is-better); an indicator on which all units are equal scores 100 for all.
- ``"zscore"``: (v − mean)/sd across the units (sd with ddof=0), sign flipped for
  lower-is-better; the score is a weighted sum of z-scores.

Weights are given in any positive scale (60/30/10 or 0.6/0.3/0.1) and rescaled to sum to 1.

Sensitivity: ranks under equal weights, each weight moved ±10 percentage points (the others
rescaled in proportion so the total stays 1; a weight cannot go below 0), and each
indicator left out (the others renormalised); ``max_rank_change`` is the largest move of a
unit's rank from the base ranking over all those scenarios.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.indicators.registry import get
from cityanalytics.results import AnalysisResult

from ._common import as_period, name_of, pick, unit_names

NORMALISATIONS = ("raw", "minmax", "zscore")
BANDS = ((90, "A"), (75, "B"), (60, "C"), (40, "D"), (-np.inf, "E"))

PRESETS = {
    "gbt30428_unit": {
        "label": "专业部门综合指标值:按期处置率×60% + 结案率×30% + (1−返工率)×10%"
                 "(GB/T 30428.4 式预设,据厂商代码佐证 C 级,非标准原文)",
        "weights": {"case_ontime_disposal_rate": 60, "case_closure_rate": 30, "case_rework_rate": 10},
        "normalisation": "raw",
        "source": "digital city-management vendor code (egova SqlConst.java); the standard likely uses 处置率 instead of 结案率 (M)",
    },
    "gbt30428_unit_disposal": {
        "label": "专业部门综合指标值(处置率口径):按期处置率×60% + 处置率×30% + (1−返工率)×10%"
                 "(GB/T 30428.4 式预设,标准口径推测 M 级)",
        "weights": {"case_ontime_disposal_rate": 60, "case_disposal_rate": 30, "case_rework_rate": 10},
        "normalisation": "raw",
        "source": "GB/T 30428.4 as read by the vendor code above, with 处置率 in place of 结案率 (M)",
    },
}


def normalise_weights(weights: dict[str, float]) -> dict[str, float]:
    if not weights:
        raise ValueError("weights: give at least one indicator")
    bad = {k: v for k, v in weights.items() if not isinstance(v, (int, float)) or v < 0}
    if bad:
        raise ValueError(f"weights must be non-negative numbers, got {bad}")
    total = float(sum(weights.values()))
    if total <= 0:
        raise ValueError("weights sum to 0")
    return {k: float(v) / total for k, v in weights.items()}


def _normalise(values: pd.DataFrame, method: str) -> pd.DataFrame:
    """values: units x indicators (raw figures) -> units x indicators (higher is better)."""
    out = pd.DataFrame(index=values.index)
    for ind in values.columns:
        info = get(ind)
        sign = info.sign if info.sign != 0 else 1
        v = values[ind].astype(float)
        if method == "raw":
            if info.kind != "proportion":
                raise ValueError(f"normalisation 'raw' needs percentages; {ind} is a {info.kind}: use minmax or zscore")
            out[ind] = v if sign > 0 else 100 - v
        elif method == "minmax":
            lo, hi = v.min(), v.max()
            if not np.isfinite(hi - lo) or hi == lo:
                out[ind] = np.where(v.notna(), 100.0, np.nan)
            else:
                out[ind] = 100 * (v - lo) / (hi - lo) if sign > 0 else 100 * (hi - v) / (hi - lo)
        elif method == "zscore":
            sd = v.std(ddof=0)
            out[ind] = 0.0 * v if not sd > 0 else sign * (v - v.mean()) / sd
        else:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}")
    return out


def _score(terms: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    cols = [k for k, w in weights.items() if w > 0]
    w = np.array([weights[k] for k in cols])
    return pd.Series(terms[cols].to_numpy() @ w / w.sum(), index=terms.index)


def _rank(score: pd.Series) -> pd.Series:
    out = pd.Series(np.nan, index=score.index)
    ok = score.notna()
    out[ok] = stats.rankdata(-score[ok].to_numpy(), method="min")
    return out


def scenarios(weights: dict[str, float], step: float = 0.10) -> dict[str, dict[str, float]]:
    """Base, equal weights, each weight ±step (others rescaled), leave-one-out. Names in Chinese."""
    w = normalise_weights(weights)
    keys = list(w)
    out = {"基准权重": w, "等权重": {k: 1 / len(keys) for k in keys}}
    for k in keys if len(keys) > 1 else []:
        name = get(k).name_zh
        for d in (step, -step):
            new_k = min(max(w[k] + d, 0.0), 1.0)
            rest = 1 - w[k]
            other = {j: (w[j] * (1 - new_k) / rest if rest > 0 else (1 - new_k) / (len(keys) - 1))
                     for j in keys if j != k}  # rest == 0: k had all the weight; share the remainder
            out[f"{name}{'+' if d > 0 else '−'}{abs(d) * 100:g}pp"] = {k: new_k, **other}
    if len(keys) > 1:
        for k in keys:
            rest = {j: w[j] for j in keys if j != k}
            total = sum(rest.values())
            if total > 0:
                out[f"去掉{get(k).name_zh}"] = {j: v / total for j, v in rest.items()}
    return out


def composite_score(frame: pd.DataFrame, period, weights: dict[str, float], *, normalisation: str = "minmax",
                    units: list[str] | None = None, names: dict[str, str] | None = None, group: str = "",
                    step: float = 0.10, focus: str | None = None, label: str | None = None,
                    unranked: set[str] | None = None) -> AnalysisResult:
    """Composite score per unit in ``period`` with a rank-sensitivity table.

    ``table``: unit_id, name, the raw value of each indicator, its normalised term
    (``term:<id>``), score, rank, band (raw only), max_rank_change, most_moved_in.
    ``extra["sensitivity"]``: units x scenarios ranks; ``extra["weights"]``: scenario weights.
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}")
    w = normalise_weights(weights)
    names = unit_names(frame, names)
    period = as_period(period)
    values = {}
    for ind in w:
        s = pick(frame, ind, period, group, units)
        values[ind] = s.units.set_index("unit_id")["value"]
    values = pd.DataFrame(values)
    if units is not None:
        values = values.reindex(units)
    terms = _normalise(values, normalisation)
    # units shown but not ranked (too few cases in a league table): scored, never ranked
    rankable = pd.Series([u not in (unranked or set()) for u in terms.index], index=terms.index)
    sc = scenarios(w, step)
    ranks = pd.DataFrame({name: _rank(_score(terms, ws).where(rankable)) for name, ws in sc.items()})
    base = ranks["基准权重"]
    moves = ranks.sub(base, axis=0).abs()
    score = _score(terms, w)
    t = pd.DataFrame({"unit_id": values.index, "name": [name_of(u, names) for u in values.index]})
    for ind in w:
        t[ind] = values[ind].to_numpy()
    for ind in w:
        t[f"term:{ind}"] = terms[ind].to_numpy()
    t["score"] = score.to_numpy()
    t["rank"] = base.to_numpy()
    if normalisation == "raw":
        t["band"] = [band(x) for x in t["score"]]
    t["max_rank_change"] = moves.max(axis=1).to_numpy()
    t["most_moved_in"] = [(moves.loc[u].idxmax() if moves.loc[u].max() > 0 else "") for u in values.index]
    t["focus"] = t["unit_id"] == focus if focus else False
    t = t.sort_values(["rank", "name"], na_position="last", kind="stable").reset_index(drop=True)
    ranks.index = [name_of(u, names) for u in ranks.index]
    spec = _spec(w, normalisation, step, label, period)
    lines = _sentences(t, focus)
    return AnalysisResult(table=t, sentences=lines, spec=spec, plotter=_plot,
                          extra={"sensitivity": ranks, "weights": pd.DataFrame(sc).T, "normalisation": normalisation})


def band(score: float) -> str | None:
    if score is None or np.isnan(score):
        return None
    return next(b for lo, b in BANDS if score >= lo)


def _spec(w, normalisation, step, label, period) -> str:
    terms = " + ".join(f"{get(k).name_zh if get(k).sign >= 0 else '(1−' + get(k).name_zh + ')'}×{v * 100:.0f}%"
                       for k, v in w.items())
    how = {"raw": "原值(百分比;越低越好的指标取 100 − 值),得分 0-100,按 A≥90、B 75-90、C 60-75、D 40-60、E<40 分档",
           "minmax": "极差标准化到 0-100(越低越好的指标反向),全部相等时记 100",
           "zscore": "z 分数标准化(越低越好的指标反号),得分为加权 z 分数之和"}[normalisation]
    head = f"{label}。" if label else ""
    return (f"{head}综合得分({period})= {terms};标准化方法:{how};权重按比例归一。敏感性:等权重、"
            f"各权重 ±{step * 100:g} 个百分点(其余按比例调整)、逐一去掉一个指标,报告各单位名次最大变动。")


def _sentences(t: pd.DataFrame, focus) -> list[str]:
    t = t.dropna(subset=["score"])
    if t.empty:
        return []
    lines = []
    if focus and focus in set(t["unit_id"]):
        r = t[t["unit_id"] == focus].iloc[0]
        if pd.isna(r["rank"]):
            lines.append(f"{r['name']}综合得分 {r['score']:.1f},样本量不足,不参与排名。")
        else:
            lines.append(f"{r['name']}综合得分 {r['score']:.1f},排名第 {int(r['rank'])}(共 {len(t)} 个单位),"
                         f"不同权重下名次最多变动 {int(r['max_rank_change'])} 位。")
    ranked = t.dropna(subset=["rank"])
    hi, lo = ranked["score"].max(), ranked["score"].min()
    if len(ranked) >= 2 and round(hi, 1) == round(lo, 1):
        lines.append(f"参与排名的 {len(ranked)} 个单位综合得分相同({hi:.1f}),并列,不分高低。")
    elif len(ranked) >= 2:
        top = "、".join(ranked.loc[ranked["score"].round(1) == round(hi, 1), "name"])
        bottom = "、".join(ranked.loc[ranked["score"].round(1) == round(lo, 1), "name"])
        lines.append(f"综合得分最高的是{top}({hi:.1f}),最低的是{bottom}({lo:.1f})。")
    if len(ranked) < 2:
        lines.append("参与排名的单位不足 2 个(其余样本量不足),综合得分不排名。")
        return lines
    t = ranked
    stable = t[t["max_rank_change"] == 0]["name"].tolist()
    moving = t[t["max_rank_change"] == t["max_rank_change"].max()]
    if t["max_rank_change"].max() == 0:
        lines.append("在各种权重设定下,所有单位的名次均不变。")
    else:
        lines.append(f"权重变化下名次最不稳定的是{'、'.join(moving['name'])}(最多变动 "
                     f"{int(moving['max_rank_change'].iloc[0])} 位)"
                     + (f";名次始终不变的有{'、'.join(stable)}。" if stable else "。"))
    return lines


def _plot(result: AnalysisResult, ax=None, **kwargs):
    from .plots import sensitivity_plot

    return sensitivity_plot(result, ax=ax, **kwargs)
