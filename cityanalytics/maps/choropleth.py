"""A choropleth of one indicator by unit, with each unit's significance marked.

Fill: the unit's value on a sequential scale (Blues, light = low; the colour bar says which
way is better). Significance, in the funnel plot's colours (``compare/plots.py``): a unit
significantly worse than the city has a red outline and red hatching (``///``), significantly
better a green outline and green hatching (``\\\\``); other units a thin grey outline. A unit
with no value is light grey and says 无数据; a unit shown but not ranked (small numbers) is
dotted. Each unit is one ``PathPatch`` (holes and several parts included) whose ``gid`` is
its unit_id, so a figure can be checked unit by unit. Geometry is in metres (see
``projection``), drawn with equal aspect and a scale bar; names are placed at each polygon's
representative point (always inside it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from matplotlib.path import Path as MplPath

from cityanalytics.compare.plots import CITY_C, UNIT

WORSE = "#d62728"  # the funnel plot's colours for units outside its limits
BETTER = "#2ca02c"
CLASS_STYLE = {  # class -> (edge colour, line width, hatch, label)
    "worse": (WORSE, 2.2, "///", "显著差于全市"),
    "better": (BETTER, 2.2, "\\\\\\", "显著好于全市"),
    "within": ("#777777", 0.6, None, "与全市差异不显著"),
    "unranked": ("#777777", 0.8, "..", "样本量小,不排名"),
    "nodata": ("#999999", 0.6, None, "无数据"),
}
NODATA_FILL = "#eeeeee"
CMAP = "Blues"
MAX_LABELS = 40  # more units than this: only the marked ones are named


def classify(table: pd.DataFrame) -> pd.Series:
    """The class of each unit from a league table (significant, better, suppressed, value)."""
    out = []
    for _, r in table.iterrows():
        if pd.isna(r.get("value")):
            out.append("nodata")
        elif bool(r.get("suppressed", False)):
            out.append("unranked")
        elif r.get("significant") is True and r.get("better") is not None and not pd.isna(r.get("better")):
            out.append("better" if bool(r["better"]) else "worse")
        else:
            out.append("within")
    return pd.Series(out, index=table.index, dtype=object)


def _path(geom) -> MplPath:
    """One compound path for a (Multi)Polygon: every exterior and interior ring."""
    verts, codes = [], []
    for poly in getattr(geom, "geoms", [geom]):
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)
            if len(xy) < 3:
                continue
            verts.append(xy)
            codes += [MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY]
    return MplPath(np.vstack(verts), codes)


def _scale_bar(ax, bounds) -> None:
    xmin, ymin, xmax, ymax = bounds
    width = xmax - xmin
    target = width / 5
    nice = [1, 2, 5]
    mag = 10 ** np.floor(np.log10(max(target, 1)))
    length = max(n * mag for n in nice if n * mag <= max(target, mag))
    x0, y0 = xmin + 0.03 * width, ymin - 0.06 * (ymax - ymin)
    ax.plot([x0, x0 + length], [y0, y0], color=CITY_C, linewidth=2, solid_capstyle="butt")
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x0 + length / 2, y0, label, ha="center", va="bottom", fontsize=7, color=CITY_C)


def choropleth(shapes: dict, frame: pd.DataFrame, *, title: str, value_label: str, higher_is_better: bool | None,
               note: str = "", synthetic: bool = False, ax=None, fmt=lambda v: f"{v:.1f}"):
    """Draw the map. frame: unit_id, name, value, cls (see ``classify``), focus (bool).

    Units in ``frame`` without a shape are not drawn (the caller lists them); shapes of units
    not in ``frame`` are not drawn either.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colors
    from matplotlib.patches import Patch, PathPatch

    frame = frame[frame["unit_id"].isin(list(shapes))].reset_index(drop=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6), constrained_layout=True)
    values = pd.to_numeric(frame["value"], errors="coerce")
    finite = values.dropna()
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    norm = colors.Normalize(lo, hi)
    cmap = plt.get_cmap(CMAP)
    for _, r in frame.iterrows():
        edge, width, hatch, _ = CLASS_STYLE[r["cls"]]
        face = NODATA_FILL if pd.isna(r["value"]) else cmap(0.15 + 0.7 * norm(float(r["value"])))
        patch = PathPatch(_path(shapes[r["unit_id"]]), facecolor=face, edgecolor=edge, linewidth=width,
                          hatch=hatch, zorder=2 + (r["cls"] in ("worse", "better")))
        patch.set_gid(str(r["unit_id"]))
        ax.add_patch(patch)
    geoms = [shapes[u] for u in frame["unit_id"]]
    bounds = shapely.total_bounds(geoms) if geoms else (0, 0, 1, 1)
    label_all = len(frame) <= MAX_LABELS
    for g, (_, r) in zip(geoms, frame.iterrows()):
        if not (label_all or r["cls"] in ("worse", "better") or r.get("focus")):
            continue
        p = g.representative_point() if g.geom_type == "Polygon" else max(g.geoms, key=lambda x: x.area).representative_point()
        text = f"{r['name']}\n{'无数据' if pd.isna(r['value']) else fmt(float(r['value']))}"
        ax.text(p.x, p.y, text, ha="center", va="center", fontsize=7 if label_all else 6, zorder=5,
                fontweight="bold" if r.get("focus") else "normal",
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", alpha=0.6, linewidth=0))
    pad = 0.04 * max(bounds[2] - bounds[0], bounds[3] - bounds[1], 1)
    ax.set_xlim(bounds[0] - pad, bounds[2] + pad)
    ax.set_ylim(bounds[1] - 2.5 * pad, bounds[3] + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    _scale_bar(ax, bounds)
    sm = plt.cm.ScalarMappable(norm=colors.Normalize(lo, hi),
                               cmap=colors.LinearSegmentedColormap.from_list("part", cmap(np.linspace(0.15, 0.85, 64))))
    bar = ax.figure.colorbar(sm, ax=ax, shrink=0.6, pad=0.02)
    direction = {True: "(越高越好)", False: "(越低越好)"}.get(higher_is_better, "")
    bar.set_label(f"{value_label}{direction}", fontsize=8)
    present = [c for c in CLASS_STYLE if c in set(frame["cls"])]
    handles = [Patch(facecolor=NODATA_FILL if c == "nodata" else "white", edgecolor=CLASS_STYLE[c][0],
                     linewidth=CLASS_STYLE[c][1], hatch=CLASS_STYLE[c][2], label=CLASS_STYLE[c][3]) for c in present]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, -0.01), ncol=min(len(handles), 3), fontsize=7,
              frameon=False)
    ax.set_title(title + ("\n示意边界(合成)" if synthetic else ""), fontsize=10)
    if note:
        ax.text(0.0, -0.12, note, transform=ax.transAxes, ha="left", va="top", fontsize=6.5, color="#555555",
                wrap=True)
    return ax


__all__ = ["choropleth", "classify", "CLASS_STYLE", "WORSE", "BETTER", "UNIT"]
