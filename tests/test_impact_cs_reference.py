"""Callaway-Sant'Anna against R `did` on its own example data, estimates and standard errors.

Data (tests/data/mpdta/, see ATTRIBUTION.md): R did's ``mpdta`` (500 counties x 2003-2007, log
teen employment ``lemp``, log population ``lpop``, first treated year ``first.treat``) and the
simulated panel ``sim_data`` (R did's ``build_sim_dataset``), as shipped by the csdid project
with R reference output made by R did 2.5.0 with ``bstrap=FALSE`` (analytic standard errors):

- ref_attgt.csv / ref_aggte.csv / ref_pretest.csv (csdid test_csdid/r_ref/generate_reference.R):
  ATT(g,t), aggte simple/group/dynamic/calendar and the Wald pre-test W / Wpval for never- and
  not-yet-treated controls (dr), lpop with est_method="reg", ipw, and sim_data with covariate X
  and the doubly robust estimator;
- ref_gaps.csv (csdid generate_gaps_reference.R): universal base period and anticipation = 1.

The doubly robust estimator with covariate lpop on mpdta is checked against the printed example
of R did 2.5.1's att_gt help page (https://bcallaway11.github.io/did/reference/att_gt.html):
estimates printed to 4 decimals, the pre-test p-value to 5 (its standard errors there are
bootstrap draws, so the analytic ones are checked on sim_data instead).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cityanalytics.impact.cs_api import att_gt

DATA = Path(__file__).parent / "data" / "mpdta"
TOL = 1e-4  # the brief's tolerance; the differences measured are below 1e-12

SCENARIOS = {
    "mpdta_nev_dr": dict(control="nevertreated", est_method="dr"),
    "mpdta_nyt_dr": dict(control="notyettreated", est_method="dr"),
    "mpdta_nev_reg_cov": dict(control="nevertreated", est_method="reg", covariates=["lpop"]),
    "mpdta_nev_ipw": dict(control="nevertreated", est_method="ipw"),
    "sim_nev_dr": dict(control="nevertreated", est_method="dr", covariates=["X"]),
}


@pytest.fixture(scope="module")
def mpdta():
    return pd.read_csv(DATA / "mpdta.csv")


@pytest.fixture(scope="module")
def sim():
    return pd.read_csv(DATA / "sim_data.csv.gz")


def _fit(scn, mpdta, sim, **kw):
    if scn.startswith("sim"):
        return att_gt(sim, y="Y", time="period", unit="id", group="G", **SCENARIOS[scn], **kw)
    return att_gt(mpdta, y="lemp", time="year", unit="countyreal", group="first.treat", **SCENARIOS[scn], **kw)


@pytest.mark.parametrize("scn", list(SCENARIOS))
def test_att_gt_cells_match_r(scn, mpdta, sim):
    ref = pd.read_csv(DATA / "ref_attgt.csv")
    ref = ref[ref["scenario"] == scn].reset_index(drop=True)
    t = _fit(scn, mpdta, sim).table
    assert list(t["group"]) == list(ref["group"]) and list(t["time"]) == list(ref["t"])
    np.testing.assert_allclose(t["att"], ref["att"], atol=TOL, rtol=0)
    np.testing.assert_allclose(t["se"], ref["se"], atol=TOL, rtol=0)


@pytest.mark.parametrize("scn", list(SCENARIOS))
@pytest.mark.parametrize("kind", ["simple", "group", "dynamic", "calendar"])
def test_aggregations_match_r(scn, kind, mpdta, sim):
    ref = pd.read_csv(DATA / "ref_aggte.csv")
    ref = ref[(ref["scenario"] == scn) & (ref["type"] == kind)].reset_index(drop=True)
    agg = _fit(scn, mpdta, sim).aggregate(kind)
    assert agg.overall["att"] == pytest.approx(ref["overall_att"][0], abs=TOL)
    assert agg.overall["se"] == pytest.approx(ref["overall_se"][0], abs=TOL)
    if kind == "simple":
        assert agg.table.empty
        return
    label = {"group": "group", "calendar": "time", "dynamic": "event_time"}[kind]
    assert list(agg.table[label]) == list(ref["egt"].astype(int))
    np.testing.assert_allclose(agg.table["att"], ref["att_egt"], atol=TOL, rtol=0)
    np.testing.assert_allclose(agg.table["se"], ref["se_egt"], atol=TOL, rtol=0)


@pytest.mark.parametrize("scn", list(SCENARIOS))
def test_pretest_matches_r(scn, mpdta, sim):
    ref = pd.read_csv(DATA / "ref_pretest.csv").set_index("scenario").loc[scn]
    p = _fit(scn, mpdta, sim).pretest
    assert p["statistic"] == pytest.approx(ref["W"], abs=TOL)
    assert p["p_value"] == pytest.approx(ref["Wpval"], abs=1e-5)  # R rounds Wpval to 5 decimals


@pytest.mark.parametrize("scn, kw", [("universal", dict(base_period="universal")), ("anticipation1", dict(anticipation=1))])
def test_universal_base_and_anticipation_match_r(scn, kw, mpdta):
    ref = pd.read_csv(DATA / "ref_gaps.csv")
    ref = ref[ref["scenario"] == scn].reset_index(drop=True)
    t = att_gt(mpdta, y="lemp", time="year", unit="countyreal", group="first.treat", est_method="reg", **kw).table
    assert list(zip(t["group"], t["time"])) == list(zip(ref["group"], ref["t"]))
    np.testing.assert_allclose(t["att"], ref["att"], atol=TOL, rtol=0)
    assert (t["se"].isna() == ref["se"].isna()).all()  # the universal base period's own cells: 0, SE NA
    np.testing.assert_allclose(t["se"].dropna(), ref["se"].dropna(), atol=TOL, rtol=0)


# R did 2.5.1 help page att_gt, examples "Using covariates" (out2, never treated) and
# "Specify comparison units" (out3, not yet treated): xformla = ~lpop, est_method "dr".
R_LPOP_DR = {
    "nevertreated": ([-0.0145, -0.0764, -0.1404, -0.1069, -0.0005, -0.0062, 0.0010, -0.0413,
                      0.0267, -0.0046, -0.0284, -0.0288], 0.23267),
    "notyettreated": ([-0.0212, -0.0816, -0.1382, -0.1069, -0.0075, -0.0046, 0.0087, -0.0413,
                       0.0269, -0.0042, -0.0284, -0.0288], 0.23326),
}


@pytest.mark.parametrize("control", list(R_LPOP_DR))
def test_doubly_robust_with_lpop_matches_r_help_page(control, mpdta):
    r = att_gt(mpdta, y="lemp", time="year", unit="countyreal", group="first.treat", covariates=["lpop"],
               control=control)
    est, pval = R_LPOP_DR[control]
    np.testing.assert_allclose(r.table["att"], est, atol=5e-5 + 1e-12, rtol=0)
    assert r.pretest["p_value"] == pytest.approx(pval, abs=5e-6 + 1e-12)
    assert r.options["est_method"] == "dr"


def test_dynamic_window_and_balance(mpdta):
    """min_e / max_e / balance_e pick event times and cohorts as R aggte does (hand-checked
    against the cells: balance_e=1 keeps cohorts 2004 and 2006, whose e=1 exists)."""
    r = att_gt(mpdta, y="lemp", time="year", unit="countyreal", group="first.treat")
    full = r.aggregate("dynamic").table.set_index("event_time")
    win = r.aggregate("dynamic", min_e=-1, max_e=1).table.set_index("event_time")
    assert list(win.index) == [-1, 0, 1]
    np.testing.assert_allclose(win["att"], full.loc[[-1, 0, 1], "att"], atol=1e-12)
    bal = r.aggregate("dynamic", balance_e=1)
    cells = r.table[r.table["group"].isin([2004, 2006])]
    n = mpdta.groupby("countyreal")["first.treat"].first().value_counts()
    e0 = cells[cells["event_time"] == 0]
    expect = (e0["att"] * e0["group"].map(n)).sum() / e0["group"].map(n).sum()
    assert bal.table.set_index("event_time").loc[0, "att"] == pytest.approx(expect, abs=1e-12)
    assert list(bal.table["event_time"]) == [-2, -1, 0, 1]
    tidy = bal.tidy()
    assert tidy["term"].iloc[-1] == "dynamic:overall" and np.isfinite(tidy["std_error"]).all()


def test_result_reads_well_in_a_notebook(mpdta):
    t0 = time.perf_counter()
    r = att_gt(mpdta, y="lemp", time="year", unit="countyreal", group="first.treat", covariates=["lpop"])
    for kind in ("simple", "group", "calendar", "dynamic"):
        r.aggregate(kind)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, elapsed  # the full run on 500 units x 5 years, dr with a covariate
    assert "bstrap=FALSE" in r.spec and "乘数自助法" in r.spec and "双重稳健" in r.spec
    assert "预检验" in r.summary() and "ATT" in r.summary()
    tidy = r.tidy()
    assert list(tidy.columns[:4]) == ["term", "group", "time", "estimate"] and len(tidy) == 12
    V = r.vcov()
    np.testing.assert_allclose(np.sqrt(np.diag(V)), r.table["se"], rtol=1e-12)
    import matplotlib.pyplot as plt

    assert r.plot() is not None and r.aggregate("dynamic").plot() is not None
    plt.close("all")


def test_bad_input_is_named(mpdta):
    kw = dict(y="lemp", time="year", unit="countyreal", group="first.treat")
    with pytest.raises(ValueError, match="lpopx"):
        att_gt(mpdta, covariates=["lpopx"], **kw)
    with pytest.raises(ValueError, match="control must be one of"):
        att_gt(mpdta, control="never", **kw)
    gap = mpdta.drop(index=3)
    with pytest.raises(ValueError, match="lack some periods.*8001"):
        att_gt(gap, **kw)
    missing = mpdta.copy()
    missing.loc[7, "lemp"] = np.nan
    with pytest.raises(ValueError, match="row 7.*'lemp' is missing"):
        att_gt(missing, **kw)
    treated = mpdta[mpdta["first.treat"] > 0]
    with pytest.raises(ValueError, match="no never-treated unit"):
        att_gt(treated, **kw)


def test_dates_and_missing_for_never_treated_give_the_same_cells(mpdta):
    """Periods as dates and never treated as missing (the project's panels) instead of R's
    years and 0: the same ATT(g, t) and standard errors."""
    base = att_gt(mpdta, y="lemp", time="year", unit="countyreal", group="first.treat").table
    first = mpdta["first.treat"].where(mpdta["first.treat"] > 0)
    dated = mpdta.assign(year=pd.to_datetime(mpdta["year"].astype(str) + "-01-01"),
                         start=pd.to_datetime(first.map(lambda v: f"{int(v)}-01-01" if v == v else None)))
    t = att_gt(dated, y="lemp", time="year", unit="countyreal", group="start").table
    np.testing.assert_allclose(t["att"], base["att"], atol=1e-14)
    np.testing.assert_allclose(t["se"], base["se"], atol=1e-14)
    assert t["group"].iloc[0] == pd.Timestamp("2004-01-01")


def test_collinear_covariates_are_named(mpdta):
    """A covariate that is a copy of another makes the 2x2 regressions singular: a clear error."""
    d = mpdta.assign(lpop2=mpdta["lpop"] * 2)
    with pytest.raises(ValueError, match="collinear"):
        att_gt(d, y="lemp", time="year", unit="countyreal", group="first.treat", covariates=["lpop", "lpop2"])
