"""JupyterLab controls over the analysis notebooks, and the same notebooks' static default view.

Each analysis notebook computes its result as before, then hands it to an explorer:

    ui = widgets.comparison_explorer(b, workspace)  # notebooks/district_comparison.ipynb
    ui.show()                                        # the control bar (nothing in a report run)
    ui.section(report.leagues)                       # one live output per report section

In JupyterLab a change of a control recomputes the result with the ``*_update`` function of
the notebook (a plain function of a session, which caches what was loaded, and the control
values) and re-renders, in place, the sections that depend on that control; a status line
says "计算中" while it works and how long the change took. In a report run (the report runner
sets ``CITYANALYTICS_REPORT=1``) or outside a kernel no widget is made: ``section`` renders
the default view as ordinary outputs, so the HTML and PDF carry no widget state to miss.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from html import escape
from pathlib import Path
from typing import Callable

import pandas as pd

STATES, RENDERED = 8, 64  # views kept for going back (a rendered section is at most a few MB)
PREVIEW_DPI = 72  # figures while exploring; reports keep the inline backend's format
BUSY = '<span class="ca-status ca-busy" style="color:#b36b00">⏳ 计算中……</span>'
LEVELS = [("90%", 0.90), ("95%", 0.95), ("99%", 0.99)]


def is_interactive() -> bool:
    """True in a Jupyter kernel with a live front end, False in a report run.

    A report run is told by ``CITYANALYTICS_REPORT=1``, which the report runner sets (set it
    too when running a notebook with papermill or nbconvert yourself; on Linux a kernel
    started by the ``papermill`` command is recognised without it). ``CITYANALYTICS_REPORT=0``
    forces widgets on.
    """
    flag = os.environ.get("CITYANALYTICS_REPORT")
    if flag in ("0", "1"):
        return flag == "0"
    from IPython import get_ipython

    if getattr(get_ipython(), "kernel", None) is None:
        return False
    try:  # the papermill command starts the kernel as its child
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
    except OSError:
        return True
    return b"papermill" not in parent


def project_cwd() -> Path:
    """Work from the project root: JupyterLab starts a kernel in ``notebooks/``, while the
    notebooks' paths (``data/demo``) are relative to the root, as in a report run."""
    here = Path.cwd()
    if here.name == "notebooks" and (here.parent / "pyproject.toml").is_file():
        os.chdir(here.parent)
    return Path.cwd()


def capture(render: Callable, state) -> tuple[dict, ...]:
    """What ``render(state)`` displays, as notebook outputs for an ``Output`` widget.

    Figures are encoded as previews (``PREVIEW_DPI``, no second layout pass for a tight
    bounding box), which is most of what makes a change quick; figures left open (a backend
    without inline display) are shown and closed too.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display
    from IPython.utils.capture import capture_output

    with capture_output() as cap, _preview_figures():
        render(state)
        for num in plt.get_fignums():
            fig = plt.figure(num)
            display(fig)
            plt.close(fig)
    outputs = [{"output_type": "stream", "name": "stdout", "text": cap.stdout}] if cap.stdout else []
    outputs += [{"output_type": "display_data", "data": o.data, "metadata": o.metadata or {}}
                for o in cap.outputs]
    return tuple(outputs)


def _png(fig, dpi: int = PREVIEW_DPI) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@contextlib.contextmanager
def _preview_figures():
    """While capturing, figures display as quick PNG previews (the report keeps its own format)."""
    from IPython import get_ipython
    from matplotlib.figure import Figure

    shell = get_ipython()
    if shell is None:
        yield
        return
    png = shell.display_formatter.formatters["image/png"]
    previous = png.for_type(Figure, _png)
    try:
        yield
    finally:
        if previous is None:
            png.pop(Figure, None)
        else:
            png.for_type(Figure, previous)


def _remember(cache: dict, key, value, size: int):
    """Keep ``value`` as the newest entry of ``cache``, dropping the oldest beyond ``size``."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > size:
        cache.pop(next(iter(cache)))
    return value


def _key(values: dict) -> tuple:
    return tuple(sorted(values.items()))


@dataclass
class _Section:
    render: Callable
    depends: frozenset
    output: object


@dataclass
class Explorer:
    """Controls, a status line and live sections over one analysis result.

    controls: name -> widget, or a function making them (called only when interactive).
    update: control values -> new state. depends: render function name -> the control names
    its section depends on (a name ``weight:x`` counts as ``weight``); sections not listed
    depend on every control. after: called with the values once a change is shown (e.g. to
    prepare what the next change will likely need).
    """

    state: object
    controls: dict | Callable[[], dict]
    update: Callable[[dict], object]
    depends: dict = field(default_factory=dict)
    interactive: bool | None = None
    after: Callable[[dict], None] | None = None
    sections: list = field(default_factory=list)
    timings: list = field(default_factory=list)  # (control, seconds) for every change
    # results and rendered sections by control values: going back to a view seen before is instant
    states: dict = field(default_factory=dict, repr=False)
    rendered: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        import ipywidgets as W

        if self.interactive is None:
            self.interactive = is_interactive()
        if not self.interactive:
            self.controls = {}
            return
        if callable(self.controls):
            self.controls = self.controls()
        self.status = W.HTML(value='<span class="ca-status">调整上面的控件,下方图表随之更新。</span>')
        for name, widget in self.controls.items():
            widget.observe(partial(self._changed, name), names="value")

    def values(self) -> dict:
        return {name: widget.value for name, widget in self.controls.items()}

    def show(self) -> None:
        """The control bar and status line (nothing in a report run)."""
        if not self.interactive:
            return
        import ipywidgets as W
        from IPython.display import display

        bar = W.Box(list(self.controls.values()), layout=W.Layout(flex_flow="row wrap", align_items="flex-start"))
        bar.add_class("ca-controls")  # the browser test finds the controls by this class
        display(W.VBox([bar, self.status], layout=W.Layout(border="1px solid #ddd", padding="4px")))

    def section(self, render: Callable) -> None:
        """Render one report section; in JupyterLab it re-renders when its controls change."""
        if not self.interactive:
            render(self.state)
            return
        import ipywidgets as W
        from IPython.display import display

        out = W.Output()
        key = _key(self.values())
        self.states.setdefault(key, self.state)
        out.outputs = _remember(self.rendered, (len(self.sections), key), capture(render, self.state), RENDERED)
        depends = frozenset(self.depends.get(getattr(render, "__name__", ""), ()))
        self.sections.append(_Section(render, depends, out))
        display(out)

    def _changed(self, name: str, change) -> None:
        self.refresh(name)

    def refresh(self, changed: str) -> float | None:
        """Recompute after a change of control ``changed`` and re-render what depends on it;
        returns the seconds it took (None when the update failed; the old outputs stay)."""
        started = time.perf_counter()
        self.status.value = BUSY
        for widget in self.controls.values():
            widget.disabled = True
        try:
            values = self.values()
            key = _key(values)
            state = self.states[key] if key in self.states else self.update(values)
            self.state = _remember(self.states, key, state, STATES)
            group = changed.split(":")[0]
            for i, s in enumerate(self.sections):
                if not s.depends or group in s.depends:
                    outputs = self.rendered.get((i, key)) or capture(s.render, state)
                    s.output.outputs = _remember(self.rendered, (i, key), outputs, RENDERED)
                else:  # unchanged, and so right for these values too
                    _remember(self.rendered, (i, key), s.output.outputs, RENDERED)
        except Exception as exc:  # shown to the researcher; the previous view stays
            self.status.value = (f'<span class="ca-status ca-error" style="color:#b00">未能更新:'
                                 f'{escape(type(exc).__name__)}: {escape(str(exc))}</span>')
            return None
        finally:
            for widget in self.controls.values():
                widget.disabled = False
        seconds = time.perf_counter() - started
        self.timings.append((changed, seconds))
        label = getattr(self.controls[changed], "description", changed)
        self.status.value = (f'<span class="ca-status ca-done" data-seconds="{seconds:.3f}">'
                             f'✓ 已按“{escape(label)}”更新,用时 {seconds:.2f} 秒</span>')
        if self.after is not None:
            self.after(values)
        return seconds


def _dropdown(label: str, options, value, width: str = "220px"):
    import ipywidgets as W

    return W.Dropdown(options=options, value=value, description=label, style={"description_width": "initial"},
                      layout=W.Layout(width=width))


def _units_picker(label: str, names: dict, chosen, rows: int = 6):
    import ipywidgets as W

    return W.SelectMultiple(options=[(f"{n}({u})", u) for u, n in names.items()], value=tuple(chosen),
                            description=label, rows=rows, style={"description_width": "initial"},
                            layout=W.Layout(width="330px"))


def _nearest_level(level: float) -> float:
    return min((v for _, v in LEVELS), key=lambda v: abs(v - level))


# --- district comparison -------------------------------------------------------------------

COMPARISON_DEPENDS = {
    "overview": ("period", "indicator"),
    "leagues": ("period", "indicator", "ci_level", "focus"),
    "funnels": ("period", "indicator", "focus"),
    "composite": ("period", "weight", "focus"),
    "trends": ("period", "indicator", "focus"),
    "lists": ("period", "indicator", "weight"),
    "targets": ("period", "ci_level", "focus"),
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
    last: object = None  # the latest bulletin, whose comparisons a weights-only change reuses
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
    import ipywidgets as W

    from cityanalytics.indicators.registry import get

    b = session.base
    level = float(b.frame.attrs.get("ci_level", 0.95))
    controls = {
        "period": _dropdown("报告期", session.periods(), str(b.period), "160px"),
        # one indicator at a time answers in well under a second; all of them redraws ~19 figures
        "indicator": _dropdown("指标", [(get(i).name_zh, i) for i in b.leagues] + [("全部指标(较慢)", "")],
                               next(iter(b.leagues), ""), "330px"),
        "focus": _dropdown("重点单位", [("无", "")] + [(b.level.names.get(u, u), u) for u in b.level.units],
                           b.focus or "", "240px"),
        "ci_level": _dropdown("置信水平", LEVELS, _nearest_level(level), "150px"),
    }
    for ind, weight in (b.settings["weights"] or {}).items():
        controls[f"weight:{ind}"] = W.FloatSlider(
            value=float(weight), min=0, max=100, step=5, description=f"权重·{get(ind).name_zh}",
            continuous_update=False, style={"description_width": "initial"}, layout=W.Layout(width="330px"))
    return controls


def comparison_update(session: ComparisonSession, values: dict):
    """The bulletin for the chosen period, indicator, focus unit, confidence level and weights."""
    from cityanalytics.compare.bulletin import assemble_bulletin

    b = session.base
    s = dict(b.settings)
    from cityanalytics.compare.data import parse_period

    period = parse_period(values["period"])
    if values["indicator"]:
        s["indicators"] = [values["indicator"]]
    s["focus"] = values["focus"] or None
    weights = {k.split(":", 1)[1]: float(v) for k, v in values.items() if k.startswith("weight:")}
    if weights and weights != {k: float(v) for k, v in (s["weights"] or {}).items()}:
        s["weights"] = {k: v for k, v in weights.items() if v > 0} or None
        s["weights_label"] = "自定义权重"
    notes = b.notes if period == b.period else []
    frame = session.frame(period, float(values["ci_level"]))
    session.last = assemble_bulletin(frame, b.level, period, notes=notes, reuse=session.last, **s)
    return session.last


def comparison_explorer(b, workspace, *, months: int = 12, interactive: bool | None = None) -> Explorer:
    """Controls over ``notebooks/district_comparison.ipynb``: period, indicator, focus unit,
    confidence level and composite weights.

    A report run shows every indicator; in JupyterLab the league, funnel and trend sections
    show the indicator chosen (the first to begin with; the overview keeps them all).
    """
    from cityanalytics.compare.data import parse_period

    from cityanalytics.workspace import open_workspace

    session = ComparisonSession(b, open_workspace(workspace), months)

    def prefetch(values: dict) -> None:
        session.prefetch(parse_period(values["period"]), float(values["ci_level"]))

    ex = Explorer(b, partial(comparison_controls, session), partial(comparison_update, session),
                  COMPARISON_DEPENDS, interactive, after=prefetch)
    if ex.interactive:
        ex.state = comparison_update(session, ex.values())
        prefetch(ex.values())
    return ex


# --- sorting coverage forecast -------------------------------------------------------------

FORECAST_LEVELS = [("80% 与 95%", (0.8, 0.95)), ("50% 与 80%", (0.5, 0.8)), ("90% 与 99%", (0.9, 0.99))]
FORECAST_DEPENDS = {"show_backtest": ("units", "model", "levels")}


@dataclass
class ForecastSession:
    """The notebook's forecast, whose series and target the explorer refits from."""

    base: object  # ForecastResult
    models: tuple
    n_paths: int
    backtest_origins: int
    seed: int


def _deadline_options(base) -> list[str]:
    last_year = base.series.months[-1].year
    dates = {f"{y}-12-31" for y in range(last_year, last_year + 4)}
    if base.target is not None:
        dates.add(str(pd.Timestamp(base.target.deadline).date()))
    return sorted(dates)


def forecast_controls(session: ForecastSession) -> dict:
    import ipywidgets as W

    from cityanalytics.forecast.models import LABELS_ZH
    from cityanalytics.indicators.frame import CITY

    res = session.base
    names = {u: n for u, n in zip(res.table["unit_id"], res.table["unit_name"]) if u != CITY}
    levels = tuple(res.levels)
    options = FORECAST_LEVELS if levels in [v for _, v in FORECAST_LEVELS] else \
        [(" 与 ".join(f"{round(100 * x)}%" for x in levels), levels)] + FORECAST_LEVELS
    controls = {
        "model": _dropdown("模型", [("按回测自动选择", "auto")] + [(LABELS_ZH.get(m, m), m) for m in session.models],
                           "auto", "260px"),
        "levels": _dropdown("预测区间", options, levels, "200px"),
    }
    if res.target is not None and res.target.kind == "share":
        controls["target_value"] = W.FloatSlider(value=float(res.target.value), min=50, max=100, step=0.5,
                                                 description="目标值(%)", continuous_update=False,
                                                 style={"description_width": "initial"})
        controls["deadline"] = _dropdown("期限", _deadline_options(res),
                                         str(pd.Timestamp(res.target.deadline).date()), "200px")
    controls["units"] = _units_picker("单位", names, names)  # last: the tall list goes to the end of the bar
    return controls


def forecast_update(session: ForecastSession, values: dict):
    """Refit for the chosen units, model, interval levels and target value and deadline."""
    from cityanalytics.forecast.api import forecast_coverage
    from cityanalytics.indicators.frame import CITY

    base = session.base
    target = base.target
    if target is not None and "target_value" in values:
        value, deadline = float(values["target_value"]), values["deadline"]
        if (value, deadline) != (float(target.value), str(pd.Timestamp(target.deadline).date())):
            target = replace(target, value=value, deadline=deadline, target_id=None,
                             label=f"自定义目标:{deadline} 前达到 {value:g}%")
    models = session.models if values["model"] == "auto" else (values["model"],)
    units = [*values["units"], CITY] if CITY in base.series.unit_ids else list(values["units"])
    if not units:
        raise ValueError("请至少选择一个单位")  # a series without a city row
    return forecast_coverage(base.series, target, models=models, levels=values["levels"], n_paths=session.n_paths,
                             backtest_origins=session.backtest_origins, seed=session.seed, units=units)


def forecast_explorer(res, *, models, n_paths: int, backtest_origins: int, seed: int,
                      interactive: bool | None = None) -> Explorer:
    """Controls over ``notebooks/sorting_forecast.ipynb``: units, model, interval levels, target."""
    session = ForecastSession(res, tuple(models), n_paths, backtest_origins, seed)
    return Explorer(res, partial(forecast_controls, session), partial(forecast_update, session), FORECAST_DEPENDS,
                    interactive)


# --- campaign impact -----------------------------------------------------------------------

IMPACT_FAMILIES = [("泊松", "poisson"), ("负二项", "negbin")]
IMPACT_POST = [("指数衰减", "decay"), ("持续不变", "level"), ("不用活动后数据", "exclude")]
IMPACT_DID = [("泊松(PPML)", "poisson"), ("对数案件率(OLS)", "ols")]
IMPACT_CONTROL_GROUPS = [("从未及尚未推行", "notyet"), ("仅从未推行", "never")]


@dataclass
class ImpactSession:
    """The notebook's report and the keywords it was made with (its loaded tables are reused)."""

    base: object  # CampaignReport
    kwargs: dict  # analyse()'s keywords as the notebook called it


def impact_controls(session: ImpactSession) -> dict:
    import ipywidgets as W

    rep, kw = session.base, session.kwargs
    camp = rep.campaign
    units = sorted(set(rep.panel["unit_id"].astype(str)))
    controls = {}
    if not camp.staggered:
        controls["window_start"] = W.DatePicker(value=camp.start.date(), description="活动开始",
                                                style={"description_width": "initial"})
        controls["window_end"] = W.DatePicker(value=camp.end.date(), description="活动结束",
                                              style={"description_width": "initial"})
        controls["family"] = _dropdown("计数模型", IMPACT_FAMILIES, kw.get("family", "poisson"), "190px")
        controls["post"] = _dropdown("活动后", IMPACT_POST, kw.get("post", "decay"), "210px")
        controls["did_model"] = _dropdown("双重差分", IMPACT_DID, kw.get("did_model", "poisson"), "240px")
    else:  # a staggered roll-out: Callaway-Sant'Anna, whose choice is the comparison group
        controls["control_group"] = _dropdown("对照组", IMPACT_CONTROL_GROUPS, kw.get("control_group", "notyet"),
                                              "260px")
    controls["level"] = _dropdown("置信水平", LEVELS, _nearest_level(kw.get("level", 0.95)), "150px")
    controls["robustness"] = W.Checkbox(value=False, description="随设定重算稳健性检验(较慢,约 10 秒以上)",
                                        indent=False, layout=W.Layout(width="330px"))
    controls["units"] = _units_picker("覆盖单位", {u: rep.names.get(u, u) for u in units}, camp.units)
    return controls


def impact_update(session: ImpactSession, values: dict):
    """Refit ITS and DiD for the chosen window, treated units, models and confidence level.
    The robustness checks are rerun only when asked (they refit the model hundreds of times);
    otherwise the report keeps the notebook's and says so."""
    from cityanalytics.impact.report import analyse

    base, kw = session.base, dict(session.kwargs)
    camp = base.campaign
    if not values["units"]:
        raise ValueError("请至少选择一个覆盖单位")
    window = None
    if "window_start" in values:
        start, end = pd.Timestamp(values["window_start"]), pd.Timestamp(values["window_end"])
        if (start, end) != (camp.start, camp.end):
            window = (start, end)
    kw.update({k: values[k] for k in ("family", "post", "did_model", "control_group") if k in values})
    kw.update(level=float(values["level"]), window=window)
    if tuple(values["units"]) != tuple(camp.units):
        kw["treated_units"] = list(values["units"])
    if not values["robustness"]:
        kw["robustness_checks"] = []
    rep = analyse(tables=base.tables, **kw)
    if not values["robustness"]:
        rep.robustness = base.robustness
        if base.robustness is not None:
            rep.notes.append("稳健性检验仍是笔记本初始设定的结果;勾选“随设定重算稳健性检验”可按当前设定重算。")
    return rep


def impact_explorer(rep, *, interactive: bool | None = None, **kwargs) -> Explorer:
    """Controls over ``notebooks/campaign_impact.ipynb``: campaign window, treated units, count
    and DiD models, confidence level, and whether to rerun the robustness checks.

    kwargs: the keywords the notebook passed to ``impact.report.analyse``."""
    session = ImpactSession(rep, kwargs)
    return Explorer(rep, partial(impact_controls, session), partial(impact_update, session), {}, interactive)
