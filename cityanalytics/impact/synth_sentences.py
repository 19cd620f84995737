"""Chinese summary and specification of a synthetic control result."""

from __future__ import annotations

import math

from cityanalytics.text import fmt, missing

TOP_DONORS = 5


def _g(x: float) -> str:
    """A number in the outcome's unit, three significant digits (whole numbers from 1000), signed."""
    return fmt(x, "+.3g" if missing(x) or abs(x) < 1000 else "+.0f")


def sentences(res) -> list[str]:
    o = res.options
    out_zh, treated = o["outcome_zh"], o["treated"]
    w = res.weights[res.weights["weight"] >= 0.005].head(TOP_DONORS)
    mix = "、".join(f"{d}({x:.0%})" for d, x in zip(w["donor"], w["weight"]))
    s = [f"合成控制:用 {len(o['donors'])} 个未开展活动的{o['unit_label']}加权合成「{treated}」的对照,"
         f"主要权重为 {mix};活动前拟合误差 RMSPE = {res.pre_rmspe:.3g}。",
         f"活动开始后「{treated}」的{out_zh}平均每期比合成对照 {_g(res.att)}"
         f"(累计 {_g(float(res.phases['sum_gap'].iloc[-1]))})。"]
    inf = res.inference
    if inf:
        p = inf["permutation"]
        s.append(f"空间安慰剂:把每个对照单位轮流当作处理单位,「{treated}」活动后/活动前 RMSPE 之比排第 "
                 f"{p['rank']}/{p['n']},置换 p = {p['p_value']:.3f}"
                 + ("(单位太少,p 值最小只能到 {:.3f})".format(1 / p["n"]) if p["n"] < 20 else "") + "。")
        sd = inf["sdid"]
        if math.isfinite(sd["se"]):
            s.append(f"合成双重差分(SDID)估计平均效应 {_g(sd['estimate'])},{sd['level']:.0%} 区间 "
                     f"{_g(sd['lo'])} 至 {_g(sd['hi'])}(安慰剂方差,{sd['replications']} 次);"
                     + ("区间不含 0,效应在统计上可辨。" if sd["lo"] > 0 or sd["hi"] < 0 else "区间含 0,不能排除没有效应。"))
        else:
            s.append(f"合成双重差分(SDID)估计平均效应 {_g(sd['estimate'])}(未计算安慰剂方差,没有区间)。")
        it = inf["in_time"]
        if it.get("available"):
            s.append(f"时间安慰剂:假设活动提前 {it['shift']} 期开始,假效应平均每期 {_g(it['att'])}"
                     f"(真实效应 {_g(res.att)})。")
        loo = inf["leave_one_out"]
        if len(loo):
            s.append(f"逐一剔除有权重的对照单位({len(loo)} 个),平均效应在 {_g(loo['att'].min())} 至 "
                     f"{_g(loo['att'].max())} 之间。")
    s += [str(x) for x in res.warnings]
    return s


def spec(res) -> str:
    o = res.options
    if o["predictors"] is None:
        how = "权重在单纯形上(非负、和为 1)最小化活动前各期结果的均方误差(预测变量即活动前结果路径,V 为单位阵)"
    else:
        how = (f"预测变量 {len(o['predictors'])} 个(按单位间标准差标准化),预测变量权重 V 按 Abadie-Diamond-Hainmueller "
               "嵌套优化选取(最小化活动前结果均方误差),对照权重在单纯形上求解")
    return (f"合成控制(Abadie, Diamond & Hainmueller 2010):{how};活动前 {o['t0']} 期,活动开始后 "
            f"{len(o['Y']) - o['t0']} 期。推断:空间安慰剂(RMSPE 比的秩)、时间安慰剂、逐一剔除对照;"
            "区间来自合成双重差分(Arkhangelsky 等 2021)的安慰剂方差。")
