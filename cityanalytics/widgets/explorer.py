"""The explorer: JupyterLab controls over an analysis notebook, and the same notebooks' static default view.

Each analysis notebook computes its result, then hands it to an explorer:

    ui = widgets.explore(result)   # the explorer for this kind of result
    ui.show()                      # the control bar (nothing in a report run)
    ui.section(report.show_leagues)  # one live output per report section

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
import time
from dataclasses import dataclass, field
from functools import partial
from html import escape
from pathlib import Path
from typing import Callable

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
        import ipywidgets

        if self.interactive is None:
            self.interactive = is_interactive()
        if not self.interactive:
            self.controls = {}
            return
        if callable(self.controls):
            self.controls = self.controls()
        self.status = ipywidgets.HTML(value='<span class="ca-status">调整上面的控件,下方图表随之更新。</span>')
        for name, widget in self.controls.items():
            widget.observe(partial(self._changed, name), names="value")

    def values(self) -> dict:
        return {name: widget.value for name, widget in self.controls.items()}

    def show(self) -> None:
        """The control bar and status line (nothing in a report run)."""
        if not self.interactive:
            return
        import ipywidgets
        from IPython.display import display

        bar = ipywidgets.Box(list(self.controls.values()), layout=ipywidgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        bar.add_class("ca-controls")  # the browser test finds the controls by this class
        display(ipywidgets.VBox([bar, self.status], layout=ipywidgets.Layout(border="1px solid #ddd", padding="4px")))

    def section(self, render: Callable) -> None:
        """Render one report section; in JupyterLab it re-renders when its controls change."""
        if not self.interactive:
            render(self.state)
            return
        import ipywidgets
        from IPython.display import display

        out = ipywidgets.Output()
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


def dropdown(label: str, options, value, width: str = "220px"):
    import ipywidgets

    return ipywidgets.Dropdown(options=options, value=value, description=label, style={"description_width": "initial"},
                      layout=ipywidgets.Layout(width=width))


def units_picker(label: str, names: dict, chosen, rows: int = 6):
    import ipywidgets

    return ipywidgets.SelectMultiple(options=[(f"{n}({u})", u) for u, n in names.items()], value=tuple(chosen),
                            description=label, rows=rows, style={"description_width": "initial"},
                            layout=ipywidgets.Layout(width="330px"))


def nearest_level(level: float) -> float:
    return min((v for _, v in LEVELS), key=lambda v: abs(v - level))
