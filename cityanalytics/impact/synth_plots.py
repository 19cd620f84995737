"""Figures for a synthetic control: the gap with the placebo gaps behind it, or the two paths."""

from __future__ import annotations


from cityanalytics.impact.plots import PHASE_COLORS, _ax

# ADH 2010 (fig. 5-7): placebos fitted more than 5x worse than the treated unit are left out of the figure
PLOT_FIT_FACTOR = 5.0


def plot_synth(res, ax=None, kind: str = "gap"):
    ax = _ax(ax)
    o = res.options
    t = res.table
    x = t["period"]
    if kind == "path":
        ax.plot(x, t["observed"], color="black", lw=1.6, label=f"{o['treated']}(实际)")
        ax.plot(x, t["synthetic"], color="#d62728", lw=1.4, ls="--", label="合成对照")
        ax.set_ylabel(o["outcome_zh"])
    elif kind == "gap":
        inf = res.inference
        if inf:
            gaps = inf["placebo_gaps"]
            pl = inf["placebos"].set_index("unit")
            limit = PLOT_FIT_FACTOR * res.pre_rmspe**2
            first = True
            for unit in gaps.columns:
                if unit == o["treated"] or pl.at[unit, "pre_rmspe"] ** 2 > limit:
                    continue
                ax.plot(x, gaps[unit].to_numpy(), color="0.75", lw=0.7, label="安慰剂(对照单位)" if first else None)
                first = False
        ax.plot(x, t["gap"], color="black", lw=1.8, label=f"{o['treated']} − 合成对照")
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set_ylabel(f"差距({o['outcome_zh']})")
    else:
        raise ValueError(f"kind must be 'gap' or 'path', got {kind!r}")
    for i, (name, first, last) in enumerate(o.get("phases") or []):
        # to the start of the period after the phase's last one, so a one-period phase has a width
        later = x[x > last] if last is not None else x.iloc[0:0]
        last = later.iloc[0] if len(later) else x.iloc[-1]
        ax.axvspan(first, last, color=PHASE_COLORS[i % len(PHASE_COLORS)], alpha=0.5, lw=0, label=name, zorder=0)
    ax.axvline(o["start"], color="#d62728", lw=0.9, ls=":")
    ax.set_title("合成控制:" + ("差距与安慰剂" if kind == "gap" else "实际与合成路径"))
    ax.legend(loc="best", fontsize=8, frameon=False)
    return ax
