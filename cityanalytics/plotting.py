"""Plot helpers for notebooks.

    from cityanalytics.plotting import use_cjk_font
    use_cjk_font()          # Chinese titles and labels render in every figure after this

The report runner also calls it in a hidden cell of every report, so a notebook that forgets
still prints correctly; calling it in the notebook makes JupyterLab match the report.
"""

from __future__ import annotations

from cityanalytics.fonts import MissingFont, require_cjk_font

__all__ = ["use_cjk_font", "MissingFont"]


def use_cjk_font() -> str:
    """Make matplotlib draw text with an installed CJK font; returns the family used.

    Raises MissingFont (naming the package to install) when there is no such font.
    """
    import matplotlib

    font = require_cjk_font()
    families = [font.family] + [f for f in matplotlib.rcParams["font.sans-serif"] if f != font.family]
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = families
    matplotlib.rcParams["axes.unicode_minus"] = False  # the Unicode minus is missing from some CJK fonts
    return font.family
