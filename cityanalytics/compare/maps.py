"""The bulletin's map: the main indicator by unit, with the league's significance marked.

    res = bulletin_map(b, ws)       # AnalysisResult: table (unit, value, class), sentences, .plot()
    compare.report.show_map(b)      # the report section: heading, figure, what is missing

The main indicator is the bulletin's first compared indicator (the run's first). Each unit's
class comes from its league table: significantly worse or better than the city (at the
report's confidence level), not different, not ranked (small numbers) or without a value;
drawn as in ``cityanalytics.maps.choropleth`` in the funnel plot's colours. Boundaries come
from the workspace (``cityanalytics.maps.unit_boundaries``); when there are none, or some
units or features do not match, the section says so in a line and the report goes on.
"""

from __future__ import annotations

from cityanalytics.maps import no_boundaries_reason, unit_boundaries
from cityanalytics.maps.choropleth import CLASS_STYLE, choropleth, classify
from cityanalytics.results import AnalysisResult

from .sentences import fmt_value
from ._common import NotComparable
from .bulletin import Bulletin

TITLE = "地图"


class NoMap(NotComparable):
    """No map can be drawn; ``zh`` says why and ``problems`` what was wrong with the boundaries."""

    def __init__(self, message: str, zh: str, problems: list[str] | None = None):
        super().__init__(message, zh)
        self.problems = list(problems or [])


def bulletin_map(b: Bulletin, workspace, indicator: str | None = None, *, cnmaps_root=None) -> AnalysisResult:
    """The map of ``indicator`` (default: the first compared one). Raises NotComparable (with a
    Chinese ``zh``) when there is no league table or no boundaries; BoundaryError for a boundary
    file that cannot be read."""
    if not b.leagues:
        raise NoMap("no league table to map", "没有可比较的指标")
    indicator = indicator or next(iter(b.leagues))
    league = b.leagues[indicator]
    s = league.extra["slice"]
    found = unit_boundaries(workspace, list(b.level.units), b.level.names, level=b.level.level,
                            cnmaps_root=cnmaps_root)
    if found is None or not found.shapes:
        why = no_boundaries_reason(b.level.level) if found is None else "边界文件中没有任何一个比较单位的边界"
        raise NoMap(f"no boundaries for the units of {indicator}", why, [] if found is None else found.problems)
    t = league.table[league.table["unit_id"].isin(b.level.units)].copy()
    t["cls"] = classify(t)
    t["drawn"] = t["unit_id"].isin(list(found.shapes))
    table = t[["unit_id", "name", "value", "ci_low", "ci_high", "cls", "drawn", "focus"]].reset_index(drop=True)
    counts = table.loc[table["drawn"], "cls"].value_counts()
    parts = [f"{CLASS_STYLE[c][3]} {int(counts[c])} 个" for c in CLASS_STYLE if c in counts]
    lines = [f"地图显示 {s.indicator.name_zh}({s.period})在 {int(table['drawn'].sum())} 个单位的分布:"
             f"{'、'.join(parts)}。"] + list(found.problems)
    spec = (f"填色为各单位{s.indicator.name_zh}({s.unit_label});红色斜线和粗红边为与全市相比显著较差,"
            f"绿色反斜线和粗绿边为显著较好(显著性同排名表,{s.level:.0%} 置信水平,颜色同漏斗图);"
            f"边界:{found.source}。距离按以城市中心为标准纬线的等距圆柱投影换算为米。")
    return AnalysisResult(table=table, sentences=lines, spec=spec, plotter=_plot,
                          extra={"boundaries": found, "slice": s, "indicator": indicator})


def _plot(result: AnalysisResult, ax=None):
    s, found = result.extra["slice"], result.extra["boundaries"]
    title = f"{s.indicator.name_zh}分布图({s.period})"
    higher = {1: True, -1: False}.get(int(s.sign or 0))
    return choropleth(found.shapes, result.table, title=title, value_label=f"{s.indicator.name_zh}({s.unit_label})",
                      higher_is_better=higher, note=f"边界:{found.source}", synthetic=found.synthetic, ax=ax,
                      fmt=lambda v: fmt_value(v, s.stat, s.unit_label))


__all__ = ["bulletin_map", "NoMap", "TITLE"]
