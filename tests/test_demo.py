"""The synthetic demo city: schema conformance, determinism, calibration and known effects."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from cityanalytics import schemas
from cityanalytics.demo import TABLES, campaigns, generate, generate_truth, write_demo
from cityanalytics.demo.dust import LIMITS

N_SMALL = 5_000
N_BIG = 200_000  # enough cases for the calibration and campaign checks to be tight


@pytest.fixture(scope="module")
def small():
    return generate(seed=2025, n_cases=N_SMALL)


@pytest.fixture(scope="module")
def big():
    return generate(seed=2025, n_cases=N_BIG)


@pytest.fixture(scope="module")
def truth():
    return generate_truth(seed=2025, n_cases=N_BIG)


def _expected_dtype(kind: str):
    return pd.PeriodDtype("M") if kind == "month" else pd.api.types.pandas_dtype(schemas.DTYPES[kind])


# --- conformance ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", TABLES)
def test_tables_validate_against_schema(small, name):
    df = small[name]
    assert list(df.columns) == schemas.table(name).names
    schemas.pandera_schema(name, present=list(df.columns)).validate(df, lazy=True)
    for c in schemas.table(name).columns:
        assert df[c.name].dtype == _expected_dtype(c.kind), c.name
    assert len(df) > 0


def test_sizes(small, big):
    assert len(small["cases"]) == N_SMALL and len(big["cases"]) == N_BIG
    units = small["districts"]
    own = units[units["unit_id"].str.startswith("9901")]  # the demo city's own; the rest are neighbouring cities
    assert 10 <= len(own) <= 16
    assert {"市", "区", "街道", "镇", "功能区"} <= set(units["level"])
    assert 300 <= len(small["communities"]) <= 1500
    assert {"城市", "农村"} == set(small["communities"]["area_type"])


def test_codes_are_fictional(small):
    codes = small["districts"]["division_code"].dropna()
    assert codes.str.startswith("99").all()
    assert (small["cases"]["unit_id"].str.startswith("99")).all()


def test_boundary_change(big):
    change = big["unit_changes"].iloc[0]
    assert change["change"] == "撤镇设街道"
    assert change["effective_on"] == pd.Timestamp("2021-01-01")
    assert {change["old_unit_id"], change["new_unit_id"]} <= set(big["districts"]["unit_id"])
    cases = big["cases"]
    old = cases[cases["unit_id"] == change["old_unit_id"]]
    new = cases[cases["unit_id"] == change["new_unit_id"]]
    assert len(old) and len(new)
    assert old["reported_at"].max() < change["effective_on"] <= new["reported_at"].min()


def test_case_ids_and_lifecycle(small):
    cases = small["cases"]
    assert cases["case_id"].is_unique
    assert cases["reported_at"].is_monotonic_increasing
    assert cases["case_id"].str.match(r"^SF\d{14}$").all()
    assert cases["due_at"].notna().all()
    assert cases["reported_at"].between("2019-01-01", "2025-07-01").all()
    assert set(cases["category"]) == {"部件", "事件"}


# --- determinism and scaling ---------------------------------------------------------------

def test_same_seed_same_data(small):
    again = generate(seed=2025, n_cases=N_SMALL)
    for name in TABLES:
        pd.testing.assert_frame_equal(small[name], again[name])


def test_other_seed_other_data(small):
    other = generate(seed=7, n_cases=N_SMALL)
    for name in ("cases", "dust_samples", "communities", "assessments"):
        assert not small[name].equals(other[name]), name
    pd.testing.assert_frame_equal(small["districts"], other["districts"])


def test_case_count_changes_only_cases(small):
    other = generate(seed=2025, n_cases=1_234)
    assert len(other["cases"]) == 1_234
    for name in TABLES:
        if name != "cases":
            pd.testing.assert_frame_equal(small[name], other[name])


def test_written_files_are_byte_identical(tmp_path):
    def digest(d):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}

    write_demo(tmp_path / "a", n_cases=2_000)
    write_demo(tmp_path / "b", n_cases=2_000)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


# --- calibration ---------------------------------------------------------------------------

def _rates(cases: pd.DataFrame, by=None):
    """Disposal and on-time rates over non-suspended cases, as the case indicators count them."""
    c = cases[~cases["suspended"]]
    c = c.assign(disposed=c["disposed_at"].notna(),
                 ontime=(c["disposed_at"] <= c["due_at"]).fillna(False).astype(bool))
    return c.groupby(by)[["disposed", "ontime"]].mean() if by else c[["disposed", "ontime"]].mean()


def test_city_disposal_and_ontime_rates(big):
    rates = _rates(big["cases"])
    assert rates["disposed"] == pytest.approx(0.988, abs=0.003)
    assert rates["ontime"] == pytest.approx(0.980, abs=0.004)


def test_units_differ_and_match_truth(big, truth):
    by_unit = _rates(big["cases"], by="unit_id")
    assert by_unit["ontime"].min() < 0.965 < 0.99 < by_unit["ontime"].max()
    for unit_id, p in truth["cases"]["disposal"]["by_unit"].items():
        assert by_unit.loc[unit_id, "ontime"] == pytest.approx(p["p_ontime"], abs=0.01)


def test_rework_suspension_and_open_cases(big):
    cases = big["cases"]
    assert 0.01 <= cases["reopened"].mean() <= 0.02
    assert 0.002 <= cases["suspended"].mean() <= 0.01
    open_at_end = cases["closed_at"].isna() & ~cases["suspended"]
    last_week = cases["reported_at"] >= "2025-06-24"
    assert (open_at_end & last_week).sum() > 0
    assert (cases.loc[cases["suspended"], "disposed_at"]).isna().all()


def test_volume_and_seasonality(big):
    day = big["cases"]["reported_at"].dt.floor("D")
    daily = day.value_counts().reindex(pd.date_range("2019-01-01", "2025-06-30"), fill_value=0)
    by_month = daily.groupby(daily.index.month).mean()
    assert by_month.loc[[7, 8]].mean() > 1.1 * by_month.loc[[11, 12]].mean()  # summer peak
    for new_year in ("2023-01-22", "2024-02-10"):
        ny = pd.Timestamp(new_year)
        festival = daily[ny - pd.Timedelta(days=2): ny + pd.Timedelta(days=6)].mean()
        around = pd.concat([daily[ny - pd.Timedelta(days=30): ny - pd.Timedelta(days=16)],
                            daily[ny + pd.Timedelta(days=16): ny + pd.Timedelta(days=30)]]).mean()
        assert festival < 0.8 * around  # Spring Festival dip
    per_year = daily.groupby(daily.index.year).sum()
    assert per_year.loc[2024] > per_year.loc[2019]  # mild upward trend


def test_default_volume_matches_hailing():
    t = generate_truth()
    assert 450_000 <= t["n_cases"] <= 490_000  # ~72,000 a year for ~900,000 people, 6.5 years
    assert t["synthetic"] is True and "合成" in t["label_zh"]


def test_dust_compliance(small, truth):
    d = small["dust_samples"]
    ok = d["dust_g_m2"].to_numpy(dtype=float) <= d["lane_type"].map(LIMITS).to_numpy(dtype=float)
    assert 0.88 <= ok.mean() <= 0.96
    by_unit = pd.Series(ok).groupby(d["unit_id"].to_numpy()).mean()
    assert by_unit.max() - by_unit.min() > 0.05
    assert set(d["lane_type"]) == set(LIMITS)
    assert truth["dust"]["limits_g_m2"] == {"机动车道": 3.0, "非机动车道": 8.0, "人行道": 10.0, "背街小巷": 10.0}


def test_assessments(small):
    a = small["assessments"]
    assert a["score"].between(70, 100).all() and 80 <= a["score"].mean() <= 95
    assert (a["problems_rectified"] <= a["problems_found"]).all()
    assert a.groupby("period").size().eq(10).all()


# --- sorting coverage truth ----------------------------------------------------------------

def test_coverage_truth_has_winners_and_losers(truth):
    units = truth["communities"]["by_unit"]
    months = truth["communities"]["months"]
    assert months[-1] == "2026-12"
    at_2025_12 = {u: v["coverage_curve"][months.index("2025-12")] for u, v in units.items()}
    assert any(v >= 0.98 for v in at_2025_12.values())
    assert any(v < 0.98 for v in at_2025_12.values())
    # at least one unit reaches 98% after the data end: the forecasting case
    reach = [v["curve_reaches_98_on_month"] for v in units.values()]
    assert any(r is not None and "2025-07" <= r for r in reach)


def test_register_agrees_with_truth(small, truth):
    c = small["communities"]
    months = truth["communities"]["months"]
    i = months.index("2025-06")
    started = c["sorting_started_on"].notna().groupby(c["unit_id"]).mean()
    for unit_id, v in truth["communities"]["by_unit"].items():
        assert started[unit_id] == pytest.approx(v["coverage_realized"][i], abs=1e-6)
    assert (c["compliant_on"].isna() | (c["compliant_on"] >= c["sorting_started_on"])).all()
    assert c["sorting_started_on"].max() <= pd.Timestamp("2025-06-30")


# --- campaigns -----------------------------------------------------------------------------

def _did(cases, treated, subs, window, pre):
    """Difference in log counts, treated vs control units, window vs pre-period."""
    x = cases[cases["subcategory"].isin(subs)]
    day = x["reported_at"].dt.floor("D")
    t = x["unit_id"].isin(treated)

    def n(mask, a, b):
        return int((mask & (day >= a) & (day <= b)).sum())

    return (np.log(n(t, *window) / n(t, *pre)) - np.log(n(~t, *window) / n(~t, *pre)))


def test_campaigns_table(small):
    c = small["campaigns"]
    c1 = c[c["campaign_id"] == campaigns.C1_ID]
    assert list(c1["phase"].unique()) == ["宣传启动", "综合治理", "检查考评"]
    assert c1["start_date"].min() == pd.Timestamp("2022-07-22")
    assert c1["end_date"].max() == pd.Timestamp("2022-10-31")
    c2 = c[c["campaign_id"] == campaigns.C2_ID]
    assert c2["start_date"].nunique() > 3  # staggered


def test_campaign_effect_is_in_the_data(big, truth):
    c1 = truth["campaigns"][0]
    main = c1["phases"][1]
    pre = ("2022-03-01", "2022-07-21")
    est = _did(big["cases"], c1["treated_units"], c1["targets"], (main["start"], main["end"]), pre)
    assert est == pytest.approx(main["log_effect"], abs=0.15)
    placebo = _did(big["cases"], c1["treated_units"], ["道路破损", "路灯不亮", "井盖破损", "道路不洁"],
                   (main["start"], main["end"]), pre)
    assert abs(placebo) < 0.12


def test_staggered_campaign_effect(big, truth):
    c2 = truth["campaigns"][1]
    early = [u for u, d in c2["adoption"].items() if d <= "2022-03-01"]
    cases = big["cases"][big["cases"]["subcategory"].isin(c2["targets"])]
    year = cases["reported_at"].dt.year

    def n(units, years):
        return int((cases["unit_id"].isin(units) & year.isin(years)).sum())

    never = c2["never_adopted"]
    est = (np.log(n(early, [2023, 2024]) / n(early, [2019, 2020]))
           - np.log(n(never, [2023, 2024]) / n(never, [2019, 2020])))
    assert est == pytest.approx(c2["full_log_effect"], abs=0.15)


# --- files and CLI -------------------------------------------------------------------------

def test_cli_writes_all_files(tmp_path):
    from cityanalytics.cli import main

    assert main(["demo", "--out", str(tmp_path), "--cases", "20000"]) == 0
    for name in TABLES:
        assert (tmp_path / f"{name}.parquet").exists(), name
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    assert truth["synthetic"] is True and truth["label_zh"] == "合成演示数据,非真实城市"
    assert set(truth["_doc"]) <= set(truth)
    assert "合成演示数据" in (tmp_path / "README.txt").read_text(encoding="utf-8")
    expected = generate(seed=2025, n_cases=20_000)
    for name in TABLES:
        df = pd.read_parquet(tmp_path / f"{name}.parquet")
        if name == "assessments":  # months are stored as text YYYY-MM
            df["period"] = pd.PeriodIndex(df["period"].astype(object), freq="M")
        pd.testing.assert_frame_equal(df, expected[name])


def _read_csv(path, name):
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    out = {}
    for c in schemas.table(name).columns:
        s = df[c.name].replace("", None)
        if c.kind == "month":
            out[c.name] = pd.PeriodIndex(s.astype(object), freq="M")
        elif c.kind in ("date", "datetime"):
            out[c.name] = pd.to_datetime(s).astype("datetime64[ns]")
        elif c.kind == "bool":
            out[c.name] = s.map({"true": True, "false": False}).astype("boolean")
        elif c.kind == "int":
            out[c.name] = pd.to_numeric(s).astype("Int64")
        elif c.kind in ("float", "percent"):
            out[c.name] = pd.to_numeric(s).astype("Float64")
        else:
            out[c.name] = s.astype("string")
    return pd.DataFrame(out)


def test_csv_round_trip(tmp_path):
    files = write_demo(tmp_path, n_cases=3_000, fmt="csv")
    expected = generate(seed=2025, n_cases=3_000)
    assert set(files) == set(TABLES) | {"truth"}
    for name in TABLES:
        assert files[name].suffix == ".csv"
        pd.testing.assert_frame_equal(_read_csv(files[name], name), expected[name], check_exact=False)


def test_loaders_read_the_demo_back(tmp_path):
    from cityanalytics import io

    files = write_demo(tmp_path, n_cases=300)
    expected = generate(seed=2025, n_cases=300)
    for name in TABLES:
        result = io.load(files[name], name)
        assert result.report.rows_rejected == 0, result.report.summary()
        assert result.report.rows_read == result.report.rows_kept == len(expected[name])
        pd.testing.assert_frame_equal(result.frame, expected[name])
