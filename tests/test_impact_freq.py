"""Quarterly and yearly series through the impact analyses, and policies without a last day.

- A published annual segmented regression: Linden's single-group ITSA of California's
  Proposition 99 (cigarette sales 1970-2000, tests/data/prop99_itsa, see its ATTRIBUTION.md),
  a policy that stays (open end), reproduced through ``value_panel`` + ``its``.
- Quarterly panels with hand-checkable numbers: the period grid, case counts per quarter,
  an exact segmented series, DiD and Callaway-Sant'Anna on exact effects, placebo dates in
  quarters, and the readers' labels (季度/年).
- ``Campaign.from_dates(..., adoption=...)`` without a last day, and ``from_table`` with a
  blank end date.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from cityanalytics.impact.campaign import OPEN_END, Campaign
from cityanalytics.impact.did import did
from cityanalytics.impact.its import its
from cityanalytics.impact.panel import case_panel, parse_period_labels, period_grid, period_start, value_panel
from cityanalytics.impact.robustness import placebo_dates
from cityanalytics.impact.staggered import callaway_santanna

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")

PROP99 = Path(__file__).parent / "data" / "prop99_itsa" / "cigsale.csv"


def _prop99(states) -> pd.DataFrame:
    d = pd.read_csv(PROP99)
    d = d[d["state"].isin(states)].rename(columns={"state": "unit_id", "year": "period"})
    d["period"] = d["period"].astype(str)  # years as a bureau writes them: 1970, 1971 ...
    return value_panel(d, "cigsale", freq="Y")


def _segments(result) -> tuple[float, float]:
    """(intercept, pre-trend) read off the counterfactual line: its value in the first year
    and its change per year (the trend counts years, so both are the model's coefficients)."""
    cf = result.series["counterfactual"].to_numpy()
    return float(cf[0]), float(cf[1] - cf[0])


# Linden's itsa output for California and for the 38 controls' mean, as quoted in his
# power_itsa help (tint tpre tstep tpost / cint cpre cstep cpost).
PUBLISHED = {"California": (132.2258, -1.779474, -20.0581, -3.274126),
             "controls": (135.4995, -0.5477701, -17.25168, -1.051279)}


def test_prop99_annual_itsa_matches_linden():
    stays = Campaign.from_dates("加州99号提案", [("实施", "1989-01-01")], ["California"])
    assert stays.open_ended and stays.end == OPEN_END
    d = pd.read_csv(PROP99)
    for who, states in (("California", ["California"]), ("controls", sorted(set(d["state"]) - {"California"}))):
        panel = _prop99(states)
        r = its(panel, stays, outcome="cigsale", units="city", effect="level", slope=True,
                cov="newey-west", hac_lags=1)
        assert r.options["post"] == "open" and r.diagnostics["n_post_periods"] == 0
        t = r.table.set_index("term")
        const, pre = _segments(r)
        tint, tpre, tstep, tpost = PUBLISHED[who]
        # Published to 4 (intercept, step) and 6-7 significant digits (trends).
        assert const == pytest.approx(tint, abs=5e-5)
        assert pre == pytest.approx(tpre, abs=5e-7)
        assert t.loc["campaign", "coef"] == pytest.approx(tstep, abs=5e-5 if who == "California" else 5e-6)
        assert pre + t.loc["slope", "coef"] == pytest.approx(tpost, abs=5e-7)

        # Newey-West, lag 1: the same sums as statsmodels' HAC (Bartlett weights), and with
        # Stata newey's small-sample factor n/(n-k) the same as use_correction=True.
        y = panel.groupby("period")["cigsale"].mean().to_numpy()
        year = np.arange(1970, 2001)
        X = np.column_stack([np.ones(31), year - 1970, year >= 1989, np.where(year >= 1989, year - 1989, 0)])
        ols = sm.OLS(y, X.astype(float))
        hac = ols.fit(cov_type="HAC", cov_kwds={"maxlags": 1, "use_correction": False})
        stata = ols.fit(cov_type="HAC", cov_kwds={"maxlags": 1, "use_correction": True})
        assert r.diagnostics["hac_lags"] == 1
        np.testing.assert_allclose([t.loc["campaign", "se"], t.loc["slope", "se"]], hac.bse[2:], rtol=1e-9)
        np.testing.assert_allclose(np.array([t.loc["campaign", "se"], t.loc["slope", "se"]]) * math.sqrt(31 / 27),
                                   stata.bse[2:], rtol=1e-9)
        assert t.loc["slope", "label_zh"] == "活动期间斜率变化(每年)"
    assert "年度数据 31 期" in r.spec and "政策无结束日" in r.spec


def test_quarter_grid_and_labels_by_hand():
    g = period_grid("2023-02-15", "2024-05-03", "Q")
    assert list(g["period"].dt.strftime("%Y-%m-%d")) == ["2023-01-01", "2023-04-01", "2023-07-01", "2023-10-01",
                                                        "2024-01-01", "2024-04-01"]
    # 15 Feb - 31 Mar 2023 is 45 days; Q2 91, Q3 92, Q4 92; Q1 2024 (leap) 91; 1 Apr - 3 May 33.
    assert list(g["days"]) == [45, 91, 92, 92, 91, 33]
    starts = period_start(pd.to_datetime(["2024-12-31", "2024-04-01", "2024-03-31"]), "Q")
    assert list(starts.strftime("%Y-%m-%d")) == ["2024-10-01", "2024-04-01", "2024-01-01"]
    got = parse_period_labels(pd.Series(["2024Q1", "2024-Q3", "2024年第4季度", "2024年二季度", "2023"]))
    assert list(got.dt.strftime("%Y-%m-%d")) == ["2024-01-01", "2024-07-01", "2024-10-01", "2024-04-01",
                                                 "2023-01-01"]
    with pytest.raises(ValueError, match="'2024Q5'"):
        parse_period_labels(pd.Series(["2024Q1", "2024Q5"]))


def test_case_panel_counts_per_quarter():
    cases = pd.DataFrame({
        "unit_id": ["A", "A", "A", "B", "B"],
        "reported_at": pd.to_datetime(["2024-01-05 08:00", "2024-03-31 23:59", "2024-04-01 00:00",
                                       "2024-08-15 12:00", "2024-12-31 10:00"]),
        "subcategory": ["暴露垃圾"] * 5, "category": ["事件"] * 5})
    p = case_panel(cases, freq="Q", start="2024-01-01", end="2024-12-31")
    wide = p.pivot(index="unit_id", columns="period", values="count")
    assert wide.loc["A"].tolist() == [2, 1, 0, 0] and wide.loc["B"].tolist() == [0, 0, 1, 1]
    assert p[p["unit_id"] == "A"]["days"].tolist() == [91, 91, 92, 92]
    assert p.attrs["freq"] == "Q"


def _quarterly_values(units, start_of, effect, slope=0.0, quarters=24, first="2018-01-01"):
    """Exact values: 10 + 0.5 k + quarter effect (0, 2, -1, 3) + unit level + effect after the
    unit's start, + slope x quarters since it."""
    periods = pd.date_range(first, periods=quarters, freq="QS-JAN")
    season = {1: 0.0, 2: 2.0, 3: -1.0, 4: 3.0}
    rows = []
    for i, u in enumerate(units):
        for k, p in enumerate(periods):
            s = start_of.get(u)
            on = s is not None and p >= pd.Timestamp(s)
            since = (p.year - pd.Timestamp(s).year) * 4 + (p.quarter - pd.Timestamp(s).quarter) if on else 0
            v = 10 + 0.5 * k + season[p.quarter] + 1.5 * i + (effect + slope * since) * on
            rows.append({"unit_id": u, "period": f"{p.year}Q{p.quarter}", "value": v})
    return value_panel(pd.DataFrame(rows), "value", freq="Q")


def test_quarterly_its_recovers_exact_segments():
    panel = _quarterly_values(["A"], {"A": "2021-04-01"}, effect=3.0, slope=0.25)
    stays = Campaign.from_dates("季度政策", [("实施", "2021-04-01", None)], ["A"])
    for seasonality in ("quarter", "fourier"):
        r = its(panel, stays, outcome="value", effect="level", slope=True, seasonality=seasonality,
                fourier_order=2)
        t = r.table.set_index("term")
        assert t.loc["campaign", "coef"] == pytest.approx(3.0, abs=1e-9)
        assert t.loc["slope", "coef"] == pytest.approx(0.25, abs=1e-9)
        cf = r.series["counterfactual"].to_numpy()
        assert cf[4] - cf[0] == pytest.approx(2.0, abs=1e-9)  # trend 0.5 per quarter, same quarter a year on
        assert t.loc["slope", "label_zh"] == "活动期间斜率变化(每季度)"
    assert "季度数据 24 期" in r.spec
    # Quarterly data carry no Spring Festival, weekend or holiday terms (the festival is always in Q1).
    assert not [c for c in r.design.columns if c.startswith(("sf_", "weekend", "holiday", "makeup"))]


def test_quarterly_did_and_callaway_santanna_exact():
    units = ["T1", "T2", "C1", "C2", "C3"]
    camp = Campaign.from_dates("季度政策", [("实施", "2021-01-01", "2022-12-31")], ["T1", "T2"])
    panel = _quarterly_values(units, {"T1": "2021-01-01", "T2": "2021-01-01"}, effect=-2.0)
    # Only the campaign window counts: values after 2022 go back to no effect.
    panel.loc[(panel["period"] > "2022-12-31"), "value"] -= np.where(
        panel.loc[panel["period"] > "2022-12-31", "unit_id"].isin(["T1", "T2"]), -2.0, 0.0)
    d = did(panel, camp, outcome="value", effect="level", post="exclude", event_study=False)  # exact data: no residuals
    assert d.table.set_index("term").loc["campaign", "coef"] == pytest.approx(-2.0, abs=1e-9)
    assert d.options["event_window"] == (4, 8)
    # Staggered, open-ended: two cohorts adopt and keep the policy; never-treated controls.
    rollout = Campaign.from_dates("分批推行", [], [], adoption={"T1": "2020-04-01", "T2": "2021-07-01"})
    assert rollout.open_ended and rollout.staggered
    panel2 = _quarterly_values(units, {"T1": "2020-04-01", "T2": "2021-07-01"}, effect=-2.0)
    cs = callaway_santanna(panel2, rollout, outcome="value", control="never", compare_twfe=False)
    assert cs.table.set_index("term").loc["att_simple", "coef"] == pytest.approx(-2.0, abs=1e-9)
    assert cs.diagnostics["base_periods"] == 4 and cs.options["event_window"] == (4, 8)
    # TWFE on the same open roll-out: the effect runs to the end of the data.
    tw = did(panel2, rollout, outcome="value", model="ols", effect="level", event_study=False)
    assert tw.options["post"] == "open"
    assert tw.table.set_index("term").loc["campaign", "coef"] == pytest.approx(-2.0, abs=1e-9)


def test_open_ended_its_and_did_run_to_end_of_data():
    units = ["T1", "C1", "C2"]
    panel = _quarterly_values(units, {"T1": "2021-01-01"}, effect=4.0)
    stays = Campaign.from_dates("长效机制", [], [], adoption={"T1": "2021-01-01"})
    assert stays.phases[0].name == "推行" and stays.unit_end["T1"] == OPEN_END
    assert "2021-01-01起持续实施" in stays.describe_zh()
    r = its(panel, stays, outcome="value", effect="level", units=["T1"])
    assert r.table["term"].tolist() == ["campaign"]  # no post-campaign term
    assert r.table.iloc[0]["coef"] == pytest.approx(4.0, abs=1e-9)
    assert r.series["in_campaign"].iloc[-1]  # the last quarter is still under the policy
    d = did(panel, stays, outcome="value", effect="level", event_study=False)
    assert d.options["post"] == "open" and "post" not in set(d.table["term"])
    assert d.table.iloc[0]["coef"] == pytest.approx(4.0, abs=1e-9)
    # A blank end date in the campaigns table is the same open end.
    table = pd.DataFrame({"campaign_id": ["P1"], "name_zh": ["长效机制"], "unit_id": ["T1"], "phase": ["推行"],
                          "start_date": ["2021-01-01"], "end_date": [None]})
    assert Campaign.from_table(table, "P1").open_ended


def test_placebo_dates_move_whole_quarters():
    units = ["T1", "C1", "C2", "C3"]
    panel = _quarterly_values(units, {"T1": "2022-01-01"}, effect=-3.0, quarters=24)
    camp = Campaign.from_dates("季度政策", [("实施", "2022-01-01", "2022-06-30")], ["T1"])
    seen = []

    def spy(p, c):
        seen.append((c.start, c.end))
        return 0.0, 1.0, 0.5

    res = placebo_dates(panel, camp, spy, max_placebos=3)
    # Two quarters long: the first placebo is two quarters earlier, then one quarter at a time,
    # keeping at least 8 quarters of data before each.
    assert [s.strftime("%Y-%m-%d") for s, _ in seen] == ["2021-07-01", "2021-04-01", "2021-01-01"]
    assert [e.strftime("%Y-%m-%d") for _, e in seen] == ["2021-12-31", "2021-09-30", "2021-06-30"]
    assert res.table["label"].tolist() == ["2021年第3季度", "2021年第2季度", "2021年第1季度"]
    assert res.table["shift_periods"].tolist() == [2, 3, 4]
    assert "季度" in res.title_zh
    # An open policy keeps its open end when moved.
    stays = Campaign.from_dates("长效机制", [("实施", "2022-01-01")], ["T1"])
    seen.clear()
    placebo_dates(panel, stays, spy, max_placebos=2)
    assert [s.strftime("%Y-%m-%d") for s, _ in seen] == ["2021-10-01", "2021-07-01"]
    assert all(Campaign.from_dates("x", [("p", s, e)], ["T1"]).open_ended for s, e in seen)


Q_UNITS = [f"D{i}" for i in range(1, 9)]
Q_STAYS = {"实施": ["2021-01-01", None]}  # a policy that stays: no last day


def _quarterly_workspace(path: Path) -> Path:
    """An observations-only workspace: a recycling rate per district and quarter (2018Q1 ...
    2023Q4), down 4 points in the first three districts from 2021Q1 on, for good."""
    rng = np.random.default_rng(3)
    rows = []
    for i, u in enumerate(Q_UNITS):
        for k, p in enumerate(pd.period_range("2018Q1", "2023Q4", freq="Q")):
            on = u in Q_UNITS[:3] and p >= pd.Period("2021Q1", "Q")
            v = 40 + 2 * i - 0.3 * k + (1.5 if p.quarter == 3 else 0.0) - 4.0 * on + rng.normal(0, 0.5)
            rows.append({"unit_id": u, "unit_name": u + "区", "period": str(p), "indicator": "recycling_rate",
                         "value": round(v, 3), "unit": "%", "source": "模拟"})
    path.mkdir()
    pd.DataFrame(rows).to_csv(path / "observations.csv", index=False)
    return path


def test_quarterly_observations_run_through_the_analysis(tmp_path):
    """A bureau's quarterly indicator (periods written 2019Q1 ...) and a policy that stays:
    the notebook's entry point builds a quarterly panel and every section says 季度."""
    from cityanalytics.impact import run

    ws = _quarterly_workspace(tmp_path / "quarterly")
    rep = run(str(ws), campaign_name="垃圾分类长效机制", phases=Q_STAYS,
              treated_units=Q_UNITS[:3], outcome="recycling_rate", freq="M",
              robustness_checks=["placebo_dates", "leave_one_out"])
    assert rep.freq == "Q" and any("按季度分析" in n for n in rep.notes)
    assert rep.campaign.open_ended and rep.its.options["post"] == "open"
    assert "季度数据 24 期" in rep.its.spec and "季度面板" in rep.did.spec
    row = rep.did.table.iloc[0]
    assert row["ci_low"] < -4.0 < row["ci_high"]
    labels = rep.robustness.checks["placebo_dates"].table["label"].tolist()
    assert labels and all(lab.endswith("季度") for lab in labels)


def test_list_campaigns_marks_a_policy_that_stays():
    from cityanalytics.impact.campaign import list_campaigns

    t = pd.DataFrame({"campaign_id": ["A", "A", "B"], "name_zh": ["长效", "长效", "百日"], "unit_id": ["1", "2", "1"],
                      "phase": ["推行", "推行", "整治"],
                      "start_date": pd.to_datetime(["2020-01-01", "2020-02-01", "2021-01-01"]),
                      "end_date": pd.to_datetime(["2020-03-01", None, "2021-04-10"])})
    out = list_campaigns(t).set_index("campaign_id")
    assert out.loc["A", "open_ended"] and pd.isna(out.loc["A", "end"])
    assert not out.loc["B", "open_ended"] and out.loc["B", "end"] == pd.Timestamp("2021-04-10")
    assert Campaign.from_table(t, "A").open_ended and not Campaign.from_table(t, "B").open_ended


def test_quarterly_counts_decay_reported_in_quarters():
    """Counts per quarter (Poisson, log(days) offset), a campaign of two quarters whose effect
    fades after it: the half-life and what is left are said in quarters, consistently."""
    grid = period_grid("2016-01-01", "2023-12-31", "Q")
    k = np.arange(len(grid))
    q = grid["period"].dt.quarter.to_numpy()
    end = pd.Timestamp("2020-06-30")
    after = np.clip((grid["period"] - end).dt.days.to_numpy(), 0, None)
    on = (grid["period"] >= "2020-01-01") & (grid["period"] <= end)
    log_rate = 3.0 + 0.01 * k + 0.1 * (q == 3) - 0.4 * on - 0.4 * np.where(after > 0, 0.5 ** (after / 150.0), 0)
    rng = np.random.default_rng(11)
    panel = grid.assign(unit_id="A", count=rng.poisson(grid["days"].to_numpy() * np.exp(log_rate)))
    panel.attrs["freq"] = "Q"
    camp = Campaign.from_dates("两季度整治", [("整治", "2020-01-01", "2020-06-30")], ["A"])
    r = its(panel, camp, effect="level", n_draws=200)
    d = r.diagnostics
    assert d["freq"] == "Q" and math.isfinite(d["half_life"])
    assert d["remaining_1p"] == pytest.approx(0.5 ** ((365.25 / 4) / d["half_life"]), rel=1e-12)
    text = "".join(r.sentences)
    assert f"半衰期约 {d['half_life'] / (365.25 / 4):.1f} 个季度" in text
    assert "结束 1 个季度后约剩" in text and "90 天" not in text
    assert "线性趋势(按季度计)、季度谐波季节项" in r.spec and "春节" not in r.spec
    row = r.table.set_index("term").loc["campaign"]
    assert row["ci_low"] < -0.4 < row["ci_high"]


def test_campaigns_schema_takes_a_blank_end_date():
    """A policy that stays is a campaigns row with a blank end date: the canonical schema
    accepts it (and still rejects an end before the start)."""
    from cityanalytics.schemas import pandera_schema

    rows = pd.DataFrame({"campaign_id": ["P1", "P1"], "name_zh": ["长效机制"] * 2, "unit_id": ["A", "B"],
                         "phase": ["推行"] * 2, "phase_order": [1, 1],
                         "start_date": pd.to_datetime(["2021-01-01", "2021-07-01"]),
                         "end_date": pd.to_datetime([None, "2021-12-31"]), "outcomes": [None, None]})
    schema = pandera_schema("campaigns")
    assert len(schema.validate(rows, lazy=True)) == 2
    bad = rows.assign(end_date=pd.to_datetime([None, "2021-01-31"]))
    with pytest.raises(Exception, match="end_date is earlier than start_date"):
        schema.validate(bad, lazy=True)
    assert Campaign.from_table(rows, "P1").open_ended


@pytest.mark.slow
def test_notebook_runs_a_quarterly_feed_with_a_policy_that_stays(tmp_path):
    """The campaign_impact notebook under papermill on the quarterly observations: the report
    reads 季度 where it names the frequency and 持续实施 for the open end."""
    from notebook_outputs import papermill_outputs

    ws = _quarterly_workspace(tmp_path / "ws")
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "campaign_impact.ipynb"
    markdown, html, images = papermill_outputs(notebook, tmp_path / "quarterly.ipynb", {
        "workspace": str(ws), "campaign_id": "", "campaign_name": "垃圾分类长效机制", "phases": Q_STAYS,
        "treated_units": Q_UNITS[:3], "outcome": "recycling_rate", "freq": "Q",
        "robustness_checks": ["placebo_dates", "leave_one_out"]})
    for text in ("季度数据 24 期", "季度面板", "2021-01-01起持续实施", "政策无结束日", "季度谐波季节项",
                 "安慰剂时间", "个季度"):
        assert text in markdown, text
    assert "按月" not in markdown and "月度" not in markdown
    assert len(images) >= 2
