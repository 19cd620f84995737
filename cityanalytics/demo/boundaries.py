"""Synthetic boundaries of the demo city's units (示意边界,合成), so its reports have maps.

Deterministic, no random numbers: a city outline (an ellipse 28 km × 16 km with fixed bumps,
scaled to the units' total area, 340.9 km²) is cut into the ten current units by the Voronoi
tessellation of hand-placed sites (urban streets near the centre, towns and the development
zone outside), the cells clipped to the outline; each district is the union of its streets and
towns, the city the outline. All of it is computed in metres and written as GeoJSON in
longitude/latitude around 0°N 0°E, open sea in the Gulf of Guinea, so the polygons can never
be taken for a real place; every feature carries ``synthetic: true`` and the note below, and
the map prints 示意边界(合成). The cells' areas are a sketch, not the units' area_km2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
import shapely.affinity
from scipy.spatial import Voronoi
from shapely.geometry import MultiPolygon, Polygon, mapping

from cityanalytics.maps.boundaries import BOUNDARIES_FILE
from cityanalytics.maps.projection import LocalProjection

from .units import CITY_ID, CITY_NAME, DISTRICTS, SERIES

NOTE = "示意边界(合成):为演示地图而生成,不是任何真实行政区划"
ORIGIN = LocalProjection(lon0=0.0, lat0=0.0)
# Site of each unit of SERIES (same order), km east and north of the city centre.
SITES_KM = ((-1.8, 0.3), (-3.0, 2.4), (-3.4, -1.9), (-9.5, -0.5),  # 鹭洲 柳荫 望桥 石鼓 (澄湖区)
            (1.2, 0.0), (2.4, 2.4), (2.8, -2.4), (9.0, 3.8), (8.5, -4.5),  # 栖云 桂香 枫林 青禾 白沙 (栖云区)
            (-1.5, 5.8))  # 示范经济技术开发区
BUMPS = (1.00, 1.06, 0.97, 1.04, 1.10, 0.95, 0.99, 1.05, 1.02, 0.93, 1.01, 1.08, 0.96, 1.03, 0.98, 1.07)


def outline() -> Polygon:
    """The city outline in metres, its area the sum of the units' area_km2."""
    angles = np.linspace(0, 2 * np.pi, len(BUMPS), endpoint=False)
    pts = np.column_stack([14_000 * np.cos(angles) * BUMPS, 8_000 * np.sin(angles) * BUMPS])
    shape = Polygon(pts)
    target = sum(u.area_km2 for u in SERIES) * 1e6
    return shapely.affinity.scale(shape, *(2 * [np.sqrt(target / shape.area)]), origin=(0, 0))


def unit_polygons() -> dict[str, Polygon]:
    """unit_id -> the unit's cell (metres), for the ten current units."""
    city = outline()
    sites = np.asarray(SITES_KM) * 1000
    far = 10 * max(city.bounds[2] - city.bounds[0], city.bounds[3] - city.bounds[1])
    frame = np.array([[-far, -far], [far, -far], [far, far], [-far, far]])  # makes every site's cell finite
    vor = Voronoi(np.vstack([sites, frame]))
    out = {}
    for i, unit in enumerate(SERIES):
        region = vor.regions[vor.point_region[i]]
        cell = Polygon(vor.vertices[region]).intersection(city)
        out[unit.unit_id] = cell
    return out


def _feature(geom, props: dict) -> dict:
    g = shapely.transform(geom, ORIGIN.inverse)
    g = shapely.set_precision(g, 1e-7)  # ~1 cm; shared edges stay shared
    return {"type": "Feature", "properties": {**props, "synthetic": True, "note": NOTE}, "geometry": mapping(g)}


def feature_collection() -> dict:
    """The GeoJSON FeatureCollection: the city, its districts, and the ten current units."""
    cells = unit_polygons()
    feats = [_feature(outline(), {"unit_id": CITY_ID, "name_zh": CITY_NAME, "level": "市", "division_code": CITY_ID})]
    for code, name, members in DISTRICTS:
        union = shapely.union_all([cells[SERIES[i].unit_id] for i in members])
        union = union if isinstance(union, (Polygon, MultiPolygon)) else union.buffer(0)
        feats.append(_feature(union, {"unit_id": code, "name_zh": name, "level": "区", "division_code": code}))
    for u in SERIES:
        feats.append(_feature(cells[u.unit_id], {"unit_id": u.unit_id, "name_zh": u.name_zh, "level": u.level,
                                                 "division_code": u.unit_id}))
    return {"type": "FeatureCollection", "name": f"{CITY_NAME}示意边界(合成)", "features": feats}


def write_boundaries(folder: str | Path) -> Path:
    """Write ``boundaries.geojson`` into ``folder`` (a demo table folder or a workspace)."""
    path = Path(folder) / BOUNDARIES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(feature_collection(), ensure_ascii=False), encoding="utf-8")
    return path
