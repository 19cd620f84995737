"""Fan charts: observed coverage, the forecast median and its intervals, the target and deadline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cityanalytics.forecast.backtest import level_key
from cityanalytics.forecast.history import STATUS_ZH
from cityanalytics.indicators.frame import CITY
from cityanalytics.text import missing

HISTORY_MONTHS = 36  # months of history drawn before the forecast


def fan_chart(res, units=None, ax=None, ncols: int = 3, history_months: int = HISTORY_MONTHS, months_after_deadline=12):
    """One panel per unit (default: the city, then every unit); returns the figure.

    With ``ax`` (one Axes) draws a single unit, the first of ``units``.
    """
    import matplotlib.pyplot as plt

    table = res.table.set_index("unit_id")
    if units is None:  # the city first, then the units in the table's order
        units = sorted(table.index, key=lambda u: u != CITY)
    elif isinstance(units, str):
        units = [units]
    if ax is not None:
        _panel(ax, res, units[0], table, history_months, months_after_deadline)
        return ax.figure
    ncols = max(1, min(ncols, len(units)))
    nrows = math.ceil(len(units) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    for a, unit in zip(axes.ravel(), units):
        _panel(a, res, unit, table, history_months, months_after_deadline)
    for a in axes.ravel()[len(units):]:
        a.set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _x(periods) -> np.ndarray:
    return pd.PeriodIndex(periods, freq="M").to_timestamp(how="end").to_numpy()


def _panel(ax, res, unit, table, history_months, months_after_deadline):
    fan = res.fan[res.fan["unit_id"] == unit]
    row = table.loc[unit]
    obs = fan[fan["kind"] == "observed"]
    fc = fan[fan["kind"] == "forecast"]
    as_of = None if missing(row["as_of"]) else row["as_of"]
    if as_of is not None and len(obs):
        obs = obs[pd.PeriodIndex(obs["period"], freq="M") > as_of - history_months]
    deadline = None if missing(row["deadline"]) else row["deadline"]
    if len(fc) and deadline is not None:
        last = max(deadline + months_after_deadline, as_of + 6) if as_of is not None else deadline
        fc = fc[pd.PeriodIndex(fc["period"], freq="M") <= last]
    shades = {lv: 0.18 + 0.22 * i for i, lv in enumerate(sorted(res.levels, reverse=True))}
    if len(fc):
        x = _x(fc["period"])
        if len(obs):  # join the fan to the last observed month
            x0 = _x(obs["period"].iloc[-1:])
            x = np.concatenate([x0, x])
        for lv in sorted(res.levels, reverse=True):
            k = level_key(lv)
            lo, hi = fc[f"lo{k}"].to_numpy(), fc[f"hi{k}"].to_numpy()
            if len(obs):
                v0 = obs["value"].iloc[-1]
                lo, hi = np.concatenate([[v0], lo]), np.concatenate([[v0], hi])
            ax.fill_between(x, lo, hi, color="tab:blue", alpha=shades[lv], lw=0, label=f"{k}%预测区间")
        med = fc["value"].to_numpy()
        if len(obs):
            med = np.concatenate([[obs["value"].iloc[-1]], med])
        ax.plot(x, med, color="tab:blue", lw=1.5, ls="--", label="预测中位数")
    if len(obs):
        ax.plot(_x(obs["period"]), obs["value"], color="black", lw=1.6, label="实际")
    if not math.isnan(row["target"]):
        ax.axhline(row["target"], color="tab:red", lw=1, ls=":", label=f"目标{row['target']:g}%")
    if deadline is not None:
        ax.axvline(_x([deadline])[0], color="tab:red", lw=0.8, alpha=0.6)
    p = row["p_reach"]
    title = str(row["unit_name"])
    if isinstance(p, float) and not math.isnan(p):
        title += f"  达标概率{100 * p:.0f}%"
    elif row["status"] != "ok":
        title += f"  ({STATUS_ZH[row['status']]})"
    ax.set_title(title, fontsize=10)
    lows = [obs["value"].min() if len(obs) else 100]
    if len(fc):
        k = level_key(max(res.levels))
        lows.append(np.nanmin(fc[f"lo{k}"].to_numpy()))
    low = float(np.nanmin(lows)) if len(lows) else 0
    ax.set_ylim(max(0, min(low, row["target"] if not math.isnan(row["target"]) else 100) - 5), 101)
    ax.set_ylabel("覆盖率(%)", fontsize=9)
    ax.tick_params(labelsize=8)
    for label in ax.get_xticklabels():
        label.set_rotation(30)


def scoring_chart(scored: pd.DataFrame, observed: pd.DataFrame, units=None, ncols: int = 3, max_panels: int = 12):
    """Earlier forecasts against what happened: per unit, each earlier origin's median and
    intervals over the months since observed, and the observed coverage. ``scored`` is
    ``scoring.score(...)``, ``observed`` is ``unit_id, period, value``; returns the figure."""
    import matplotlib.pyplot as plt

    from cityanalytics.forecast.scoring import level_keys

    names = dict(zip(scored["unit_id"], scored["unit_name"]))
    if units is None:
        units = sorted(names, key=lambda u: (u != CITY, str(names[u])))[:max_panels]
    keys = level_keys(scored)
    ncols = max(1, min(ncols, len(units)))
    nrows = math.ceil(len(units) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    obs_all = observed.assign(unit_id=observed["unit_id"].astype(str), period=observed["period"].astype(str))
    for ax, unit in zip(axes.ravel(), units):
        rows = scored[scored["unit_id"] == unit]
        obs = obs_all[obs_all["unit_id"] == unit].set_index("period")["value"]
        first = pd.Period(rows["origin"].min(), freq="M")
        last = pd.Period(rows["target_month"].max(), freq="M")
        obs = obs[[first - 3 <= pd.Period(p, freq="M") <= last for p in obs.index]]
        for origin, g in rows.sort_values("target_month").groupby("origin"):
            start = obs.get(origin)  # the fan starts at the value observed at its origin
            x = _x(([origin] if start is not None else []) + list(g["target_month"]))
            for j, k in enumerate(reversed(keys)):
                lo, hi = g[f"lo{k}"].to_numpy(), g[f"hi{k}"].to_numpy()
                if start is not None:
                    lo, hi = np.concatenate([[start], lo]), np.concatenate([[start], hi])
                ax.fill_between(x, lo, hi, color="tab:blue", alpha=0.06 + 0.06 * j, lw=0,
                                label=f"此前各期{k}%预测区间")
            med = g["point"].to_numpy()
            if start is not None:
                med = np.concatenate([[start], med])
            ax.plot(x, med, color="tab:blue", lw=0.8, ls="--", alpha=0.7, label="此前各期预测中位数")
        ax.plot(_x(list(obs.index)), obs.to_numpy(), color="black", lw=1.6, marker="o", ms=2.5, label="实际")
        outside = rows[~rows[f"in{keys[-1]}"]] if keys else rows.iloc[0:0]
        if len(outside):
            ax.scatter(_x(list(outside["target_month"])), outside["observed"], color="tab:red", marker="x", s=22,
                       zorder=5, label=f"实际值落在{keys[-1]}%区间外")
        hit = f"  {keys[0]}%区间命中{int(rows[f'in{keys[0]}'].sum())}/{len(rows)}" if keys else ""
        ax.set_title(f"{names[unit]}{hit}", fontsize=10)
        ax.set_ylabel("覆盖率(%)", fontsize=9)
        ax.tick_params(labelsize=8)
        for label in ax.get_xticklabels():
            label.set_rotation(30)
    for a in axes.ravel()[len(units):]:
        a.set_visible(False)
    handles, labels = [], []
    for a in axes.ravel()[:len(units)]:  # one legend entry per label, from whichever panel has it
        for h, lab in zip(*a.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.1 if len(labels) > 3 else 0.06, 1, 1))
    return fig
