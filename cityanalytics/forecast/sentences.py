"""Chinese sentences made from a forecast's numbers (no number is typed here)."""

from __future__ import annotations

import pandas as pd

from cityanalytics.forecast.backtest import level_key
from cityanalytics.forecast.models import LABELS_ZH
from cityanalytics.forecast.tables import labelled
from cityanalytics.forecast.target import month_text
from cityanalytics.indicators.frame import CITY
from cityanalytics.text import missing, num, pct, probability

HIGH, LOW = 0.8, 0.2  # probability bands named in the summary


def _chance(p: float) -> str:
    """A probability in a sentence: "超过99%" / "不足1%" where the table says ">99%" / "<1%"."""
    return probability(p).replace(">", "超过").replace("<", "不足")


def _measure_word(res) -> tuple[str, str]:
    if res.series is not None and res.series.measure == "households":
        return "户", "户"
    return "个小区", "个"


def _scope(res) -> str:
    area = res.series.area_type if res.series is not None else None
    return {"城市": "城市居民小区", "农村": "农村(村庄)"}.get(area, "")


def _rate(res) -> str:
    return "达标率" if res.series is not None and res.series.event == "compliant" else "覆盖率"


def _what(res) -> str:
    if res.series is not None and res.series.event == "compliant":
        return "垃圾分类达标率"
    if res.series is not None and res.series.measure == "households":
        return "生活垃圾分类覆盖率(按户)"
    return "生活垃圾分类覆盖率"


def unit_sentences(res, row: pd.Series) -> list[str]:
    """What the forecast says about one unit (or the city); ``row`` is a row of ``labelled(res)``."""
    noun, short = _measure_word(res)
    name = row["unit_name"]
    out = []
    if missing(row["share"]):
        return [f"{name}没有可用数据。"]
    as_of = row["as_of"]
    scope = _scope(res)
    out.append(f"截至{month_text(as_of)},{name}{scope}{_what(res)}为{pct(row['share'])}"
               f"({num(row['covered'])}/{num(row['total'])}{noun})。")
    if res.target is None or missing(row["target"]):
        return out
    tgt = row["target_text"]
    dl = f"{month_text(row['deadline'])}底"
    if row["months_left"] < 1:
        p = row["p_reach"]
        if not missing(p):
            out.append(f"目标期限{dl}已过,期限当月{'已' if p == 1 else '未'}达到{tgt}的目标。")
        return out
    if row["status"] == "complete":
        out.append(f"已全部覆盖,达到{tgt}的目标。")
        return out
    if row["share"] >= row["target"] - 1e-9:
        out.append(f"已达到{tgt}的目标({row['reach_median']}),覆盖率不会回落,达标概率按100%计。")
        return out
    if row["status"] in ("not_started", "short", "no_data"):
        need = row["needed_per_month"]
        out.append(f"{row['note']}。要在{dl}前达到{tgt},每月需新增约{num(need, 1)}{noun}。")
        return out
    model = LABELS_ZH.get(row["model"], row["model"])
    ivs = [f"{level_key(lv)}%预测区间{pct(row[f'fc_lo{level_key(lv)}'])}-{pct(row[f'fc_hi{level_key(lv)}'])}"
           for lv in res.levels]
    out.append(f"按{model}模型预测,到{dl}{_rate(res)}预计为{pct(row['fc_median'])}({','.join(ivs)}),"
               f"达到{tgt}目标的概率为{_chance(row['p_reach'])}。")
    k = level_key(res.levels[0])
    lo, hi = row[f"reach_lo{k}"], row[f"reach_hi{k}"]
    if row["reach_median"].startswith("晚于"):
        out.append(f"半数以上模拟路径到{row['reach_median'][2:]}仍未达到{tgt}。")
    elif hi.startswith("晚于"):
        out.append(f"预计{row['reach_median']}达到{tgt}({k}%区间:{lo}至{hi[2:]}以后)。")
    else:
        out.append(f"预计{row['reach_median']}达到{tgt}({k}%区间:{lo}至{hi})。")
    need, recent = row["needed_per_month"], row["recent_per_month"]
    if not missing(need) and need > 0:
        if missing(recent) or recent <= 0:
            out.append(f"按期达标每月需新增约{num(need, 1)}{noun},而近期没有新增。")
        else:
            ratio = need / recent
            pace = f"近{int(row['recent_months'])}个月月均新增{num(recent, 1)}{short}"
            if ratio <= 1 and row["p_reach"] >= 0.5:
                out.append(f"按期达标每月需新增约{num(need, 1)}{noun},{pace},按现有进度可以完成。")
            elif ratio <= 1:
                out.append(f"按期达标每月需新增约{num(need, 1)}{noun},{pace},若能保持可以按期完成;"
                           f"但模型预计后续新增会放缓,因此按期达标的概率只有{_chance(row['p_reach'])}。")
            else:
                out.append(f"按期达标每月需新增约{num(need, 1)}{noun},{pace},需提速到{ratio:.1f}倍。")
    if row["status"] == "flat":
        out.append("近12个月没有新增覆盖,预测按维持现状处理。")
    return out


def sentences(res) -> list[str]:
    t = labelled(res)
    out = []
    city = t[t["unit_id"] == CITY]
    units = t[t["unit_id"] != CITY]
    if res.target is not None:
        label = res.target.label or res.target.describe()
        out.append(f"目标:{label}。")
    if len(city):
        out += unit_sentences(res, city.iloc[0])
    if res.target is not None and len(units) and units["target"].isna().all():
        out.append("该目标为全市总量目标,各单位不单独计算达标概率。")
    elif res.target is not None and len(units) and (units["months_left"] < 1).all():
        p = units["p_reach"]
        met, missed = units[p == 1], units[p == 0]
        text = f"目标期限已过:{len(units)}个单位中,期限当月达到目标的{len(met)}个,未达到的{len(missed)}个"
        if len(missed):
            text += ":" + "、".join(missed["unit_name"])
        out.append(text + "。")
    elif res.target is not None and len(units):
        p = units["p_reach"]
        done = units[(units["share"] >= units["target"] - 1e-9)]
        high = units[(p >= HIGH) & ~units.index.isin(done.index)]
        low = units[p < LOW]
        mid = units[(p >= LOW) & (p < HIGH)]
        none = units[p.isna()]
        parts = [f"{len(units)}个单位中,已达到目标的{len(done)}个",
                 f"预计按期达标(概率不低于{HIGH:.0%})的{len(high)}个",
                 f"不确定({LOW:.0%}-{HIGH:.0%})的{len(mid)}个",
                 f"很可能无法按期达标(概率低于{LOW:.0%})的{len(low)}个"]
        if len(none):
            parts.append(f"无法给出概率的{len(none)}个")
        out.append(",".join(parts) + "。")
        if len(low):
            names = "、".join(f"{r.unit_name}({_chance(r.p_reach)})" for r in low.sort_values("p_reach").itertuples())
            out.append(f"达标概率低于{LOW:.0%}的单位:{names}。")
        at_risk = units[(p < HIGH) & units["needed_per_month"].notna()].sort_values("p_reach")
        for r in at_risk.itertuples():
            if r.needed_per_month > 0 and r.recent_per_month > 0:
                noun, _ = _measure_word(res)
                out.append(f"{r.unit_name}按期达标每月需新增约{num(r.needed_per_month, 1)}{noun},"
                           f"是近期月均进度({num(r.recent_per_month, 1)})的{r.needed_per_month / r.recent_per_month:.1f}倍。")
    special = units[units["status"] != "ok"]
    for r in special.itertuples():
        if r.note:
            out.append(f"{r.unit_name}:{r.note}。")
    choice = res.extra.get("choice", {})
    chosen = pd.Series([c[0] for c in choice.values() if c[0]])
    if len(chosen):
        counts = "、".join(f"{LABELS_ZH[m]}{n}个" for m, n in chosen.value_counts().items())
        out.append(f"模型按滚动起点回测逐单位选择:{counts}。")
    if res.backtest is not None and not res.backtest.empty:
        chosen_rows = [choice.get(u, ("", ""))[0] == m for u, m in zip(res.backtest["unit_id"], res.backtest["model"])]
        sel = res.backtest[chosen_rows]
        if len(sel):
            w = sel["points"]
            covers = "、".join(
                f"{level_key(lv)}%区间覆盖实际值的比例为{100 * (sel[f'cover_{level_key(lv)}'] * w).sum() / w.sum():.0f}%"
                for lv in res.levels)
            mae = (sel["mae"] * w).sum() / w.sum()
            out.append(f"回测中所选模型的平均绝对误差为{mae:.2f}个百分点,{covers}(共{int(w.sum())}个预测月)。")
    return out
