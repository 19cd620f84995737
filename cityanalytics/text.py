"""Formatting numbers for Chinese report sentences ("97.1% (95% CI 96.8%-97.4%)"), and escaping
data text where it is written into Markdown or HTML (``md_escape``, ``html_escape``)."""

from __future__ import annotations

import html
import re

import pandas as pd


BLANK = "—"  # what a report shows for a value that is missing or cannot be estimated


def missing(x) -> bool:
    """None, NaN (float or numpy), pandas' NA or NaT."""
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    try:
        return bool(x != x)  # NaN is the one value unequal to itself
    except (TypeError, ValueError):
        return False


def pct(x, digits: int = 1) -> str:
    """A percentage already on the 0-100 scale: 97.06 -> '97.1%'."""
    return BLANK if missing(x) else f"{x:.{digits}f}%"


def num(x, digits: int = 0) -> str:
    """Thousands-separated number: 359830 -> '359,830'."""
    return BLANK if missing(x) else f"{x:,.{digits}f}"


def ci(low, high, level: float = 0.95, formatter=pct, digits: int = 1) -> str:
    """'(95% CI 96.8%-97.4%)'."""
    if missing(low) and missing(high):
        return ""
    return f"({level * 100:.0f}% CI {formatter(low, digits)}-{formatter(high, digits)})"


def points(diff, digits: int = 1) -> str:
    """Percentage-point difference in words: -1.2 -> '低于…1.2 个百分点' parts."""
    return f"{abs(diff):.{digits}f} 个百分点"


def fmt(x, spec: str = ",.1f", suffix: str = "") -> str:
    """Any number by a format spec, or the blank mark: fmt(0.1234, ".1%") -> '12.3%'."""
    return BLANK if missing(x) else f"{x:{spec}}{suffix}"


def p_value(p) -> str:
    """'<0.001', else three decimals: 0.0412 -> '0.041'."""
    return BLANK if missing(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def yes_no(x) -> str:
    return BLANK if missing(x) else ("是" if bool(x) else "否")


def probability(p, clamp: bool = True) -> str:
    """A probability as a whole percentage; with ``clamp`` a value that rounds to 0% or 100%
    but is neither reads '<1%' or '>99%' (a reader takes 100% for certainty)."""
    if missing(p):
        return BLANK
    if clamp and 0.995 <= p < 1:
        return ">99%"
    if clamp and 0 < p < 0.005:
        return "<1%"
    return f"{100 * p:.0f}%"


# --- data text into Markdown / HTML -------------------------------------------------------------

# What Markdown can turn into markup anywhere in a line: escapes, code, emphasis, links and
# images ([ ]), raw HTML and autolinks (< >), entities (&), tables (|), strikethrough (~), math ($).
_MD_ANYWHERE = re.compile(r"[\\`*\[\]<>&|~$]")
# "_" between two letters or digits cannot open or close emphasis (CommonMark): waste_kg stays.
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_MD_BARE_URL = re.compile(r"(?<=[A-Za-z0-9]):(?=//)")  # https://... would be autolinked
# What only counts at the start of a block: headings, quotes, list items, thematic breaks, setext.
_MD_LINE_START = re.compile(r"^(?:[#>+=-]|\d{1,9}[.)])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def md_escape(value) -> str:
    """Data text (a unit, campaign or category name, a title, a parameter) made inert in Markdown.

    A backslash goes before every character that can start markup (CommonMark lets any ASCII
    punctuation be escaped; the renderer shows the character itself): links and images
    (``\\[``), raw HTML and autolinks (``\\<svg``), entities (``\\&#x61;``), bare URLs
    (``https\\://``), emphasis, code, tables, strikethrough, math, and a heading, quote or
    list marker at the start. Line breaks become spaces (a name cannot start a new block or a
    link definition), leading blanks are dropped (no indented code), NUL bytes removed.
    Chinese text, full-width punctuation and ``waste_kg`` stay as they are. For running text,
    not for code spans (backslashes would show there).
    """
    text = _LINE_BREAKS.sub(" ", ("" if value is None else str(value)).replace("\x00", "")).lstrip(" \t")
    text = _MD_ANYWHERE.sub(lambda m: "\\" + m.group(0), text)
    text = _MD_UNDERSCORE.sub(r"\\_", text)
    text = _MD_BARE_URL.sub(r"\\:", text)
    return _MD_LINE_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], text)


def html_escape(value) -> str:
    """Data text made inert in HTML text or a quoted attribute (``& < > " '``)."""
    return html.escape("" if value is None else str(value), quote=True)


def md_code(value) -> str:
    """Data text as a Markdown code span (monospace, nothing inside is markup): the fence is
    longer than any run of backticks in the text; line breaks become spaces."""
    text = _LINE_BREAKS.sub(" ", ("" if value is None else str(value)).replace("\x00", ""))
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
