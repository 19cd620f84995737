"""The demo city's place layers: parks, residential areas and green land, as GeoJSON beside its boundaries.

Built in the boundaries' metre plane (``boundaries.ORIGIN``) and written in longitude/latitude like
them, every feature ``synthetic: true``. Each park and green-land polygon carries the year it was
built (``built_year``), so the layers give one snapshot per year 2020-2024 (the places indicators
on the features built by then), the yearly values the 十四五 plan's targets are judged on:

- residential areas: 100 blocks of 300 m × 300 m (9 ha, all the same land) on a 1 km grid round the
  centre, 3,000-6,000 residents each;
- 公园绿地服务半径覆盖率 (GB/T 50563-2010: parks of 5,000 m² or more serve 500 m): a 6,000 m² park
  20 m north of a block covers the whole block (its farthest corner is 221 m away) and no other
  (the nearest other block is 700 m away), so the coverage is the share of blocks with their park:
  ``COVERED`` blocks by year (78% in 2020 to 81% in 2024, built to miss 85% by 2025);
- 人均公园绿地面积: the block parks plus the large parks east of the grid (more than 1 km from any
  block) make park land on the ground (WGS84 ellipsoid, ``ground_scale``) / residents the plan
  feed's figure each year (18.6 m² in 2020 to 20.85);
- 绿地率: green land (the parks, a western belt and eastern belts, 防护绿地) over the city's area is
  the feed's figure each year (38.9% in 2020 to 40.5%), the eastern edge found by bisection.

``truth()`` gives each value from the geometry in the plane.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon, box, mapping

from .boundaries import ORIGIN, outline
from .units import CITY_NAME

PARKS_FILE, RESIDENTIAL_FILE, LAND_USE_FILE = "parks.geojson", "residential.geojson", "land_use.geojson"
NOTE = "示意图层(合成):为演示公园绿地指标而生成,不是任何真实城市的用地"
STREAM = 12
YEARS = (2020, 2021, 2022, 2023, 2024)
BLOCK, SPACING, GRID = 300.0, 1000.0, 10
POCKET = (100.0, 60.0)  # a block's park, 6,000 m²: serves 500 m
COVERED = {2020: 78, 2021: 79, 2022: 79, 2023: 80, 2024: 81}  # blocks with their park, of 100
PER_CAPITA = {2020: 18.6, 2021: 19.19, 2022: 19.74, 2023: 20.29, 2024: 20.85}  # m² per resident
GREEN_RATIO = {2020: 38.9, 2021: 39.3, 2022: 39.7, 2023: 40.1, 2024: 40.5}  # % of the city's area
WEST_BELT = -5_300.0  # green belt west of this (metres east of the centre)
BIG_PARKS_X = 6_000.0  # large parks from here eastwards, 1,950 m tall band round y = 0
BAND = 1_950.0


@lru_cache(maxsize=1)
def ground_scale() -> float:
    """Ground area (WGS84 ellipsoid) of one square metre of the boundaries' plane near the centre.

    The plane (``boundaries.ORIGIN``) is equirectangular: its east and north metres are not exactly
    metres on the ellipsoid, so areas are off by a constant factor (ratios of areas are not).
    """
    from pyproj import Geod

    square = shapely.transform(box(-5_000, -5_000, 5_000, 5_000), ORIGIN.inverse)
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(square)
    return abs(area) / 1e8


def _blocks(rng) -> tuple[list[Polygon], np.ndarray]:
    offsets = (np.arange(GRID) - (GRID - 1) / 2) * SPACING
    blocks = [box(x - BLOCK / 2, y - BLOCK / 2, x + BLOCK / 2, y + BLOCK / 2) for y in offsets for x in offsets]
    return blocks, rng.integers(3_000, 6_001, len(blocks))


@lru_cache(maxsize=4)
def _layers(seed: int) -> dict:
    rng = np.random.default_rng([int(seed), STREAM])
    blocks, people = _blocks(rng)
    residents = int(people.sum())
    order = rng.permutation(len(blocks))  # the order the blocks get their park
    parks, built = [], []
    for year in YEARS:
        have = sum(1 for y in built if y <= year and y is not None)
        for i in order[have:COVERED[year]]:
            b = blocks[i].bounds
            cx = (b[0] + b[2]) / 2
            parks.append(box(cx - POCKET[0] / 2, b[3] + 20, cx + POCKET[0] / 2, b[3] + 20 + POCKET[1]))
            built.append(year)
    # large parks east of the grid make up the park land per resident, year by year (on the ground:
    # the plane's areas times GROUND)
    x = BIG_PARKS_X
    for year in YEARS:
        have = sum(p.area for p, y in zip(parks, built) if y <= year)
        width = (PER_CAPITA[year] * residents / ground_scale() - have) / BAND
        if width <= 0:
            raise ValueError(f"demo places: {year} has more park land than {PER_CAPITA[year]} m² per resident")
        parks.append(box(x, -BAND / 2, x + width, BAND / 2))
        built.append(year)
        x += width
    city = outline()
    green, green_year = [], []
    west = city.intersection(box(-1e6, -1e6, WEST_BELT, 1e6))
    edge = city.bounds[2]
    for year in YEARS:
        park_land = [p for p, y in zip(parks, built) if y <= year]
        base = shapely.union_all([west, *park_land, *green[1:]]).intersection(city)
        shapely.prepare(base)

        def share(e: float) -> float:  # green land with the belt from e to the last year's edge added
            belt = city.intersection(box(e, -1e6, edge, 1e6))
            return 100 * (base.area + belt.area - belt.intersection(base).area) / city.area

        lo, hi = BIG_PARKS_X, edge  # share falls as e moves east
        for _ in range(45):  # 8 km / 2^45: well under a micrometre
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if share(mid) > GREEN_RATIO[year] else (lo, mid)
        e = (lo + hi) / 2
        if year == YEARS[0]:
            green.append(west)
            green_year.append(year)
        green.append(city.intersection(box(e, -1e6, edge, 1e6)))
        green_year.append(year)
        edge = e
    return {"blocks": blocks, "people": people, "parks": parks, "park_year": built, "green": green,
            "green_year": green_year, "city": city, "residents": residents}


def _feature(geom, props: dict) -> dict:
    g = shapely.set_precision(shapely.transform(geom, ORIGIN.inverse), 1e-9)
    return {"type": "Feature", "properties": {**props, "synthetic": True, "note": NOTE}, "geometry": mapping(g)}


def collections(seed: int) -> dict[str, dict]:
    """file name -> GeoJSON FeatureCollection (longitude/latitude, as the boundaries)."""
    d = _layers(seed)
    parks = [_feature(p, {"park_id": f"GY{i + 1:03d}", "name_zh": f"示范公园{i + 1}号", "area_m2": round(p.area, 1),
                          "built_year": y}) for i, (p, y) in enumerate(zip(d["parks"], d["park_year"]))]
    res = [_feature(b, {"residential_id": f"JZ{i + 1:03d}", "population": int(n), "area_m2": round(b.area, 1)})
           for i, (b, n) in enumerate(zip(d["blocks"], d["people"]))]
    land = [_feature(g, {"land_use": "防护绿地", "built_year": y}) for g, y in zip(d["green"], d["green_year"])]
    land += [_feature(p, {"land_use": "公园绿地", "built_year": y}) for p, y in zip(d["parks"], d["park_year"])]
    name = f"{CITY_NAME}示意图层(合成)"
    return {PARKS_FILE: {"type": "FeatureCollection", "name": f"{name}公园", "features": parks},
            RESIDENTIAL_FILE: {"type": "FeatureCollection", "name": f"{name}居住用地", "features": res},
            LAND_USE_FILE: {"type": "FeatureCollection", "name": f"{name}绿地", "features": land}}


def write_places(folder: str | Path, seed: int) -> list[Path]:
    """parks.geojson, residential.geojson and land_use.geojson into ``folder``."""
    out = []
    for name, fc in collections(seed).items():
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
        out.append(path)
    return out


def truth(seed: int) -> dict:
    """Each target's value by year from the geometry in the plane."""
    d = _layers(seed)
    values = {"zb_park_coverage": {}, "zb_park_per_capita": {}, "zb_green_space_rate": {}}
    for year in YEARS:
        parks = [p for p, y in zip(d["parks"], d["park_year"]) if y <= year]
        served = shapely.union_all([p.buffer(500.0, quad_segs=64) for p in parks if p.area >= 5000])
        covered = sum(b.intersection(served).area for b in d["blocks"]) / sum(b.area for b in d["blocks"])
        values["zb_park_coverage"][str(year)] = round(100 * covered, 6)
        values["zb_park_per_capita"][str(year)] = round(ground_scale() * sum(p.area for p in parks) / d["residents"], 6)
        green = shapely.union_all([g for g, y in zip(d["green"], d["green_year"]) if y <= year] + parks)
        values["zb_green_space_rate"][str(year)] = round(100 * green.intersection(d["city"]).area / d["city"].area, 6)
    return {"files": [PARKS_FILE, RESIDENTIAL_FILE, LAND_USE_FILE], "residents": d["residents"],
            "blocks": len(d["blocks"]), "standard": "GB/T 50563-2010: parks of 5,000 m² or more serve 500 m",
            "rule": "snapshot per year: the parks and green land with built_year <= the year",
            "targets": {k: {"values": v} for k, v in values.items()}}
