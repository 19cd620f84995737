"""Counts with an exposure (population, households, road length) as the offset instead of days:
the published Sicily smoking-ban ITS (Lopez Bernal, Cummins & Gasparrini 2017) reproduced
through ``its(..., exposure="stdpop")``, and a DiD with a population offset checked against
a Poisson GLM with explicit unit and period dummies."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.did import did
from cityanalytics.impact.its import its
from cityanalytics.impact.panel import exposure_offset

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")

SICILY = Path(__file__).parent / "data" / "sicily_its" / "sicily.csv"
BAN = Campaign.from_dates("公共场所禁烟令", {"禁烟": ["2005-01-01", "2006-11-30"]}, ["西西里"])
ITS_PLAIN = dict(effect="level", post="level", weekday=False, spring_festival=False, holidays=False)


def sicily_panel() -> pd.DataFrame:
    d = pd.read_csv(SICILY)
    assert len(d) == 59 and d["aces"].sum() == 48_914
    start = pd.to_datetime(dict(year=d["year"], month=d["month"], day=1))
    panel = pd.DataFrame({"unit_id": "西西里", "period": start, "period_end": start + pd.offsets.MonthEnd(0)})
    panel["days"] = (panel["period_end"] - panel["period"]).dt.days + 1
    panel["count"] = d["aces"].to_numpy()
    panel["stdpop"] = d["stdpop"].to_numpy()
    panel.attrs["freq"] = "M"
    return panel


def test_sicily_step_change_reproduces_the_published_rate_ratio():
    """The tutorial's main model: Poisson, log(stdpop) offset, a step at January 2005 and a
    linear trend. Published: ban coefficient -0.1116, rate ratio 0.894. Our trend is in
    years of the mean day of each month, the paper's in month numbers: the same model up to
    the unequal month lengths, so the coefficient agrees to 4 decimals (-0.111638 against
    -0.111628); our own design matrix refitted by statsmodels agrees to 1e-8."""
    panel = sicily_panel()
    days_before = panel["days"].copy()
    r = its(panel, BAN, seasonality="none", exposure="stdpop", **ITS_PLAIN)
    row = r.effect("campaign")
    assert round(row["coef"], 4) == -0.1116
    assert round(math.exp(row["coef"]), 3) == 0.894
    assert round(row["pct"], 1) == -10.6
    pd.testing.assert_series_equal(panel["days"], days_before)  # the exposure never overwrites days
    # The same GLM, fitted by statsmodels on our design with log(stdpop) as the offset.
    ref = sm.GLM(panel["count"].to_numpy(float), r.design.to_numpy(), family=sm.families.Poisson(),
                 offset=np.log(panel["stdpop"].to_numpy())).fit()
    np.testing.assert_allclose(r.table["coef"].iloc[0], ref.params[-1], rtol=1e-8)
    np.testing.assert_allclose(r.series["fitted"], ref.fittedvalues, rtol=1e-7)
    # Pearson dispersion = the quasi-Poisson scale R reports (3.559 on 56 df).
    assert r.diagnostics["dispersion"] == pytest.approx(ref.pearson_chi2 / ref.df_resid, rel=1e-8)
    assert round(r.diagnostics["dispersion"], 2) == 3.56
    # The paper's time variable (month number) reproduces R's coefficient to 1e-6.
    X = np.column_stack([np.ones(59), (panel["period"] >= "2005-01-01").astype(float), np.arange(1, 60)])
    paper = sm.GLM(panel["count"].to_numpy(float), X, family=sm.families.Poisson(),
                   offset=np.log(panel["stdpop"].to_numpy())).fit()
    assert paper.params[1] == pytest.approx(-0.111628, abs=1e-6)
    assert "以「stdpop」为暴露量偏移" in r.spec


def test_sicily_seasonally_adjusted_model_matches_the_published_rate_ratio():
    """Second harmonic seasonality (the paper: harmonic(month, 2, 12), RR 0.885)."""
    r = its(sicily_panel(), BAN, seasonality="fourier", fourier_order=2, exposure="stdpop", **ITS_PLAIN)
    assert round(math.exp(r.effect("campaign")["coef"]), 3) == 0.885


def test_exposure_offset_counts_a_partial_period_by_its_share_of_days():
    df = pd.DataFrame({"unit_id": ["a", "a"], "period": pd.to_datetime(["2024-01-01", "2024-02-01"]),
                       "period_end": pd.to_datetime(["2024-01-31", "2024-02-29"]), "days": [31, 10],
                       "population": [1000.0, 1000.0]})
    np.testing.assert_allclose(exposure_offset(df, "population"),
                               [math.log(1000.0), math.log(1000.0 * 10 / 29)], rtol=1e-12)
    np.testing.assert_allclose(exposure_offset(df, None), np.log([31.0, 10.0]))
    df.loc[1, "population"] = np.nan
    with pytest.raises(ValueError, match=r"exposure 'population'.*1 rows.*a 2024-02-01"):
        exposure_offset(df, "population")
    with pytest.raises(ValueError, match="households"):
        exposure_offset(df, "households")


def _population_panel(seed: int = 5, units: int = 24, months: int = 36, effect: float = math.log(0.8)):
    rng = np.random.default_rng(seed)
    start = pd.date_range("2021-01-01", periods=months, freq="MS")
    rows = []
    pop0 = rng.uniform(2e4, 4e5, units)
    treated = [f"u{i:02d}" for i in range(units // 3)]
    for i in range(units):
        u = f"u{i:02d}"
        growth = rng.uniform(-0.01, 0.02)
        for t, p in enumerate(start):
            pop = pop0[i] * (1 + growth) ** t
            post = u in treated and p >= pd.Timestamp("2022-07-01")
            lam = pop * 1e-3 * math.exp(0.1 * math.sin(t / 2) + effect * post + 0.02 * i)
            rows.append((u, p, p + pd.offsets.MonthEnd(0), rng.poisson(lam), pop))
    panel = pd.DataFrame(rows, columns=["unit_id", "period", "period_end", "count", "population"])
    panel["days"] = (panel["period_end"] - panel["period"]).dt.days + 1
    panel.attrs["freq"] = "M"
    camp = Campaign.from_dates("示范行动", {"整治": ["2022-07-01", "2023-12-31"]}, treated)
    return panel, camp


def test_did_with_a_population_offset_equals_a_poisson_glm_with_dummies():
    panel, camp = _population_panel()
    r = did(panel, camp, model="poisson", effect="level", post="exclude", exposure="population",
            event_study=False)
    d = panel.copy()
    d["D"] = (d["unit_id"].isin(camp.units) & (d["period"] >= "2022-07-01")).astype(float)
    d["t"] = d["period"].dt.strftime("%Y-%m")
    m = smf.glm("count ~ D + C(unit_id) + C(t)", d, family=sm.families.Poisson(),
                offset=np.log(d["population"])).fit()
    assert r.table.iloc[0]["coef"] == pytest.approx(m.params["D"], abs=1e-8)
    lo, hi = r.table.iloc[0][["ci_low", "ci_high"]]
    assert lo < math.log(0.8) < hi
    assert r.options["exposure"] == "population" and "以人口(population)为暴露量偏移" in r.spec
    # With days as the exposure the estimate differs (populations drift), so the option matters.
    r_days = did(panel, camp, model="poisson", effect="level", post="exclude", event_study=False)
    assert abs(r_days.table.iloc[0]["coef"] - r.table.iloc[0]["coef"]) > 1e-4


def test_exposure_is_refused_for_a_continuous_outcome():
    panel, camp = _population_panel()
    panel["rate"] = panel["count"] / panel["population"] * 1e4
    with pytest.raises(ValueError, match="exposure is an offset for counts"):
        did(panel, camp, outcome="rate", exposure="population", event_study=False)
    with pytest.raises(ValueError, match="exposure is an offset for counts"):
        its(panel, camp, outcome="rate", exposure="population", **ITS_PLAIN)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from cityanalytics.demo import write_demo

    out = tmp_path_factory.mktemp("demo")
    write_demo(out, n_cases=20_000)
    return out


def test_run_takes_the_exposure_from_the_districts_table(demo):
    from cityanalytics.impact import run
    from cityanalytics.impact.report import scope_markdown

    kw = dict(campaign_id="C2022-BRGJ", freq="M", robustness_checks=[], post="level")
    rep = run(str(demo), **kw, exposure="population")
    assert rep.exposure == "population" and "以人口(population)为暴露量" in scope_markdown(rep)
    assert rep.its.options["exposure"] == "population" and rep.did.options["exposure"] == "population"
    # ITS: the covered units' summed population is the offset (full months: no share of days).
    s = rep.its.series
    pop = rep.panel[rep.panel["unit_id"].isin(rep.campaign.units)].groupby("period")["population"].sum()
    assert len(s) == len(pop)
    ref = sm.GLM(s["observed"].to_numpy(float), rep.its.design.to_numpy(), family=sm.families.Poisson(),
                 offset=np.log(pop.to_numpy(float) * s["days"].to_numpy() /
                               ((s["period_end"] - s["period"]).dt.days + 1).to_numpy())).fit()
    np.testing.assert_allclose(rep.its.series["fitted"], ref.fittedvalues, rtol=1e-6)
    # DiD: a population fixed per unit is absorbed by the unit effects, exactly as the days
    # are by the period effects, so the estimate is the days-offset one.
    days = run(str(demo), **kw)
    np.testing.assert_allclose(rep.did.table["coef"], days.did.table["coef"], atol=1e-7)
    with pytest.raises(ValueError, match=r"exposure/covariate/weights 'road_km' is not a panel column.*districts column "
                                         r"\(.*population.*households"):
        run(str(demo), **kw, exposure="road_km")


def test_a_case_measure_that_is_a_value_runs_gaussian(demo):
    """outcome: disposal_hours (mean hours to disposal, a case measure that is not a count):
    Gaussian ITS and least-squares DiD, equal to OLS with unit and period dummies."""
    from cityanalytics.impact import run

    rep = run(str(demo), campaign_id="C2022-BRGJ", outcome="disposal_hours", freq="M", post="exclude",
              effect="level", robustness_checks=[])
    assert rep.outcome.column == "disposal_hours" and rep.outcome.unit == "小时"
    assert rep.its.options["family"] == "gaussian" and rep.did.options["model"] == "ols"
    d = rep.panel.dropna(subset=["disposal_hours"])
    d = d[d["period"] <= rep.campaign.end].copy()
    assert len(rep.did.data) == len(d)  # the DiD's own rows: the same observations
    d["t"] = d["period"].dt.strftime("%Y-%m")
    # the campaign term: the share of the month's days inside the campaign (July 2022: 10 of 31 days)
    from cityanalytics.impact.design import DayAxis, campaign_columns

    grid = rep.panel.drop_duplicates("period").sort_values("period")[["period", "period_end"]]
    axis = DayAxis(grid.reset_index(drop=True), rep.panel.attrs["window"])
    share_by_period = dict(zip(grid["period"], campaign_columns(axis, rep.campaign, effect="level")["campaign"]))
    d["D"] = d["unit_id"].isin(rep.campaign.units) * d["period"].map(share_by_period)
    m = smf.ols("disposal_hours ~ D + C(unit_id) + C(t)", d).fit()
    assert rep.did.table.iloc[0]["coef"] == pytest.approx(m.params["D"], abs=1e-8)
