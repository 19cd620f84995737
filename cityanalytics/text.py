"""Formatting numbers for Chinese report sentences ("97.1% (95% CI 96.8%-97.4%)")."""

from __future__ import annotations

import math


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
