"""Unit boundaries from a GeoJSON file, checked and matched to the units of a comparison.

A workspace names its boundaries in ``sources.yaml`` (``boundaries: 边界/街镇.geojson``) or
keeps a file ``boundaries.geojson`` beside it; a folder of canonical tables (what
``cityanalytics demo`` writes) may hold ``boundaries.geojson`` too. The file is a GeoJSON
FeatureCollection (RFC 7946: longitude/latitude, WGS84 or CGCS2000) with one feature per unit,
Polygon or MultiPolygon, and in its properties the unit's ``unit_id`` or its division code
(``division_code``, ``adcode`` or ``code``: the GB/T 2260 / 12-digit statistical code of
units.csv), or failing both its name (``name_zh`` or ``name``).

What goes wrong is said, never fatal to a report: a file that cannot be read raises
``BoundaryError`` naming the file (the report prints it as the map section's one line);
units without a feature, features that match no unit, and geometry that is not a polygon or is
invalid are listed in ``Boundaries.problems`` (Chinese, naming the feature and the unit).
Invalid polygons (self-intersections, unclosed rings) are repaired with ``shapely.make_valid``
and drawn with a note; features that are not polygons are left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.validation import explain_validity

from .projection import LocalProjection

BOUNDARIES_FILE = "boundaries.geojson"
ID_KEYS = ("unit_id", "division_code", "adcode", "code")
NAME_KEYS = ("name_zh", "name")
MAX_BYTES = 200 * 1024 * 1024  # a city's streets are a few MB; a bigger file is not a boundary file


class BoundaryError(ValueError):
    """A boundary file that cannot be used at all; the message names the file and why."""


@dataclass
class Boundaries:
    """Unit polygons in metres (``projection``), with what was found wrong on the way."""

    shapes: dict[str, shapely.Geometry]  # unit_id -> (Multi)Polygon in metres
    projection: LocalProjection
    source: str  # Chinese: where the boundaries come from (printed under the map)
    synthetic: bool = False  # made-up boundaries (the demo city): the map says so
    problems: list[str] = field(default_factory=list)  # Chinese sentences
    missing: list[str] = field(default_factory=list)  # unit ids without a polygon
    unknown: list[str] = field(default_factory=list)  # features that match no unit (as labelled in problems)


def find_boundary_file(workspace) -> Path | None:
    """The workspace's boundary file: ``boundaries:`` in sources.yaml, else ``boundaries.geojson``
    in the workspace folder. Raises BoundaryError when the recipe names a file that is missing."""
    root = Path(getattr(workspace, "root", workspace))
    named = None
    if getattr(workspace, "is_recipe", False):
        named = getattr(workspace.recipe, "boundaries", None)
    if named:
        path = Path(named) if Path(named).is_absolute() else root / named
        if not path.is_file():
            raise BoundaryError(f"{root / 'sources.yaml'}: boundaries: {named}: no such file")
        return path
    path = root / BOUNDARIES_FILE
    return path if path.is_file() else None


def read_features(path: Path) -> list[dict]:
    """The features of a GeoJSON FeatureCollection (a bare geometry is one feature)."""
    path = Path(path)
    if not path.is_file():
        raise BoundaryError(f"{path}: not a file")
    if path.stat().st_size > MAX_BYTES:
        raise BoundaryError(f"{path}: {path.stat().st_size / 2**20:.0f} MB, more than a boundary file "
                            f"can be ({MAX_BYTES // 2**20} MB); simplify the polygons first")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise BoundaryError(f"{path}: not UTF-8 text (GeoJSON is UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise BoundaryError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection" and isinstance(data.get("features"), list):
        return data["features"]
    if isinstance(data, dict) and data.get("type") == "Feature":
        return [data]
    if isinstance(data, dict) and data.get("type") in ("Polygon", "MultiPolygon"):
        return [{"type": "Feature", "properties": data.get("properties") or {}, "geometry": data}]
    raise BoundaryError(f"{path}: expected a GeoJSON FeatureCollection with one feature per unit")


def _label(i: int, props: dict) -> str:
    for key in (*ID_KEYS, *NAME_KEYS):
        if props.get(key) not in (None, ""):
            return f"第 {i + 1} 个要素({key}={str(props[key])[:40]})"
    return f"第 {i + 1} 个要素"


def _lonlat_problem(coords: np.ndarray) -> str | None:
    if not np.isfinite(coords).all():
        return "坐标含非数值"
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        x, y = coords[0]
        return (f"坐标({x:.0f}, {y:.0f})不是经纬度,像是投影坐标;GeoJSON 应为经纬度(WGS84/CGCS2000),"
                f"请先转换")
    return None


def match_features(features: list[dict], units: dict[str, dict], *, other_ids: set[str] = frozenset(),
                   source: str = "", path: Path | str = "", synthetic: bool = False) -> Boundaries:
    """Polygons per unit from GeoJSON features.

    units: unit_id -> {"name": ..., "code": division code or None} for the units to draw.
    other_ids: ids of the districts table at other levels (a street file may also hold the
    districts); their features are not reported as unknown.
    """
    lookup: dict[str, str] = {}
    for uid, u in units.items():
        lookup[str(uid)] = uid
        if u.get("code"):
            lookup.setdefault(str(u["code"]), uid)
    by_name = {str(u.get("name")): uid for uid, u in units.items() if u.get("name")}
    problems, unknown = [], []
    parts: dict[str, list] = {}
    raw: list[tuple[str, str, shapely.Geometry]] = []
    for i, f in enumerate(features):
        props = (f or {}).get("properties") or {}
        label = _label(i, props)
        uid, other = None, False
        for key in ID_KEYS:
            v = props.get(key)
            if v not in (None, ""):
                v = str(v).strip()
                if v in lookup:
                    uid = lookup[v]
                    break
                other = other or v in other_ids
        if uid is None and not other:
            for key in NAME_KEYS:
                if str(props.get(key, "")).strip() in by_name:
                    uid = by_name[str(props[key]).strip()]
                    break
        if uid is None:
            if not other:
                unknown.append(label)
            continue
        geom = (f or {}).get("geometry")
        if not isinstance(geom, dict) or geom.get("type") not in ("Polygon", "MultiPolygon"):
            kind = geom.get("type") if isinstance(geom, dict) else "无"
            problems.append(f"{label}的几何类型为 {kind},不是面(Polygon/MultiPolygon),未绘制。")
            continue
        try:
            g = shape(geom)
        except Exception as exc:  # shapely raises several types for malformed coordinate arrays
            problems.append(f"{label}的坐标无法读取({type(exc).__name__}: {str(exc)[:80]}),未绘制。")
            continue
        coords = shapely.get_coordinates(g)
        if g.is_empty or len(coords) == 0:
            problems.append(f"{label}的几何为空,未绘制。")
            continue
        bad = _lonlat_problem(coords)
        if bad:
            problems.append(f"{label}:{bad},未绘制。")
            continue
        raw.append((uid, label, g))
    if raw:
        projection = LocalProjection.around(*np.vstack([shapely.get_coordinates(g) for _, _, g in raw]).T)
    else:
        projection = LocalProjection(0.0, 0.0)
    for uid, label, g in raw:
        g = shapely.transform(g, projection.forward)
        if not g.is_valid:
            why = explain_validity(g)
            g = shapely.make_valid(g)
            g = shapely.union_all([p for p in getattr(g, "geoms", [g]) if p.geom_type in ("Polygon", "MultiPolygon")]) \
                if g.geom_type == "GeometryCollection" else g
            problems.append(f"{label}的几何无效({why.split('[')[0].strip()}),已自动修复后绘制,请核对边界文件。")
        if g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(f"{label}修复后不再是面,未绘制。")
            continue
        parts.setdefault(uid, []).append(g)
    shapes = {}
    for uid, gs in parts.items():
        if len(gs) > 1:
            problems.append(f"{units[uid].get('name') or uid} 有 {len(gs)} 个要素,已合并绘制。")
        shapes[uid] = gs[0] if len(gs) == 1 else shapely.union_all(gs)
    missing = [u for u in units if u not in shapes]
    if missing:
        problems.insert(0, f"边界文件中没有以下单位的边界,地图上留白:"
                           f"{'、'.join(str(units[u].get('name') or u) for u in missing)}。")
    if unknown:
        shown = "、".join(unknown[:10]) + (f" 等 {len(unknown)} 个" if len(unknown) > 10 else "")
        problems.append(f"边界文件中有要素对应不到任何单位(按 unit_id、区划代码或名称),未绘制:{shown}。")
    where = f"{source}({Path(path).name})" if path else source
    return Boundaries(shapes=shapes, projection=projection, source=where, synthetic=synthetic,
                      problems=problems, missing=missing, unknown=unknown)


def read_boundaries(path: Path | str, units: dict[str, dict], *, other_ids: set[str] = frozenset()) -> Boundaries:
    """Read and match a boundary file (see the module text). Raises BoundaryError for a file
    that cannot be used at all."""
    features = read_features(Path(path))
    synthetic = any(bool(((f or {}).get("properties") or {}).get("synthetic")) for f in features)
    source = "示意边界(合成)" if synthetic else "用户提供的边界文件"
    return match_features(features, units, other_ids=other_ids, source=source, path=path, synthetic=synthetic)
