"""The demo city's record-level inputs for the plan targets: the asset register and its checks.

They go through the raw exports and the recipe like every other demo table; the rates are hand-counted
here from the built records (not from the indicator code) and compared with the truth file, and the
plan-progress report on the built workspace takes the targets from them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cityanalytics.demo import write_demo
from cityanalytics.demo.exports import write_exports

ASSET_TARGETS = {"zb_lighting_main": ("路灯", ("主干路",)), "zb_lighting_secondary": ("路灯", ("次干路", "背街小巷")),
                 "zlt_lighting_overall": ("路灯", None), "zb_intact_minor": ("道路", ("支路", "背街小巷"))}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from cityanalytics.workspace.build import build, write

    root = tmp_path_factory.mktemp("demo_inputs")
    demo, ws = root / "demo", root / "ws"
    write_demo(demo, n_cases=300)
    write_exports(demo, ws)
    report = build(ws)
    write(report)
    truth = json.loads((demo / "truth.json").read_text(encoding="utf-8"))
    return ws, report, truth


def _table(ws: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(ws / "tables" / f"{name}.parquet")


def test_asset_tables_build_with_no_bad_record(built):
    ws, _, truth = built
    load = json.loads((ws / "tables" / "build.json").read_text(encoding="utf-8"))
    for name in ("assets", "inspections"):
        entry = load["tables"][name]
        # no bad record; the one row the builder sets aside is the export's 合计 line
        assert entry["rows_kept"] == truth["tables"][name] and entry["bad_rows"] == 0, name
        assert entry["rows_rejected"] == 1, name
    assets = _table(ws, "assets")
    lamps = assets[assets["kind"] == "路灯"]["road_class"].value_counts().to_dict()
    assert lamps == truth["assets"]["lamps"] == {"主干路": 1000, "次干路": 600, "背街小巷": 400, "支路": 2000}


def test_asset_rates_equal_the_truth_hand_counted(built):
    """Each round checks every lamp (segment) of its kind once, so a month's rate is lit (intact) / checked."""
    ws, _, truth = built
    assets, checks = _table(ws, "assets"), _table(ws, "inspections")
    d = checks.merge(assets[["asset_id", "kind", "road_class"]], on="asset_id")
    d["month"] = pd.to_datetime(d["inspected_at"]).dt.strftime("%Y-%m")
    assert not d.duplicated(["asset_id", "month"]).any()  # one check per asset and month
    for tid, (kind, classes) in ASSET_TARGETS.items():
        part = d[(d["kind"] == kind) & (d["road_class"].isin(classes) if classes else True)]
        by_month = part.groupby("month")["ok"].agg(["sum", "count"])
        got = {m: round(100 * int(r["sum"]) / int(r["count"]), 6) for m, r in by_month.iterrows()}
        assert got == truth["assets"]["targets"][tid]["values"], tid
    # the figures the plan feed reports for the same targets (what the rounds were built to give)
    values = truth["assets"]["targets"]
    assert values["zb_lighting_main"]["values"]["2020-12"] == 94.0  # 940 of 1,000 主干路 lamps
    assert values["zb_lighting_main"]["values"]["2024-12"] == 95.6
    assert values["zlt_lighting_overall"]["values"]["2022-10"] == 96.2  # 3,848 of 4,000 lamps
    assert values["zb_intact_minor"]["values"]["2024-12"] == 94.7  # 947 of 1,000 segments


def test_asset_indicators_agree_with_the_truth(built):
    from cityanalytics.indicators.assets import asset_indicators
    from cityanalytics.indicators.frame import CITY

    ws, _, truth = built
    f = asset_indicators(_table(ws, "assets"), _table(ws, "inspections"), freq="M")
    city = f[(f["unit_id"] == CITY) & (f["indicator"] == "street_light_on_rate") & (f["group"] == "road_class=主干路")]
    city = city[city["denominator"] > 0]
    got = {str(p): round(100 * n / d, 6) for p, n, d in zip(city["period"], city["numerator"], city["denominator"])}
    assert got == truth["assets"]["targets"]["zb_lighting_main"]["values"]


def test_plan_progress_takes_the_asset_targets_from_the_records(built):
    from cityanalytics.plans import plan_progress

    ws, _, truth = built
    res = plan_progress(ws, period="2025-06", n_paths=200, seed=1)
    t = res.table.set_index("target_id")
    design = truth["plan_targets"]["targets"]
    for tid in ASSET_TARGETS:
        assert t.loc[tid, "road"] == "table" and t.loc[tid, "source"].startswith("assets/inspections"), tid
        assert design[tid]["road"] == "table"
        light = "on_track" if t.loc[tid, "light"] == "green" else "behind"
        assert light == design[tid]["design"], tid
        last = truth["assets"]["targets"][tid]["values"]
        assert t.loc[tid, "value"] == pytest.approx(last[max(m for m in last if m <= "2024-12"
                                                             and (tid != "zlt_lighting_overall" or m <= "2022-10"))])
    assert design["zb_lighting_main"]["design"] == "behind"  # built to miss: 95.6% in 2024 against 98% by 2025
    c = res.counts()
    assert {"on_track": c["green"], "behind": c["amber"] + c["red"], "no_data": c["none"]} == \
        truth["plan_targets"]["counts"] == {"on_track": 69, "behind": 15, "no_data": 0}


# ---- places: parks, residential areas, green land ------------------------------------------------

PLACE_TARGETS = ("zb_park_coverage", "zb_park_per_capita", "zb_green_space_rate")


def _features(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["features"]


def test_place_values_equal_the_truth_hand_computed(built):
    """By hand from the GeoJSON: ground areas on the WGS84 ellipsoid (pyproj.Geod, not the library's
    projection); a block is covered when a park of 5,000 m² or more built by then lies within 500 m
    (GB/T 50563-2010), every block being wholly in or wholly out (its park is 20 m away, the next 700 m)."""
    import shapely
    from pyproj import Geod
    from shapely.geometry import shape

    from cityanalytics.demo.boundaries import ORIGIN

    ws, _, truth = built
    geod = Geod(ellps="WGS84")

    def ground(g) -> float:
        return abs(geod.geometry_area_perimeter(g)[0])

    parks = [(shape(f["geometry"]), f["properties"]["built_year"]) for f in _features(ws / "parks.geojson")]
    homes = [(shape(f["geometry"]), f["properties"]["population"]) for f in _features(ws / "residential.geojson")]
    land = [(shape(f["geometry"]), f["properties"]["built_year"]) for f in _features(ws / "land_use.geojson")]
    city = next(shape(f["geometry"]) for f in _features(ws / "boundaries.geojson") if f["properties"]["level"] == "市")
    people = sum(n for _, n in homes)
    assert len(homes) == 100 and len({round(ground(g)) for g, _ in homes}) <= 2  # equal 9 ha blocks
    plane = lambda g: shapely.transform(g, ORIGIN.forward)  # noqa: E731 - metres, for distances only
    values = truth["places"]["targets"]
    for year in range(2020, 2025):
        built_parks = [g for g, y in parks if y <= year]
        big = [plane(g) for g in built_parks if ground(g) >= 5000]
        near = [min(plane(h).distance(p) for p in big) for h, _ in homes]
        assert all(d < 30 or d > 600 for d in near)  # wholly in or wholly out
        covered = 100 * sum(d <= 500 for d in near) / len(homes)
        assert covered == values["zb_park_coverage"]["values"][str(year)]
        per_capita = sum(ground(g) for g in built_parks) / people
        assert per_capita == pytest.approx(values["zb_park_per_capita"]["values"][str(year)], rel=1e-5)
        green = shapely.union_all([g for g, y in land if y <= year]).intersection(city)
        ratio = 100 * ground(green) / ground(city)
        assert ratio == pytest.approx(values["zb_green_space_rate"]["values"][str(year)], abs=2e-3)
    assert values["zb_park_coverage"]["values"]["2024"] == 81.0  # built to miss 85% by 2025
    assert values["zb_park_per_capita"]["values"]["2020"] == 18.6


def test_plan_progress_takes_the_place_targets_from_the_layers(built):
    from cityanalytics.plans import plan_progress

    ws, _, truth = built
    t = plan_progress(ws, period="2025-06", n_paths=200, seed=1).table.set_index("target_id")
    design = truth["plan_targets"]["targets"]
    for tid in PLACE_TARGETS:
        assert t.loc[tid, "road"] == "table" and t.loc[tid, "source"].startswith("places("), tid
        assert design[tid]["road"] == "table"
        assert ("on_track" if t.loc[tid, "light"] == "green" else "behind") == design[tid]["design"], tid
        assert t.loc[tid, "value"] == pytest.approx(truth["places"]["targets"][tid]["values"]["2024"], rel=1e-4)
    assert design["zb_park_coverage"]["design"] == "behind"


# ---- the 市民满意度 survey ------------------------------------------------------------------------


def test_survey_builds_and_its_indices_equal_the_truth_hand_computed(built):
    """Share satisfied = Σ w·[answer is 满意 or 非常满意] / Σ w, by hand from the built records; the
    survey estimator gives the same, and each unit's 120 answers hold whole counts of each option."""
    from cityanalytics.survey.satisfaction import LIKERT_5, satisfaction_index

    ws, _, truth = built
    load = json.loads((ws / "tables" / "build.json").read_text(encoding="utf-8"))["tables"]["survey_responses"]
    assert load["rows_kept"] == truth["tables"]["survey_responses"] == 7200 and load["bad_rows"] == 0
    assert load["rows_rejected"] == 1  # the 合计 line
    d = _table(ws, "survey_responses")
    assert sorted(d["wave"].unique()) == ["2024H2", "2025H1"]
    assert (d.groupby(["wave", "unit_id", "question"]).size() == 120).all()
    assert (d.groupby("unit_id")["stratum"].nunique() == 1).all() and d["psu"].nunique() == 120
    values = truth["survey"]["values"]
    for question in truth["survey"]["questions"]:
        est = satisfaction_index(d, question, scores=LIKERT_5)
        for wave in ("2024H2", "2025H1"):
            part = d[(d["question"] == question) & (d["wave"] == wave)]
            happy = part["answer"].isin(["满意", "非常满意"])
            city = 100 * (part["weight"] * happy).sum() / part["weight"].sum()
            assert city == pytest.approx(values[question][wave]["city"]["share_satisfied"], abs=1e-5)
            for unit, g in part.groupby("unit_id"):
                share = 100 * g["answer"].isin(["满意", "非常满意"]).mean()  # one weight per unit
                assert share == pytest.approx(values[question][wave][unit]["share_satisfied"], abs=1e-5)
                got = est[(est["unit_id"] == unit) & (est["wave"] == wave) & (est["measure"] == "share_satisfied")]
                assert 100 * got["value"].iloc[0] == pytest.approx(share)
    # 鹭洲街道, 总体满意度, 2024H2: 80% + 0 + 0 - 0 satisfied by design -> 97 of 120 answers (80.83%)
    assert values["总体满意度"]["2024H2"]["990102001000"]["share_satisfied"] == pytest.approx(100 * 97 / 120)


def test_a_satisfaction_target_is_judged_on_the_survey(built):
    """No plan in targets.yaml sets a numeric satisfaction target; a workspace's own (满意率 >= 85% by 2025-12-31,
    总体满意度) is judged on the survey's city-wide weighted share, one value per wave (2024H2, 2025H1)."""
    from cityanalytics.plans.sources import Sources
    from cityanalytics.workspace import open_workspace

    ws, _, truth = built
    w = open_workspace(ws)
    src = Sources({"survey_responses": w.table("survey_responses"), "districts": w.table("districts")})
    target = {"target_id": "my_satisfaction", "indicator": "survey_satisfied_share", "scope": "总体满意度"}
    s, reason = src.series(target)
    assert reason == "" and s.road == "table" and s.source.startswith("survey_responses(总体满意度")
    assert s.dates == [pd.Timestamp("2024-12-31"), pd.Timestamp("2025-06-30")]
    city = truth["survey"]["values"]["总体满意度"]
    assert s.values == pytest.approx([city["2024H2"]["city"]["share_satisfied"], city["2025H1"]["city"]["share_satisfied"]])
    s, reason = src.series({**target, "scope": "全市"})  # three questions: the scope must name one
    assert s is None and "总体满意度" in reason
