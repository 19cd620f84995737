"""Warnings when a synthetic control is weak (codes for tests, Chinese messages for readers).

Thresholds are module constants so a reader can see what "poor" or "few" means:

- poor pre-period fit: the pre-period RMSPE is more than POOR_FIT_SD of the treated unit's own
  pre-period standard deviation (the fit explains less than 1 - 0.5^2 = 75% of its variation)
  and more than POOR_FIT_LEVEL of its mean level;
- outside the convex hull: in at least HULL_SHARE of the pre-periods the treated value is above
  every donor's or below every donor's, so no weighted average can follow it (Abadie 2021);
- one donor carries DOMINANT_WEIGHT or more of the weight: the "synthetic" place is one place;
- fewer than MIN_PRE pre-periods: weights fitted to a short path overfit noise (ADH 2015).
"""

from __future__ import annotations

import numpy as np

from cityanalytics.impact.warnings import DesignWarning

POOR_FIT_SD = 0.5
POOR_FIT_LEVEL = 0.05
HULL_SHARE = 0.2
DOMINANT_WEIGHT = 0.8
MIN_PRE = 8


def synth_warnings(res) -> list[DesignWarning]:
    o = res.options
    Y, treated, donors, t0 = o["Y"], o["treated"], o["donors"], o["t0"]
    pre = Y.iloc[:t0]
    y1 = pre[treated].to_numpy(float)
    Y0 = pre[donors].to_numpy(float)
    out = []
    sd = float(np.std(y1, ddof=1)) if t0 > 1 else 0.0
    level = float(np.mean(np.abs(y1)))
    if res.pre_rmspe > POOR_FIT_SD * sd and res.pre_rmspe > POOR_FIT_LEVEL * level:
        out.append(DesignWarning(
            "poor_fit",
            f"活动前拟合差:合成控制与实际值的均方根误差(RMSPE)为 {res.pre_rmspe:.3g},"
            f"超过实际值自身波动(标准差 {sd:.3g})的一半,活动后的差距不能可靠地归因于活动。"))
    above = y1 > Y0.max(axis=1)
    below = y1 < Y0.min(axis=1)
    share = float(np.mean(above | below))
    if share >= HULL_SHARE:
        side = "高于" if above.sum() >= below.sum() else "低于"
        out.append(DesignWarning(
            "outside_hull",
            f"处理单位在活动前 {int((above | below).sum())}/{t0} 期{side}所有对照单位,"
            "不在对照单位的凸包内,任何加权平均都难以复现其走势,合成控制可能有偏。"))
    top = res.weights.iloc[0]
    if top["weight"] >= DOMINANT_WEIGHT:
        out.append(DesignWarning(
            "dominant_donor",
            f"单个对照单位「{top['donor']}」占权重 {top['weight']:.0%},合成控制几乎就是该单位本身,"
            "结论依赖这一单位,请结合逐一剔除对照的结果阅读。"))
    if t0 < MIN_PRE:
        out.append(DesignWarning(
            "few_pre_periods",
            f"活动前仅有 {t0} 期数据(建议至少 {MIN_PRE} 期),权重可能拟合了噪声,效应估计不稳。"))
    return out
