"""Green-space indicators on a hand-made map in metres whose answers are known exactly.

Map (metres, EPSG:32650 so that no projection applies):
- units A = [-1000, 500] x [-1000, 1000], B = [500, 2000] x [-1000, 1000] (3,000,000 m² each);
- park P1 = square [0, 100] x [0, 100] (10,000 m²) in A; park P2 = disc of radius 20 m at (1500, 50)
  in B (about 1,256.6 m²: below GB/T 50563's 2,000 m², above 1,000 m²);
- residential R1 = [200, 400] x [0, 100] (20,000 m², 400 people), R2 = [550, 750] x [20, 80] (12,000 m²,
  1,200 people), R3 = [450, 520] x [0, 100] (7,000 m², 70 people, split 5,000 / 2,000 by the A/B line),
  R4 = [1540, 1600] x [40, 60] (1,200 m², 30 people), all within P1's y-range so that P1's buffer edge
  crossing them is the straight line x = 600 (no rounded corner).
P1's 500 m buffer covers R1, R3 and R2 up to x = 600 (50 x 60 = 3,000 m²). Only a 300 m radius
for P2 (the 1,000 m² rule) reaches R4 (its farthest corner is 100.5 m from P2's centre).
"""

from __future__ import annotations

import json
import math
import sqlite3
import struct

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from cityanalytics.indicators.places import GB_T_50563, GREEN_300_PARK_500, place_indicators
from cityanalytics.indicators.places_read import PlacesError, read_layer, to_metres
from cityanalytics.indicators.registry import get

P2_AREA = Point(1500, 50).buffer(20, quad_segs=64).area  # the polygon the test map holds


def _layer(geoms, **props):
    f = pd.DataFrame(props)
    f["geometry"] = geoms
    return f


@pytest.fixture(scope="module")
def layers():
    parks = _layer([box(0, 0, 100, 100), Point(1500, 50).buffer(20, quad_segs=64)], name=["P1", "P2"])
    res = _layer([box(200, 0, 400, 100), box(550, 20, 750, 80), box(450, 0, 520, 100), box(1540, 40, 1600, 60)],
                 population=[400, 1200, 70, 30])
    units = _layer([box(-1000, -1000, 500, 1000), box(500, -1000, 2000, 1000)], unit_id=["A", "B"])
    land = _layer([box(0, 0, 100, 100), box(50, 0, 150, 100), box(0, -50, 1000, -40), box(200, 0, 400, 100)],
                  land_use=["公园绿地", "公园绿地", "防护绿地", "居住用地"])
    return parks, res, units, land


def value(frame, indicator, unit):
    row = frame[(frame.indicator == indicator) & (frame.unit_id == unit)]
    assert len(row) == 1
    return row.iloc[0]


def test_service_radius_coverage_by_land_gb_t_50563(layers):
    parks, res, units, land = layers
    f = place_indicators(parks, res, units=units, land_use=land, tiers=GB_T_50563)
    a = value(f, "park_service_radius_coverage", "A")
    assert (a.numerator, a.denominator, a.value) == pytest.approx((25000, 25000, 100))
    b = value(f, "park_service_radius_coverage", "B")  # R2 3,000 + R3 2,000 of 12,000 + 2,000 + 1,200
    assert (b.numerator, b.denominator) == pytest.approx((5000, 15200))
    assert b.value == pytest.approx(100 * 5000 / 15200)
    c = value(f, "park_service_radius_coverage", "city")
    assert (c.numerator, c.denominator) == pytest.approx((30000, 40200))


def test_smaller_parks_count_under_the_1000_m2_rule(layers):
    parks, res, units, land = layers
    f = place_indicators(parks, res, units=units, tiers=GREEN_300_PARK_500)
    b = value(f, "park_service_radius_coverage", "B")  # R4 now inside P2's 300 m
    assert (b.numerator, b.denominator) == pytest.approx((6200, 15200))


def test_coverage_by_population(layers):
    parks, res, units, land = layers
    f = place_indicators(parks, res, units=units)
    a = value(f, "park_service_radius_coverage_population", "A")
    assert (a.numerator, a.denominator) == pytest.approx((450, 450))
    b = value(f, "park_service_radius_coverage_population", "B")  # 1,200 x 3/12 + 20 of 1,200 + 20 + 30
    assert (b.numerator, b.denominator) == pytest.approx((320, 1250))


def test_park_area_per_capita(layers):
    parks, res, units, land = layers
    f = place_indicators(parks, res, units=units)
    assert value(f, "park_area_per_capita", "A").value == pytest.approx(10000 / 450)
    assert value(f, "park_area_per_capita", "B").value == pytest.approx(P2_AREA / 1250)
    assert value(f, "park_area_per_capita", "city").value == pytest.approx((10000 + P2_AREA) / 1700)
    assert P2_AREA == pytest.approx(math.pi * 400, rel=2e-4)


def test_green_space_ratio_counts_overlaps_once(layers):
    parks, res, units, land = layers
    f = place_indicators(parks, res, units=units, land_use=land)
    # A: parks union [0,150]x[0,100] 15,000 + strip 500 x 10 = 5,000; B: strip 5,000.
    assert value(f, "green_space_ratio", "A").numerator == pytest.approx(20000)
    assert value(f, "green_space_ratio", "A").value == pytest.approx(100 * 20000 / 3e6)
    assert value(f, "green_space_ratio", "B").value == pytest.approx(100 * 5000 / 3e6)
    assert value(f, "green_space_ratio", "city").value == pytest.approx(100 * 25000 / 6e6)


def test_missing_population_and_empty_unit_are_said(layers):
    parks, res, units, land = layers
    res2 = res.assign(population=[400, np.nan, 70, 30])
    units2 = pd.concat([units, _layer([box(5000, 5000, 6000, 6000)], unit_id=["C"])], ignore_index=True)
    f = place_indicators(parks, res2, units=units2)
    assert np.isnan(value(f, "park_area_per_capita", "B").value)
    assert value(f, "park_area_per_capita", "A").value == pytest.approx(10000 / 450)
    c = value(f, "park_service_radius_coverage", "C")
    assert c.denominator == 0 and np.isnan(c.value)
    assert "park_service_radius_coverage C: no residential land" in f.attrs["notes"]
    assert any(n.startswith("B: 1 residential area(s) without population") for n in f.attrs["notes"])


def test_geojson_round_trip_and_degrees_projected(tmp_path, layers):
    parks, res, units, land = layers
    from pyproj import Transformer
    to_ll = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)

    def write(path, frame, crs=None, lonlat=False):
        feats = []
        for _, r in frame.iterrows():
            g = r["geometry"]
            if lonlat:
                g = shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(xy[:, 0] + 500000,
                                                                                    xy[:, 1] + 4000000)))
            feats.append({"type": "Feature", "properties": {k: v for k, v in r.items() if k != "geometry"},
                          "geometry": json.loads(shapely.to_geojson(g))})
        doc = {"type": "FeatureCollection", "features": feats}
        if crs:
            doc["crs"] = {"type": "name", "properties": {"name": crs}}
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        return path

    # Metres with the crs member: read back, same answer.
    p = read_layer(write(tmp_path / "parks.geojson", parks, "urn:ogc:def:crs:EPSG::32650"))
    r = read_layer(write(tmp_path / "res.geojson", res, "EPSG:32650"))
    assert p.attrs["crs"] == "EPSG:32650"
    m = to_metres({"parks": p, "res": r})
    f = place_indicators(m["parks"], m["res"])
    assert value(f, "park_service_radius_coverage", "city").numerator == pytest.approx(30000)
    # The same map in longitude/latitude (RFC 7946 default): projected to a local equal-area plane.
    p = read_layer(write(tmp_path / "parks_ll.geojson", parks, lonlat=True))
    r = read_layer(write(tmp_path / "res_ll.geojson", res, lonlat=True))
    m = to_metres({"parks": p, "res": r})
    assert m["parks"]["geometry"][0].area == pytest.approx(10000 / 0.9996 ** 2, rel=1e-4)  # UTM scale k0
    f = place_indicators(m["parks"], m["res"])
    assert value(f, "park_service_radius_coverage", "city").value == pytest.approx(100 * 30000 / 40200, rel=2e-3)
    from cityanalytics.indicators.places import place_indicators_from_files
    u = write(tmp_path / "units_ll.geojson", units, lonlat=True)
    f = place_indicators_from_files(tmp_path / "parks_ll.geojson", tmp_path / "res_ll.geojson", units=u)
    # On the ground the map is 1/0.9996 times its UTM size, so P1's 500 m reaches 0.2 UTM metres less far
    # into R2 (49.8 of its 50 m): (2,988 + 2,000) / 15,200, not 5,000 / 15,200.
    assert value(f, "park_service_radius_coverage", "B").value == pytest.approx(100 * (3000 * 49.8 / 50 + 2000) / 15200,
                                                                               rel=2e-4)
    # Metres in a file that claims nothing: RFC 7946 says degrees, the coordinates say otherwise.
    bad = read_layer(write(tmp_path / "bad.geojson", res))
    with pytest.raises(PlacesError, match=r"bad.geojson: coordinates such as \(\d+, \d+\) are not longitude/latitude"):
        to_metres({"res": bad})


def _gp_blob(geom, srs_id):
    return b"GP" + bytes([0, 0b00000001]) + struct.pack("<i", srs_id) + shapely.to_wkb(geom, byte_order=1)


def test_geopackage_layer(tmp_path, layers):
    parks, res, units, land = layers
    path = tmp_path / "places.gpkg"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY, organization TEXT,
            organization_coordsys_id INTEGER, definition TEXT, description TEXT);
        CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, geometry_type_name TEXT,
            srs_id INTEGER, z INTEGER, m INTEGER);
        CREATE TABLE residential (fid INTEGER PRIMARY KEY, geom BLOB, population REAL);
        INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84 / UTM zone 50N', 32650, 'EPSG', 32650, '', '');
        INSERT INTO gpkg_geometry_columns VALUES ('residential', 'geom', 'POLYGON', 32650, 0, 0);
    """)
    con.executemany("INSERT INTO residential (geom, population) VALUES (?, ?)",
                    [(_gp_blob(g, 32650), p) for g, p in zip(res["geometry"], res["population"])])
    con.commit()
    con.close()
    r = read_layer(path)
    assert r.attrs["crs"] == "EPSG:32650" and list(r["population"]) == [400, 1200, 70, 30]
    f = place_indicators(parks, r, units=units)
    assert value(f, "park_service_radius_coverage", "B").numerator == pytest.approx(5000)
    with pytest.raises(PlacesError, match="no layer 'parks'"):
        read_layer(path, layer="parks")


def test_not_a_polygon_named(layers):
    parks, res, units, land = layers
    bad = _layer([Point(0, 0)], population=[1])
    with pytest.raises(ValueError, match="feature 1: expected a polygon, got Point"):
        place_indicators(parks, bad)


def test_registered():
    assert get("park_service_radius_coverage").unit == "%"
    assert get("park_area_per_capita").unit == "m²/人"
    assert get("green_space_ratio").direction == "higher_better"
