"""Standard-error options of the ITS and the DiD, the coefficient covariance and tidy table of
every result, nested-model tests, and the renamed ``did(control_units=...)``.

References: statsmodels fitted directly on the same design matrix (``OLS``, ``GLM(Poisson)``:
model-based, ``scale="X2"`` quasi-Poisson, ``cov_type="HAC"`` with and without
``use_correction``; ``compare_f_test`` / ``compare_lr_test``), to 1e-6; and Stata ``newey``'s
published p-values in Linden's multiple-group ITSA of California's Proposition 99.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.did import did
from cityanalytics.impact.its import its
from cityanalytics.impact.nested import nested_test
from cityanalytics.impact.panel import value_panel
from cityanalytics.impact.simulate import phased_panel
from cityanalytics.impact.variance import sandwich

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")

PROP99 = Path(__file__).parent / "data" / "prop99_itsa" / "cigsale.csv"
TIDY = ["term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]


@pytest.fixture(scope="module")
def california():
    d = pd.read_csv(PROP99)
    d = d[d["state"] == "California"].rename(columns={"state": "unit_id", "year": "period"})
    d["period"] = d["period"].astype(str)
    panel = value_panel(d, "cigsale", freq="Y")
    stays = Campaign.from_dates("加州99号提案", [("实施", "1989-01-01")], ["California"])
    return panel, stays


@pytest.fixture(scope="module")
def counts():
    panel, camp, _ = phased_panel(7, freq="M", start="2019-07-01", end="2024-06-30")
    return panel, camp


def _glm(r) -> sm.GLM:
    X = r.design.to_numpy(dtype=float)
    y = r.series["observed"].to_numpy(dtype=float)
    return sm.GLM(y, X, family=sm.families.Poisson(), offset=np.log(r.series["days"].to_numpy(dtype=float)))


def _ols(r) -> sm.OLS:
    return sm.OLS(r.series["observed"].to_numpy(dtype=float), r.design.to_numpy(dtype=float))


def _same(tidy: pd.DataFrame, ref, rtol: float = 1e-6) -> None:
    np.testing.assert_allclose(tidy["estimate"], ref.params, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(tidy["std_error"], ref.bse, rtol=rtol)
    np.testing.assert_allclose(tidy["p_value"], ref.pvalues, rtol=1e-5, atol=1e-12)
    ci = np.asarray(ref.conf_int())
    np.testing.assert_allclose(tidy[["conf_low", "conf_high"]].to_numpy(), ci, rtol=1e-6, atol=1e-9)


# --- Gaussian ITS (OLS) ---------------------------------------------------------------------

def test_ols_its_model_and_newey_west_with_and_without_stata_factor(california):
    panel, stays = california
    kw = dict(outcome="cigsale", units="city", effect="level", slope=True, n_draws=10)
    classic = its(panel, stays, cov="model", **kw)
    ols = _ols(classic)
    _same(classic.tidy(), ols.fit())
    np.testing.assert_allclose(classic.vcov().to_numpy(), ols.fit().cov_params(), rtol=1e-9)
    for corr in (False, True):
        r = its(panel, stays, cov="newey-west", hac_lags=2, small_sample=corr, **kw)
        _same(r.tidy(), ols.fit(cov_type="HAC", cov_kwds={"maxlags": 2, "use_correction": corr}, use_t=True))
        assert r.diagnostics["lag_rule"] == "user" and r.diagnostics["small_sample"] is corr
        assert ("n/(n−k)" in r.spec) is corr and "滞后 2 期(按指定)" in r.spec
    # z quantiles by option: statsmodels' use_t=False.
    z = its(panel, stays, cov="newey-west", hac_lags=2, small_sample=True, use_t=False, **kw)
    _same(z.tidy(), ols.fit(cov_type="HAC", cov_kwds={"maxlags": 2, "use_correction": True}, use_t=False))
    assert "标准正态(z)" in z.spec and "t(27)" in classic.spec  # t(n - k) is the default, said so


def test_stata_newey_published_p_values_linden_multiple_group_itsa():
    """Linden's multiple-group ITSA of Proposition 99 (``itsa cigsale, treatid(3)
    trperiod(1989) lag(1)``: California against the 38 states stacked, 1,209 rows, 8
    coefficients, Stata ``newey`` with lag 1) as quoted in the help of his ``power_itsa``
    (SSC s459461): P = 0.631 for the difference in steps (_z_x1989) and P = 0.136 for the
    difference in trends (_z_x_t1989). Both are reproduced (t(n - k) p-values) only with
    newey's n/(n-k) factor and the Bartlett sums over the stacked series in state-year
    order: without the factor the step's P is 0.630; with lags kept within states the
    trend's P is 0.137."""
    d = pd.read_csv(PROP99).sort_values(["state", "year"], ignore_index=True)
    t = (d["year"] - 1970).to_numpy(float)
    z = (d["state"] == "California").to_numpy(float)
    x = (d["year"] >= 1989).to_numpy(float)
    xt = np.where(d["year"] >= 1989, d["year"] - 1989, 0).astype(float)
    X = np.column_stack([np.ones(len(d)), t, z, z * t, x, xt, z * x, z * xt])
    y = d["cigsale"].to_numpy(float)
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    assert b[6] == pytest.approx(-20.0581 - -17.25168, abs=5e-5)  # tstep - cstep (published)
    n, k = X.shape

    def p_values(small_sample: bool) -> np.ndarray:
        cov, info = sandwich(X, y, X @ b, "gaussian", cov="newey-west", lags=1, small_sample=small_sample)
        return 2 * stats.t.sf(np.abs(b / np.sqrt(np.diag(cov))), n - k)

    stata = p_values(True)
    assert round(stata[6], 3) == 0.631 and round(stata[7], 3) == 0.136
    assert round(p_values(False)[6], 3) == 0.630  # the factor is what the published value needs
    ref = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": 1, "use_correction": True}, use_t=True)
    np.testing.assert_allclose(stata, ref.pvalues, rtol=1e-8)


def test_ols_nested_f_and_lr_match_statsmodels(california):
    panel, stays = california
    kw = dict(outcome="cigsale", units="city", effect="level", n_draws=10, cov="newey-west", hac_lags=1)
    small = its(panel, stays, slope=False, **kw)
    big = its(panel, stays, slope=True, **kw)
    test = small.compare(big)
    assert test.table["test"].tolist() == ["F", "LR"]
    fb, fs = _ols(big).fit(), _ols(small).fit()
    F, pF, q = fb.compare_f_test(fs)
    LR, pLR, _ = fb.compare_lr_test(fs)
    row = test.table.set_index("test")
    assert row.loc["F", "statistic"] == pytest.approx(F, rel=1e-8)
    assert row.loc["F", "p_value"] == pytest.approx(pF, rel=1e-8)
    assert (row.loc["F", "df_num"], row.loc["F", "df_den"]) == (q, 27)
    assert row.loc["LR", "statistic"] == pytest.approx(LR, rel=1e-8)
    assert row.loc["LR", "p_value"] == pytest.approx(pLR, rel=1e-8)
    assert "增加 活动期间斜率变化(每年) 显著改善拟合(F 检验" in test.summary()
    # Either order; two models of the same size are not nested.
    assert nested_test(big, small).table["statistic"].tolist() == pytest.approx(test.table["statistic"].tolist())
    with pytest.raises(ValueError, match="same number of parameters"):
        nested_test(big, big)


# --- Poisson ITS ----------------------------------------------------------------------------

def test_poisson_model_quasi_and_hac_match_statsmodels(counts):
    panel, camp = counts
    kw = dict(post="level", n_draws=10)
    model = its(panel, camp, cov="model", **kw)
    glm = _glm(model)
    # statsmodels' GLM uses z; so does use_t=False.
    _same(its(panel, camp, cov="model", use_t=False, **kw).tidy(), glm.fit(tol=1e-12))
    _same(its(panel, camp, cov="quasi", use_t=False, **kw).tidy(), glm.fit(scale="X2", tol=1e-12))
    for corr in (False, True):
        r = its(panel, camp, cov="newey-west", hac_lags=3, small_sample=corr, use_t=False, **kw)
        _same(r.tidy(), glm.fit(cov_type="HAC", cov_kwds={"maxlags": 3, "use_correction": corr}, tol=1e-12))
    # The default t(n - k) intervals: the same errors, t quantiles.
    t = model.tidy()
    ref = glm.fit(tol=1e-12)
    q = stats.t.ppf(0.975, model.diagnostics["df_t"])
    np.testing.assert_allclose(t["conf_high"], ref.params + q * ref.bse, rtol=1e-6)
    np.testing.assert_allclose(model.vcov().to_numpy(), ref.cov_params(), rtol=1e-6)
    assert list(model.vcov().index) == list(model.design.columns)
    # The effect rows of the table are the tidy rows of the same terms.
    eff = t.set_index("term").loc[model.table["term"]]
    np.testing.assert_allclose(eff["std_error"], model.table["se"], rtol=1e-12)
    assert "模型标准误(泊松方差,离散系数取 1" in model.spec and "拟泊松" in its(panel, camp, cov="quasi", **kw).spec
    with pytest.raises(ValueError, match="small_sample"):
        its(panel, camp, cov="quasi", small_sample=True, **kw)


def test_default_lags_are_stated(counts):
    panel, camp = counts
    r = its(panel, camp, post="level", n_draws=10)
    assert r.diagnostics["lag_rule"] == "andrews"
    assert f"滞后 {r.diagnostics['hac_lags']} 期(Andrews 1991 自动选择" in r.spec and "hac_lags" in r.spec


def test_poisson_nested_lr_and_quasi_f(counts):
    panel, camp = counts
    kw = dict(post="level", n_draws=10, cov="quasi")
    small = its(panel, camp, effect="level", **kw)
    big = its(panel, camp, effect="phases", **kw)
    test = nested_test(small, big)
    fs, fb = _glm(small).fit(tol=1e-12), _glm(big).fit(tol=1e-12)
    q = fb.df_model - fs.df_model
    assert q == 2
    lr = 2 * (fb.llf - fs.llf)
    row = test.table.set_index("test")
    assert row.loc["LR", "statistic"] == pytest.approx(lr, rel=1e-6)
    assert row.loc["LR", "p_value"] == pytest.approx(stats.chi2.sf(lr, q), rel=1e-5)
    F = (fs.deviance - fb.deviance) / q / (fb.pearson_chi2 / fb.df_resid)
    assert row.loc["quasi-F", "statistic"] == pytest.approx(F, rel=1e-6)
    assert row.loc["quasi-F", "p_value"] == pytest.approx(stats.f.sf(F, q, fb.df_resid), rel=1e-5)
    assert test.table["test"].iloc[0] == "quasi-F"
    assert "综合治理阶段" in test.summary() and "替代 活动期间,多 2 个参数" in test.summary()


# --- Readers' names, tidy, printed summary --------------------------------------------------

def test_count_summary_names_the_outcome_in_chinese(counts):
    panel, camp = counts
    r = its(panel, camp, post="level", n_draws=10)
    text = "\n".join(r.sentences) + r.spec
    assert "count" not in text and "「案件数」" in text
    assert "count" not in str(r)


def test_tidy_columns_effect_by_label_and_printed_summary(counts):
    panel, camp = counts
    r = its(panel, camp, post="level", n_draws=10)
    t = r.tidy()
    assert list(t.columns) == TIDY
    assert all(pd.api.types.is_float_dtype(t[c]) for c in TIDY[1:])
    label = r.table.set_index("term").loc["phase:综合治理", "label_zh"]
    assert r.effect(label)["coef"] == r.effect("phase:综合治理")["coef"]
    with pytest.raises(KeyError, match="phase:综合治理"):
        r.effect("nothing")
    printed = str(r)
    assert r.spec in printed and "std_error" in printed and "phase:综合治理" in printed


# --- DiD ------------------------------------------------------------------------------------

def test_did_control_units_rename_vcov_tidy_and_z(counts):
    panel, camp = counts
    controls = sorted(set(panel["unit_id"]) - set(camp.units))[:3]
    kw = dict(effect="level", post="level", event_study=False)
    new = did(panel, camp, control_units=controls, **kw)
    assert new.diagnostics["n_control"] == 3
    with pytest.warns(DeprecationWarning, match="control_units"):
        old = did(panel, camp, controls=controls, **kw)
    pd.testing.assert_frame_equal(old.table, new.table)
    with pytest.raises(TypeError, match="control_units"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            did(panel, camp, controls=controls, control_units=controls, **kw)
    k = len(new.fit.params)
    np.testing.assert_allclose(new.vcov().to_numpy(), new.fit.vcov[:k, :k])
    t = new.tidy().set_index("term")
    row = new.table.set_index("term").loc["campaign"]
    assert t.loc["campaign", "std_error"] == pytest.approx(row["se"], rel=1e-12)
    assert t.loc["campaign", "conf_low"] == pytest.approx(row["ci_low"], rel=1e-12)
    assert t.loc["campaign", "p_value"] == pytest.approx(row["p_value"], rel=1e-12)
    z = did(panel, camp, control_units=controls, use_t=False, **kw)
    zr = z.table.set_index("term").loc["campaign"]
    assert zr["ci_high"] == pytest.approx(zr["coef"] + stats.norm.ppf(0.975) * zr["se"], rel=1e-12)
    assert zr["p_value"] == pytest.approx(2 * stats.norm.sf(abs(zr["coef"] / zr["se"])), rel=1e-12)
    assert z.tidy().set_index("term").loc["campaign", "conf_high"] == pytest.approx(zr["ci_high"], rel=1e-12)
    assert "标准正态(z)" in z.spec and "Bell-McCaffrey" in new.spec
    assert "count" not in new.summary()
    es = did(panel, camp, control_units=controls, effect="level", post="level", event_window=(3, 4))
    et = es.tidy(event_study=True).set_index("term")
    rows = es.event_study.set_index("term").drop("e-1")
    np.testing.assert_allclose(et.loc[rows.index, "std_error"], rows["se"], rtol=1e-12)
    np.testing.assert_allclose(et.loc[rows.index, "conf_low"], rows["ci_low"], rtol=1e-12)
    assert list(es.vcov(event_study=True).index) == list(et.index)
    with pytest.raises(ValueError, match="no event study"):
        new.vcov(event_study=True)
