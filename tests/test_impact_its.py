"""Interrupted time series: recovery of the demo city's known campaign effects and decay,
interval coverage over simulated cities, placebo (null) rejection rate, and a cross-check of
coefficients and errors against statsmodels fitted directly on the same design matrix."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from cityanalytics.demo import campaigns as demo_campaigns
from cityanalytics.demo import generate, generate_truth
from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.its import its
from cityanalytics.impact.panel import case_panel, period_grid
from cityanalytics.impact.simulate import phased_panel

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # figures without a CJK font

TERMS = ["phase:宣传启动", "phase:综合治理", "phase:检查考评", "post"]


def _truth_from_file(truth: dict) -> tuple[dict, float]:
    c1 = next(c for c in truth["campaigns"] if c["campaign_id"] == demo_campaigns.C1_ID)
    effects = {f"phase:{p['phase']}": p["log_effect"] for p in c1["phases"]}
    effects["post"] = c1["phases"][-1]["log_effect"]  # the decay starts from the last phase's effect
    return effects, c1["after_end"]["half_life_days"]


def _covers(table: pd.DataFrame, term: str, value: float) -> bool:
    row = table.set_index("term").loc[term]
    return bool(row["ci_low"] <= value <= row["ci_high"])


@pytest.fixture(scope="module")
def demo(demo_city):
    tables = demo_city.tables("cases", "campaigns", "unit_changes", "assessments")
    truth = demo_city.truth()
    camp = Campaign.from_table(tables["campaigns"], demo_campaigns.C1_ID, tables["unit_changes"])
    return tables, truth, camp


def test_campaign_read_from_the_campaigns_table(demo):
    tables, truth, camp = demo
    c1 = truth["campaigns"][0]
    assert [p.name for p in camp.phases] == [p["phase"] for p in c1["phases"]]
    assert camp.end == pd.Timestamp("2022-10-31") and not camp.staggered
    assert set(camp.units) == set(c1["treated_units"]) and list(camp.outcomes) == c1["targets"]


def test_case_panel_counts_every_case_and_fills_zeros(demo):
    tables, _, camp = demo
    p = case_panel(tables["cases"], camp.outcomes, freq="M", unit_changes=tables["unit_changes"])
    cases = tables["cases"]
    assert p["count"].sum() == cases["subcategory"].isin(camp.outcomes).sum()
    assert p.groupby("unit_id").size().nunique() == 1  # balanced: every unit has every month
    assert "990102101000" not in set(p["unit_id"])  # the old id of 石鼓 is mapped to its successor
    assert p["days"].iloc[0] == 31 and p["days"].sum() == 10 * (pd.Timestamp("2025-06-30") - pd.Timestamp("2019-01-01")).days + 10
    g = period_grid("2022-07-22", "2022-08-10", "W")
    assert g["period"].iloc[0] == pd.Timestamp("2022-07-18") and g["days"].tolist() == [3, 7, 7, 3]  # Friday 22 July to Wednesday 10 August


def test_its_recovers_the_demo_campaign(demo):
    """Weekly ITS on the five covered units: every phase effect, the effect at the end and
    the half-life (45 days) inside their 95% intervals; cases averted positive."""
    tables, truth, camp = demo
    effects, half_life = _truth_from_file(truth)
    p = case_panel(tables["cases"], camp.outcomes, freq="W", unit_changes=tables["unit_changes"])
    r = its(p, camp, n_draws=500)
    for term, value in effects.items():
        assert _covers(r.table, term, value), (term, r.table.set_index("term").loc[term].to_dict(), value)
    d = r.diagnostics
    assert d["half_life_low"] <= half_life <= d["half_life_high"] and not d["persistent"]
    assert 30 < d["half_life"] < 70
    assert d["averted_total_low"] > 0 and 1.2 < d["dispersion"] < 3
    main = r.effect("phase:综合治理")
    assert main["pct_high"] < -30 and main["averted_per_month_low"] > 0
    text = r.summary()
    assert "综合治理阶段" in text and "半衰期约" in text and "件/月" in text
    assert "Newey-West" in r.spec and "泊松回归" in r.spec


@pytest.mark.slow
def test_its_recovers_across_demo_seeds():
    """Weekly ITS on four other demo cities: the true value inside the 95% interval in at
    least 14 of the 16 (seed, term) cases and the half-life in at least 3 of 4."""
    hits, hl = 0, 0
    for seed in (11, 12, 13, 14):
        tables = generate(seed=seed, n_cases=250_000)
        effects, half_life = _truth_from_file(generate_truth(seed=seed, n_cases=250_000))
        camp = Campaign.from_table(tables["campaigns"], demo_campaigns.C1_ID, tables["unit_changes"])
        p = case_panel(tables["cases"], camp.outcomes, freq="W", unit_changes=tables["unit_changes"])
        r = its(p, camp, n_draws=100)
        hits += sum(_covers(r.table, t, v) for t, v in effects.items())
        hl += r.diagnostics["half_life_low"] <= half_life <= r.diagnostics["half_life_high"]
    assert hits >= 14 and hl >= 3, (hits, hl)


@pytest.mark.slow
def test_its_interval_coverage_over_simulated_cities():
    """200 simulated cities (the demo's generating structure, monthly data): the 95%
    intervals of each phase effect and of the post-campaign effect cover the truth 88-99%
    of the time; the half-life's profile interval at least 88%."""
    n = 200
    cover = np.zeros((n, 4), dtype=bool)
    cover_hl = np.zeros(n, dtype=bool)
    for s in range(n):
        panel, camp, truth = phased_panel(10_000 + s, freq="M", start="2019-07-01", end="2024-06-30")
        r = its(panel, camp, n_draws=10)
        cover[s] = [_covers(r.table, t, truth[t.split(":")[-1]]) for t in TERMS]
        d = r.diagnostics
        cover_hl[s] = d["half_life_low"] <= truth["half_life"] <= d["half_life_high"]
    rates = cover.mean(axis=0)
    assert np.all((rates >= 0.88) & (rates <= 0.99)), rates
    assert cover_hl.mean() >= 0.88, cover_hl.mean()


@pytest.mark.slow
def test_its_placebo_rejection_rate_without_an_effect():
    """No effect injected: the campaign-window effect is 'significant' at 5% in 1-10% of 150
    simulated cities, and the post-campaign term likewise."""
    n = 150
    rej = np.zeros((n, 2), dtype=bool)
    for s in range(n):
        panel, camp, _ = phased_panel(20_000 + s, freq="M", effects=(0.0, 0.0, 0.0), half_life=None,
                                      start="2019-07-01", end="2024-06-30")
        r = its(panel, camp, effect="level", post="level", n_draws=10)
        t = r.table.set_index("term")
        rej[s] = [t.loc["campaign", "p_value"] < 0.05, t.loc["post", "p_value"] < 0.05]
    rates = rej.mean(axis=0)
    assert np.all((rates >= 0.01) & (rates <= 0.10)), rates


def test_its_matches_statsmodels_on_the_same_design():
    """Coefficients and errors equal statsmodels' GLM / OLS fitted directly on r.design:
    Newey-West with fixed lags = statsmodels' HAC; the 'stationary' estimator with 0 lags =
    the quasi-Poisson (Pearson-scaled) covariance."""
    panel, camp, _ = phased_panel(7, freq="W")
    for family in ("poisson", "gaussian"):
        r = its(panel, camp, family=family, half_life=45.0, cov="newey-west", hac_lags=4, n_draws=10)
        X, y = r.design, r.series["observed"].to_numpy(dtype=float)
        if family == "poisson":
            off = np.log(r.series["days"].to_numpy(dtype=float))
            m = sm.GLM(y, X, family=sm.families.Poisson(), offset=off).fit(cov_type="HAC", cov_kwds={"maxlags": 4})
            m0 = sm.GLM(y, X, family=sm.families.Poisson(), offset=off).fit(scale="X2")
        else:
            m = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": 4})
            m0 = sm.OLS(y, X).fit()
        t = r.table.set_index("term")
        np.testing.assert_allclose(t["coef"], m.params[t.index], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(t["se"], m.bse[t.index], rtol=1e-8)
        r0 = its(panel, camp, family=family, half_life=45.0, cov="stationary", hac_lags=0, n_draws=10)
        np.testing.assert_allclose(r0.table["se"], m0.bse[t.index], rtol=1e-8)
        if family == "poisson":  # % change and its interval are exp of the log-scale numbers
            np.testing.assert_allclose(t["pct"], 100 * np.expm1(m.params[t.index]), rtol=1e-8)
            q = stats.t.ppf(0.975, r.diagnostics["df_t"])  # t(n - p) intervals
            lo = m.params[t.index] - q * m.bse[t.index]
            np.testing.assert_allclose(t["pct_low"], 100 * np.expm1(lo), rtol=1e-7)


def test_negative_binomial_matches_statsmodels():
    panel, camp, _ = phased_panel(8, freq="W")
    r = its(panel, camp, family="negbin", half_life=45.0, n_draws=10)
    X, y = r.design, r.series["observed"].to_numpy(dtype=float)
    off = np.log(r.series["days"].to_numpy(dtype=float))
    m = sm.NegativeBinomial(y, X, offset=off, loglike_method="nb2").fit(disp=0, maxiter=500, method="bfgs")
    t = r.table.set_index("term")
    np.testing.assert_allclose(t["coef"], m.params[t.index], atol=1e-4)
    assert r.diagnostics["nb_alpha"] == pytest.approx(m.params["alpha"], rel=1e-3, abs=1e-5)
    assert "负二项" in r.spec


def test_its_other_forms_and_units(demo):
    tables, _, camp = demo
    p = case_panel(tables["cases"], camp.outcomes, freq="M", unit_changes=tables["unit_changes"])
    lvl = its(p, camp, effect="level", slope=True, post="level", n_draws=50)
    assert list(lvl.table["term"]) == ["campaign", "slope", "post"]
    assert lvl.effect("campaign")["pct"] < -20
    ex = its(p, camp, post="exclude", seasonality="month", n_draws=50)
    assert "post" not in set(ex.table["term"]) and ex.series["period"].max() <= camp.end
    city = its(p, camp, units="city", n_draws=50)  # diluted by the uncovered units
    assert city.diagnostics["units"] == sorted(p["unit_id"].unique())
    assert abs(city.effect("phase:综合治理")["coef"]) < abs(its(p, camp, n_draws=50).effect("phase:综合治理")["coef"])
    one = its(p, camp, units=camp.units[0], n_draws=50)
    assert one.diagnostics["units"] == [camp.units[0]]
    ax = lvl.plot()
    assert ax.get_title()
    import matplotlib.pyplot as plt

    plt.close("all")


def test_its_continuous_outcome_on_assessment_scores(demo):
    """Monthly scores of the covered units (AR(1) noise): +2 points while the campaign ran
    (August-October 2022 in the generator) inside the interval; Newey-West-type errors."""
    from cityanalytics.impact.panel import value_panel

    tables, truth, camp = demo
    scores = value_panel(tables["assessments"], "score", unit_changes=tables["unit_changes"])
    aug_oct = Campaign.from_dates("考评加分", [("活动", "2022-08-01", "2022-10-31")], camp.units)
    r = its(scores, aug_oct, outcome="score", effect="level", post="exclude", seasonality="month",
            spring_festival=False, holidays=False, n_draws=50)
    row = r.effect("campaign")
    bump = next(c for c in truth["campaigns"] if c["campaign_id"] == demo_campaigns.C1_ID)["assessment_score_bump"]
    assert row["ci_low"] <= bump <= row["ci_high"] and r.options["family"] == "gaussian"
    assert r.diagnostics["resid_acf1"] > 0.2  # the AR(1) noise is seen ...
    assert r.diagnostics["hac_lags"] >= 3  # ... and the bandwidth grows with it


def test_short_pre_period_warns():
    panel, camp, _ = phased_panel(9, freq="M", start="2021-09-01", end="2023-06-30")
    r = its(panel, camp, n_draws=10)
    assert "few_pre_periods" in {w.code for w in r.warnings}
    assert any("活动前仅有" in s for s in r.sentences)
    panel, camp, _ = phased_panel(9, freq="M", start="2019-01-01", end="2022-11-30")
    assert "short_post" in {w.code for w in its(panel, camp, n_draws=10).warnings}


def test_persistent_effect_is_reported_as_not_decaying():
    panel, camp, truth = phased_panel(21, freq="W", effects=(math.log(0.9), math.log(0.6), math.log(0.7)),
                                      half_life=1e9)
    r = its(panel, camp, n_draws=10)
    assert r.diagnostics["half_life_high"] == math.inf or r.diagnostics["half_life_low"] > 365
    assert r.effect("post")["ci_low"] <= math.log(0.7) <= r.effect("post")["ci_high"]


def test_panels_from_a_parquet_file_and_a_duration_outcome(tmp_path):
    """DuckDB reads the Parquet export directly (same counts as from the frame); the mean
    hours to disposal is a continuous outcome the ITS fits by OLS with the same machinery."""
    from cityanalytics.demo import write_demo

    files = write_demo(tmp_path, n_cases=20_000)
    frame = pd.read_parquet(files["cases"])
    from_file = case_panel(str(files["cases"]), ["占道经营", "暴露垃圾"], freq="M")
    from_frame = case_panel(frame, ["占道经营", "暴露垃圾"], freq="M")
    pd.testing.assert_frame_equal(from_file, from_frame)
    hours = case_panel(frame, ["占道经营"], freq="M", value="disposal_hours")
    assert (hours["n_disposed"] <= hours["count"]).all() and hours["disposal_hours"].dropna().gt(0).all()
    camp = Campaign.from_table(generate(seed=2025, n_cases=0)["campaigns"], demo_campaigns.C1_ID)
    r = its(hours, camp, outcome="disposal_hours", effect="level", post="exclude", n_draws=10)
    assert r.options["family"] == "gaussian" and np.isfinite(r.table["se"]).all()
