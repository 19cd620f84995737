"""Read place layers (parks, residential areas, unit boundaries, land use) into projected metres.

A layer is a GeoJSON FeatureCollection or one layer of a GeoPackage. Coordinates in degrees
(GeoJSON's default, RFC 7946: WGS84 longitude/latitude; or a geographic CRS such as CGCS2000) are
projected to a Lambert azimuthal equal-area plane centred on the data (areas exact, distances
within a city off by less than 1e-5), so a 300 m service radius is 300 m on the ground. A layer in
a projected CRS must be in metres; it is used as it is. All layers of one computation must share
one plane: ``to_metres`` projects them together.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from cityanalytics.maps.boundaries import read_features


class PlacesError(ValueError):
    """A place layer that cannot be used, with the file and feature named."""


def read_layer(path: str | Path, *, layer: str | None = None, crs: str | None = None) -> pd.DataFrame:
    """Features of ``path`` as a frame: their properties and a ``geometry`` column (shapely).

    ``crs``: the layer's coordinate reference system when the file does not state it (EPSG:4326,
    EPSG:4490 (CGCS2000), EPSG:32650 (UTM 50N) ...). ``frame.attrs`` holds ``crs`` and ``source``.
    """
    path = Path(path)
    if path.suffix.lower() == ".gpkg":
        frame, stated = _read_gpkg(path, layer)
    else:
        frame, stated = _read_geojson(path)
    frame.attrs["crs"] = crs or stated or "EPSG:4326"  # RFC 7946: GeoJSON without a crs is lon/lat
    frame.attrs["source"] = str(path) + (f":{layer}" if layer else "")
    return frame


def _read_geojson(path: Path) -> tuple[pd.DataFrame, str | None]:
    try:
        features = read_features(path)
    except ValueError as exc:
        raise PlacesError(str(exc)) from None
    raw = json.loads(path.read_text(encoding="utf-8-sig"))
    stated = ((raw.get("crs") or {}).get("properties") or {}).get("name") if isinstance(raw, dict) else None
    rows, geoms = [], []
    for i, f in enumerate(features):
        try:
            g = shape(f.get("geometry"))
        except Exception as exc:  # shapely raises several types for malformed geometry
            raise PlacesError(f"{path}: feature {i + 1}: geometry unreadable ({exc})") from None
        rows.append(dict(f.get("properties") or {}))
        geoms.append(g)
    frame = pd.DataFrame(rows, index=range(len(rows)))
    frame["geometry"] = geoms
    return frame, _epsg_name(stated)


def _epsg_name(name: str | None) -> str | None:
    """urn:ogc:def:crs:EPSG::32650 -> EPSG:32650; OGC CRS84 -> EPSG:4326."""
    if not name:
        return None
    if "CRS84" in name:
        return "EPSG:4326"
    if "EPSG" in name:
        return "EPSG:" + name.replace("::", ":").split(":")[-1]
    return name


def _read_gpkg(path: Path, layer: str | None) -> tuple[pd.DataFrame, str | None]:
    """One feature table of a GeoPackage (OGC 12-128r18): GP header + WKB geometry blobs."""
    if not path.is_file():
        raise PlacesError(f"{path}: not a file")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        tables = con.execute("SELECT table_name, column_name, srs_id FROM gpkg_geometry_columns").fetchall()
        if not tables:
            raise PlacesError(f"{path}: no feature table (gpkg_geometry_columns is empty)")
        if layer is None and len(tables) > 1:
            raise PlacesError(f"{path}: holds layers {', '.join(t[0] for t in tables)}; say which with layer=")
        chosen = [t for t in tables if layer is None or t[0] == layer]
        if not chosen:
            raise PlacesError(f"{path}: no layer {layer!r}; layers: {', '.join(t[0] for t in tables)}")
        table, column, srs_id = chosen[0]
        srs = con.execute("SELECT organization, organization_coordsys_id FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
                          (srs_id,)).fetchone()
        frame = pd.read_sql_query(f'SELECT * FROM "{table}"', con)
    geoms = []
    for i, blob in enumerate(frame.pop(column)):
        try:
            geoms.append(_gpkg_geometry(blob))
        except Exception as exc:
            raise PlacesError(f"{path}:{table}: feature {i + 1}: geometry unreadable ({exc})") from None
    frame["geometry"] = geoms
    stated = f"{srs[0].upper()}:{srs[1]}" if srs and srs[0] and srs[1] and srs[1] > 0 else None
    return frame, stated


def _gpkg_geometry(blob: bytes):
    if blob is None:
        return None
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry (no GP header)")
    flags = blob[3]
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(flags >> 1) & 0b111]
    return shapely.from_wkb(bytes(blob[8 + envelope:]))


def to_metres(layers: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The layers on one plane in metres (see the module docstring); empty or missing geometry is an error."""
    from pyproj import CRS, Transformer

    crss = {name: CRS.from_user_input(f.attrs.get("crs") or "EPSG:4326") for name, f in layers.items()}
    for name, f in layers.items():
        bad = [i for i, g in enumerate(f["geometry"]) if g is None or g.is_empty]
        if bad:
            raise PlacesError(f"{f.attrs.get('source', name)}: feature {bad[0] + 1} has no geometry "
                              f"({len(bad)} such); every place needs its polygon")
        coords = shapely.get_coordinates(np.asarray(f["geometry"].tolist(), dtype=object))
        crs = crss[name]
        if crs.is_geographic and ((np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any()):
            raise PlacesError(f"{f.attrs.get('source', name)}: coordinates such as ({coords[0, 0]:.0f}, "
                              f"{coords[0, 1]:.0f}) are not longitude/latitude but the layer states no projected "
                              f"CRS; give crs= (e.g. EPSG:32650 for UTM 50N)")
        if crs.is_projected and crs.axis_info[0].unit_name not in ("metre", "meter"):
            raise PlacesError(f"{f.attrs.get('source', name)}: CRS {crs.to_string()} is in "
                              f"{crs.axis_info[0].unit_name}, not metres")
    geographic = [n for n, c in crss.items() if not c.is_projected]
    projected = {c.to_string() for c in crss.values() if c.is_projected}
    if projected and geographic:
        target = CRS.from_user_input(next(iter(projected)))
    elif projected:
        if len(projected) > 1:
            target = CRS.from_user_input(sorted(projected)[0])
        else:
            return {n: f.copy() for n, f in layers.items()}
    else:
        allc = np.vstack([shapely.get_coordinates(np.asarray(f["geometry"].tolist(), dtype=object))
                          for f in layers.values()])
        lon0, lat0 = (allc.min(axis=0) + allc.max(axis=0)) / 2
        target = CRS.from_proj4(f"+proj=laea +lat_0={lat0:.6f} +lon_0={lon0:.6f} +ellps=GRS80 +units=m +no_defs")
    out = {}
    for name, f in layers.items():
        g = f.copy()
        if crss[name] != target:
            t = Transformer.from_crs(crss[name], target, always_xy=True)
            geoms = np.asarray(f["geometry"].tolist(), dtype=object)
            g["geometry"] = list(shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))))
        g.attrs = {**f.attrs, "crs": target.to_string()}
        out[name] = g
    return out
