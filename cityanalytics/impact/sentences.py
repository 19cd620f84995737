"""Chinese summaries and model specifications for the impact results."""

from __future__ import annotations

import math

from cityanalytics.impact.panel import FREQ_ZH, duration_zh  # 日/周/月/季/年 (+ 度)
from cityanalytics.text import fmt, num

FAMILY_ZH = {"poisson": "泊松回归(对数链接,以天数为暴露量偏移)",
             "negbin": "负二项回归(NB2,对数链接,以天数为暴露量偏移)",
             "gaussian": "线性回归(最小二乘)"}


OUTCOME_ZH = {"count": "案件数", "disposal_hours": "平均处置时长(小时)", "value": "结果变量"}


def outcome_zh(outcome: str) -> str:
    """What readers see for an outcome without a label: the panel's own columns in Chinese
    (case counts are 案件数), any other column by its name."""
    return OUTCOME_ZH.get(outcome, outcome)


EXPOSURE_ZH = {"population": "人口", "households": "户数", "area_km2": "面积", "road_length_km": "道路长度",
               "road_length": "道路长度", "road_km": "道路长度"}


def exposure_zh(exposure: str | None) -> str:
    """How the offset is named: 天数, or the exposure column (人口(population), 「stdpop」)."""
    if not exposure:
        return "天数"
    return f"{EXPOSURE_ZH[exposure]}({exposure})" if exposure in EXPOSURE_ZH else f"「{exposure}」"


def family_zh(o: dict) -> str:
    return FAMILY_ZH[o["family"]].replace("以天数为", f"以{exposure_zh(o.get('exposure'))}为")


COV_ZH = {
    "stationary": "稳健标准误:Bartlett 核(Newey-West 权重)、全序列估计的残差自相关(经偏差校正)与过度离散(Zeger 1988 拟似然方差),滞后 {lags} 期",
    "newey-west": "Newey-West(HAC)稳健标准误,滞后 {lags} 期",
    "quasi": "拟泊松标准误(模型方差乘以皮尔逊离散系数 φ,不计自相关)",
    "model": "模型标准误(泊松方差,离散系数取 1,不计过度离散与自相关)",
}


def cov_zh(d: dict, family: str) -> str:
    """The covariance as the specification states it: estimator, lags and how they were
    chosen, the small-sample factor, and the interval's reference distribution."""
    kind = d["cov"]
    if kind in ("quasi", "model") and family == "gaussian":
        text = "经典最小二乘标准误 s²(X'X)⁻¹(不计自相关)"
    elif kind == "model" and family == "negbin":
        text = "模型标准误(负二项方差,不计自相关)"
    else:
        text = COV_ZH[kind].format(lags=d["hac_lags"])
    if d.get("lag_rule") == "andrews":
        text += "(Andrews 1991 自动选择,不少于 Newey-West 经验规则;可用 hac_lags 指定)"
    elif d.get("lag_rule") == "user":
        text += "(按指定)"
    if d.get("small_sample"):
        text += ",乘以小样本因子 n/(n−k)(同 Stata newey)"
    return text


def ci_dist_zh(d: dict) -> str:
    return f"区间与 p 值用 t({d['df_t']}) 分布" if d.get("use_t", True) else "区间与 p 值用标准正态(z)分布"


def pct_ci(lo: float, hi: float, level: float = 0.95) -> str:
    return f"({level * 100:.0f}% CI {fmt(lo, '+.1f', '%')} 至 {fmt(hi, '+.1f', '%')})"


def _seasonality_zh(opts: dict) -> str:
    parts = []
    if opts.get("trend", True):
        parts.append("线性趋势" + {"Q": "(按季度计)", "Y": "(按年计)"}.get(opts.get("freq"), ""))
    if opts.get("freq") == "Y":
        pass  # a whole year has no season
    elif opts.get("freq") == "Q" and opts["seasonality"] not in (None, "none"):
        parts.append("季度谐波季节项" if opts["seasonality"] == "fourier" else "季度虚拟变量")
    elif opts["seasonality"] == "fourier":
        parts.append(f"{opts['fourier_order']} 阶傅里叶季节项")
    elif opts["seasonality"] == "month":
        parts.append("月份虚拟变量")
    if opts.get("weekday"):
        parts.append("星期虚拟变量")
    if opts.get("spring_festival"):
        parts.append("春节前后窗口")
    if opts.get("holidays"):
        parts.append("法定节假日与调休")
    return "、".join(parts) or "无"


def _effect_zh(opts: dict) -> str:
    e = "各阶段分别估计水平变化" if opts["effect"] == "phases" else "活动期间整体水平变化"
    if opts.get("slope"):
        e += "及活动期间斜率变化"
    post = {"decay": "活动结束后效应按指数衰减(半衰期用剖面似然在网格上估计)",
            "level": "活动结束后效应为持续的水平变化",
            "exclude": "不使用活动结束后的数据",
            "open": "政策无结束日,持续实施至数据末(没有结束后时期)"}[opts["post"]]
    return f"{e};{post}"


def its_spec(r) -> str:
    o, d = r.options, r.diagnostics
    avg = f"(覆盖单位按 {o['weights']} 加权平均)" if o.get("weights") else ""
    cov = cov_zh(d, o["family"])
    if d.get("half_life_estimated"):
        cov += ",并计入半衰期估计的不确定性"
    cov += ";" + ci_dist_zh(d)
    disp = (f";皮尔逊过度离散系数 φ={d['dispersion']:.2f}" if o["family"] in ("poisson", "negbin") else "")
    if "nb_alpha" in d:
        disp += f",负二项 α={d['nb_alpha']:.3f}"
    return (f"模型:中断时间序列,{FREQ_ZH[o['freq']]}度数据 {d['n_periods']} 期(活动前 {d['n_pre_periods']} 期);"
            f"{family_zh(o)};控制{_seasonality_zh(o)};{_effect_zh(o)};{cov}{disp}。"
            + (("少发案件数 = 反事实拟合值减拟合值,区间来自系数的多元正态抽样"
                + ("(衰减形状取估计的半衰期)" if o["post"] == "decay" else "") + "。")
               if o["family"] in ("poisson", "negbin") else f"效应以结果变量自身的单位表示(数值结果取覆盖单位的平均{avg})。")
            + "中断时间序列没有对照组,同期其他因素可能混入估计。")


def its_sentences(r) -> list[str]:
    o, d, t = r.options, r.diagnostics, r.table
    count = o["family"] in ("poisson", "negbin")
    camp = o["campaign"]
    what = o.get("outcome_label") or outcome_zh(o["outcome"])
    out = [f"{camp.name_zh}:{d['series_label']}({len(d['units'])} 个单位)的「{what}」。"]
    parts = []
    for _, row in t.iterrows():
        if row["term"] == "post":
            continue
        if count and row["term"] != "slope":
            s = f"{row['label_zh']} {fmt(row['pct'], '+.1f', '%')} {pct_ci(row['pct_low'], row['pct_high'], o['level'])}"
            if "averted_per_month" in row and row["averted_per_month"] == row["averted_per_month"]:
                s += (f",约{'少' if row['averted'] >= 0 else '多'}发 {num(abs(row['averted_per_month']))} 件/月"
                      f"(区间 {num(row['averted_per_month_low'])} 至 {num(row['averted_per_month_high'])})")
        elif count:
            s = f"{row['label_zh']} {fmt(row['pct'], '+.1f', '%')} {pct_ci(row['pct_low'], row['pct_high'], o['level'])}"
        else:
            s = (f"{row['label_zh']} {fmt(row['coef'], '+.2f')}({o['level'] * 100:.0f}% CI {fmt(row['ci_low'], '+.2f')} 至 "
                 f"{fmt(row['ci_high'], '+.2f')})")
        parts.append(s)
    if parts:
        out.append("与按趋势和季节推算的反事实相比:" + ";".join(parts) + "。")
    if "post" in set(t["term"]):
        row = t.set_index("term").loc["post"]
        if o["post"] == "decay":
            if count:
                s = f"活动结束时效应 {fmt(row['pct'], '+.1f', '%')} {pct_ci(row['pct_low'], row['pct_high'], o['level'])}"
            else:
                s = f"活动结束时效应 {fmt(row['coef'], '+.2f')}(CI {fmt(row['ci_low'], '+.2f')} 至 {fmt(row['ci_high'], '+.2f')})"
            hl, lo, hi = d["half_life"], d["half_life_low"], d["half_life_high"]
            if d["persistent"]:
                s += (f";数据不能排除效应持续不衰减(半衰期估计 {duration_zh(hl, o['freq'])},"
                      f"下限 {duration_zh(lo, o['freq'])}),"
                      "即未见明显回潮")
            else:
                s += (f",此后逐步减弱,半衰期约 {duration_zh(hl, o['freq'])}({o['level'] * 100:.0f}% CI "
                      f"{duration_zh(lo, o['freq'])}-{duration_zh(hi, o['freq'])})")
                after = {"Q": ("1 个季度", "remaining_1p"), "Y": ("1 年", "remaining_1p")}.get(o["freq"],
                                                                                         ("90 天", "remaining_90d"))
                s += f",结束 {after[0]}后约剩 {100 * d[after[1]]:.0f}% 的效应"
            if count and "averted" in row:
                s += f";活动结束后累计少发 {num(row['averted'])} 件(区间 {num(row['averted_low'])} 至 {num(row['averted_high'])})"
            out.append(s + "。")
        else:
            if count:
                out.append(f"活动结束后的持续变化 {fmt(row['pct'], '+.1f', '%')} "
                           f"{pct_ci(row['pct_low'], row['pct_high'], o['level'])}。")
            else:
                out.append(f"活动结束后的持续变化 {fmt(row['coef'], '+.2f')}(CI {fmt(row['ci_low'], '+.2f')} 至 {fmt(row['ci_high'], '+.2f')})。")
    if count and "averted_total" in d:
        out.append(f"合计少发约 {num(d['averted_total'])} 件(区间 {num(d['averted_total_low'])} 至 "
                   f"{num(d['averted_total_high'])})。")
    out += [f"注意:{w.message}" for w in r.warnings]
    return out


MODEL_ZH = {"poisson": "泊松伪极大似然(PPML),吸收单位与时期固定效应,以天数为暴露量偏移",
            "ols": "最小二乘,吸收单位与时期固定效应"}


def did_spec(r) -> str:
    o, d = r.options, r.diagnostics
    y = o["outcome_label"]
    if o["model"] == "ols" and o["log_scale"]:
        y = f"log({y}/{exposure_zh(o.get('exposure'))})"
    model_zh = MODEL_ZH[o["model"]].replace("以天数为", f"以{exposure_zh(o.get('exposure'))}为")
    if o.get("weights"):
        model_zh = model_zh.replace("最小二乘", f"加权最小二乘(权重 {o['weights']})")
    if o.get("covariates"):
        model_zh += ",协变量 " + "、".join(o["covariates"])
    ssc = "G/(G-1)·(N-1)/(N-K)"
    parts = [f"模型:双重差分(双向固定效应),{FREQ_ZH[o['freq']]}度面板,{d['n_treated']} 个处理单位、"
             f"{d['n_control']} 个对照单位(活动未覆盖的单位),{d['n_obs']} 个观测;结果变量 {y};{model_zh};",
             _effect_zh(o) + (";半衰期区间由聚类稳健标准误(对数尺度)给出;" if o["post"] == "decay" else ";"),
             f"标准误按单位聚类(CR1,小样本校正 {ssc}),"
             + (f"区间用 t 分布,自由度取 Bell-McCaffrey 有效聚类数(不超过 {d['n_clusters'] - 1},即 G-1)。"
                if o.get("use_t", True) else "区间与 p 值用标准正态(z)分布(聚类数 G-1 的 t 分布更稳妥)。")]
    if len(r.event_study):
        pre, post = o["event_window"]
        parts.append(f"事件研究:活动开始前 {pre} 期至开始后 {post} 期(两端合并),以开始前一期为参照;"
                     "平行趋势检验:前置期系数联合 Wald 检验(Hotelling 小样本 F 形式),以及活动前处理组特有线性趋势的 t 检验。")
    return "".join(parts)


def did_sentences(r) -> list[str]:
    o, d, t, p = r.options, r.diagnostics, r.table, r.pretrend
    camp = o["campaign"]
    lv = o["level"]
    out = [f"{camp.name_zh}:以 {d['n_control']} 个未覆盖单位为对照,{d['n_treated']} 个覆盖单位的「{o['outcome_label']}」"
           "双重差分估计。"]
    if d.get("treated_before_data_names"):
        out.append(f"{'、'.join(d['treated_before_data_names'])} 在数据开始({d['data_start']:%Y-%m-%d})之前已开始活动,"
                   "没有活动前的数据:它们只在数据期内与对照比较,活动开始时的变化未被观测到,效应可能被低估。")
    if o.get("covariates"):
        out.append("估计已控制协变量:" + "、".join(o["covariates"]) + "。")
    parts = []
    for _, row in t.iterrows():
        if row["term"] == "post":
            continue
        if o["log_scale"]:
            parts.append(f"{row['label_zh']} {fmt(row['pct'], '+.1f', '%')} {pct_ci(row['pct_low'], row['pct_high'], lv)}")
        else:
            parts.append(f"{row['label_zh']} {fmt(row['coef'], '+.2f')}({lv * 100:.0f}% CI {fmt(row['ci_low'], '+.2f')} 至 "
                         f"{fmt(row['ci_high'], '+.2f')})")
    if parts:
        out.append("相对对照组的变化:" + ";".join(parts) + "。")
    if "post" in set(t["term"]):
        row = t.set_index("term").loc["post"]
        eff = (f"{fmt(row['pct'], '+.1f', '%')} {pct_ci(row['pct_low'], row['pct_high'], lv)}" if o["log_scale"]
               else f"{fmt(row['coef'], '+.2f')}(CI {fmt(row['ci_low'], '+.2f')} 至 {fmt(row['ci_high'], '+.2f')})")
        if o["post"] == "decay":
            hl = d.get("half_life", math.nan)
            if math.isinf(hl):
                out.append(f"活动结束时效应 {eff},且未见衰减(效应持续)。")
            else:
                rng = ""
                if d.get("half_life_low") == d.get("half_life_low"):
                    rng = (f"({lv * 100:.0f}% CI {duration_zh(d['half_life_low'], o['freq'])}-"
                           f"{duration_zh(d['half_life_high'], o['freq'])})")
                out.append(f"活动结束时效应 {eff},此后衰减,半衰期约 {duration_zh(hl, o['freq'])}{rng}。")
        else:
            out.append(f"活动结束后的持续变化 {eff}。")
    if "averted_total" in d:
        out.append(f"覆盖单位合计少发约 {num(d['averted_total'])} 件(区间 {num(d['averted_total_low'])} 至 "
                   f"{num(d['averted_total_high'])})。")
    if p:
        bits = []
        if p.get("pretrend_p") == p.get("pretrend_p") and p.get("pretrend_p") is not None:
            bits.append(f"前置期系数联合检验 p={p['pretrend_p']:.3f}")
        if p.get("pretrend_slope_p") == p.get("pretrend_slope_p") and p.get("pretrend_slope_p") is not None:
            bits.append(f"活动前线性趋势差异检验 p={p['pretrend_slope_p']:.3f}")
        if bits:
            ok = all(x >= 0.05 for x in (p.get("pretrend_p"), p.get("pretrend_slope_p")) if x == x and x is not None)
            out.append("平行趋势:" + ",".join(bits) + ("," + ("未发现活动前走势差异。" if ok else "活动前走势已有差异,需谨慎。")))
    out += [f"注意:{w.message}" for w in r.warnings]
    return out


def staggered_spec(r) -> str:
    o, d = r.options, r.diagnostics
    y = f"log({o['outcome_label']}/天数)" if o["log_scale"] else o["outcome_label"]
    ctrl = "从未推行及尚未推行的单位" if o["control"] == "notyet" else "从未推行的单位"
    return (f"模型:分批推行的双重差分(Callaway-Sant'Anna 2021),{FREQ_ZH[o['freq']]}度面板,{d['n_units']} 个单位、"
            f"{d['n_cohorts']} 个推行批次、{d['n_never']} 个从未推行;结果变量 {y};"
            f"每个批次以推行前 {d['base_periods']} 期的平均为基期,对照为{ctrl};按批次规模加权汇总为事件研究和推行后平均效应;"
            + ("标准误(默认)来自单位层面的影响函数,与 R did 的解析标准误相同(计入批次份额的估计误差,不乘小样本因子)"
               if d["se_method"] == "influence"
               else "标准误来自单位层面的影响函数,以实际推行批次为固定设计(不计批次份额的估计误差,n/(n-1) 校正)"
               if d["se_method"] == "influence_fixed"
               else "标准误为逐一剔除单位的刀切法(jackknife)")
            + f",区间用 t({d['df_t']}) 分布。"
            "普通双向固定效应(TWFE)结果并列,仅作对照:效应随时间或单位变化时它可能有偏。")


def staggered_sentences(r) -> list[str]:
    o, d, t = r.options, r.diagnostics, r.table.set_index("term")
    lv = o["level"]
    camp = o["campaign"]

    def eff(row) -> str:
        if o["log_scale"]:
            return f"{fmt(row['pct'], '+.1f', '%')} {pct_ci(row['pct_low'], row['pct_high'], lv)}"
        return f"{fmt(row['coef'], '+.2f')}({lv * 100:.0f}% CI {fmt(row['ci_low'], '+.2f')} 至 {fmt(row['ci_high'], '+.2f')})"

    out = [f"{camp.name_zh}:{d['n_cohorts']} 批单位分别于不同时间推行,{d['n_never']} 个单位从未推行。"]
    if d.get("always_treated_names"):
        out.append(f"{'、'.join(d['always_treated_names'])} 在数据开始({d['data_start']:%Y-%m-%d})之前已推行,"
                   "没有推行前的数据,未纳入估计。")
    out.append(f"推行后平均效应(Callaway-Sant'Anna){eff(t.loc['att_simple'])}。")
    es = r.event_study
    late = es[es["event_time"] >= 0]
    if len(late):
        first, last = late.iloc[0], late.iloc[-1]
        out.append(f"推行当期 {eff(first)};推行后第 {int(last['event_time'])} 期(及以后){eff(last)}。")
    if "pre_placebo" in t.index:
        out.append(f"推行前各期的平均差异 {eff(t.loc['pre_placebo'])},应接近 0。")
    if "twfe_static" in t.index:
        out.append(f"作为对照,普通双向固定效应估计为 {eff(t.loc['twfe_static'])};"
                   "两者差距大时,以 Callaway-Sant'Anna 为准。")
    out += [f"注意:{w.message}" for w in r.warnings]
    return out


def _eff(x: float, log_scale: bool) -> str:
    return fmt(100 * math.expm1(x), "+.1f", "%") if log_scale else fmt(x, "+.2f")


def robustness_spec(r) -> str:
    m = r.extra["method"]
    est = {"did": "双重差分(整个活动窗口一个水平效应,不用活动结束后的数据)",
           "its": "中断时间序列(整个活动窗口一个水平效应,不用活动结束后的数据)",
           "staggered": "Callaway-Sant'Anna 推行后平均效应"}[m]
    how = {"placebo_dates": "安慰剂时间把活动整体提前,只用真实活动开始前的数据",
           "placebo_units": "安慰剂单位只用未覆盖单位",
           "leave_one_out": "逐一剔除单位后重新估计",
           "randomization": ("随机化推断在单位间随机交换推行日期后重新估计" if m == "staggered"
                             else "随机化推断在全部(或随机抽取的)同规模单位组合上重新估计")
                            + ",p 值为估计值绝对值不小于真实值的分配所占比例"}
    return f"稳健性检验均重新估计同一个量:{est}。" + ";".join(how[k] for k in r.checks) + "。"


def robustness_sentences(r) -> list[str]:
    x, ls, a = r.extra, r.extra["log_scale"], r.extra["alpha"]
    out = [f"用于稳健性检验的活动窗口平均效应:{_eff(x['actual'], ls)}(模型 p={x['p_value']:.3f})。"]
    for name, c in r.checks.items():
        row = c.summary_row
        if row["n"] == 0:
            out.append(f"{c.title_zh}:数据不足,未做。")
            continue
        if name in ("placebo_dates", "placebo_units"):
            out.append(f"{c.title_zh}:共 {row['n']} 次,{row['share_significant'] * 100:.0f}% 在 {a:.0%} 水平上显著"
                       f"(无真实效应时应约为 {a:.0%}),估计值范围 {_eff(row['min'], ls)} 至 {_eff(row['max'], ls)}。")
        elif name == "leave_one_out":
            out.append(f"{c.title_zh}:{row['n']} 次估计在 {_eff(row['min'], ls)} 至 {_eff(row['max'], ls)} 之间,"
                       + ("结论不依赖个别单位。" if (row["max"] < 0 or row["min"] > 0) else "个别单位会改变效应方向,需谨慎。"))
        elif name == "randomization":
            kind = "全部" if row.get("exact") else "随机抽取的"
            out.append(f"{c.title_zh}:在{kind} {row['n']} 种分配中,真实估计的随机化 p 值为 {row['p_value_ri']:.3f}"
                       f"(最小可能 p 值 {1 / row['n']:.3f})。")
    return out
