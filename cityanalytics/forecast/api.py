"""forecast_coverage: backtest, choose a model per unit, forecast to the deadline, judge the target.

    from cityanalytics.forecast import coverage_series, forecast_coverage, Target
    s = coverage_series(communities, area_type="城市")
    res = forecast_coverage(s, Target.from_registry("hl_sorting_coverage"))
    res.table                 # one row per unit (and the city): numbers and codes
    res.sentences             # Chinese sentences made from the numbers
    res.plot(units=[...])     # fan charts

A workspace's forecast, as the notebook makes it: ``cityanalytics.forecast.run``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cityanalytics.forecast.backtest import PREFERENCE, backtest, choose, interval_probs, level_key, scores
from cityanalytics.forecast.models import LABELS_ZH, Naive, get as get_model
from cityanalytics.forecast.engine import run_models
from cityanalytics.forecast.history import prepare
from cityanalytics.forecast.series import CoverageSeries
from cityanalytics.forecast.target import (Target, first_passage, month_text, pace_needed, passage_quantiles,
                                           recent_pace)
from cityanalytics.indicators.frame import CITY
from cityanalytics.results import AnalysisResult

DEFAULT_MODELS = ("logistic", "ar_logit", "naive", "ensemble")
MAX_HORIZON = 120


@dataclass
class ForecastResult(AnalysisResult):
    """A coverage forecast.

    ``table``: one row per unit (the city first when there is one), numbers and codes only:
    unit_id, unit_name, status (ok, complete, not_started, flat, short, no_data), model, choice
    (how the model was chosen), as_of, covered, total, share, target, threshold_count, deadline,
    months_left, fc_median and fc_lo<k>/fc_hi<k> (percent at the deadline), p_reach,
    reached_on (the month the target was met, if it has been), reach_h_median and
    reach_h_lo<k>/reach_h_hi<k> (months after as_of until the target is reached; above the
    horizon: not within it), needed_per_month, recent_per_month, recent_months, pace_ratio.
    ``notes``: unit_id -> what a reader must know about that unit (Chinese), beside the table.
    ``fan``: history and forecast quantiles by month; ``backtest``: per unit and model scores;
    ``points``: every backtest forecast; ``options``: what the forecast was run with
    (``run``'s keywords, workspace included). ``missing``: why there is no forecast (a
    workspace without the table), else "".
    The words the report shows beside the numbers: ``forecast.tables.labelled(res)``.
    """

    fan: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    points: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    target: Target | None = None
    levels: tuple = (0.8, 0.95)
    series: CoverageSeries | None = field(default=None, repr=False)
    notes: dict = field(default_factory=dict, repr=False)
    options: dict = field(default_factory=dict, repr=False)
    missing: str = ""

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        """One row per unit and estimate: ``coverage`` (percent at the data's end, no interval),
        ``deadline_coverage`` (the median forecast at the deadline with its ``level`` interval,
        default the widest) and ``p_reach`` (the probability of reaching the target)."""
        columns = ["unit_id", "unit_name", "term", "estimate", "conf_low", "conf_high", "level"]
        t = self.table
        if t.empty:
            return pd.DataFrame(columns=columns)
        level = max(self.levels) if level is None else level
        k = level_key(level)
        if f"fc_lo{k}" not in t:
            raise ValueError(f"no {k}% interval; the forecast has {', '.join(level_key(x) for x in self.levels)}")
        nan = np.full(len(t), np.nan)
        parts = [
            pd.DataFrame({"unit_id": t["unit_id"], "unit_name": t["unit_name"], "term": "coverage",
                          "estimate": t["share"], "conf_low": nan, "conf_high": nan, "level": nan}),
            pd.DataFrame({"unit_id": t["unit_id"], "unit_name": t["unit_name"], "term": "deadline_coverage",
                          "estimate": t["fc_median"], "conf_low": t[f"fc_lo{k}"], "conf_high": t[f"fc_hi{k}"],
                          "level": level}),
            pd.DataFrame({"unit_id": t["unit_id"], "unit_name": t["unit_name"], "term": "p_reach",
                          "estimate": t["p_reach"], "conf_low": nan, "conf_high": nan, "level": nan}),
        ]
        out = pd.concat(parts, ignore_index=True)
        order = {u: i for i, u in enumerate(t["unit_id"])}
        out = out.sort_values("unit_id", key=lambda u: u.map(order), kind="stable").reset_index(drop=True)
        return out[columns].astype({c: float for c in ("estimate", "conf_low", "conf_high", "level")})

    def plot(self, ax=None, units=None, **kwargs):
        """Fan charts: observed coverage, the forecast median and intervals, target and deadline.
        With ``ax``: one unit (the first of ``units``, default the city) on it. Without: one
        panel per unit (default: the city, then every unit). Returns the (first) Axes; its
        ``.figure`` is the whole chart."""
        import matplotlib.pyplot as plt

        from cityanalytics.forecast.plots import fan_chart

        if self.missing or self.table.empty:
            ax = ax if ax is not None else plt.subplots(figsize=(6, 1.5))[1]
            ax.axis("off")
            ax.text(0.5, 0.5, self.missing or "没有可预测的单位", ha="center", va="center", wrap=True)
            return ax
        fig = fan_chart(self, units=units, ax=ax, **kwargs)
        return ax if ax is not None else fig.axes[0]

    def labelled(self) -> pd.DataFrame:
        """The table with the words the report shows beside its numbers (``forecast.tables.labelled``)."""
        from cityanalytics.forecast.tables import labelled

        return labelled(self)

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
        get_model(m)
    if not models:
        raise ValueError("give at least one model")
    levels = tuple(sorted(float(x) for x in levels))
    if units is not None and len(units):
        series = series.select(list(units))
    rows = prepare(series.effective, series.n_eff, integer=series.integer)
    r = len(rows)
    ids = series.unit_ids

    order = [m for m in PREFERENCE if m in models]
    eligible = {m: get_model(m).eligible(rows) for m in order}
    candidates = {}
    for i, unit in enumerate(ids):
        cands = [m for m in order if eligible[m][i]] if rows.status[i] == "ok" else []
        if rows.status[i] == "ok" and not cands and rows.months_used[i] >= Naive.min_months:
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
        points = backtest(series, [m for m in PREFERENCE if m in models], origins=backtest_origins,
                            step=backtest_step, horizon=backtest_horizon, n_paths=backtest_paths, levels=levels,
                            seed=seed) if need_bt else pd.DataFrame()
        choice = choose(points, candidates, levels)
    model_of_row = np.array([choice[u][0] for u in ids], dtype=object)
    model_of_row[rows.status == "flat"] = "naive"

    thr, thr_count = _thresholds(series, rows, target)
    end_period = [series.months[e] if e >= 0 else None for e in rows.end]
    if target is not None:
        months_left = np.array([(target.deadline_month - p).n if p is not None else -1 for p in end_period])
    else:
        months_left = np.zeros(r, dtype=int)
    horizon = int(min(MAX_HORIZON, max(1, months_left.max(initial=0)) + extra_months))
    probs = interval_probs(levels)
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
        if st == "complete":
            fan[i] = 1.0
            p_month[i] = np.nan if np.isnan(thr[i]) else float(thr[i] <= 1 + 1e-9)
            deadline_q[i] = 1.0 if months_left[i] >= 1 else np.nan
        t = thr[i]
        reached_already = not np.isnan(t) and not np.isnan(cur_share) and cur_share >= t - 1e-9
        if not np.isnan(t) and st in ("complete", "ok", "flat") and reached_already:
            p_reach[i] = 1.0
        deadline_passed = target is not None and months_left[i] < 1 and e >= 0
        if deadline_passed and not np.isnan(t):
            dl_idx = series.months.get_loc(target.deadline_month) if target.deadline_month in series.months else None
            obs = share[i, dl_idx] if dl_idx is not None else np.nan
            p_reach[i] = float(obs >= t - 1e-9) if not np.isnan(obs) else np.nan
        notes_all[unit] = _notes(series, rows, i, t, thr_count[i], n_total, deadline_passed)
        how = choice[unit][1] if unit in choice else "none"
        model = model_of_row[i] or ""
        # when the target is (expected to be) reached: months after the data's end, or the month it was
        reached_on = pd.NaT
        passage = np.full(q_n, np.nan)
        if not np.isnan(t) and reached_already:
            hit = np.nonzero(share[i, :e + 1] >= t - 1e-9)[0]
            reached_on = series.months[hit[0]] if len(hit) else series.months[e]
        elif not np.isnan(t) and model:
            passage = fp_q[i]
        k_recent = recent_pace(series.covered[i], rows.start[i], e) if e >= 0 else (math.nan, 0)
        needed = (pace_needed(thr_count[i], covered, int(months_left[i]), series.measure == "communities")
                  if not np.isnan(t) and e >= 0 else math.nan)
        rec = {
            "unit_id": unit, "unit_name": series.name(unit), "status": st, "model": model, "choice": how,
            "as_of": end_period[i] if end_period[i] is not None else pd.NaT, "covered": covered, "total": n_total,
            "share": 100 * cur_share, "target": 100 * t if not np.isnan(t) else np.nan,
            "threshold_count": thr_count[i],
            "deadline": target.deadline_month if target is not None else pd.NaT,
            "months_left": int(months_left[i]) if target is not None else np.nan,
            "fc_median": 100 * deadline_q[i, 0],
        }
        for j, lv in enumerate(levels):
            k = level_key(lv)
            rec[f"fc_lo{k}"] = 100 * deadline_q[i, 1 + 2 * j]
            rec[f"fc_hi{k}"] = 100 * deadline_q[i, 2 + 2 * j]
        rec["p_reach"] = p_reach[i]
        rec["reached_on"] = reached_on
        rec["reach_h_median"] = fp_q[i, 0] if not reached_already else 0.0
        for j, lv in enumerate(levels):
            k = level_key(lv)
            rec[f"reach_h_lo{k}"] = passage[1 + 2 * j]
            rec[f"reach_h_hi{k}"] = passage[2 + 2 * j]
        rec["needed_per_month"] = needed
        rec["recent_per_month"] = k_recent[0]
        rec["recent_months"] = k_recent[1]
        rec["pace_ratio"] = _ratio(needed, k_recent[0])
        records.append(rec)
    table = pd.DataFrame(records)
    for col in ("as_of", "deadline", "reached_on"):
        table[col] = pd.array(list(table[col]), dtype="period[M]")

    bt_scores = scores(points, levels) if not points.empty else pd.DataFrame()
    fan_frame = _fan_frame(series, rows, fan, probs, levels, model_of_row, horizon, p_month)
    spec = _spec(models, levels, n_paths, backtest_origins, backtest_step, backtest_horizon, series)
    res = ForecastResult(table=table, spec=spec, fan=fan_frame, backtest=bt_scores, points=points, target=target,
                         levels=levels, series=series, notes=notes_all)
    res.extra["choice"] = {u: (c[0], c[1]) for u, c in choice.items()}
    res.extra["choice_scores"] = {u: dict(c[2]) if len(c) > 2 else {} for u, c in choice.items()}
    res.extra["horizon"] = horizon
    res.options = {"models": models, "levels": levels, "n_paths": n_paths, "extra_months": extra_months,
                   "backtest_origins": backtest_origins, "seed": seed}
    from cityanalytics.forecast.sentences import sentences

    res.sentences = sentences(res)
    return res


def _notes(series: CoverageSeries, rows, i: int, share: float, count: float, total: float,
           deadline_passed: bool) -> list[str]:
    """What a reader must know about one unit's forecast: data corrections, why there is no
    model forecast, a target beyond the register, a deadline already passed."""
    unit = series.unit_ids[i]
    st = rows.status[i]
    notes = list(series.notes.get(unit, []))
    counted = "达标数" if series.event == "compliant" else "覆盖数"
    for j, kind, size in rows.breaks[i]:
        what = "下降" if kind == "fall" else "跳增"
        notes.append(f"{month_text(series.months[j])}{counted}{what}{abs(size):.0f}(疑为数据更正),只用此后的数据拟合")
    if st == "complete":
        notes.append("已全部覆盖,覆盖率保持100%")
    elif st == "not_started":
        notes.append("尚无小区开展,没有进度可外推,不作概率预测")
    elif st == "short":
        notes.append(f"可用历史仅{rows.months_used[i]}个月(少于3个月),不作模型预测")
    elif st == "no_data":
        notes.append("没有数据")
    elif st == "flat":
        notes.append(f"近12个月{counted}没有增加,按维持现状预测;若无新的推进将无法提高")
    if not np.isnan(share) and share > 1 + 1e-9:
        notes.append(f"目标需{count:,.0f}个,超过台账总数{total:,.0f}个,无法完成")
    if deadline_passed and not np.isnan(share):
        notes.append("目标期限已过,概率一栏为期限当月的实际结果")
    return notes


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
        k = level_key(lv)
        d[f"lo{k}"] = 100 * fan[idx, :, 1 + 2 * j].ravel()
        d[f"hi{k}"] = 100 * fan[idx, :, 2 + 2 * j].ravel()
    d["p_target"] = p_month[idx].ravel()
    return pd.concat([hist, pd.DataFrame(d)], ignore_index=True)


def _spec(models, levels, n_paths, origins, step, horizon, series) -> str:
    lv = "、".join(f"{round(x * 100)}%" for x in levels)
    names = "、".join(LABELS_ZH[m] for m in models)
    measure = "小区数" if series.measure == "communities" else "户数(按小区整体开展计有效样本量)"
    area = f"范围:{series.area_type}小区;" if series.area_type else "范围:全部小区和村庄;"
    event = "已开展分类(两定一撤)" if series.event == "started" else "已达标"
    return (f"口径:{series.source};{area}按{measure}计算{event}的比例。候选模型:{names};按滚动起点回测"
            f"({origins}个起点,间隔{step}个月,每次预测{horizon}个月)的加权区间评分逐单位选择模型。"
            f"预测为{n_paths}条模拟路径,路径单调不减且不超过台账总数;区间为{lv}预测区间。"
            f"达标概率为期限当月达到目标的路径占比;预计达标时间为路径首次达到目标月份的中位数。")


# --- a workspace's forecast, as the notebook makes it -------------------------------------------


def make_target(target_id: str = "", value: float | None = None, deadline: str = "",
                measure: str = "communities") -> Target | None:
    """The registry target ``target_id``, else ``Target(value, deadline)``, else None."""
    if target_id:
        return Target.from_registry(target_id)
    if value is not None and deadline:
        return Target(float(value), deadline, measure=measure)
    return None


def data_end(period: str, series_end: pd.Period) -> pd.Timestamp | None:
    """The report period's last day, but not later than the data: a register has no as-of
    date of its own, and months after its last entry must not pass for months without growth."""
    if not period:
        return None
    from cityanalytics.compare.data import parse_period

    p = parse_period(period).asfreq("M", "end")  # a quarter or a year ends with its last month
    return min(p, series_end).end_time


def missing_table(workspace, table: str = "communities") -> str | None:
    """One line saying why there is no forecast (the workspace lacks the table), or None."""
    from cityanalytics.text import md_escape
    from cityanalytics.workspace import open_workspace

    if open_workspace(workspace).has(table):
        return None
    what = {"communities": "社区(小区)垃圾分类台账(communities 表)",
            "observations": "按月汇总的指标表(observations 表)"}.get(table, f"{md_escape(table)} 表")  # Markdown
    return f"工作区没有{what},无法预测覆盖率,本报告各节略去。"


def table_columns(levels) -> list[str]:
    """``ForecastResult.table``'s columns for these interval levels."""
    keys = [level_key(lv) for lv in levels]
    return (["unit_id", "unit_name", "status", "model", "choice", "as_of", "covered", "total", "share", "target",
             "threshold_count", "deadline", "months_left", "fc_median"]
            + [f"fc_{e}{k}" for k in keys for e in ("lo", "hi")] + ["p_reach", "reached_on", "reach_h_median"]
            + [f"reach_h_{e}{k}" for k in keys for e in ("lo", "hi")]
            + ["needed_per_month", "recent_per_month", "recent_months", "pace_ratio"])


def run(workspace, *, period: str = "", table: str = "communities", indicator: str = "", target_id: str = "",
        target_value: float | None = None, target_deadline: str = "", measure: str = "communities",
        area_type: str = "auto", units=(), models=DEFAULT_MODELS, levels=(0.8, 0.95), n_paths: int = 1000,
        backtest_origins: int = 4, seed: int = 0) -> ForecastResult:
    """The sorting-coverage forecast of a workspace, with the notebook's parameters.

        res = run("data/demo", period="2025-06", target_id="hl_sorting_coverage")

    workspace: a workspace folder, a folder of canonical tables or a ``Workspace``.
    period: the report month (YYYY-MM; a quarter or year ends with its last month); the data
        are cut there, never later than their own end. Empty: all the data.
    table: communities (the register) or observations (covered/total per unit and month, of
        ``indicator``).
    target_id: a target of the registry, which also says what is counted (communities or
        households, started or compliant) and, from its scope, which communities
        (城区/居民小区 -> 城市, 农村 -> 农村); else ``target_value`` (percent) by
        ``target_deadline`` in ``measure``.
    area_type: auto (from the target), 城市, 农村, or empty for all communities.
    units: unit ids to forecast (the city is always included); empty: every unit.
    models, levels, n_paths, backtest_origins, seed: as ``forecast_coverage``.

    When the workspace has no such table the result says so (``missing``, its one sentence)
    and every report section shows that line once instead of its content.
    """
    options = {"workspace": workspace, "period": period, "table": table, "indicator": indicator,
               "target_id": target_id, "target_value": target_value, "target_deadline": target_deadline,
               "measure": measure, "area_type": area_type, "units": list(units), "models": tuple(models),
               "levels": tuple(levels), "n_paths": n_paths, "backtest_origins": backtest_origins, "seed": seed}
    why = missing_table(workspace, table)
    if why:
        levels = tuple(sorted(float(x) for x in levels))
        return ForecastResult(table=pd.DataFrame(columns=table_columns(levels)), sentences=[why], levels=levels,
                              missing=why, options=options)
    from cityanalytics.forecast.series import load_series

    target = make_target(target_id, target_value, target_deadline, measure)
    event = target.event if target is not None and target_id else "started"
    measure = target.measure if target is not None and target_id else measure
    area = (target.area_type if target is not None else None) if area_type == "auto" else (area_type or None)
    series = load_series(workspace, table=table, measure=measure, event=event, area_type=area,
                         indicator=indicator or None)
    end = data_end(period, series.months[-1])
    if end is not None and end.to_period("M") < series.months[-1]:
        series = series.cut(end.to_period("M"))
    chosen = list(units) if units else None
    if chosen is not None and CITY in series.unit_ids and CITY not in chosen:
        chosen.append(CITY)
    res = forecast_coverage(series, target, models=tuple(models), levels=tuple(levels), n_paths=n_paths,
                            backtest_origins=backtest_origins, seed=seed, units=chosen)
    res.options = options
    return res
