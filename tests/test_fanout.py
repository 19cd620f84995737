"""Fan-out batches share the city-wide part of the comparison report: the bulletin refocused from
the batch's bundle equals the one computed for the unit alone, the bundle is keyed by settings
and data, a unit's report is the same cell by cell, and ``demo --units N`` makes a bigger city."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from cityanalytics.compare import build_bulletin
from cityanalytics.compare.data import load_level
from cityanalytics.compare.shared import ENV, KEY_ENV
from cityanalytics.demo import units as demo_units
from cityanalytics.demo import write_demo

ROOT = Path(__file__).resolve().parents[1]
INDICATORS = ["case_ontime_disposal_rate", "case_closure_rate", "case_rework_rate",
              "road_dust_sample_compliance_rate", "sorting_coverage_communities", "assessment_score_mean"]
SETTINGS = dict(period="", indicators=INDICATORS, weights_preset="gbt30428_unit", target_plan="海陵", n_boot=200,
                rank_draws="jeffreys", list_rule={"basis": "composite", "red_top": 3, "black_bottom": 3,
                                                  "outside_limit": 0.998})


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo(out, n_cases=30_000)
    return out


def _same_result(a, b, where: str) -> None:
    assert list(a.table.columns) == list(b.table.columns), where
    pd.testing.assert_frame_equal(a.table, b.table, obj=where)
    assert a.sentences == b.sentences, where
    assert a.spec == b.spec, where


def _same_bulletin(a, b) -> None:
    for name in ("leagues", "funnels", "trends"):
        assert list(getattr(a, name)) == list(getattr(b, name))
        for key in getattr(a, name):
            _same_result(getattr(a, name)[key], getattr(b, name)[key], f"{name}[{key}]")
    for name in ("composite", "lists", "targets"):
        _same_result(getattr(a, name), getattr(b, name), name)
    assert (a.focus, a.notes, a.skipped, a.sentences, a.key_sentences) == \
        (b.focus, b.notes, b.skipped, b.sentences, b.key_sentences)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.overview(), b.overview())
    assert a.level.names == b.level.names and a.level.units == b.level.units
    assert {k: v for k, v in a.settings.items() if k != "targets"} == \
        {k: v for k, v in b.settings.items() if k != "targets"}


def test_refocused_bulletin_equals_the_units_own(demo, tmp_path, monkeypatch):
    units = list(load_level(demo, "街道").units)
    # a street, a town, the zone, the retired 石鼓镇 (reported as 石鼓街道), a district (another level), the city
    focuses = [units[0], units[-2], units[-1], "990102101000", "990102", ""]
    alone = {u: build_bulletin(demo, unit_id=u, **SETTINGS) for u in focuses}
    monkeypatch.setenv(ENV, str(tmp_path / "shared"))
    monkeypatch.setenv(KEY_ENV, "batch-secret")
    for u in focuses:
        _same_bulletin(alone[u], build_bulletin(demo, unit_id=u, **SETTINGS))
    assert "已因区划调整并入" in " ".join(alone["990102101000"].notes)
    bundles = sorted(p.name for p in (tmp_path / "shared").iterdir())
    assert len(bundles) == 1 and bundles[0].startswith("bulletin-")  # computed once for the whole batch


def test_bundle_is_never_reused_for_other_settings_or_data(demo, tmp_path, monkeypatch):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(demo, data)
    shared = tmp_path / "shared"
    monkeypatch.setenv(ENV, str(shared))
    monkeypatch.setenv(KEY_ENV, "batch-secret")
    focus = "990103102000"
    build_bulletin(data, unit_id=focus, **SETTINGS)
    other = build_bulletin(data, unit_id=focus, **{**SETTINGS, "n_boot": 300})
    monkeypatch.delenv(ENV)
    _same_bulletin(other, build_bulletin(data, unit_id=focus, **{**SETTINGS, "n_boot": 300}))
    assert len(list(shared.iterdir())) == 2
    # the data change (assessments of one unit): a new bundle, and the new figures
    table = pd.read_parquet(data / "assessments.parquet")
    table.loc[table["unit_id"] == focus, "score"] = 50.0
    table.to_parquet(data / "assessments.parquet")
    fresh = build_bulletin(data, unit_id=focus, **SETTINGS)
    monkeypatch.setenv(ENV, str(shared))
    changed = build_bulletin(data, unit_id=focus, **SETTINGS)
    assert len(list(shared.iterdir())) == 3
    _same_bulletin(fresh, changed)
    league = changed.leagues["assessment_score_mean"].table
    assert float(league.loc[league["unit_id"] == focus, "value"].iloc[0]) == 50.0


class _Planted:
    """Unpickling this writes a file: the proof that a bundle was loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def test_a_bundle_not_signed_with_the_batch_key_is_never_unpickled(demo, tmp_path, monkeypatch):
    import pickle

    import hmac

    focus = "990103102000"
    folder = tmp_path / "shared"
    monkeypatch.setenv(ENV, str(folder))
    monkeypatch.setenv(KEY_ENV, "batch-secret")
    build_bulletin(demo, unit_id=focus, **SETTINGS)
    (bundle,) = list(folder.iterdir())
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Planted(marker))
    for forged in (payload, b"x" * 32 + payload, hmac.new(b"another-key", payload, "sha256").digest() + payload):
        bundle.write_bytes(forged)
        result = build_bulletin(demo, unit_id=focus, **SETTINGS)
        assert not marker.exists()  # recomputed, never unpickled
        _same_bulletin(result, build_bulletin(demo, unit_id=focus, **{**SETTINGS}))
    monkeypatch.delenv(KEY_ENV)  # no key: nothing shared at all
    bundle.write_bytes(hmac.new(b"batch-secret", payload, "sha256").digest() + payload)
    build_bulletin(demo, unit_id=focus, **SETTINGS)
    assert not marker.exists()


def test_split_units_are_deterministic_and_add_up():
    plan = demo_units.split_units(300, 2025)
    assert plan == demo_units.split_units(300, 2025)
    parts = [u for _, ps in plan for u in ps]
    assert len(parts) == 300 and len({u.unit_id for u in parts}) == 300 and len({u.name_zh for u in parts}) == 300
    for s, ps in plan:
        unit = demo_units.SERIES[s]
        assert ps[0].unit_id == unit.unit_id and ps[0].name_zh == unit.name_zh  # campaigns still refer to it
        assert sum(p.population for p in ps) == unit.population
        assert abs(sum(p.area_km2 for p in ps) - unit.area_km2) < 1e-6
        assert {p.level for p in ps} == {unit.level} and {p.parent_id for p in ps} == {unit.parent_id}
        assert all(re.fullmatch(r"[\u4e00-\u9fff]{2}(街道|镇)", p.name_zh) for p in ps[1:])
        assert all(p.unit_id.startswith(unit.parent_id) and len(p.unit_id) == 12 for p in ps[1:])
    assert len(plan[9][1]) == 1  # the functional zone is not split
    with pytest.raises(ValueError, match="at least 10"):
        demo_units.split_units(5, 2025)


def test_demo_units_makes_a_bigger_city(tmp_path):
    from cityanalytics import cli

    small, big = tmp_path / "small", tmp_path / "big"
    assert cli.main(["demo", "--out", str(small), "--cases", "20000"]) == 0
    assert cli.main(["demo", "--out", str(big), "--cases", "20000", "--units", "40"]) == 0
    d0, d1 = pd.read_parquet(small / "districts.parquet"), pd.read_parquet(big / "districts.parquet")
    current = d1[d1["level"].isin(["街道", "镇", "功能区"]) & (d1["unit_id"] != "990102101000")]
    assert len(current) == 40
    # city and district totals unchanged; every row of every table kept, each on a current unit
    assert d1.loc[d1["level"] == "市", "population"].tolist() == d0.loc[d0["level"] == "市", "population"].tolist()
    assert current["population"].sum() == d0.loc[d0["unit_id"].isin(demo_units.series_ids()[:10]), "population"].sum()
    known = set(d1["unit_id"])
    for table in ("cases", "dust_samples", "communities"):
        a, b = pd.read_parquet(small / f"{table}.parquet"), pd.read_parquet(big / f"{table}.parquet")
        assert len(a) == len(b) and set(b["unit_id"].dropna()) <= known
        assert b["unit_id"].nunique() > a["unit_id"].nunique()
    ass = pd.read_parquet(big / "assessments.parquet")
    assert ass.groupby("period")["unit_id"].nunique().max() == 40
    truth = json.loads((big / "truth.json").read_text(encoding="utf-8"))
    assert truth["split_units"]["n_units"] == 40 and truth["tables"]["assessments"] == len(ass)
    shapes = json.loads((big / "boundaries.geojson").read_text(encoding="utf-8"))
    assert set(current["unit_id"]) <= {f["properties"]["unit_id"] for f in shapes["features"]}
    assert cli.main(["demo", "--out", str(tmp_path / "x"), "--units", "40", "--workspace", str(tmp_path / "w")]) == 2


# --- the report itself, made the old way and the new way ----------------------------------------

_VOLATILE = [(re.compile(r"T_[0-9a-f]{5}"), "T_x"),  # pandas Styler's random table ids
             (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "uuid"),
             (re.compile(r" at 0x[0-9a-f]+>"), " at 0x>")]  # an object's address in its text/plain repr


def _outputs(notebook: Path, *paths: str) -> list:
    """Each code cell's source and outputs, with the run's own paths and random ids neutral."""
    nb = nbformat.read(notebook, as_version=4)
    text = json.dumps([(c.source, c.outputs) for c in nb.cells if c.cell_type == "code"], ensure_ascii=False)
    for path in paths:
        text = text.replace(json.dumps(str(path))[1:-1], "<run>")
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return json.loads(text)


def test_unit_report_is_the_same_made_alone_or_from_the_bundle(demo, tmp_path):
    from cityanalytics.report import batch, runner

    spec = yaml.safe_load((ROOT / "params" / "district_report.yaml").read_text(encoding="utf-8"))
    spec["parameters"]["workspace"] = str(demo)
    spec["units"] = ["990103102000", "990102002000"]  # the second unit's report loads the first's bundle
    run_file = tmp_path / "params" / "dr.yaml"
    run_file.parent.mkdir()
    run_file.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    reports = {}
    for way in ("old", "new"):
        planner = batch.Planner(ROOT, tmp_path / way, "2025-06", pdf=False)
        jobs = planner.plan(run_file)
        assert [j.error for j in jobs] == [None, None] and all(j.shared for j in jobs)
        if way == "old":
            jobs = [dataclasses.replace(jobs[1], shared=None)]
        metas = [runner.run_job(j) for j in jobs]
        assert [m["status"] for m in metas] == ["ok"] * len(jobs), metas[-1].get("error")
        reports[way] = jobs[-1].target / "report.ipynb"
    shared = Path(planner.plan(run_file)[0].shared)  # planning again empties the run's shared folders
    assert not shared.exists() and not shared.parent.exists()
    old, new = _outputs(reports["old"], tmp_path / "old"), _outputs(reports["new"], tmp_path / "new")
    assert len(old) == len(new) > 10
    for i, (a, b) in enumerate(zip(old, new)):
        assert a == b, f"code cell {i} differs: {a[0][:80]!r}"
    assert any("image/png" in o.get("data", {}) for _, outs in new for o in outs)  # figures compared too
