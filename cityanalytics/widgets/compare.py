"""Controls over the district comparison notebook: period, indicator, focus unit, confidence
level and composite weights.

    res = ca.compare.run(workspace, ...)
    ui = ca.widgets.explore(res)       # explore(res) here: from res.options
    ui.show()
    ui.section(compare.report.show_leagues)

What makes a change quick lives here, not in the analysis: the session keeps the loaded tables
and the indicator frame of every period and confidence level it computed, and the last
per-indicator comparisons (league tables, funnels, trends), which a change of only the weights
(the composite score and the lists) reuses.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import pandas as pd

from cityanalytics.widgets.explorer import LEVELS, Explorer, dropdown, nearest_level

COMPARISON_DEPENDS = {  # compare.report's sections -> the controls they depend on (others: all)
    "show_overview": ("period", "indicator"),
    "show_leagues": ("period", "indicator", "ci_level", "focus"),
    "show_funnels": ("period", "indicator", "focus"),
    "show_composite": ("period", "weight", "focus"),
    "show_trends": ("period", "indicator", "focus"),
    "show_lists": ("period", "indicator", "weight"),
    "show_targets": ("period", "ci_level", "focus"),
}


@dataclass
class ComparisonSession:
    """The bulletin the notebook computed, and the indicator frames of other report periods
    and confidence levels, each computed once (with the loaded tables kept). After a change,
    the months either side of the one shown are computed in a background thread
    (``prefetch``), so stepping through the months does not wait for them."""

    base: object  # Bulletin
    workspace: object  # a Workspace, or the path of one (a workspace folder or a folder of tables)
    months: int = 12  # report periods offered: the latest complete month and those before it
    frames: dict = field(default_factory=dict)  # (period, ci_level) -> Future of an IndicatorFrame
    tables: dict = field(default_factory=dict)  # loaded tables other than cases
    last: tuple | None = None  # (frame, period, per-indicator settings, IndicatorComparisons) of the last change
    _offered: list = field(default_factory=list, repr=False)
    _lock: object = field(default_factory=threading.Lock, repr=False)
    _pool: object = field(default=None, repr=False)

    def periods(self) -> list[str]:
        if not self._offered:
            from cityanalytics.compare.data import latest_complete_month, period_freq

            latest = self.base.period
            if period_freq(latest) == "M":  # quarters and years step by their own length
                latest = max(latest_complete_month(self.workspace), latest)
            self._offered = [str(latest - i) for i in range(self.months)]
        return self._offered

    def frame(self, period: pd.Period, ci_level: float) -> pd.DataFrame:
        """The frame ``build_bulletin`` would compute for this period and level: case figures are
        as of the period's end, so every period needs its own."""
        key = (period, ci_level)
        if key == self._base_key:
            return self.base.frame
        with self._lock:
            future, mine = self.frames.get(key), key not in self.frames
            if mine:
                future = self.frames[key] = Future()
        if mine:
            self._fill(future, key)
        return future.result()

    def prefetch(self, period: pd.Period, ci_level: float) -> None:
        """Start computing the frames of the months before and after ``period``."""
        for p in (period - 1, period + 1):
            key = (p, ci_level)
            with self._lock:
                if str(p) not in self.periods() or key in self.frames or key == self._base_key:
                    continue
                future = self.frames[key] = Future()
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cityanalytics-prefetch")
            self._pool.submit(self._fill, future, key)

    @property
    def _base_key(self) -> tuple:
        return self.base.period, float(self.base.frame.attrs.get("ci_level", 0.95))

    def comparisons(self, frame: pd.DataFrame, period: pd.Period, settings: dict):
        """League tables, funnels and trends for these settings: the last ones when only the
        weights or the list rule changed since (same frame, period and per-indicator settings)."""
        from cityanalytics.compare.bulletin import PER_INDICATOR, compare_indicators

        per_indicator = {k: settings[k] for k in PER_INDICATOR}
        if self.last is not None:
            frame0, period0, settings0, done = self.last
            if frame0 is frame and period0 == period and settings0 == per_indicator:
                return done
        done = compare_indicators(frame, self.base.level, period, **per_indicator)
        self.last = (frame, period, per_indicator, done)
        return done

    def _fill(self, future: Future, key: tuple) -> None:
        from cityanalytics.compare.data import compute

        b, s = self.base, self.base.settings
        indicators = list(dict.fromkeys([*b.indicators, *(s["weights"] or {})]))
        history = max(s["target_window"], s["trend_periods"], 2)
        try:
            future.set_result(compute(self.workspace, indicators, b.level, key[0], history=history, ci_level=key[1],
                                      tables=self.tables))
        except Exception as exc:  # raised where the frame is asked for
            future.set_exception(exc)


def comparison_controls(session: ComparisonSession) -> dict:
    import ipywidgets

    from cityanalytics.indicators.registry import get

    b = session.base
    level = float(b.frame.attrs.get("ci_level", 0.95))
    controls = {
        "period": dropdown("报告期", session.periods(), str(b.period), "160px"),
        # one indicator at a time answers in well under a second; all of them redraws ~19 figures
        "indicator": dropdown("指标", [(get(i).name_zh, i) for i in b.leagues] + [("全部指标(较慢)", "")],
                               next(iter(b.leagues), ""), "330px"),
        "focus": dropdown("重点单位", [("无", "")] + [(b.level.names.get(u, u), u) for u in b.level.units],
                           b.focus or "", "240px"),
        "ci_level": dropdown("置信水平", LEVELS, nearest_level(level), "150px"),
    }
    for ind, weight in (b.settings["weights"] or {}).items():
        controls[f"weight:{ind}"] = ipywidgets.FloatSlider(
            value=float(weight), min=0, max=100, step=5, description=f"权重·{get(ind).name_zh}",
            continuous_update=False, style={"description_width": "initial"}, layout=ipywidgets.Layout(width="330px"))
    return controls


def comparison_update(session: ComparisonSession, values: dict):
    """The bulletin for the chosen period, indicator, focus unit, confidence level and weights."""
    from cityanalytics.compare.bulletin import complete_bulletin
    from cityanalytics.compare.data import parse_period

    b = session.base
    s = dict(b.settings)
    options = {**b.options, "period": values["period"], "unit_id": values["focus"], "ci_level": values["ci_level"]}
    period = parse_period(values["period"])
    if values["indicator"]:
        s["indicators"] = options["indicators"] = [values["indicator"]]
    s["focus"] = values["focus"] or None
    weights = {k.split(":", 1)[1]: float(v) for k, v in values.items() if k.startswith("weight:")}
    if weights and weights != {k: float(v) for k, v in (s["weights"] or {}).items()}:
        s["weights"] = {k: v for k, v in weights.items() if v > 0} or None
        s["weights_label"] = "自定义权重"
        options.update(weights=s["weights"], weights_preset="")
    same = period == b.period
    frame = session.frame(period, float(values["ci_level"]))
    new = complete_bulletin(session.comparisons(frame, period, s), frame, b.level, period, s,
                            notes=b.notes if same else [], dropped=b.dropped,
                            unassigned=b.unassigned if same else (0, 0), source_tables=b.source_tables)
    new.options = options
    return new


def comparison_explorer(b, workspace=None, *, months: int = 12, interactive: bool | None = None) -> Explorer:
    """Controls over ``notebooks/district_comparison.ipynb``: period, indicator, focus unit,
    confidence level and composite weights. ``workspace``: default the bulletin's own
    (``b.options["workspace"]``).

    A report run shows every indicator; in JupyterLab the league, funnel and trend sections
    show the indicator chosen (the first to begin with; the overview keeps them all).
    """
    from cityanalytics.compare.data import parse_period
    from cityanalytics.workspace import open_workspace

    session = ComparisonSession(b, open_workspace(b.options["workspace"] if workspace is None else workspace), months)

    def prefetch(values: dict) -> None:
        session.prefetch(parse_period(values["period"]), float(values["ci_level"]))

    ex = Explorer(b, partial(comparison_controls, session), partial(comparison_update, session),
                  COMPARISON_DEPENDS, interactive, after=prefetch)
    if ex.interactive:
        ex.state = comparison_update(session, ex.values())
        prefetch(ex.values())
    return ex


def explore(result, *, interactive: bool | None = None) -> Explorer:
    """The explorer of a comparison (``compare.run``'s bulletin), over the workspace it was made
    from (``result.options["workspace"]``). ``interactive``: None decides by the kernel (a report
    run makes no widget and renders the default view)."""
    return comparison_explorer(result, interactive=interactive)
