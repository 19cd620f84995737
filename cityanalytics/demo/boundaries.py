"""Synthetic boundaries of the demo city's units (示意边界,合成), so its reports have maps.

Deterministic, no random numbers: a city outline (an ellipse 28 km × 16 km with fixed bumps,
scaled to the units' total area, 340.9 km²) is cut into the ten current units by a power
diagram (a Voronoi tessellation with additive weights) of hand-placed sites: urban streets
near the centre, towns and the development zone outside. The weights are found by the
capacity-constrained iteration w_i += 0.3·(A_i* − A_i) (Aurenhammer, Hoffmann & Aronov 1998,
"Minkowski-type theorems and least-squares clustering", Algorithmica 20:61-76: for any target
areas such weights exist) until every cell's area is within 0.5% of the unit's area_km2, so the
map's towns are as large as the districts table says. Each district is the union of its
streets and towns, the city the outline. All of it is computed in metres and written as
GeoJSON in longitude/latitude around 0°N 0°E, open sea in the Gulf of Guinea, so the polygons
can never be taken for a real place; every feature carries ``synthetic: true`` and the note
below, and the map prints 示意边界(合成).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
import shapely.affinity
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


def _half_plane(normal: np.ndarray, offset: float, size: float) -> Polygon:
    """{x : x·normal <= offset} as a square of side 2·size (larger than the city)."""
    u = normal / np.linalg.norm(normal)
    x0, t = u * offset / np.linalg.norm(normal), np.array([-u[1], u[0]])
    return Polygon([x0 + size * t, x0 - size * t, x0 - size * t - 2 * size * u, x0 + size * t - 2 * size * u])


def _power_cells(sites: np.ndarray, weights: np.ndarray, city: Polygon) -> list:
    """Cell i: points of the city where |x − p_i|² − w_i is smallest."""
    size = 10 * max(city.bounds[2] - city.bounds[0], city.bounds[3] - city.bounds[1])
    cells = []
    for i, p in enumerate(sites):
        cell = city
        for j, q in enumerate(sites):
            if i != j:  # |x−p|² − w_i <= |x−q|² − w_j  <=>  x·(q−p) <= (|q|² − |p|² − w_j + w_i)/2
                cell = cell.intersection(_half_plane(q - p, (q @ q - p @ p - weights[j] + weights[i]) / 2, size))
        cells.append(cell)
    return cells


AREA_TOLERANCE = 0.005
STEP = 0.3
MAX_ROUNDS = 300


def unit_polygons() -> dict[str, Polygon]:
    """unit_id -> the unit's cell (metres), for the ten current units, areas as in area_km2."""
    city = outline()
    sites = np.asarray(SITES_KM) * 1000
    target = np.array([u.area_km2 for u in SERIES]) * 1e6
    weights = np.zeros(len(sites))
    for _ in range(MAX_ROUNDS):
        cells = _power_cells(sites, weights, city)
        areas = np.array([c.area for c in cells])
        if np.max(np.abs(areas / target - 1)) < AREA_TOLERANCE:
            return {u.unit_id: c for u, c in zip(SERIES, cells)}
        weights += STEP * (target - areas)
    raise RuntimeError("demo boundaries: the power diagram did not reach the units' areas")  # fixed input: never


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
