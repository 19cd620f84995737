"""Did earlier forecasts come true: score stored forecasts against the months since observed.

A monthly forecast run keeps what it forecast (``forecasts_frame``: one row per unit and
target month, 1 to ``MONTHS_AHEAD`` months ahead of the unit's last observed month, plus the
deadline month). A later run scores every stored row whose target month it has observed
(``score``):

- abs_error: |median forecast - observed|, percentage points;
- in80, in95: whether the observed value lies inside the 80% / 95% interval (bounds included);
- brier: (p - outcome)^2 for the event "the month's coverage is at or above the target"
  (``TARGET_EVENT``). Simulated paths never fall, so the event is also "the target has been
  reached by that month"; in the deadline month it is the event "reaches the target by the
  deadline" whose probability the report states. Rows without a target have no Brier score.

``summarize`` gives the running record over all scored rows, overall and by model or unit:
mean absolute error, interval coverage, Brier score, and a flag where coverage is below its
nominal level by more than binomial noise (``LOW_COVERAGE_RULE``). ``sentences`` says it in
Chinese. Rows of units without a model (already fully covered) are not stored: their
"forecast" is a certainty, not a model's.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.forecast.models import LABELS_ZH
from cityanalytics.forecast.backtest import level_key
from cityanalytics.indicators.frame import CITY
from cityanalytics.text import fmt, p_value

MONTHS_AHEAD = 12  # forecast months stored per unit (plus the deadline month when later)
ALPHA = 0.05  # one-sided binomial test level for flagging low coverage
TOLERANCE = 1e-6  # percentage points: stored values are rounded floats
SCHEMA_VERSION = 1
TARGET_EVENT = "当月覆盖率达到目标值"
LOW_COVERAGE_RULE = (f"标记规则:累计区间覆盖率低于名义水平,且按名义覆盖率计算,命中次数不超过实际命中数的二项分布概率"
                     f"(单侧检验)小于{ALPHA:.0%}。检验把每次评估视为相互独立;同一单位相邻起点的预测误差相关,"
                     "实际证据弱于检验所示,标记宜作为提示。")
ALL = "全部"
METHOD = ("评估方法:此前每期报告保存其预测(各单位未来1至12个月及目标期限当月的中位数和预测区间,以及当月覆盖率达到目标值的概率);"
          "本期用最新数据中已有实际值的月份逐条评估:绝对误差为预测中位数与实际值之差的绝对值;区间覆盖率为实际值落入该区间的比例;"
          f"Brier评分为(预测概率-实际结果)²的平均,事件为“{TARGET_EVENT}”(模拟路径不降,因而也是“到该月已达到目标”,"
          "在期限当月即“按期达标”)。已全部覆盖、无需模型的单位不计。表中“⚠”为覆盖率显著偏低。" + LOW_COVERAGE_RULE)

BASE_COLUMNS = ["unit_id", "unit_name", "origin", "target_month", "horizon", "model", "point", "target", "p_reach"]


# --- what a run stores -----------------------------------------------------------------------


def forecasts_frame(res, months_ahead: int = MONTHS_AHEAD) -> pd.DataFrame:
    """This run's forecasts as stored for later scoring: one row per unit (with a model) and
    target month. Periods are ``YYYY-MM`` strings, values percent, ``p_reach`` a probability."""
    fan = res.fan
    keys = [level_key(lv) for lv in res.levels]
    columns = BASE_COLUMNS[:7] + [f"{e}{k}" for k in keys for e in ("lo", "hi")] + BASE_COLUMNS[7:] + ["deadline"]
    if fan is None or fan.empty or "kind" not in fan:
        return pd.DataFrame(columns=columns)
    fc = fan[(fan["kind"] == "forecast") & (fan["model"] != "")]
    table = res.table.set_index("unit_id")
    origin = fc["unit_id"].map(table["as_of"])
    month = pd.PeriodIndex(fc["period"], freq="M")
    horizon = np.array([(m - o).n if o is not None else -1 for m, o in zip(month, origin)])
    deadline = res.target.deadline_month if res.target is not None else None
    keep = (horizon >= 1) & ((horizon <= months_ahead) | (month == deadline if deadline is not None else False))
    fc, origin, month, horizon = fc[keep], origin[keep], month[keep], horizon[keep]
    out = pd.DataFrame({
        "unit_id": fc["unit_id"].astype(str).to_numpy(),
        "unit_name": fc["unit_id"].map(table["unit_name"]).astype(str).to_numpy(),
        "origin": [str(o) for o in origin],
        "target_month": month.astype(str),
        "horizon": horizon.astype(int),
        "model": fc["model"].astype(str).to_numpy(),
        "point": fc["value"].to_numpy(dtype=float),
    })
    for k in keys:
        out[f"lo{k}"] = fc[f"lo{k}"].to_numpy(dtype=float)
        out[f"hi{k}"] = fc[f"hi{k}"].to_numpy(dtype=float)
    out["target"] = fc["unit_id"].map(table["target"]).to_numpy(dtype=float)
    out["p_reach"] = fc["p_target"].to_numpy(dtype=float) if "p_target" in fc else np.nan
    out["deadline"] = str(deadline) if deadline is not None else ""
    return out[columns].reset_index(drop=True)


def combine(earlier: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Stored forecasts of earlier runs in one frame (``[(period, frame)]``, oldest first). A
    forecast stored twice (a period re-run) counts once, from the later run."""
    frames = [f.assign(run_period=str(p)) for p, f in earlier if f is not None and len(f)]
    if not frames:
        return pd.DataFrame(columns=BASE_COLUMNS + ["run_period"])
    out = pd.concat(frames, ignore_index=True)
    _require(out, BASE_COLUMNS, "stored forecasts")
    return out.drop_duplicates(["unit_id", "origin", "target_month", "model"], keep="last").reset_index(drop=True)


def observed_frame(series) -> pd.DataFrame:
    """``unit_id, period (YYYY-MM), value (percent)`` from a CoverageSeries."""
    f = series.to_frame()
    return pd.DataFrame({"unit_id": f["unit_id"].astype(str), "period": f["period"].astype(str),
                         "value": f["value"].astype(float)})


def _require(frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")


def level_keys(frame: pd.DataFrame) -> list[str]:
    """Interval levels present in a forecasts frame (``lo80``/``hi80`` -> "80") or a scored one
    (``in80``), ascending."""
    keys = {c[2:] for c in frame.columns if c.startswith("lo") and c[2:].isdigit() and f"hi{c[2:]}" in frame}
    keys |= {c[2:] for c in frame.columns if c.startswith("in") and c[2:].isdigit()}
    return sorted(keys, key=int)


# --- scoring ---------------------------------------------------------------------------------


def score(forecasts: pd.DataFrame, observed: pd.DataFrame) -> pd.DataFrame:
    """Every forecast row whose target month is observed, with what happened and its scores.

    observed: ``unit_id, period, value`` (percent), e.g. ``observed_frame(res.series)``. A
    target month without an observed value (not yet, or missing) is not scored.
    """
    _require(forecasts, BASE_COLUMNS, "forecasts")
    _require(observed, ["unit_id", "period", "value"], "observed")
    keys = level_keys(forecasts)
    obs = observed.assign(unit_id=observed["unit_id"].astype(str), target_month=observed["period"].astype(str))
    obs = obs[["unit_id", "target_month", "value"]].dropna(subset=["value"])
    if obs.duplicated(["unit_id", "target_month"]).any():
        dup = obs[obs.duplicated(["unit_id", "target_month"], keep=False)].iloc[0]
        raise ValueError(f"observed: more than one value for unit {dup['unit_id']} in {dup['target_month']}")
    f = forecasts.assign(unit_id=forecasts["unit_id"].astype(str), target_month=forecasts["target_month"].astype(str))
    out = f.merge(obs.rename(columns={"value": "observed"}), on=["unit_id", "target_month"], how="inner")
    out = out[out["point"].notna()].reset_index(drop=True)
    y = out["observed"].to_numpy(dtype=float)
    out["error"] = out["point"].to_numpy(dtype=float) - y
    out["abs_error"] = np.abs(out["error"])
    for k in keys:
        lo, hi = out[f"lo{k}"].to_numpy(dtype=float), out[f"hi{k}"].to_numpy(dtype=float)
        out[f"in{k}"] = (lo - TOLERANCE <= y) & (y <= hi + TOLERANCE)
    t = out["target"].to_numpy(dtype=float)
    p = out["p_reach"].to_numpy(dtype=float)
    event = np.where(np.isnan(t), np.nan, (y >= t - TOLERANCE).astype(float))
    out["event"] = event
    out["brier"] = np.where(np.isnan(p) | np.isnan(event), np.nan, (p - event) ** 2)
    return out


def binomial_low(hits: int, n: int, level: float) -> float:
    """P(at most ``hits`` of ``n`` inside) if each falls inside with probability ``level``."""
    return float(stats.binom.cdf(hits, n, level)) if n else math.nan


def summarize(scored: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Running record over all scored rows: one row per value of ``by`` ("model", "unit_id",
    or None for everything), with n, origins, mae, bias, cover_<k>, p_low_<k>, flag_<k>,
    brier and n_brier."""
    keys = level_keys(scored)
    groups = [(ALL, scored)] if by is None else list(scored.groupby(by, sort=True))
    rows = []
    for name, g in groups:
        row = {"group": name, "n": len(g), "origins": g["origin"].nunique(),
               "mae": g["abs_error"].mean() if len(g) else math.nan,
               "bias": g["error"].mean() if len(g) else math.nan}
        for k in keys:
            hits, level = int(g[f"in{k}"].sum()), int(k) / 100
            row[f"hits_{k}"] = hits
            row[f"cover_{k}"] = hits / len(g) if len(g) else math.nan
            row[f"p_low_{k}"] = binomial_low(hits, len(g), level)
            row[f"flag_{k}"] = bool(len(g) and hits / len(g) < level and row[f"p_low_{k}"] < ALPHA)
        b = g["brier"].dropna()
        row["brier"] = b.mean() if len(b) else math.nan
        row["n_brier"] = len(b)
        rows.append(row)
    return pd.DataFrame(rows)


# --- what the report shows -------------------------------------------------------------------


def summary_table(scored: pd.DataFrame, by: str, names: dict | None = None) -> pd.DataFrame:
    """The running record by model or by unit, with Chinese headers (overall row first)."""
    keys = level_keys(scored)
    s = pd.concat([summarize(scored), summarize(scored, by)], ignore_index=True)
    label = {"model": "模型", "unit_id": "单位"}[by]
    if by == "model":
        shown = [ALL if g == ALL else LABELS_ZH.get(g, g) for g in s["group"]]
    else:
        names = names or {}
        shown = [ALL if g == ALL else names.get(g, g) for g in s["group"]]
        order = [0] + sorted(range(1, len(s)), key=lambda i: (s["group"][i] != CITY, shown[i]))
        s, shown = s.iloc[order].reset_index(drop=True), [shown[i] for i in order]
    out = pd.DataFrame({label: shown, "评估数": s["n"].astype(int), "起点数": s["origins"].astype(int),
                        "平均绝对误差(百分点)": [fmt(x, ".2f") for x in s["mae"]],
                        "平均偏差(百分点)": [fmt(x, ".2f") for x in s["bias"]]})
    for k in keys:
        out[f"{k}%区间覆盖率"] = [fmt(x, ".0%") + (" ⚠" if f else "") for x, f in zip(s[f"cover_{k}"], s[f"flag_{k}"])]
    out["Brier评分"] = [fmt(x, ".3f") for x in s["brier"]]
    return out


def sentences(scored: pd.DataFrame, runs: int, stored: bool = True) -> list[str]:
    """Chinese sentences: whether there is anything to score, last period's forecast for the
    latest observed month, the running record, and models flagged for low coverage.
    ``stored``: a report run, which keeps its forecasts (an interactive session does not)."""
    if runs == 0:
        if not stored:
            return ["此次不是报告运行(cityanalytics run / reports),不读取也不保存各期预测,预测兑现情况从略。"]
        return ["此前各期没有保存的预测(本报告首次保存预测),本期无可评估的预测;本期预测已随报告保存,下期起逐月评估。"]
    if scored.empty:
        return [f"此前{runs}期保存的预测所指的月份尚无实际数据,本期暂无可评估的预测。"]
    keys = level_keys(scored)
    out = [_last_period(scored, keys)]
    s = summarize(scored).iloc[0]
    cover = ",".join(f"落入{k}%预测区间的占{fmt(s[f'cover_{k}'], '.0%')}(名义{k}%)" for k in keys)
    text = (f"累计评估此前{s['origins']}个预测起点、{s['n']}个单位月的预测:平均绝对误差{s['mae']:.2f}个百分点,"
            f"平均偏差{s['bias']:+.2f}个百分点(正为预测偏高);实际值{cover}")
    if s["n_brier"]:
        text += (f";Brier评分{s['brier']:.3f}(事件为“{TARGET_EVENT}”,共{s['n_brier']}次;"
                 "0为完全准确,一律报50%得0.25)")
    out.append(text + "。")
    flagged = 0
    for _, r in summarize(scored, "model").iterrows():
        low = [k for k in keys if r[f"flag_{k}"]]
        if low:
            flagged += 1
            detail = ";".join(f"{k}%区间{r['n']}次评估中实际值落入{r[f'hits_{k}']}次({fmt(r[f'cover_{k}'], '.0%')},"
                              f"二项检验单侧p{'' if r[f'p_low_{k}'] < 0.001 else '='}{p_value(r[f'p_low_{k}'])})" for k in low)
            out.append(f"模型“{LABELS_ZH.get(r['group'], r['group'])}”的预测区间偏窄,覆盖率低于名义水平且超出随机波动:"
                       f"{detail};其区间和达标概率宜谨慎看待。")
    if not flagged:
        out.append(f"各模型的区间覆盖率均未显著低于名义水平(二项检验单侧p≥{ALPHA:g})。")
    return out


def _last_period(scored: pd.DataFrame, keys: list[str]) -> str:
    """Last period's forecast for the latest observed month: the city and how many units hit."""
    month = scored["target_month"].max()
    rows = scored[scored["target_month"] == month]
    rows = rows[rows["origin"] == rows["origin"].max()]
    origin = rows["origin"].iloc[0]
    k = keys[0] if keys else None
    parts = [f"上期(数据截至{origin})对{month}的预测"]
    city = rows[rows["unit_id"] == CITY]
    if len(city) and k is not None:
        c = city.iloc[0]
        inside = "内" if c[f"in{k}"] else "之外"
        parts.append(f":全市预测中位数{c['point']:.1f}%({k}%区间{c[f'lo{k}']:.1f}%-{c[f'hi{k}']:.1f}%),"
                     f"实际{c['observed']:.1f}%,在{k}%区间{inside}")
    units = rows[rows["unit_id"] != CITY]
    if len(units) and keys:
        hits = "、".join(f"{int(units[f'in{kk}'].sum())}个落入{kk}%区间" for kk in keys)
        parts.append(f"{';' if len(city) else ':'}{len(units)}个单位中{hits}")
    missed = units[~units[f"in{keys[-1]}"]] if keys else units.iloc[0:0]
    if len(missed):
        parts.append(f"(落在{keys[-1]}%区间外:" + "、".join(
            f"{r.unit_name}预测{r.point:.1f}%、实际{r.observed:.1f}%" for r in missed.itertuples()) + ")")
    return "".join(parts) + "。"
