"""forecast_coverage: backtest, choose a model per unit, forecast to the deadline, judge the target.

    from cityanalytics.forecast import coverage_series, forecast_coverage, Target
    s = coverage_series(communities, area_type="城市")
    res = forecast_coverage(s, Target.from_registry("hl_sorting_coverage"))
    res.table                 # one row per unit (and the city)
    res.sentences             # Chinese sentences made from the numbers
    res.plot(units=[...])     # fan charts
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cityanalytics.forecast import backtest as B
from cityanalytics.forecast import models as M
from cityanalytics.forecast.engine import run_models
from cityanalytics.forecast.history import STATUS_ZH, prepare
from cityanalytics.forecast.series import CoverageSeries
from cityanalytics.forecast.target import (Target, first_passage, month_text, pace_needed, passage_quantiles,
                                           passage_text, recent_pace)
from cityanalytics.indicators.frame import CITY
from cityanalytics.results import AnalysisResult

DEFAULT_MODELS = ("logistic", "ar_logit", "naive", "ensemble")
MAX_HORIZON = 120


@dataclass
class ForecastResult(AnalysisResult):
    """``table``: one row per unit; ``fan``: history and forecast quantiles by month;
    ``backtest``: per unit and model scores; ``points``: every backtest forecast."""

    fan: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    points: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    target: Target | None = None
    levels: tuple = (0.8, 0.95)
    series: CoverageSeries | None = field(default=None, repr=False)

    def probability_table(self) -> pd.DataFrame:
        from cityanalytics.forecast.tables import probability_table

        return probability_table(self)

    def pace_table(self) -> pd.DataFrame:
        from cityanalytics.forecast.tables import pace_table

        return pace_table(self)

    def backtest_table(self) -> pd.DataFrame:
        from cityanalytics.forecast.tables import backtest_table

        return backtest_table(self)


def _thresholds(series: CoverageSeries, rows, target: Target | None) -> tuple[np.ndarray, np.ndarray]:
    """Share each row must reach (NaN where the target does not apply) and the count in measure units."""
    r = len(series.unit_ids)
    thr = np.full(r, np.nan)
    if target is None:
        return thr, thr.copy()
    total = series.total[np.arange(r), np.clip(series.last, 0, None)]
    if target.kind == "share":
        applies = np.ones(r, bool) if target.scope == "each" else series.unit_ids == CITY
        thr[applies] = target.value / 100
    else:
        since = target.since_month
        for i, unit in enumerate(series.unit_ids):
            if target.scope == "city" and unit != CITY:
                continue
            if since < series.months[0]:
                base = 0.0
            elif since > series.months[-1]:
                continue
            else:
                base = series.covered[i, series.months.get_loc(since)]
                base = 0.0 if np.isnan(base) else base
            thr[i] = (base + target.value) / total[i] if total[i] > 0 else np.nan  # > 1: cannot be met
    return thr, thr * total


def forecast_coverage(series: CoverageSeries, target: Target | None = None, *, models=DEFAULT_MODELS,
                      levels=(0.8, 0.95), n_paths: int = 1000, extra_months: int = 24,
                      backtest_origins: int = 4, backtest_step: int = 3, backtest_horizon: int = 12,
                      backtest_paths: int = 200, seed: int = 0, units=None,
                      choice: dict | None = None) -> ForecastResult:
    """Forecast coverage of every unit in ``series`` (and the city row if it has one).

    models: any of logistic, ar_logit, naive, ensemble; the backtest picks one per unit.
    levels: central interval levels, e.g. (0.8, 0.95).
    extra_months: months simulated past the deadline, for the expected date of reaching it.
    backtest_origins: 0 skips the backtest (the first model that fits is used).
    choice: the model choice of an earlier run on the same series (``res.extra["choice"]``),
        e.g. to judge another target without running the backtest again.
    """
    models = tuple(models)
    for m in models:
        M.get(m)
    if not models:
        raise ValueError("give at least one model")
    levels = tuple(sorted(float(x) for x in levels))
    if units is not None and len(units):
        series = series.select(list(units))
    rows = prepare(series.effective, series.n_eff, integer=series.integer)
    r = len(rows)
    ids = series.unit_ids

    order = [m for m in B.PREFERENCE if m in models]
    eligible = {m: M.get(m).eligible(rows) for m in order}
    candidates = {}
    for i, unit in enumerate(ids):
        cands = [m for m in order if eligible[m][i]] if rows.status[i] == "ok" else []
        if rows.status[i] == "ok" and not cands and rows.months_used[i] >= M.Naive.min_months:
            cands = ["naive"]
        candidates[unit] = cands
    if choice is not None:
        earlier = choice
        choice = {u: (earlier[u][0], "reused", {}) if u in earlier and earlier[u][0] in candidates[u]
                  else ((candidates[u][0], "default", {}) if candidates[u] else ("", "none", {}))
                  for u in ids}
        points = pd.DataFrame()
    else:
        need_bt = backtest_origins > 0 and any(len(c) > 1 for c in candidates.values())
        points = B.backtest(series, [m for m in B.PREFERENCE if m in models], origins=backtest_origins,
                            step=backtest_step, horizon=backtest_horizon, n_paths=backtest_paths, levels=levels,
                            seed=seed) if need_bt else pd.DataFrame()
        choice = B.choose(points, candidates, levels)
    model_of_row = np.array([choice[u][0] for u in ids], dtype=object)
    model_of_row[rows.status == "flat"] = "naive"

    thr, thr_count = _thresholds(series, rows, target)
    end_period = [series.months[e] if e >= 0 else None for e in rows.end]
    if target is not None:
        months_left = np.array([(target.deadline_month - p).n if p is not None else -1 for p in end_period])
    else:
        months_left = np.zeros(r, dtype=int)
    horizon = int(min(MAX_HORIZON, max(1, months_left.max(initial=0)) + extra_months))
    probs = B.interval_probs(levels)
    fp_probs = probs

    def reduce(shares, idx):
        out = {"fan": np.moveaxis(np.quantile(shares, probs, axis=1), 0, -1)}  # B x H x Q
        hd = months_left[idx]
        t = thr[idx]
        at = np.clip(hd, 1, horizon) - 1
        dl = shares[np.arange(len(idx)), :, at]  # B x S
        out["deadline_q"] = np.where((hd >= 1)[:, None], np.quantile(dl, probs, axis=1).T, np.nan)
        reach = (dl >= t[:, None] - 1e-9).mean(axis=1)
        out["p_reach"] = np.where((hd >= 1) & ~np.isnan(t), reach, np.nan)
        # per forecast month: P(coverage at or above the target); paths never fall, so also P(reached by then)
        above = (shares >= np.nan_to_num(t, nan=np.inf)[:, None, None] - 1e-9).mean(axis=1)
        out["p_month"] = np.where(np.isnan(t)[:, None], np.nan, above)
        fp = first_passage(shares, np.nan_to_num(t, nan=np.inf))
        out["fp_q"] = np.where(~np.isnan(t)[:, None], passage_quantiles(fp, fp_probs), np.nan)
        return out

    sim = run_models(rows, model_of_row.astype(str), horizon, n_paths, np.random.default_rng(seed + 1), reduce)
    q_n = len(probs)
    fan = sim.get("fan", np.full((r, horizon, q_n), np.nan))
    deadline_q = sim.get("deadline_q", np.full((r, q_n), np.nan))
    p_reach = sim.get("p_reach", np.full(r, np.nan))
    fp_q = sim.get("fp_q", np.full((r, q_n), np.nan))
    p_month = sim.get("p_month", np.full((r, horizon), np.nan))

    share = series.share
    records, notes_all = [], {}
    for i, unit in enumerate(ids):
        st = rows.status[i]
        e = rows.end[i]
        cur_share = share[i, e] if e >= 0 else np.nan
        n_total = series.total[i, e] if e >= 0 else np.nan
        covered = series.covered[i, e] if e >= 0 else np.nan
        notes = list(series.notes.get(unit, []))
        counted = "达标数" if series.event == "compliant" else "覆盖数"
        for j, kind, size in rows.breaks[i]:
            what = "下降" if kind == "fall" else "跳增"
            notes.append(f"{month_text(series.months[j])}{counted}{what}{abs(size):.0f}(疑为数据更正),只用此后的数据拟合")
        if st == "complete":
            fan[i] = 1.0
            p_month[i] = np.nan if np.isnan(thr[i]) else float(thr[i] <= 1 + 1e-9)
            deadline_q[i] = 1.0 if months_left[i] >= 1 else np.nan
            notes.append("已全部覆盖,覆盖率保持100%")
        elif st == "not_started":
            notes.append("尚无小区开展,没有进度可外推,不作概率预测")
        elif st == "short":
            notes.append(f"可用历史仅{rows.months_used[i]}个月(少于3个月),不作模型预测")
        elif st == "no_data":
            notes.append("没有数据")
        elif st == "flat":
            notes.append(f"近12个月{counted}没有增加,按维持现状预测;若无新的推进将无法提高")
        t = thr[i]
        if not np.isnan(t) and t > 1 + 1e-9:
            notes.append(f"目标需{thr_count[i]:,.0f}个,超过台账总数{n_total:,.0f}个,无法完成")
        reached_already = not np.isnan(t) and not np.isnan(cur_share) and cur_share >= t - 1e-9
        if not np.isnan(t) and st in ("complete", "ok", "flat") and reached_already:
            p_reach[i] = 1.0
        deadline_passed = target is not None and months_left[i] < 1 and e >= 0
        if deadline_passed and not np.isnan(t):
            dl_idx = series.months.get_loc(target.deadline_month) if target.deadline_month in series.months else None
            obs = share[i, dl_idx] if dl_idx is not None else np.nan
            p_reach[i] = float(obs >= t - 1e-9) if not np.isnan(obs) else np.nan
            notes.append("目标期限已过,概率一栏为期限当月的实际结果")
        how = choice[unit][1] if unit in choice else "none"
        model = model_of_row[i] or ""
        # expected date
        if np.isnan(t):
            date_texts = ["—"] * q_n
        elif reached_already:
            hit = np.nonzero(share[i, :e + 1] >= t - 1e-9)[0]
            first_hit = series.months[hit[0]] if len(hit) else series.months[e]
            date_texts = [f"已于{month_text(first_hit)}达到"] + ["—"] * (q_n - 1)
        elif model:
            date_texts = [passage_text(end_period[i], h, horizon) for h in fp_q[i]]
        else:
            date_texts = ["—"] * q_n
        # pace
        k_recent = recent_pace(series.covered[i], rows.start[i], e) if e >= 0 else (math.nan, 0)
        needed = (pace_needed(thr_count[i], covered, int(months_left[i]), series.measure == "communities")
                  if not np.isnan(t) and e >= 0 else math.nan)
        rec = {
            "unit_id": unit, "unit_name": series.name(unit), "status": st, "status_zh": STATUS_ZH[st],
            "model": model, "model_zh": M.LABELS_ZH.get(model, "—"), "choice": how,
            "model_reason": _reason(model, how, choice.get(unit, ("", "none", {}))[2], st),
            "as_of": end_period[i], "covered": covered, "total": n_total, "share": 100 * cur_share,
            "target": 100 * t if not np.isnan(t) else np.nan,
            "target_text": _target_text(target, t, thr_count[i]),
            "deadline": target.deadline_month if target is not None else None,
            "months_left": int(months_left[i]) if target is not None else np.nan,
            "fc_median": 100 * deadline_q[i, 0],
        }
        for j, lv in enumerate(levels):
            k = B.level_key(lv)
            rec[f"fc_lo{k}"] = 100 * deadline_q[i, 1 + 2 * j]
            rec[f"fc_hi{k}"] = 100 * deadline_q[i, 2 + 2 * j]
        rec["p_reach"] = p_reach[i]
        rec["reach_median"] = date_texts[0]
        for j, lv in enumerate(levels):
            k = B.level_key(lv)
            rec[f"reach_lo{k}"] = date_texts[1 + 2 * j]
            rec[f"reach_hi{k}"] = date_texts[2 + 2 * j]
        rec["reach_h_median"] = fp_q[i, 0] if not reached_already else 0.0
        rec["needed_per_month"] = needed
        rec["recent_per_month"] = k_recent[0]
        rec["recent_months"] = k_recent[1]
        rec["pace_ratio"] = _ratio(needed, k_recent[0])
        rec["threshold_count"] = thr_count[i]
        rec["note"] = ";".join(notes)
        records.append(rec)
        notes_all[unit] = notes
    table = pd.DataFrame(records)

    bt_scores = B.scores(points, levels) if not points.empty else pd.DataFrame()
    fan_frame = _fan_frame(series, rows, fan, probs, levels, model_of_row, horizon, p_month)
    spec = _spec(models, levels, n_paths, backtest_origins, backtest_step, backtest_horizon, series)
    res = ForecastResult(table=table, spec=spec, fan=fan_frame, backtest=bt_scores, points=points, target=target,
                         levels=levels, series=series)
    res.extra["choice"] = {u: (c[0], c[1]) for u, c in choice.items()}
    res.extra["horizon"] = horizon
    from cityanalytics.forecast.plots import fan_chart
    from cityanalytics.forecast.sentences import sentences

    res.plotter = lambda result, ax=None, **kw: fan_chart(result, ax=ax, **kw)
    res.sentences = sentences(res)
    return res


def _target_text(target: Target | None, share: float, count: float) -> str:
    """The target as a reader says it: "98%", or "新增425个(至1,022个)" for a count."""
    if target is None or np.isnan(share):
        return "—"
    if target.kind == "share":
        return f"{target.value:g}%"
    return f"新增{target.value:g}个(累计{count:,.0f}个)"


def _reason(model: str, how: str, stats, status: str) -> str:
    """Why this unit's forecast uses this model, in words, with the backtest figures."""
    if status == "flat":
        return "近12个月没有增长,按近期进度(为零)延续"
    if not model:
        return {"complete": "已全部覆盖,无需模型", "not_started": "尚未开展,没有进度可外推",
                "short": "可用历史不足3个月,不用模型", "no_data": "没有数据"}.get(status, "—")
    label = M.LABELS_ZH[model]
    scores = dict(stats or {})
    others = ",".join(f"{M.LABELS_ZH[m]}{v:.2f}" for m, v in sorted(scores.items(), key=lambda kv: kv[1])
                      if m != model)
    if how == "backtest":
        return f"本单位回测加权区间评分最低({label}{scores[model]:.2f}" + (f";{others}" if others else "") + ")"
    if how == "kept":
        best = min(scores, key=scores.get)
        return (f"本单位回测中{M.LABELS_ZH[best]}({scores[best]:.2f})略优于{label}({scores.get(model, float('nan')):.2f}),"
                f"但差距不超过一个标准误,沿用全部单位合并回测最优的{label}")
    if how == "pooled":
        return f"本单位可回测的月份不足,选用全部单位合并回测最优的{label}"
    if how == "only":
        return f"历史长度只够{label}"
    if how == "default":
        return f"无法回测,按默认顺序选用{label}"
    return f"沿用此前运行的选择:{label}"


def _ratio(needed: float, recent: float) -> float:
    """How many times the recent pace the needed pace is (inf when nothing moved lately)."""
    if math.isnan(needed):
        return math.nan
    if needed == 0:
        return 0.0
    if math.isnan(recent) or recent <= 0:
        return math.inf
    return needed / recent


def _fan_frame(series, rows, fan, probs, levels, model_of_row, horizon, p_month) -> pd.DataFrame:
    """Long table: history rows (kind "observed") then forecast quantiles (kind "forecast"), percent;
    ``p_target``: the probability that the month's coverage is at or above the target."""
    hist = series.to_frame()
    hist = pd.DataFrame({"unit_id": hist["unit_id"], "period": hist["period"], "kind": "observed",
                         "model": "", "value": hist["value"]})
    has = (rows.end >= 0) & ~np.isnan(fan).all(axis=(1, 2))
    idx = np.nonzero(has)[0]
    if not len(idx):
        return hist
    h = np.arange(1, horizon + 1)
    ordinals = (series.months[0].ordinal + rows.end[idx, None] + h[None, :]).ravel()
    d = {"unit_id": np.repeat(series.unit_ids[idx], horizon),
         "period": pd.PeriodIndex.from_ordinals(ordinals, freq="M"),
         "kind": "forecast", "model": np.repeat(model_of_row[idx].astype(str), horizon),
         "value": 100 * fan[idx, :, 0].ravel()}
    for j, lv in enumerate(levels):
        k = B.level_key(lv)
        d[f"lo{k}"] = 100 * fan[idx, :, 1 + 2 * j].ravel()
        d[f"hi{k}"] = 100 * fan[idx, :, 2 + 2 * j].ravel()
    d["p_target"] = p_month[idx].ravel()
    return pd.concat([hist, pd.DataFrame(d)], ignore_index=True)


def _spec(models, levels, n_paths, origins, step, horizon, series) -> str:
    lv = "、".join(f"{round(x * 100)}%" for x in levels)
    names = "、".join(M.LABELS_ZH[m] for m in models)
    measure = "小区数" if series.measure == "communities" else "户数(按小区整体开展计有效样本量)"
    area = f"范围:{series.area_type}小区;" if series.area_type else "范围:全部小区和村庄;"
    event = "已开展分类(两定一撤)" if series.event == "started" else "已达标"
    return (f"口径:{series.source};{area}按{measure}计算{event}的比例。候选模型:{names};按滚动起点回测"
            f"({origins}个起点,间隔{step}个月,每次预测{horizon}个月)的加权区间评分逐单位选择模型。"
            f"预测为{n_paths}条模拟路径,路径单调不减且不超过台账总数;区间为{lv}预测区间。"
            f"达标概率为期限当月达到目标的路径占比;预计达标时间为路径首次达到目标月份的中位数。")
