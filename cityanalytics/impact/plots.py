"""Static matplotlib figures for the impact results (each takes the result and an optional ax)."""

from __future__ import annotations

import math

import numpy as np

PHASE_COLORS = ("#fde0c5", "#facba6", "#f8b58b", "#f59e72", "#f2855d")


def _ax(ax, figsize=(9, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def say_no_data(ax, message: str):
    """An empty panel that says why (thin data): the figure is drawn, never an exception."""
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, color="0.35", wrap=True,
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _finite(*arrays) -> np.ndarray:
    ok = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        ok &= np.isfinite(np.asarray(a, dtype=float))
    return ok


def shade_phases(ax, campaign, alpha: float = 0.6, until=None) -> None:
    """Phases shaded; a phase without a last day up to ``until`` (the last period drawn)."""
    for i, p in enumerate(campaign.phases):
        end = min(p.end, until) if until is not None else p.end
        ax.axvspan(p.start, end, color=PHASE_COLORS[i % len(PHASE_COLORS)], alpha=alpha, lw=0,
                   label=f"{p.name}")


def plot_its(result, ax=None, per_day: bool = True, zoom_days: int | None = 540):
    """Observed, fitted and counterfactual per period; campaign phases shaded.

    per_day: counts shown per day (so partial periods compare); zoom_days: show this many
    days either side of the campaign (None: everything).
    """
    ax = _ax(ax)
    s = result.series
    o = result.options
    camp = o["campaign"]
    if s is None or len(s) == 0 or not np.isfinite(np.asarray(s["observed"], dtype=float)).any():
        return say_no_data(ax, f"{camp.name_zh}:没有可画的观测值(数据不足)")
    count = o["family"] in ("poisson", "negbin")
    div = s["days"].to_numpy(dtype=float) if (count and per_day) else 1.0
    x = s["period"]
    shade_phases(ax, camp, until=s["period_end"].max())
    ax.plot(x, s["observed"] / div, color="0.55", lw=0.8, marker="." if len(s) < 200 else None, label="观测值")
    ax.plot(x, s["fitted"] / div, color="#1f77b4", lw=1.4, label="模型拟合")
    ax.plot(x, s["counterfactual"] / div, color="#d62728", lw=1.2, ls="--", label="反事实(无活动)")
    if zoom_days:
        import pandas as pd

        lo = camp.start - pd.Timedelta(days=zoom_days)
        hi = camp.end + pd.Timedelta(days=zoom_days)
        ax.set_xlim(max(lo, x.min()), min(hi, x.max()))
    unit = "件/日" if (count and per_day) else ("件/期" if count else "")
    ax.set_ylabel(f"{o['outcome_label']}{'(' + unit + ')' if unit else ''}")
    ax.set_title(f"{camp.name_zh}:中断时间序列")
    ax.legend(loc="best", fontsize=8, ncol=2)
    return ax


def plot_profile(result, ax=None):
    """Profile likelihood-ratio statistic over the half-life of the post-campaign decay."""
    from scipy import stats

    ax = _ax(ax, (6, 3.5))
    prof = result.profile
    if prof is None:
        return say_no_data(ax, "没有半衰期剖面:模型不含活动结束后的衰减项(或活动后数据不足)")
    keep = np.isfinite(prof.half_lives) & np.isfinite(prof.lr)
    if not keep.any():
        return say_no_data(ax, "半衰期剖面没有可画的值(数据不足)")
    h = prof.half_lives[keep]
    lr = prof.lr[keep]
    ax.plot(h, lr, marker="o", ms=3)
    ax.axhline(stats.chi2.ppf(prof.level, 1), color="0.5", ls="--", lw=1, label=f"{prof.level:.0%} 界限")
    ax.axhline(prof.lr[-1], color="#d62728", ls=":", lw=1, label="不衰减(半衰期=∞)")
    ax.set_xscale("log")
    ax.set_xlabel("半衰期(天)")
    ax.set_ylabel("似然比统计量")
    if math.isfinite(prof.best):
        ax.axvline(prof.best, color="#1f77b4", lw=1)
    ax.set_ylim(0, max(10.0, min(float(np.nanmax(lr)), 60.0)))
    ax.legend(fontsize=8)
    ax.set_title("活动结束后效应衰减:半衰期剖面")
    return ax


def plot_event_study(result, ax=None, others=None, labels=None):
    """Event-study coefficients with intervals; ``others``: more results drawn side by side
    (e.g. Callaway-Sant'Anna next to TWFE)."""
    ax = _ax(ax)
    series = [result] + list(others or [])
    names = labels or [getattr(r, "method_zh", "估计") for r in series]
    width = 0.8 / len(series)
    drawn = 0
    for k, (r, name) in enumerate(zip(series, names)):
        es = r.event_study
        if es is None or len(es) == 0:
            continue
        shift = (k - (len(series) - 1) / 2) * width
        pct = r.options.get("scale") == "pct"
        y, lo, hi = (es["pct"], es["pct_low"], es["pct_high"]) if pct else (es["coef"], es["ci_low"], es["ci_high"])
        ok = _finite(y, lo, hi) & (np.asarray(lo, dtype=float) <= np.asarray(y, dtype=float)) \
            & (np.asarray(y, dtype=float) <= np.asarray(hi, dtype=float))
        if not ok.any():
            continue
        x, y, lo, hi = (np.asarray(v, dtype=float)[ok] for v in (es["event_time"], y, lo, hi))
        ax.errorbar(x + shift, y, yerr=[y - lo, hi - y], fmt="o", ms=4, capsize=2, label=name)
        drawn += 1
    if not drawn:
        return say_no_data(ax, "事件研究:没有可画的区间(活动前后的期数或单位太少)")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.axhline(0, color="0.3", lw=0.8)
    ax.axvline(-0.5, color="0.5", ls="--", lw=0.8)
    unit = {"D": "日", "W": "周", "M": "月", "Q": "季度", "Y": "年"}.get(result.options.get("freq"), "期")
    ax.set_xlabel(f"相对活动开始的时间({unit})")
    ax.set_ylabel("效应(%)" if result.options.get("scale") == "pct" else "效应")
    ax.set_title("事件研究:活动前后各期效应(前置期检验平行趋势)")
    ax.legend(fontsize=8)
    return ax


def plot_staggered(result, ax=None):
    """Callaway-Sant'Anna event study next to the plain TWFE event study."""
    others = [result.twfe] if result.twfe is not None and len(result.twfe.event_study) else []
    return plot_event_study(result, ax=ax, others=others,
                            labels=["Callaway-Sant'Anna"] + (["普通双向固定效应"] if others else []))


def plot_did(result, ax=None):
    return plot_event_study(result, ax=ax)


def plot_placebo(result, ax=None):
    """Distribution of placebo estimates with the actual estimate marked."""
    ax = _ax(ax, (6, 3.5))
    t = result.placebos
    est = t["estimate"].to_numpy(dtype=float) if len(t) else np.zeros(0)
    est = est[np.isfinite(est)]
    if len(est) == 0:
        ax.set_title(result.title_zh)
        return say_no_data(ax, "数据不足,没有可画的估计值")
    ax.hist(est, bins=min(30, max(5, len(t) // 3)), color="0.7", edgecolor="0.4")
    if np.isfinite(result.actual):
        ax.axvline(result.actual, color="#d62728", lw=2, label="实际估计")
    ax.set_xlabel("估计效应(对数比)" if result.options.get("log_scale") else "估计效应")
    ax.set_ylabel("次数")
    ax.set_title(result.title_zh)
    ax.legend(fontsize=8)
    return ax
