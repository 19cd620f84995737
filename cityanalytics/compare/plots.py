"""Static matplotlib figures for the comparisons (labels from the registry and unit names).

Each function takes the AnalysisResult of its comparison and an optional ``ax``; the
results' ``.plot()`` call these. Call ``cityanalytics.plotting.use_cjk_font()`` first so
Chinese renders.
"""

from __future__ import annotations

import numpy as np

from cityanalytics.indicators.frame import CITY

FOCUS = "#d62728"
UNIT = "#1f77b4"
CITY_C = "#444444"


def _ax(ax, size=(7, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size, constrained_layout=True)
    return ax


def nothing_to_draw(ax, text: str):
    """An empty figure that says in one line why there is nothing to draw (never an error)."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, transform=ax.transAxes, wrap=True)
    return ax


def _axis_label(s) -> str:
    return f"{s.indicator.name_zh}({s.unit_label})"


def league_plot(result, ax=None):
    """Units as dots with their intervals, best at the top, the city as a vertical line."""
    t = result.table.dropna(subset=["value"]).iloc[::-1]
    s = result.extra["slice"]
    ax = _ax(ax, (7, 0.35 * len(t) + 1.2))
    if t.empty:
        return nothing_to_draw(ax, f"{s.indicator.name_zh}:{s.period} 各单位均无数值,无图可画。")
    y = np.arange(len(t))
    colors = [FOCUS if f else UNIT for f in t["focus"]]
    err = np.vstack([t["value"] - t["ci_low"], t["ci_high"] - t["value"]])
    err = np.clip(np.where(np.isnan(err), 0, err), 0, None)  # Wilson bounds can miss 100% by rounding
    ax.errorbar(t["value"], y, xerr=err, fmt="none", ecolor="#999999", elinewidth=1.2, capsize=2)
    ax.scatter(t["value"], y, c=colors, zorder=3, s=22)
    if s.city is not None and s.stat != "count":
        ax.axvline(float(s.city["value"]), color=CITY_C, linestyle="--", linewidth=1,
                   label=result.extra["names"].get(CITY, "全市"))
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_yticks(y, [f"{n}" for n in t["name"]])
    for label, f in zip(ax.get_yticklabels(), t["focus"]):
        if f:
            label.set_color(FOCUS)
            label.set_fontweight("bold")
    ax.set_xlabel(_axis_label(s))
    ax.set_title(f"{s.indicator.name_zh}({s.period},{s.level:.0%} 置信区间)", fontsize=10)
    return ax


def funnel_plot(result, ax=None):
    """Points against size with the control-limit curves; units outside the widest limit named."""
    t, c, s = result.table, result.extra["curves"], result.extra["slice"]
    levels = result.extra["levels"]
    ax = _ax(ax)
    keys = [f"lower_{lv * 100:g}".replace(".", "") for lv in levels]
    if t.empty or len(c) == 0 or any(k not in c for k in keys):
        return nothing_to_draw(ax, f"{s.indicator.name_zh}:{s.period} 没有可画的控制限或数据点。")
    styles = {0: ("--", "#888888"), 1: ("-", "#555555")}
    for i, lv in enumerate(levels):
        key = f"{lv * 100:g}".replace(".", "")
        ls, col = styles.get(i, (":", "#333333"))
        ax.plot(c["size"], c[f"lower_{key}"], ls, color=col, linewidth=1, label=f"{lv * 100:g}% 控制限")
        ax.plot(c["size"], c[f"upper_{key}"], ls, color=col, linewidth=1)
    ax.axhline(result.extra["theta"], color=CITY_C, linewidth=1, label=result.extra.get("centre_label", "全市"))
    colors = [FOCUS if f else (("#2ca02c" if b else "#d62728") if (w or b) else UNIT)
              for f, w, b in zip(t["focus"], t["worse"], t["better"])]
    ax.scatter(t["size"], t["value"], c=colors, zorder=3, s=24)
    widest = f"{levels[-1] * 100:g}".replace(".", "")
    for _, r in t.iterrows():
        if r["position"].endswith(widest) and r["position"] != "within" or r["focus"]:
            ax.annotate(r["name"], (r["size"], r["value"]), textcoords="offset points", xytext=(4, 3), fontsize=8)
    xlabel = result.extra.get("size_label") or {"proportion": "分母(件)", "rate": "常住人口(万人)", "mean": "观测数"}[s.stat]
    ax.set_xlabel(xlabel)
    ax.set_ylabel(_axis_label(s))
    od = {"multiplicative": ",乘性过度离散调整", "additive": ",加性随机效应调整"}.get(result.extra["overdispersion"], "")
    note = ",".join(x for x in (str(s.period), od.lstrip(",")) if x)  # funnel_ratio may have no period
    ax.set_title(f"{s.indicator.name_zh}漏斗图" + (f"({note})" if note else ""), fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return ax


def sensitivity_plot(result, ax=None):
    """Ranks of each unit (rows) under each weighting scenario (columns)."""
    r = result.extra["sensitivity"]
    ax = _ax(ax, (min(1.0 + 0.6 * r.shape[1], 14), 0.35 * r.shape[0] + 1.8))
    r = r.dropna(how="all")
    if r.empty or r.shape[1] == 0:
        return nothing_to_draw(ax, "没有单位得到综合名次,无图可画。")
    order = r["基准权重"].sort_values().index
    r = r.loc[order]
    im = ax.imshow(r.to_numpy(dtype=float), cmap="RdYlGn_r", aspect="auto")
    ax.set_yticks(range(len(r)), r.index)
    ax.set_xticks(range(r.shape[1]), r.columns, rotation=60, ha="right", fontsize=8)
    for i in range(r.shape[0]):
        for j in range(r.shape[1]):
            v = r.iat[i, j]
            if not np.isnan(v):
                ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=7)
    ax.set_title("不同权重下的综合排名", fontsize=10)
    ax.figure.colorbar(im, ax=ax, shrink=0.6, label="名次")
    return ax


def trend_plot(result, ax=None):
    """Each unit's series over the tested periods; the city thick; flagged units in red."""
    series, t = result.extra["series"], result.table
    s = result.extra["slice"]
    ax = _ax(ax)
    if series is None or len(series) == 0 or series["value"].notna().sum() == 0:
        return nothing_to_draw(ax, f"{s.indicator.name_zh}:近几期没有数值,无走势可画。")
    flagged = set(t.loc[t["flag"], "unit_id"])
    focus = set(t.loc[t["focus"], "unit_id"]) if "focus" in t else set()
    for uid, g in series.groupby("unit_id", sort=False):
        g = g.sort_values("score")
        x = [str(p) for p in g["period"]]
        if uid == CITY:
            ax.plot(x, g["value"], color=CITY_C, linewidth=2.5, label=g["name"].iloc[0], zorder=4)
        elif uid in focus:
            ax.plot(x, g["value"], color=FOCUS, linewidth=2, marker="o", label=g["name"].iloc[0], zorder=5)
        elif uid in flagged:
            ax.plot(x, g["value"], color="#ff7f0e", linewidth=1.5, marker="o", label=f"{g['name'].iloc[0]}(双差)")
        else:
            ax.plot(x, g["value"], color="#9ecae1", linewidth=1)
    ax.set_ylabel(_axis_label(s))
    ax.set_title(f"{s.indicator.name_zh}近 {len(result.extra['periods'])} 期走势", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return ax
