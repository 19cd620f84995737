"""Warnings when a design is weak: few pre-periods, one treated unit, few clusters, controls
that diverged before the campaign, a post period too short to see decay, single-unit cohorts.

Each warning has a stable ``code`` (for tests and filters) and a Chinese ``message`` for the
report. Thresholds are module constants so a reader can see what "few" means.
"""

from __future__ import annotations

from dataclasses import dataclass

# Minimum pre-campaign periods to estimate a trend and seasonality (ITS), per frequency.
ITS_MIN_PRE = {"D": 365, "W": 52, "M": 24, "Q": 8, "Y": 6}
# Minimum post-campaign days to say anything about persistence or decay.
MIN_POST_DAYS = 60
# DiD: fewer pre-periods than this and the parallel-trend test has little to go on.
DID_MIN_PRE = 4
# Fewer clusters than this and cluster-robust errors are unreliable (Cameron & Miller 2015).
FEW_CLUSTERS = 20
PRETREND_ALPHA = 0.05


@dataclass(frozen=True)
class DesignWarning:
    code: str
    message: str

    def __str__(self) -> str:
        return self.message


NO_INTERVAL = DesignWarning("no_interval", "数据太少(期数或单位不足以估计误差),部分效应没有区间,只能作描述,不能作推断。")


def its_warnings(diag: dict, campaign, opts: dict) -> list[DesignWarning]:
    out = [NO_INTERVAL] if diag.get("n_no_interval") else []
    freq = opts["freq"]
    need = ITS_MIN_PRE[freq]
    if diag["n_pre_periods"] < need:
        unit = {"D": "天", "W": "周", "M": "个月", "Q": "个季度", "Y": "年"}[freq]
        out.append(DesignWarning(
            "few_pre_periods",
            f"活动前仅有 {diag['n_pre_periods']} {unit}数据(建议至少 {need} {unit}),趋势和季节性估计不稳,效应可能有偏。"))
    if opts["post"] not in ("exclude", "open"):
        post_days = diag["n_post_periods"] * {"D": 1, "W": 7, "M": 30.4, "Q": 91.3, "Y": 365.25}[freq]
        if post_days < MIN_POST_DAYS:
            out.append(DesignWarning(
                "short_post",
                f"活动结束后仅约 {post_days:.0f} 天数据,无法可靠判断效应是否持续或回潮。"))
    if diag.get("persistent") and opts["post"] == "decay":
        pass  # a finding, said in the summary, not a weakness of the design
    if opts["family"] == "poisson" and diag["dispersion"] > 10:
        out.append(DesignWarning(
            "overdispersion",
            f"过度离散严重(φ={diag['dispersion']:.1f}),区间已用稳健标准误,但可考虑负二项模型或检查异常值。"))
    return out


def did_warnings(info: dict) -> list[DesignWarning]:
    """info: n_treated, n_control, n_clusters, n_pre, pretrend_p, pretrend_slope_p, freq, n_no_interval."""
    out = [NO_INTERVAL] if info.get("n_no_interval") else []
    if info["n_treated"] == 1:
        out.append(DesignWarning(
            "one_treated_unit",
            "只有 1 个处理单位:聚类稳健标准误不可靠,结论应以随机化推断和安慰剂检验为准。"))
    if info["n_control"] < 2:
        out.append(DesignWarning(
            "few_controls", f"对照单位仅 {info['n_control']} 个,反事实趋势几乎完全取决于个别单位。"))
    if info["n_clusters"] < FEW_CLUSTERS:
        out.append(DesignWarning(
            "few_clusters",
            f"单位(聚类)仅 {info['n_clusters']} 个,少于 {FEW_CLUSTERS}:聚类稳健区间已按有效聚类数用 t 分布计算,"
            "仍可能偏窄,请同时参考随机化推断 p 值。"))
    if info["n_pre"] < DID_MIN_PRE:
        out.append(DesignWarning(
            "few_pre_periods",
            f"活动前仅 {info['n_pre']} 期,平行趋势难以检验。"))
    p_joint, p_slope = info.get("pretrend_p"), info.get("pretrend_slope_p")
    bad = [p for p in (p_joint, p_slope) if p is not None and p == p and p < PRETREND_ALPHA]
    if bad:
        out.append(DesignWarning(
            "pretrend",
            f"活动前处理组与对照组走势已有差异(平行趋势检验 p={min(bad):.3f}<{PRETREND_ALPHA}):"
            "对照组可能不是合适的反事实,估计效应可能有偏。"))
    return out


def staggered_warnings(info: dict) -> list[DesignWarning]:
    """info: cohort_sizes (dict), n_never, control."""
    out = []
    singles = [g for g, n in info["cohort_sizes"].items() if n == 1]
    if singles:
        how = ("已改用逐一剔除单位的刀切法(jackknife)标准误,它把批次间差异也计入不确定性,区间偏保守"
               if info.get("se_method") == "jackknife" else "影响函数标准误只反映对照组的波动,区间偏窄")
        out.append(DesignWarning(
            "single_unit_cohorts",
            f"{len(singles)} 个推行批次只有 1 个单位:{how};请结合随机化推断判断。"))
    if info["n_never"] == 0 and info["control"] == "never":
        out.append(DesignWarning("no_never_treated", "没有从未推行的单位,无法以从未推行单位作对照。"))
    elif info["n_never"] < 2:
        out.append(DesignWarning(
            "few_never_treated",
            f"从未推行的单位仅 {info['n_never']} 个,推行较晚的批次主要依靠尚未推行的单位作对照。"))
    return out
