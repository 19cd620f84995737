"""Covariates in ``did()`` (``covariates=[...]``; control units are ``control_units=``): a
simulated panel whose covariate confounds the campaign, the adjusted estimate recovering the
truth and equal to pyfixest; a constant or collinear covariate is an error naming it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.did import did
from cityanalytics.impact.within import RankDeficientError, ols_fe, poisson_fe

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")

TRUE_EFFECT = -2.0  # on the outcome's own scale (e.g. kg of waste per capita)
TRUE_LOG_EFFECT = math.log(0.75)


def confounded_panel(seed: int = 11, units: int = 40, months: int = 30) -> tuple[pd.DataFrame, Campaign]:
    """Treated units' covariate (say, the share of new housing) jumps when the campaign starts,
    and the covariate itself raises the outcome: without it, the DiD mixes the two."""
    rng = np.random.default_rng(seed)
    start = pd.date_range("2022-01-01", periods=months, freq="MS")
    treated = [f"u{i:02d}" for i in range(units // 2)]
    rows = []
    for i in range(units):
        u = f"u{i:02d}"
        a = rng.normal(0, 3)
        for t, p in enumerate(start):
            post = u in treated and p >= pd.Timestamp("2023-01-01")
            x = rng.normal() + 1.5 * post + 0.05 * t
            y = 20 + a + 0.3 * math.sin(t) + TRUE_EFFECT * post + 1.6 * x + rng.normal(0, 1)
            lam = math.exp(2 + 0.05 * a + TRUE_LOG_EFFECT * post + 0.25 * x)
            rows.append((u, p, p + pd.offsets.MonthEnd(0), y, rng.poisson(lam), x))
    panel = pd.DataFrame(rows, columns=["unit_id", "period", "period_end", "waste_per_capita", "count", "new_housing"])
    panel["days"] = (panel["period_end"] - panel["period"]).dt.days + 1
    panel.attrs["freq"] = "M"
    camp = Campaign.from_dates("垃圾减量行动", {"减量": ["2023-01-01", "2024-06-30"]}, treated)
    return panel, camp


def _pyfixest_frame(panel, camp):
    d = panel.copy()
    d["D"] = (d["unit_id"].isin(camp.units) & (d["period"] >= "2023-01-01")).astype(float)
    d["t"] = d["period"].dt.strftime("%Y-%m")
    return d


def test_the_adjusted_estimate_recovers_the_truth_and_equals_pyfixest():
    pf = pytest.importorskip("pyfixest")
    panel, camp = confounded_panel()
    naive = did(panel, camp, outcome="waste_per_capita", effect="level", post="exclude", event_study=False)
    adj = did(panel, camp, outcome="waste_per_capita", effect="level", post="exclude", event_study=False,
              covariates=["new_housing"], ssc="full")
    b_naive, row = naive.table.iloc[0]["coef"], adj.table.iloc[0]
    assert b_naive > TRUE_EFFECT + 1.5  # confounded: 1.6 x 1.5 = +2.4 mixed into the effect
    assert row["ci_low"] < TRUE_EFFECT < row["ci_high"]
    assert list(adj.table["term"]) == ["campaign"]  # covariates are adjusted for, not reported as effects
    assert adj.fit.names == ["campaign", "new_housing"]
    m = pf.feols("waste_per_capita ~ D + new_housing | unit_id + t", data=_pyfixest_frame(panel, camp),
                 vcov={"CRV1": "unit_id"}, ssc=pf.ssc(k_fixef="full"))
    np.testing.assert_allclose(adj.fit.params, m.coef().values, atol=1e-6)
    np.testing.assert_allclose(adj.fit.se, m.se().values, atol=1e-6)
    assert "协变量 new_housing" in adj.spec


def test_poisson_with_a_covariate_equals_pyfixest_fepois():
    pf = pytest.importorskip("pyfixest")
    panel, camp = confounded_panel(seed=4)
    r = did(panel, camp, model="poisson", effect="level", post="exclude", event_study=False,
            covariates=["new_housing"], ssc="full")
    m = pf.fepois("count ~ D + new_housing | unit_id + t", data=_pyfixest_frame(panel, camp),
                  vcov={"CRV1": "unit_id"}, ssc=pf.ssc(k_fixef="full"))
    np.testing.assert_allclose(r.fit.params, m.coef().values, atol=1e-6)
    np.testing.assert_allclose(r.fit.se, m.se().values, atol=1e-5)
    lo, hi = r.table.iloc[0][["ci_low", "ci_high"]]
    assert lo < TRUE_LOG_EFFECT < hi


def test_event_study_and_pretrend_tests_carry_the_covariate():
    panel, camp = confounded_panel()
    r = did(panel, camp, outcome="waste_per_capita", effect="level", post="exclude", covariates=["new_housing"],
            event_window=(6, 6))
    assert r.es_fit.names[-1] == "new_housing"
    post = r.event_study[r.event_study["event_time"] >= 0]
    assert abs(post["coef"].mean() - TRUE_EFFECT) < 0.5
    assert r.pretrend["pretrend_slope_p"] > 0.01


def test_a_constant_covariate_is_an_error_naming_it():
    panel, camp = confounded_panel()
    panel["district_area"] = panel["unit_id"].str[1:].astype(int) * 3.0  # fixed per unit: absorbed
    with pytest.raises(RankDeficientError, match="'district_area'.*constant within the fixed effects") as e:
        did(panel, camp, outcome="waste_per_capita", effect="level", post="exclude", event_study=False,
            covariates=["new_housing", "district_area"])
    assert e.value.columns == ["district_area"]
    panel["one"] = 1.0
    with pytest.raises(RankDeficientError, match="'one'"):
        did(panel, camp, model="poisson", effect="level", post="exclude", event_study=False, covariates=["one"])


def test_a_collinear_covariate_is_an_error_naming_the_columns():
    panel, camp = confounded_panel()
    panel["housing_pct"] = 100 * panel["new_housing"] + 7  # the same covariate in other units
    with pytest.raises(RankDeficientError, match=r"collinear.*'(housing_pct|new_housing)' = linear combination of "
                                                 r"'(new_housing|housing_pct)'") as e:
        did(panel, camp, outcome="waste_per_capita", effect="level", post="exclude", event_study=False,
            covariates=["new_housing", "housing_pct"])
    assert len(e.value.columns) == 1 and e.value.columns[0] in ("new_housing", "housing_pct")
    # A covariate that is the campaign indicator itself is named with it.
    panel["in_campaign"] = (panel["unit_id"].isin(camp.units) & (panel["period"] >= "2023-01-01")).astype(float)
    with pytest.raises(RankDeficientError, match="'(in_campaign|campaign)'.*'(campaign|in_campaign)'"):
        did(panel, camp, outcome="waste_per_capita", effect="level", post="exclude", event_study=False,
            covariates=["in_campaign"])


def test_the_fixed_effect_engines_name_the_column_instead_of_a_bare_linalg_error():
    rng = np.random.default_rng(0)
    u, t = np.repeat(np.arange(10), 8), np.tile(np.arange(8), 10)
    x1 = rng.normal(size=80)
    X = np.column_stack([x1, 2 * x1 - 1, rng.normal(size=80)])
    with pytest.raises(RankDeficientError, match="'b' = linear combination of 'a'|'a' = linear combination of 'b'"):
        ols_fe(rng.normal(size=80), X, [u, t], names=["a", "b", "c"])
    with pytest.raises(RankDeficientError, match="'period_len'"):
        poisson_fe(rng.poisson(3, 80).astype(float), np.column_stack([x1, t * 1.0]), [u, t], names=["a", "period_len"])


def test_a_missing_covariate_value_is_an_error_naming_unit_and_period():
    panel, camp = confounded_panel()
    panel.loc[5, "new_housing"] = np.nan
    with pytest.raises(ValueError, match=r"covariate 'new_housing'.*1 rows.*u00 2022-06-01"):
        did(panel, camp, outcome="waste_per_capita", covariates=["new_housing"], event_study=False)
    with pytest.raises(ValueError, match=r"covariate\(s\) \['rain'\] not in the panel"):
        did(panel, camp, outcome="waste_per_capita", covariates=["rain"], event_study=False)


def test_an_event_time_the_data_cannot_identify_is_left_out_not_an_error():
    """A period with no case in any unit carries no information for Poisson (dropped as in
    ppmlhdfe); its event-time dummy is then left out of the event study instead of failing,
    while a covariate that cannot be identified stays an error (tests above)."""
    panel, camp = confounded_panel(seed=4)
    empty = pd.Timestamp("2022-10-01")  # three months before the start: event time -3
    panel.loc[panel["period"] == empty, "count"] = 0
    r = did(panel, camp, model="poisson", effect="level", post="exclude", event_window=(6, 6),
            covariates=["new_housing"])
    assert -3 not in set(r.event_study["event_time"]) and {-6, -2, -1, 0, 6} <= set(r.event_study["event_time"])
    lo, hi = r.table.iloc[0][["ci_low", "ci_high"]]
    assert lo < TRUE_LOG_EFFECT < hi
