"""Formatting numbers for Chinese report sentences ("97.1% (95% CI 96.8%-97.4%)"), and escaping
data text where it is written into Markdown or HTML (``md_escape``, ``html_escape``)."""

from __future__ import annotations

import html
import math
import re


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x, digits: int = 1) -> str:
    """A percentage already on the 0-100 scale: 97.06 -> '97.1%'."""
    return "—" if _missing(x) else f"{x:.{digits}f}%"


def num(x, digits: int = 0) -> str:
    """Thousands-separated number: 359830 -> '359,830'."""
    return "—" if _missing(x) else f"{x:,.{digits}f}"


def ci(low, high, level: float = 0.95, formatter=pct, digits: int = 1) -> str:
    """'(95% CI 96.8%-97.4%)'."""
    if _missing(low) and _missing(high):
        return ""
    return f"({level * 100:.0f}% CI {formatter(low, digits)}-{formatter(high, digits)})"


def points(diff, digits: int = 1) -> str:
    """Percentage-point difference in words: -1.2 -> '低于…1.2 个百分点' parts."""
    return f"{abs(diff):.{digits}f} 个百分点"


# --- data text into Markdown / HTML -------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def md_escape(value) -> str:
    """Data text (a unit, campaign or category name, a title, a parameter) made inert in Markdown.

    Every ASCII punctuation character gets a backslash (CommonMark lets any of them be
    escaped; the renderer shows the character itself), so links, images, autolinks
    (``https\\://``), raw HTML (``\\<svg``), entities (``\\&#x61;``), emphasis, code, tables
    and math stay text. Line breaks become spaces: a name cannot start a heading, list or
    link definition. NUL bytes are dropped. Chinese text and full-width punctuation are
    untouched. Not for code spans (backslashes show there): use it for running text.
    """
    text = "" if value is None else str(value)
    return _MD_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", text.replace("\x00", "")))


def html_escape(value) -> str:
    """Data text made inert in HTML text or a quoted attribute (``& < > " '``)."""
    return html.escape("" if value is None else str(value), quote=True)
