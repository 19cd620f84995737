"""Robustness checks on the demo city: placebo dates and units find nothing, leaving out any
one unit keeps the effect, randomization inference ranks the real assignment first; the
placebo windows never touch the real campaign."""

from __future__ import annotations

import pandas as pd
import pytest

from cityanalytics.demo import campaigns as demo_campaigns
from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.panel import case_panel
from cityanalytics.impact.robustness import (default_estimator, leave_one_out, placebo_dates, placebo_units,
                                             randomization_inference, robustness, shift_campaign)
from cityanalytics.impact.simulate import phased_panel

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # figures without a CJK font


@pytest.fixture(scope="module")
def demo(demo_city):
    tables = demo_city.tables("cases", "campaigns", "unit_changes")
    c1 = Campaign.from_table(tables["campaigns"], demo_campaigns.C1_ID, tables["unit_changes"])
    c2 = Campaign.from_table(tables["campaigns"], demo_campaigns.C2_ID, tables["unit_changes"])
    p1 = case_panel(tables["cases"], c1.outcomes, freq="M", unit_changes=tables["unit_changes"])
    p2 = case_panel(tables["cases"], c2.outcomes, freq="M", unit_changes=tables["unit_changes"])
    return c1, p1, c2, p2


def test_full_robustness_on_the_100_day_campaign(demo):
    c1, p1, _, _ = demo
    r = robustness(p1, c1, model="ols", max_sets=100)  # OLS on log rates, 100 of the C(10, 5) = 252 sets
    checks = r.checks
    assert set(checks) == {"placebo_dates", "placebo_units", "leave_one_out", "randomization"}
    ri = checks["randomization"].summary_row
    assert not ri["exact"] and ri["n"] == 100  # a sample of the ways to pick 5 of the 10 units
    assert ri["p_value_ri"] <= 2 / 101  # only the real assignment itself (if drawn) is as extreme
    loo = checks["leave_one_out"].table
    assert len(loo) == 10 and (loo["estimate"] < -0.25).all()
    dates = checks["placebo_dates"].table
    assert len(dates) >= 4 and (dates["estimate"].abs() < 0.1).all()
    assert checks["placebo_dates"].summary_row["share_significant"] <= 0.25
    units = checks["placebo_units"].table
    assert len(units) == 10  # 2 of the 5 uncovered units at a time: C(5, 2)
    assert (units["estimate"].abs() < 0.2).all()
    assert "随机化 p 值" in r.summary() and "安慰剂时间" in r.summary()
    axes = r.plot()
    assert len(axes) == 4
    import matplotlib.pyplot as plt

    plt.close("all")


def test_placebo_windows_stay_before_the_real_campaign(demo):
    c1, p1, _, _ = demo
    seen = []

    def spy(panel, campaign):
        seen.append((panel["period_end"].max(), campaign.start, campaign.end))
        return 0.0, 1.0, 1.0

    res = placebo_dates(p1, c1, spy, step_days=91, min_pre_days=730)
    assert len(res.table) == len(seen) >= 4
    for last_data, start, end in seen:
        assert last_data < c1.start and end < c1.start
        assert start >= pd.Timestamp("2019-01-01") + pd.Timedelta(days=730)
    moved = shift_campaign(c1, 30)
    assert moved.start == c1.start - pd.Timedelta(days=30) and [p.days for p in moved.phases] == [p.days for p in c1.phases]


def test_null_panel_finds_nothing():
    """A simulated city without any effect: the randomization p-value is far from 0, the
    placebo checks are quiet."""
    panel, camp, _ = phased_panel(404, n_treated=4, n_control=6, freq="M", effects=(0.0, 0.0, 0.0), half_life=None,
                                  start="2019-01-01", end="2023-06-30")
    est = default_estimator("did", model="ols")
    ri = randomization_inference(panel, camp, est)
    assert ri.summary_row["exact"] and ri.summary_row["n"] == 210  # C(10, 4)
    assert ri.summary_row["p_value_ri"] > 0.1
    assert (placebo_units(panel, camp, est).table["estimate"].abs() < 0.15).all()
    loo = leave_one_out(panel, camp, est)
    assert (loo.table["estimate"].abs() < 0.15).all()


def test_staggered_randomization_permutes_adoption_dates(demo):
    _, _, c2, p2 = demo
    r = robustness(p2, c2, checks=("leave_one_out", "randomization"), max_sets=39)
    assert r.extra["method"] == "staggered"
    ri = r.checks["randomization"]
    assert not ri.summary_row["exact"] and ri.summary_row["n"] == 39
    assert ri.summary_row["p_value_ri"] == pytest.approx(1 / 40)  # nothing beats the real dates
    labels = ri.table["label"]
    assert labels.str.count(":").eq(7).all()  # seven adoption dates handed out each time
    assert (r.checks["leave_one_out"].table["estimate"] < -0.25).all()


def test_its_robustness(demo):
    c1, p1, _, _ = demo
    r = robustness(p1, c1, method="its", checks=("placebo_dates", "placebo_units"))
    units = r.checks["placebo_units"].table
    assert len(units) == 5 and set(units["label"]).isdisjoint(c1.units)
    assert (r.checks["placebo_dates"].table["estimate"].abs() < 0.2).all()
    assert abs(r.extra["actual"]) > 0.25
