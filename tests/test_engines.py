"""The same indicators on DuckDB (the default) and on Spark local mode, on a small demo city.

Spark needs a Java runtime: without one the Spark tests fail with a message naming it
(``scripts/install-system-deps.sh`` installs Debian's default-jre-headless with the test extra).
"""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cityanalytics.compare.data import read
from cityanalytics.demo import write_demo
from cityanalytics.engines import Engine, engine_of
from cityanalytics.engines import connect
from cityanalytics.indicators import assessments, dust, sorting
from cityanalytics.indicators import (CITY, assessment_indicators, case_indicators, dust_indicators,
                                      sorting_indicators)

SPARK = Engine(kind="spark", master="local[1]")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("engines") / "demo"
    write_demo(out, n_cases=6_000)
    return out


@pytest.fixture(scope="module")
def spark():
    connect.java_runtime()  # a RuntimeError naming the missing Java runtime, never a skip
    con = connect.spark_backend(SPARK)
    yield SPARK
    con._session.stop()
    connect._spark.pop(SPARK, None)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Every row, count, rate and interval identical, and the same attributes."""
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)
    assert a.attrs == b.attrs


def test_case_indicators_agree(demo, spark):
    path = demo / "cases.parquet"
    on_duckdb = case_indicators(path)
    on_spark = case_indicators(path, engine=spark)
    _same(on_duckdb, on_spark)
    # Not only equal to each other: the city's cases filed add up to the file's rows.
    filed = on_spark[(on_spark["indicator"] == "case_filed") & (on_spark["unit_id"] == CITY)]
    assert filed["value"].sum() == pq.ParquetFile(path).metadata.num_rows == 6_000
    assert {"case_disposal_rate", "case_ontime_closure_rate", "case_hours_to_close_median"} <= set(on_spark["indicator"])


def test_case_indicators_agree_rolled_up_by_category_and_quarter(demo, spark):
    cases = pd.read_parquet(demo / "cases.parquet").drop(columns="due_at")  # deadlines from the time limits
    units = sorted(cases["unit_id"].dropna().unique())
    unit_map = {u: f"D{i % 3}" for i, u in enumerate(units)}
    kw = dict(freq="Q", by="category", unit_map=unit_map, as_of="2025-06-15", indicators=[
        "case_filed", "case_disposal_rate", "case_ontime_disposal_rate", "case_closure_rate", "case_rework_rate"])
    on_duckdb = case_indicators(cases, **kw)
    on_spark = case_indicators(cases, engine=spark, **kw)
    _same(on_duckdb, on_spark)
    assert set(on_spark["unit_id"]) == {"D0", "D1", "D2", CITY}


def _same_counts(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Every row, key, count (numerator, denominator: samples, communities, households, problems)
    and rate identical; means and their t intervals, whose sums of floats each engine adds in its
    own order, equal to 1e-12 (relative); the same attributes."""
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    means = a["ci_method"] == "t"
    assert means.equals(b["ci_method"] == "t")
    floats = ["value", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(a.drop(columns=floats), b.drop(columns=floats), check_exact=True)
    pd.testing.assert_frame_equal(a.loc[~means, floats], b.loc[~means, floats], check_exact=True)
    pd.testing.assert_frame_equal(a.loc[means, floats], b.loc[means, floats], check_exact=False, rtol=1e-12)
    assert a.attrs == b.attrs


@pytest.mark.parametrize("table, indicators, family", [
    ("dust_samples", dust_indicators, dust.INDICATORS), ("communities", sorting_indicators, sorting.INDICATORS),
    ("assessments", assessment_indicators, assessments.INDICATORS)])
def test_table_indicators_agree(demo, spark, table, indicators, family):
    on_duckdb = indicators(read(demo, table))  # the canonical table, as reports read it
    on_spark = indicators(str(demo / f"{table}.parquet"), engine=spark)  # summed by Spark
    _same_counts(on_duckdb, on_spark)
    assert set(on_spark["indicator"]) == set(family)  # every indicator of the family, every count compared
    assert len(on_spark) > 100


def test_table_indicators_agree_rolled_up_by_quarter(demo, spark):
    units = sorted(read(demo, "communities")["unit_id"].dropna().unique())
    kw = dict(freq="Q", unit_map={u: f"D{i % 3}" for i, u in enumerate(units)})
    for table, indicators in [("dust_samples", dust_indicators), ("communities", sorting_indicators),
                              ("assessments", assessment_indicators)]:
        _same_counts(indicators(read(demo, table), **kw),
                     indicators(str(demo / f"{table}.parquet"), engine=spark, **kw))


def test_table_counts_add_up_to_the_files(demo, spark):
    """The engine's sums against the raw files: the city's counts over the whole window are the
    file's rows (samples, communities) and column sums (problems found and rectified)."""
    def city(frame, indicator, group=""):
        return frame[(frame["indicator"] == indicator) & (frame["unit_id"] == CITY) & (frame["group"] == group)]

    samples = pd.read_parquet(demo / "dust_samples.parquet")
    dust_all = dust_indicators(str(demo / "dust_samples.parquet"), engine=spark, freq="all")
    ok = city(dust_all, "road_dust_sample_compliance_rate")
    limits = samples["lane_type"].map(dust.DEFAULT_LIMITS)
    assert ok["denominator"].item() == len(samples)
    assert ok["numerator"].item() == int((samples["dust_g_m2"] <= limits).sum())
    lane = city(dust_all, "road_dust_mean", "lane_type=机动车道")
    motor = samples.loc[samples["lane_type"] == "机动车道", "dust_g_m2"]
    assert lane["denominator"].item() == len(motor)
    assert lane["value"].item() == pytest.approx(motor.mean(), rel=1e-12)

    register = pd.read_parquet(demo / "communities.parquet")
    cover = city(sorting_indicators(str(demo / "communities.parquet"), engine=spark, freq="all"),
                 "sorting_coverage_households")
    assert cover["denominator"].item() == register["households"].sum()
    assert cover["numerator"].item() == register.loc[register["sorting_started_on"].notna(), "households"].sum()

    marks = pd.read_parquet(demo / "assessments.parquet")
    rate = city(assessment_indicators(str(demo / "assessments.parquet"), engine=spark, freq="all"),
                "assessment_rectification_rate")
    assert (rate["numerator"].item(), rate["denominator"].item()) == \
        (marks["problems_rectified"].sum(), marks["problems_found"].sum())


def test_engine_setting():
    assert engine_of(None) == Engine() == engine_of("duckdb")
    assert engine_of({"kind": "spark", "master": "local[2]", "conf": {"spark.executor.memory": "2g"}}) == \
        Engine(kind="spark", master="local[2]", conf={"spark.executor.memory": "2g"})
    with pytest.raises(ValueError, match="engine.kind must be one of duckdb, spark"):
        engine_of({"kind": "bigquery"})
    with pytest.raises(ValueError, match=r"sources.yaml: engine: unknown key\(s\) host"):
        engine_of({"kind": "spark", "host": "x"}, where="sources.yaml: engine")
    with pytest.raises(ValueError, match="master and conf are Spark settings"):
        engine_of({"kind": "duckdb", "master": "local[1]"})


def test_missing_java_is_named(monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(connect.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="needs a Java runtime.*default-jre-headless"):
        connect.java_runtime()


def test_workspace_names_its_engine(tmp_path):
    from cityanalytics.workspace.recipe import RecipeError, read_recipe

    recipe = tmp_path / "sources.yaml"
    recipe.write_text('engine: {kind: spark, master: "local[1]"}\ntables:\n  cases:\n    files: [cases.csv]\n',
                      encoding="utf-8")
    assert read_recipe(tmp_path).engine == SPARK
    recipe.write_text("engine: {kind: spark, host: x}\ntables:\n  cases:\n    files: [cases.csv]\n", encoding="utf-8")
    with pytest.raises(RecipeError, match=r"sources.yaml: engine: unknown key\(s\) host"):
        read_recipe(tmp_path)


def test_comparison_frame_on_spark(demo, spark):
    from cityanalytics.compare import data as compare_data

    level = compare_data.load_level(demo, "district")
    inds = ["case_filed", "case_ontime_disposal_rate", "road_dust_sample_compliance_rate"]
    on_duckdb = compare_data.compute(demo, inds, level, "2025-06", history=2)
    on_spark = compare_data.compute(demo, inds, level, "2025-06", history=2, engine=spark)
    _same(on_duckdb, on_spark)
    assert set(on_spark["indicator"]) == set(inds)


def test_run_file_names_the_engine(tmp_path):
    """A run file's ``engine`` parameter reaches the bulletin notebook (a kind or a mapping);
    anything else is refused when the run file is read."""
    import yaml
    from pathlib import Path

    from cityanalytics.report.params import ParamError, load_run

    root = Path(__file__).resolve().parents[1]
    run = yaml.safe_load((root / "params" / "district_comparison.yaml").read_text(encoding="utf-8"))
    run["notebook"] = str(root / run["notebook"])
    path = tmp_path / "district_comparison.yaml"
    for engine in ("spark", {"kind": "spark", "master": "local[1]"}):
        run["parameters"]["engine"] = engine
        path.write_text(yaml.safe_dump(run, allow_unicode=True), encoding="utf-8")
        assert load_run(path, root).values()["engine"] == engine
    run["parameters"]["engine"] = 2
    path.write_text(yaml.safe_dump(run, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ParamError, match=r"parameters.engine: expected str or dict"):
        load_run(path, root)


def test_bulletin_on_the_engine_its_parameters_name(demo, spark, monkeypatch):
    from cityanalytics.compare import build_bulletin
    from cityanalytics.compare import bulletin

    asked, compute = [], bulletin.compute  # the bulletin's own name for compare.data.compute
    monkeypatch.setattr(bulletin, "compute", lambda *a, **k: asked.append(k.get("engine")) or compute(*a, **k))

    kw = dict(period="2025-06", indicators=["case_filed", "road_dust_sample_compliance_rate",
                                            "sorting_coverage_communities", "assessment_score_mean"],
              weights_preset="", weights=None, target_plan="", trend_periods=2, target_window=2, n_boot=50)
    on_duckdb = build_bulletin(demo, **kw).frame
    on_spark = build_bulletin(demo, engine={"kind": "spark", "master": "local[1]"}, **kw).frame
    _same_counts(on_duckdb, on_spark)
    assert set(on_spark["indicator"]) == set(kw["indicators"])
    assert asked == [None, {"kind": "spark", "master": "local[1]"}]  # None: the workspace's (DuckDB)


def test_dust_values_missing_on_both_engines(spark):
    """Hand-counted: a sample with no dust value counts as a sample that does not comply; a lane
    with no value is not judged, and a road with no value at all gets no verdict (not counted)."""
    samples = pd.DataFrame({
        "sample_id": list("abcdefgh"), "road_id": ["r1", "r1", "r1", "r2", "r2", "r3", "r3", "r1"],
        "road_name": "x", "unit_id": "U", "road_class": "主干路",
        "lane_type": ["机动车道", "机动车道", "人行道", "机动车道", "非机动车道", "机动车道", "人行道", "背街小巷"],
        "sampled_on": pd.Timestamp("2023-04-10"),
        # limits 3 / 3 / 10 / 3 / 8 / 3 / 10 / 10
        "dust_g_m2": pd.array([2.0, 4.0, 9.0, 3.0, 8.5, None, None, None], dtype="Float64"),
    })
    for engine in (None, spark):
        f = dust_indicators(samples, include_city=False, engine=engine)
        got = f.set_index(["indicator", "group"])
        # a, c, d comply; b (4 > 3) and e (8.5 > 8) do not; f, g, h carry no value
        assert tuple(got.loc[("road_dust_sample_compliance_rate", ""), ["numerator", "denominator"]]) == (3, 8)
        # r1: motor mean 3.0 <= 3, sidewalk 9 <= 10, back lane unmeasured -> complies; r2 fails; r3 no verdict
        assert tuple(got.loc[("road_dust_road_compliance_rate", ""), ["numerator", "denominator"]]) == (1, 2)
        motor = got.loc[("road_dust_mean", "lane_type=机动车道")]
        assert (motor["value"], motor["denominator"]) == (3.0, 3)  # (2 + 4 + 3) / 3; f has no value


def test_sorting_register_with_gaps_on_both_engines(spark):
    """Hand-counted: a community with no unit counts in the city only, one with no area type in
    the all-areas group only, and a missing household count makes household coverage missing
    where it enters (missing in, missing out), never a smaller total."""
    register = pd.DataFrame({
        "community_id": list("abcd"), "name_zh": list("甲乙丙丁"), "unit_id": ["U", "U", None, "U"],
        "area_type": ["城市", "农村", "城市", None], "households": pd.array([100, None, 50, 200], dtype="Int64"),
        "sorting_started_on": pd.to_datetime(["2021-01-10", "2021-02-01", "2021-01-31", None]),
        "compliant_on": pd.to_datetime(["2021-02-05", None, "2021-01-20", None]),
    })
    for engine in (None, spark):
        f = sorting_indicators(register, start="2021-01-01", end="2021-02-28", engine=engine)
        got = f.set_index(["indicator", "unit_id", "period", "group"])

        def row(ind, unit, month, group=""):
            return got.loc[(ind, unit, pd.Period(month, "M"), group)]

        jan, feb = "2021-01", "2021-02"
        assert tuple(row("sorting_coverage_communities", "U", jan)[["numerator", "denominator"]]) == (1, 3)
        assert tuple(row("sorting_coverage_communities", "U", feb)[["numerator", "denominator"]]) == (2, 3)
        assert tuple(row("sorting_coverage_communities", CITY, feb)[["numerator", "denominator"]]) == (3, 4)
        urban = row("sorting_coverage_households", CITY, jan, "area_type=城市")
        assert (urban["numerator"], urban["denominator"], urban["value"]) == (150, 150, 100.0)  # a and c
        assert pd.isna(row("sorting_coverage_households", "U", feb)["value"])  # b's households unknown
        assert pd.isna(row("sorting_coverage_households", "U", feb, "area_type=农村")["denominator"])
        assert row("sorting_compliant_communities_new", "U", feb)["value"] == 1  # a
        assert row("sorting_compliant_communities_new", CITY, jan)["value"] == 1  # c, no unit
        assert ("sorting_coverage_communities", "U", pd.Period(jan, "M"), "area_type=None") not in got.index
