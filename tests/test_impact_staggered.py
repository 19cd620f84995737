"""Staggered roll-outs: Callaway-Sant'Anna recovers the demo city's staggered campaign and,
where effects grow over time, stays on the truth while plain TWFE does not; its intervals
cover the truth over simulated roll-outs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cityanalytics.demo import campaigns as demo_campaigns
from cityanalytics.demo import timeline
from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.panel import case_panel, period_start
from cityanalytics.impact.simulate import staggered_panel, true_cell_effects
from cityanalytics.impact.staggered import callaway_santanna

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # figures without a CJK font


@pytest.fixture(scope="module")
def demo(demo_city):
    tables = demo_city.tables("cases", "campaigns", "unit_changes")
    camp = Campaign.from_table(tables["campaigns"], demo_campaigns.C2_ID, tables["unit_changes"])
    panel = case_panel(tables["cases"], camp.outcomes, freq="M", unit_changes=tables["unit_changes"])
    return tables, camp, panel


def _demo_truth(camp: Campaign, panel: pd.DataFrame) -> pd.DataFrame:
    """Per treated unit and month from its start: log of the mean multiplier over the days."""
    day = np.arange(timeline.N_DAYS)
    rows = []
    last = panel["period"].max()
    for unit, start in camp.adoption.items():
        mult = pd.Series(np.exp(demo_campaigns.c2_log_factor(day, str(start.date()))), index=timeline.DAYS)
        monthly = np.log(mult.resample("MS").mean())
        g = period_start([start], "M")[0]
        for month, value in monthly[(monthly.index >= g) & (monthly.index <= last)].items():
            rows.append({"unit_id": unit, "period": month, "event_time": (month.year - g.year) * 12 + month.month - g.month,
                         "log_effect": value})
    return pd.DataFrame(rows)


def test_callaway_santanna_recovers_the_demo_rollout(demo):
    _, camp, panel = demo
    assert camp.staggered and len(camp.adoption) == 7
    r = callaway_santanna(panel, camp)
    truth = _demo_truth(camp, panel)
    t = r.table.set_index("term")
    overall = truth["log_effect"].mean()  # one unit per cohort: every post cell weighs the same
    assert t.loc["att_simple", "ci_low"] <= overall <= t.loc["att_simple", "ci_high"], (overall, t.loc["att_simple"].to_dict())
    assert t.loc["pre_placebo", "ci_low"] <= 0 <= t.loc["pre_placebo", "ci_high"]
    es = r.event_study.set_index("event_time")
    full = np.log(demo_campaigns.C2_FULL_FACTOR)
    for e in (6, 9, 12):  # fully ramped up
        assert es.loc[e, "ci_low"] <= full <= es.loc[e, "ci_high"], (e, es.loc[e].to_dict())
    assert es.loc[0, "coef"] > es.loc[6, "coef"]  # the 120-day ramp: little in the first month
    d = r.diagnostics
    assert d["n_never"] == 3 and d["n_cohorts"] == 7 and d["se_method"] == "jackknife"
    assert "single_unit_cohorts" in {w.code for w in r.warnings}
    assert "twfe_static" in t.index and r.twfe is not None and len(r.twfe.event_study)
    assert "Callaway-Sant'Anna" in r.spec and "刀切法" in r.spec
    ax = r.plot()
    assert len(ax.get_legend().get_texts()) == 2  # CS next to TWFE
    import matplotlib.pyplot as plt

    plt.close("all")


def _sim_truth(panel, truth) -> float:
    cells = true_cell_effects(panel, truth)
    start = {u: period_start([d], "M")[0] for u, d in truth["adoption"].items()}
    cells["g"] = cells["unit_id"].map(start)
    post = cells[cells["g"].notna() & (cells["period"] >= cells["g"])]
    return float(post["log_effect"].mean())  # equal cohort sizes: equal weight per unit-month


def test_callaway_santanna_beats_twfe_when_effects_grow():
    """Effects that build up over 900 days and differ by cohort: the plain TWFE coefficient
    is pulled far towards zero by comparisons with earlier adopters; CS is not."""
    panel, camp, truth = staggered_panel(101, ramp_days=900, start="2020-01-01", end="2024-06-30")
    r = callaway_santanna(panel, camp)
    target = _sim_truth(panel, truth)
    t = r.table.set_index("term")
    assert t.loc["att_simple", "ci_low"] <= target <= t.loc["att_simple", "ci_high"]
    assert abs(t.loc["twfe_static", "coef"] - target) > 3 * abs(t.loc["att_simple", "coef"] - target)
    assert r.diagnostics["se_method"] == "influence"  # six units per cohort


@pytest.mark.slow
def test_callaway_santanna_coverage_over_simulated_rollouts():
    """80 roll-outs (4 cohorts of 6 units, 8 never treated, growing and cohort-specific
    effects), the truth being the ATT of the units the roll-out reached: the 95% interval with
    the cohorts as a fixed design (se="influence_fixed", the default before the R-compatible
    one) covers it 88-99% of the time; the default R-compatible SE also counts the sampling of
    the cohort shares, so for this fixed-design target it covers at least as often (measured:
    all 80)."""
    n = 80
    hits = np.zeros((n, 2), dtype=bool)
    for s in range(n):
        panel, camp, truth = staggered_panel(50_000 + s, ramp_days=900, start="2020-01-01", end="2024-06-30")
        target = _sim_truth(panel, truth)
        for k, se in enumerate(("influence_fixed", "auto")):
            row = callaway_santanna(panel, camp, compare_twfe=False, se=se).table.set_index("term").loc["att_simple"]
            hits[s, k] = row["ci_low"] <= target <= row["ci_high"]
    fixed, default = hits.mean(axis=0)
    assert 0.88 <= fixed <= 0.99, fixed
    assert default >= fixed and default >= 0.88, default


def test_never_treated_controls_and_single_base_period(demo):
    _, camp, panel = demo
    r = callaway_santanna(panel, camp, control="never", base_periods=1, se="influence", compare_twfe=False)
    es = r.event_study.set_index("event_time")
    assert es.loc[-1, "coef"] == 0 and r.diagnostics["base_periods"] == 1
    assert set(r.group_time["n_control"]) == {3}  # the three never-treated units only
    with pytest.raises(ValueError):
        callaway_santanna(panel, camp, control="sometimes")


@pytest.mark.parametrize("control, att, se, se_fixed", [("never", -0.0399512751551763, 0.0120340127701854, 0.011758),
                                                        ("notyet", -0.0397636256230437, 0.0120524247873419, 0.011707)])
def test_campaign_entry_point_gives_r_did_simple_att_and_se(control, att, se, se_fixed):
    """The campaign entry point on R did's mpdta (a yearly panel, a single base period): the
    overall ATT and its default (influence) SE equal R did 2.5.0's aggte(type="simple",
    bstrap=FALSE) - tests/data/mpdta/ref_aggte.csv (see ATTRIBUTION.md there). Before the
    cohort-share influence term and without the n/(n-1) factor this SE was 0.011758 (never)
    and 0.011707 (not yet treated)."""
    from pathlib import Path

    d = pd.read_csv(Path(__file__).parent / "data" / "mpdta" / "mpdta.csv")
    panel = pd.DataFrame({"unit_id": d["countyreal"].astype(str), "period": pd.to_datetime(d["year"].astype(str) + "-01-01"),
                          "lemp": d["lemp"]})
    first = d.groupby("countyreal")["first.treat"].first()
    adoption = {str(u): pd.Timestamp(f"{g}-01-01") for u, g in first.items() if g > 0}
    camp = Campaign.from_dates("最低工资", [("实施", "2004-01-01", "2007-12-31")], list(adoption), ("x",), adoption=adoption)
    r = callaway_santanna(panel, camp, outcome="lemp", control=control, base_periods=1, freq="Y", compare_twfe=False)
    row = r.table.set_index("term").loc["att_simple"]
    assert r.diagnostics["se_method"] == "influence"
    assert row["coef"] == pytest.approx(att, abs=1e-10) and row["se"] == pytest.approx(se, abs=1e-10)
    assert "R did 的解析标准误" in r.spec and "标准误(默认)" in r.spec
    fixed = callaway_santanna(panel, camp, outcome="lemp", control=control, base_periods=1, freq="Y",
                              compare_twfe=False, se="influence_fixed")
    assert fixed.table.set_index("term").loc["att_simple", "se"] == pytest.approx(se_fixed, abs=5e-7)  # the old default
    assert "固定设计" in fixed.spec
    # the same cells through the general result: R's group aggregation and pre-test (never-treated controls)
    if control == "never":
        g = r.att_gt.aggregate("group").overall
        assert g["att"] == pytest.approx(-0.0310182822287484, abs=1e-10)
        assert g["se"] == pytest.approx(0.0124460593209979, abs=1e-10)
        assert r.att_gt.pretest["statistic"] == pytest.approx(7.79123662720035, abs=1e-8)  # universal = varying here
