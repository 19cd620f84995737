"""Difference-in-differences: the fixed-effects engine against statsmodels (explicit dummies)
and pyfixest, recovery of the demo campaign's effects, interval coverage and null rejection
rates over simulated cities, the pre-trend tests and the weak-design warnings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from cityanalytics.demo import campaigns as demo_campaigns
from cityanalytics.demo import timeline
from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.did import did
from cityanalytics.impact.panel import case_panel, value_panel
from cityanalytics.impact.simulate import phased_panel
from cityanalytics.impact.within import demean, factorize, ols_fe, poisson_fe

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # figures without a CJK font


def _toy(seed: int = 1, units: int = 30, periods: int = 12, drop: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"u": np.repeat(np.arange(units), periods), "t": np.tile(np.arange(periods), units)})
    df["d"] = ((df.u < units // 3) & (df.t >= periods // 2)).astype(float)
    df["x2"] = rng.normal(size=len(df))
    df["y"] = 0.3 * df.d + 0.2 * df.x2 + rng.normal(size=len(df)) + 0.1 * df.u + np.sin(df.t)
    df["c"] = rng.poisson(np.exp(1 + 0.2 * df.d + 0.1 * df.x2 + 0.05 * df.u))
    if drop:
        df = df.sample(frac=1 - drop, random_state=seed).sort_index()
    return df


@pytest.mark.parametrize("drop", [0.0, 0.15])
def test_ols_fe_equals_statsmodels_with_dummies(drop):
    """Same coefficients and cluster-robust errors as OLS with explicit unit and period
    dummies (statsmodels, CR1), to 1e-8, balanced and unbalanced."""
    d = _toy(drop=drop)
    f = ols_fe(d.y.values, d[["d", "x2"]].values, [d.u.values, d.t.values], cluster=d.u.values, ssc="full")
    m = smf.ols("y ~ d + x2 + C(u) + C(t)", d).fit(cov_type="cluster", cov_kwds={"groups": d.u.values})
    np.testing.assert_allclose(f.params, m.params[["d", "x2"]], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(f.se, m.bse[["d", "x2"]], rtol=1e-8)


@pytest.mark.parametrize("drop", [0.0, 0.15])
def test_poisson_fe_equals_statsmodels_glm_with_dummies(drop):
    d = _toy(drop=drop)
    f = poisson_fe(d.c.values, d[["d", "x2"]].values, [d.u.values, d.t.values], cluster=d.u.values, ssc="full")
    m = smf.glm("c ~ d + x2 + C(u) + C(t)", d, family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": d.u.values})
    np.testing.assert_allclose(f.params, m.params[["d", "x2"]], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(f.se, m.bse[["d", "x2"]], rtol=1e-8)


@pytest.mark.parametrize("drop", [0.0, 0.15])
def test_twfe_equals_pyfixest(drop):
    """feols and fepois with unit and period effects, CRV1 by unit: coefficients and errors
    to 1e-6 (fepois: pyfixest stops its IRLS earlier, so 1e-5 on the errors). Both use the
    'full' fixed-effect count: pyfixest 0.60's default nested count depends on PYTHONHASHSEED."""
    pf = pytest.importorskip("pyfixest")
    d = _toy(seed=3, units=200, periods=24, drop=drop)
    full = pf.ssc(k_fixef="full")
    f = ols_fe(d.y.values, d[["d", "x2"]].values, [d.u.values, d.t.values], cluster=d.u.values, ssc="full")
    m = pf.feols("y ~ d + x2 | u + t", data=d, vcov={"CRV1": "u"}, ssc=full)
    np.testing.assert_allclose(f.params, m.coef().values, atol=1e-6)
    np.testing.assert_allclose(f.se, m.se().values, atol=1e-6)
    g = poisson_fe(d.c.values, d[["d", "x2"]].values, [d.u.values, d.t.values], cluster=d.u.values, ssc="full")
    mp = pf.fepois("c ~ d + x2 | u + t", data=d, vcov={"CRV1": "u"}, ssc=full)
    np.testing.assert_allclose(g.params, mp.coef().values, atol=1e-6)
    np.testing.assert_allclose(g.se, mp.se().values, atol=1e-5)


def test_fixest_small_sample_count_and_demeaning_paths():
    d = _toy(drop=0.1)
    full = ols_fe(d.y.values, d[["d"]].values, [d.u.values, d.t.values], cluster=d.u.values, ssc="full")
    fx = ols_fe(d.y.values, d[["d"]].values, [d.u.values, d.t.values], cluster=d.u.values, ssc="fixest")
    n, T = len(d), d.t.nunique()
    assert fx.df_k == 1 + T and full.df_k == 1 + d.u.nunique() + T - 1  # unit FE nested in the clusters
    assert fx.se[0] ** 2 / full.se[0] ** 2 == pytest.approx((n - full.df_k) / (n - fx.df_k), rel=1e-12)
    # The exact (Frisch-Waugh) and the alternating-projection sweeps agree, weighted too.
    fes = [factorize(d.u.values), factorize(d.t.values)]
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(d))
    X = d[["y", "x2"]].to_numpy()
    exact = demean(X, fes, weights=w)
    from cityanalytics.impact import within

    old = within.EXACT_MAX_LEVELS
    within.EXACT_MAX_LEVELS = 0
    try:
        ap = demean(X, fes, weights=w)
    finally:
        within.EXACT_MAX_LEVELS = old
    np.testing.assert_allclose(exact, ap, atol=1e-9)


# --- the demo city ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(demo_city):
    tables = demo_city.tables("cases", "campaigns", "unit_changes", "assessments")
    truth = demo_city.truth()
    camp = Campaign.from_table(tables["campaigns"], demo_campaigns.C1_ID, tables["unit_changes"])
    panel = case_panel(tables["cases"], camp.outcomes, freq="M", unit_changes=tables["unit_changes"])
    return tables, truth, camp, panel


def _monthly_truth() -> pd.Series:
    """log of the mean multiplier over each month's days: what a monthly model recovers."""
    day = np.arange(timeline.N_DAYS)
    mult = pd.Series(np.exp(demo_campaigns.c1_log_factor(day)), index=timeline.DAYS)
    return np.log(mult.resample("MS").mean())


def test_did_recovers_the_demo_campaign(demo):
    """Monthly PPML DiD, five covered vs five uncovered units: each phase effect, the effect at
    the end and the half-life inside their 95% intervals; the event-study lags cover the true
    monthly effects; no pre-trend; cases averted positive."""
    tables, truth, camp, panel = demo
    c1 = truth["campaigns"][0]
    r = did(panel, camp)
    t = r.table.set_index("term")
    for p in c1["phases"]:
        row = t.loc[f"phase:{p['phase']}"]
        assert row["ci_low"] <= p["log_effect"] <= row["ci_high"], (p, row.to_dict())
    assert t.loc["post", "ci_low"] <= c1["phases"][-1]["log_effect"] <= t.loc["post", "ci_high"]
    d = r.diagnostics
    assert d["half_life_low"] <= c1["after_end"]["half_life_days"] <= d["half_life_high"]
    assert d["averted_total_low"] > 0 and d["n_clusters"] == 10 and d["n_treated"] == 5
    monthly = _monthly_truth()
    es = r.event_study.set_index("event_time")
    for e, month in ((1, "2022-08-01"), (2, "2022-09-01"), (3, "2022-10-01"), (4, "2022-11-01")):
        assert es.loc[e, "ci_low"] <= monthly[month] <= es.loc[e, "ci_high"], (e, es.loc[e].to_dict(), monthly[month])
    assert es.loc[-1, "coef"] == 0 and es.loc[-6, "binned"]
    assert r.pretrend["pretrend_p"] > 0.05 and r.pretrend["pretrend_slope_p"] > 0.05
    assert "pretrend" not in {w.code for w in r.warnings}
    assert {"few_clusters"} <= {w.code for w in r.warnings}  # 10 units: say so
    assert "双重差分" in r.spec and "G-1" in r.spec and "综合治理阶段" in r.summary()
    ax = r.plot()
    assert ax.get_title()
    import matplotlib.pyplot as plt

    plt.close("all")
    ols = did(panel, camp, model="ols", event_study=False)  # log rates: the same story
    assert ols.effect("phase:综合治理")["ci_low"] <= math.log(0.6) <= ols.effect("phase:综合治理")["ci_high"]


def test_did_on_a_continuous_outcome(demo):
    """Assessment scores: +2 points in the covered units in Aug-Oct 2022 (truth.json)."""
    tables, truth, camp, _ = demo
    scores = value_panel(tables["assessments"], "score", unit_changes=tables["unit_changes"])
    window = Campaign.from_dates("考评", [("活动", "2022-08-01", "2022-10-31")], camp.units)
    r = did(scores, window, outcome="score", effect="level", post="exclude")
    row = r.effect("campaign")
    assert r.options["model"] == "ols" and "pct" not in r.table.columns
    assert row["ci_low"] <= truth["campaigns"][0]["assessment_score_bump"] <= row["ci_high"]


def _covers(t: pd.DataFrame, term: str, value: float) -> bool:
    row = t.set_index("term").loc[term]
    return bool(row["ci_low"] <= value <= row["ci_high"])


@pytest.mark.slow
def test_did_coverage_and_null_rates_over_simulated_cities():
    """150 simulated cities (10 covered, 20 uncovered units, monthly counts): the 95% intervals
    of the three phase effects (PPML, unit-clustered, t(G-1)) cover the truth 88-99% of the
    time. Without a true pre-trend the two pre-trend tests reject 1-10% of the time, and a
    placebo campaign given to 10 of the uncovered units is 'significant' 1-10% of the time."""
    n = 150
    cover = np.zeros((n, 3), dtype=bool)
    null = np.zeros((n, 3), dtype=bool)
    phases = ["宣传启动", "综合治理", "检查考评"]
    for s in range(n):
        panel, camp, truth = phased_panel(30_000 + s, n_treated=10, n_control=20, freq="M",
                                          start="2020-07-01", end="2024-06-30")
        r = did(panel, camp, post="exclude", event_window=(6, 6))
        cover[s] = [_covers(r.table, f"phase:{p}", truth[p]) for p in phases]
        controls = sorted(set(panel["unit_id"]) - set(camp.units))
        fake = Campaign.from_dates("安慰剂", [(p.name, p.start, p.end) for p in camp.phases], controls[:10])
        sub = panel[panel["unit_id"].isin(controls)]
        sub.attrs.update(panel.attrs)
        placebo = did(sub, fake, effect="level", post="exclude", event_study=False)
        null[s] = [r.pretrend["pretrend_p"] < 0.05, r.pretrend["pretrend_slope_p"] < 0.05,
                   placebo.table["p_value"].iloc[0] < 0.05]
    rates, false = cover.mean(axis=0), null.mean(axis=0)
    assert np.all((rates >= 0.88) & (rates <= 0.99)), rates
    assert np.all((false >= 0.01) & (false <= 0.10)), false


@pytest.mark.slow
def test_did_decay_coverage_over_simulated_cities():
    """60 cities, OLS on log rates with the post-campaign decay profiled: the phase effects
    and the effect at the end covered 83-100% of the time, the true half-life 80-100%."""
    n = 60
    cover = np.zeros((n, 4), dtype=bool)
    hl = np.zeros(n, dtype=bool)
    for s in range(n):
        panel, camp, truth = phased_panel(40_000 + s, n_treated=10, n_control=20, freq="M",
                                          start="2020-07-01", end="2024-06-30")
        r = did(panel, camp, model="ols", event_study=False)
        cover[s] = [_covers(r.table, f"phase:{p}", truth[p]) for p in ("宣传启动", "综合治理", "检查考评")] + \
                   [_covers(r.table, "post", truth["post"])]
        d = r.diagnostics
        hl[s] = d["half_life_low"] <= truth["half_life"] <= d["half_life_high"]
    rates = cover.mean(axis=0)
    assert np.all((rates >= 0.83) & (rates <= 1.0)), rates
    assert 0.80 <= hl.mean() <= 1.0, hl.mean()


def test_pretrend_detected_and_weak_designs_warned():
    panel, camp, _ = phased_panel(77, n_treated=8, n_control=8, freq="M", effects=(0.0, 0.0, 0.0),
                                  half_life=None, start="2019-01-01", end="2023-12-31")
    # Treated units drift up by 1.5% a month before the campaign: the controls diverged.
    months = (panel["period"] - pd.Timestamp("2019-01-01")).dt.days / 30.4
    drift = np.where(panel["unit_id"].isin(camp.units) & (panel["period"] < camp.start), 0.015 * (months - 43), 0.0)
    rng = np.random.default_rng(0)
    panel = panel.assign(count=rng.poisson(panel["count"].to_numpy() * np.exp(drift)))
    panel.attrs.update({"freq": "M"})
    r = did(panel, camp, effect="level", post="exclude")
    assert r.pretrend["pretrend_slope_p"] < 0.01
    assert "pretrend" in {w.code for w in r.warnings} and any("平行趋势" in s for s in r.sentences)
    # One treated unit, few controls and little pre-campaign data.
    short = panel[(panel["period"] >= "2022-04-01")].copy()
    short.attrs.update({"freq": "M"})
    one = Campaign.from_dates("单点", [(p.name, p.start, p.end) for p in camp.phases], [camp.units[0]])
    codes = {w.code for w in did(short, one, effect="level", post="exclude").warnings}
    assert {"one_treated_unit", "few_clusters", "few_pre_periods"} <= codes
