"""Green-space indicators from place layers in metres (see ``places_read`` for reading and projecting).

- 公园绿地服务半径覆盖率 (park_service_radius_coverage): residential land inside a park's service
  radius / all residential land, as GB/T 50563-2010《城市园林绿化评价标准》defines it (residential
  land area, not population). Radii by the park's own area, ``tiers``; the default ``GB_T_50563``
  is that standard's: parks of 5,000 m² or more serve 500 m, parks of 2,000-5,000 m² serve 300 m
  (in a 历史文化街区 parks of 1,000 m² or more serve 300 m: ``GB_T_50563_HISTORIC``).
  ``GREEN_300_PARK_500`` is the "300米见绿、500米见园" reading: 1,000 m² or more -> 300 m,
  10,000 m² or more -> 500 m. GB 55014-2021《园林绿化工程项目规范》§2.1.3 requires coverage > 80%.
  Service areas are straight-line buffers of the park polygon (Euclidean, not along streets), the
  union of all parks' buffers, so a residential area is never counted twice.
- The same share by residents (park_service_radius_coverage_population): a residential polygon's
  population is spread evenly over its area.
- 人均公园绿地面积 (park_area_per_capita): park land / residents, m² per person.
- 绿地率 (green_space_ratio): green land-use polygons (union, overlaps once) / the unit's area.

By unit when unit boundaries are given (places crossing a boundary are split by area; a park serves
residents across it), and for the city (everything, units or not). A figure without what it needs
(no residential land, a residential polygon without population) is NaN with a sentence in
``frame.attrs["notes"]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from cityanalytics.indicators.frame import CITY, combine

GB_T_50563 = ((5000.0, 500.0), (2000.0, 300.0))  # (minimum park area m², service radius m), largest first
GB_T_50563_HISTORIC = ((5000.0, 500.0), (1000.0, 300.0))
GREEN_300_PARK_500 = ((10000.0, 500.0), (1000.0, 300.0))
GREEN_LAND_USES = ("公园绿地", "防护绿地", "附属绿地", "G1", "G2")  # GB 50137 城市绿地 (广场用地 G3 is not green land)
QUAD_SEGS = 64  # segments per quarter circle of a buffer: area short of the true disc by < 0.02%


def place_indicators(parks: pd.DataFrame, residential: pd.DataFrame, *, units: pd.DataFrame | None = None,
                     land_use: pd.DataFrame | None = None, tiers=GB_T_50563, period: str = "",
                     population: str = "population", land_use_column: str = "land_use",
                     green_land_uses=GREEN_LAND_USES, include_city: bool = True) -> pd.DataFrame:
    """IndicatorFrame (no sampling intervals: these are counts of land, not estimates) of the four indicators."""
    tiers = tuple(sorted(((float(a), float(r)) for a, r in tiers), reverse=True))
    park_geoms = _geoms(parks, "parks")
    res_geoms = _geoms(residential, "residential")
    if population in residential:
        pop = pd.to_numeric(residential[population], errors="coerce").to_numpy(dtype=float)
    else:
        pop = np.full(len(residential), np.nan)
    service = _service_area(park_geoms, tiers)
    areas = {}  # unit id -> polygon (None: the city, no clipping)
    if units is not None:
        if "unit_id" not in units:
            raise ValueError(f"{units.attrs.get('source', 'units')}: no unit_id property on the boundaries")
        for uid, g in zip(units["unit_id"].astype(str), _geoms(units, "units")):
            areas[uid] = g if uid not in areas else areas[uid].union(g)
    city_area = shapely.union_all(np.asarray(list(areas.values()), dtype=object)) if areas else None
    if include_city or not areas:
        areas[CITY] = None
    green = None
    if land_use is not None:
        if land_use_column not in land_use:
            raise ValueError(f"{land_use.attrs.get('source', 'land_use')}: no {land_use_column} property")
        is_green = land_use[land_use_column].astype(str).isin(list(green_land_uses)).to_numpy()
        green = shapely.union_all(np.asarray(_geoms(land_use, "land_use"), dtype=object)[is_green])

    rows, notes = [], []
    for uid, area in areas.items():
        res = [_clip(g, area) for g in res_geoms]
        res_area = np.array([g.area for g in res])
        covered = np.array([g.intersection(service).area if g.area > 0 else 0.0 for g in res])
        whole = np.array([g.area for g in res_geoms])
        share_in = np.divide(res_area, whole, out=np.zeros_like(res_area), where=whole > 0)
        pop_in = pop * share_in
        present = res_area > 0
        land, land_cov = res_area.sum(), covered.sum()
        if land > 0:
            rows.append(("park_service_radius_coverage", uid, land_cov, land, 100 * land_cov / land))
        else:
            rows.append(("park_service_radius_coverage", uid, 0.0, 0.0, np.nan))
            notes.append(f"park_service_radius_coverage {uid}: no residential land")
        missing_pop = present & np.isnan(pop)
        if missing_pop.any():
            rows.append(("park_service_radius_coverage_population", uid, np.nan, np.nan, np.nan))
            rows.append(("park_area_per_capita", uid, np.nan, np.nan, np.nan))
            notes.append(f"{uid}: {int(missing_pop.sum())} residential area(s) without {population}; "
                         f"population figures not computed")
        else:
            people = float(pop_in[present].sum())
            people_cov = float((pop_in * np.divide(covered, res_area, out=np.zeros_like(covered),
                                                   where=res_area > 0))[present].sum())
            park_land = float(sum(_clip(g, area).area for g in park_geoms))
            ok = people > 0
            rows.append(("park_service_radius_coverage_population", uid, people_cov, people,
                         100 * people_cov / people if ok else np.nan))
            rows.append(("park_area_per_capita", uid, park_land, people, park_land / people if ok else np.nan))
            if not ok:
                notes.append(f"{uid}: no residents in the residential areas; per-resident figures not computed")
        if green is not None:
            base = area if area is not None else city_area
            if base is None:
                notes.append("green_space_ratio city: the city's area needs unit boundaries")
                continue
            g_area = green.intersection(base).area
            rows.append(("green_space_ratio", uid, g_area, base.area, 100 * g_area / base.area))

    out = pd.DataFrame(rows, columns=["indicator", "unit_id", "numerator", "denominator", "value"])
    out["period"] = period
    out["group"] = ""
    out["ci_low"] = np.nan
    out["ci_high"] = np.nan
    out["ci_method"] = "none"
    out = combine([out], 0.95)
    out.attrs["notes"] = notes
    out.attrs["tiers"] = tiers
    return out


def _service_area(parks: list[BaseGeometry], tiers) -> BaseGeometry:
    buffers = []
    for g in parks:
        radius = next((r for minimum, r in tiers if g.area >= minimum), None)
        if radius is not None:
            buffers.append(g.buffer(radius, quad_segs=QUAD_SEGS))
    return shapely.union_all(np.asarray(buffers, dtype=object)) if buffers else shapely.Polygon()


def _clip(g: BaseGeometry, area: BaseGeometry | None) -> BaseGeometry:
    return g if area is None else g.intersection(area)


def _geoms(frame: pd.DataFrame, what: str) -> list[BaseGeometry]:
    out = []
    for i, g in enumerate(frame["geometry"]):
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            raise ValueError(f"{frame.attrs.get('source', what)}: feature {i + 1}: expected a polygon, got "
                             f"{'nothing' if g is None or g.is_empty else g.geom_type}")
        if not g.is_valid:
            fixed = shapely.make_valid(g)
            raise ValueError(f"{frame.attrs.get('source', what)}: feature {i + 1}: invalid polygon "
                             f"({shapely.is_valid_reason(g)}); repair it first (make_valid gives "
                             f"{fixed.geom_type})")
        out.append(g)
    return out


def place_indicators_from_files(parks, residential, *, units=None, land_use=None, crs: str | None = None,
                                layers: dict[str, str] | None = None, **options) -> pd.DataFrame:
    """``place_indicators`` from files: GeoJSON or GeoPackage paths, read and projected together.

    ``layers`` names the GeoPackage layer per role ({"parks": "公园"}); ``crs`` applies to files that
    state none. Other keyword arguments go to ``place_indicators``.
    """
    from cityanalytics.indicators.places_read import read_layer, to_metres

    layers = layers or {}
    paths = {"parks": parks, "residential": residential, "units": units, "land_use": land_use}
    read = {role: read_layer(p, layer=layers.get(role), crs=crs) for role, p in paths.items() if p is not None}
    m = to_metres(read)
    return place_indicators(m["parks"], m["residential"], units=m.get("units"), land_use=m.get("land_use"),
                            **options)
