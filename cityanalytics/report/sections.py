"""The one module every report section is drawn through, whatever the analysis.

An analysis returns numbers (``result.table`` stays numeric); its report module picks what to
show and calls these to show it, so headings, sentence lists, method notes, absent sections,
tables and figures look and behave the same in every report:

    from cityanalytics.report import sections
    sections.heading("名次区间")
    sections.bullets(result.sentences)              # data text: escaped
    sections.table(frame, units={"覆盖率": "%"})   # report/tables.py: index hidden, numbers aligned
    sections.figure(result.plot())                  # shown once, then closed
    sections.result(result)                         # any result: sentences, its tidy table, its plot

Blank values and number formats live in ``cityanalytics.text`` (``BLANK``, ``fmt``, ``pct``,
``probability``, ``p_value``), so "—" means the same thing in every table.
"""

from __future__ import annotations

from IPython.display import Markdown, display

from cityanalytics.report.tables import show_table
from cityanalytics.text import md_escape

__all__ = ["heading", "markdown", "bullets", "paragraphs", "method", "note", "absent", "show", "table", "figure", "result"]


def heading(text: str, level: int = 2) -> None:
    """A section heading (data text: escaped)."""
    display(Markdown(f"{'#' * level} {md_escape(text)}"))


def markdown(text: str) -> None:
    """Markdown the caller wrote (anything from data in it must already be escaped)."""
    if text:
        display(Markdown(text))


def bullets(lines, escape: bool = True, loose: bool = False) -> None:
    """Sentences as a list; ``escape=False`` for lines that are already Markdown; ``loose``
    puts a blank line between items (each its own paragraph, for long sentences)."""
    lines = list(lines)
    if lines:
        sep = "\n\n" if loose else "\n"
        display(Markdown(sep.join(f"- {md_escape(x) if escape else x}" for x in lines)))


def paragraphs(lines) -> None:
    """Sentences (data text: escaped) as paragraphs, one each; empty ones left out."""
    markdown("\n\n".join(md_escape(x) for x in lines if x))


def method(text: str, label: str = "方法") -> None:
    """The small-print note on how a section was computed."""
    display(Markdown(f"<small>{md_escape(label)}:{md_escape(text)}</small>"))


def note(text: str) -> None:
    """A short paragraph of data text (escaped)."""
    display(Markdown(md_escape(text)))


def absent(title: str, why: str) -> None:
    """A section with nothing to show: one line saying why, instead of the section."""
    display(Markdown(f"**{md_escape(title)}**:本报告略去,{md_escape(why)}。"))


def show(obj) -> None:
    """An object that draws itself (``_repr_html_``), such as the page-1 summary."""
    display(obj)


def table(df, **kwargs) -> None:
    """A table as every report shows one (``report.tables.show_table``'s keywords); a Styler
    already made by ``show_table`` (e.g. with a row highlighted) is shown as it is."""
    from pandas.io.formats.style import Styler

    display(df if isinstance(df, Styler) else show_table(df, **kwargs))


def figure(obj) -> None:
    """Show a figure once and close it (a figure left open would print again at the cell's end).
    Takes a Figure, an Axes, or a result whose ``plot()`` returns one."""
    import matplotlib.pyplot as plt

    if hasattr(obj, "plot") and not hasattr(obj, "savefig") and not hasattr(obj, "figure"):
        obj = obj.plot()
    fig = obj if hasattr(obj, "savefig") else obj.figure
    display(fig)
    plt.close(fig)


def result(res, title: str | None = None, plot: bool = True) -> None:
    """Any analysis result, as pyfixest's ``etable`` shows any model: its heading, sentences,
    coefficient table (``tidy()``) or else its table, its plot and its specification."""
    if title:
        heading(title, 3)
    bullets(getattr(res, "sentences", []) or [])
    try:
        shown = res.tidy()
    except (AttributeError, NotImplementedError):
        shown = res.table
    table(shown)
    if plot:
        try:
            figure(res.plot())
        except NotImplementedError:
            pass
    spec = getattr(res, "spec", "")
    if spec:
        display(Markdown(f"<small>{md_escape(spec)}</small>"))
