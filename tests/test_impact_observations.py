"""An ``observations`` panel of values (rates, per-capita figures) through the same ITS and DiD
machinery with Gaussian models: a simulated panel with a known effect (the estimate inside its
interval; coefficients equal to OLS fitted by hand), the analysis on an observations-only
workspace, a unit treated before the data begin named in the sentences, and thin data."""

from __future__ import annotations

import dataclasses
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import statsmodels.api as sm

from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.did import did
from cityanalytics.impact.its import its
from cityanalytics.impact.panel import value_panel
from cityanalytics.impact import report, run
from cityanalytics.impact.report import scope_markdown
from cityanalytics.impact.staggered import callaway_santanna

matplotlib.use("Agg")
pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")

TRUE = -1.5  # kg per capita per month while the campaign runs
UNITS = [f"Q{i:02d}" for i in range(1, 13)]
NAMES = {u: n + "区" for u, n in zip(UNITS, "东西南北中上下左右前后外")}
TREATED = UNITS[:5]
PHASES = {"集中整治": ["2023-01-01", "2023-06-30"]}


def observations(seed: int = 7, months: int = 48, effect: float = TRUE) -> pd.DataFrame:
    """The canonical observations table: one row per unit, month and indicator."""
    rng = np.random.default_rng(seed)
    periods = pd.period_range("2021-01", periods=months, freq="M")
    rows = []
    for i, u in enumerate(UNITS):
        level = 30 + rng.normal(0, 4)
        for t, p in enumerate(periods):
            on = u in TREATED and pd.Period("2023-01", "M") <= p <= pd.Period("2023-06", "M")
            value = level - 0.05 * t + 1.2 * math.cos(2 * math.pi * p.month / 12) + effect * on + rng.normal(0, 0.6)
            pop = 1e5 * (1 + i / 10) * (1 + 0.002 * t)
            rows.append({"unit_id": u, "unit_name": NAMES[u], "period": str(p), "indicator": "waste_kg_per_capita",
                         "value": round(value, 4), "unit": "千克/人", "source": "模拟"})
            rows.append({"unit_id": u, "unit_name": NAMES[u], "period": str(p), "indicator": "population",
                         "value": round(pop), "unit": "人", "source": "模拟"})
    return pd.DataFrame(rows)


def panel_of(obs: pd.DataFrame, indicator: str = "waste_kg_per_capita") -> pd.DataFrame:
    return value_panel(obs[obs["indicator"] == indicator], "value", freq="M")


CAMPAIGN = Campaign.from_dates("生活垃圾减量专项行动", PHASES, TREATED)


def test_its_on_values_is_ols_and_recovers_the_effect():
    panel = panel_of(observations())
    r = its(panel, CAMPAIGN, outcome="value", effect="level", post="exclude", weekday=False,
            spring_festival=False, holidays=False)
    assert r.options["family"] == "gaussian"
    row = r.effect("campaign")
    assert row["ci_low"] < TRUE < row["ci_high"]
    # By hand: OLS of the treated units' mean on the same design.
    series = panel[panel["unit_id"].isin(TREATED)].groupby("period")["value"].mean()
    series = series[series.index <= CAMPAIGN.end]
    ref = sm.OLS(series.to_numpy(), r.design.to_numpy()).fit()
    assert row["coef"] == pytest.approx(ref.params[list(r.design.columns).index("campaign")], rel=1e-10)
    assert "pct" not in r.table.columns  # effects in the outcome's own unit, not percentages
    assert any("集中整治" in s or "活动期间" in s for s in r.sentences)


def test_did_on_values_equals_ols_with_unit_and_period_dummies():
    panel = panel_of(observations())
    r = did(panel, CAMPAIGN, outcome="value", effect="level", post="exclude", event_study=False, ssc="full")
    assert r.options["model"] == "ols" and not r.options["log_scale"]
    d = panel[panel["period"] <= "2023-06-30"].copy()
    d["D"] = (d["unit_id"].isin(TREATED) & (d["period"] >= "2023-01-01")).astype(float)
    d["t"] = d["period"].dt.strftime("%Y-%m")
    m = smf.ols("value ~ D + C(unit_id) + C(t)", d).fit(cov_type="cluster", cov_kwds={"groups": d["unit_id"]})
    row = r.table.iloc[0]
    assert row["coef"] == pytest.approx(m.params["D"], abs=1e-10)
    assert row["se"] == pytest.approx(m.bse["D"], rel=1e-8)
    assert row["ci_low"] < TRUE < row["ci_high"]


@pytest.fixture()
def obs_workspace(tmp_path):
    """A workspace holding only an observations table (and the campaign's units named in it)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    observations().to_csv(ws / "observations.csv", index=False, encoding="utf-8")
    return ws


def test_run_on_an_observations_only_workspace(obs_workspace):
    rep = run(str(obs_workspace), campaign_name="生活垃圾减量专项行动", phases=PHASES,
              treated_units=TREATED, outcome="waste_kg_per_capita", freq="W", post="level",
              robustness_checks=["leave_one_out"], covariates=["population"])
    assert rep.freq == "M" and any("按月度分析" in n for n in rep.notes)
    assert rep.outcome.kind == "value" and rep.its.options["family"] == "gaussian"
    assert rep.did.options["model"] == "ols" and rep.did.options["covariates"] == ["population"]
    row = rep.did.effect("phase:集中整治")
    assert row["ci_low"] < TRUE < row["ci_high"]
    assert rep.names["Q01"] == "东区"
    text = scope_markdown(rep)
    for part in ("waste_kg_per_capita", "千克/人", "线性模型", "观测值表", "东区", "协变量"):
        assert part in text, part
    assert rep.load_summary.set_index("表").loc["observations", "读入行"] == 2 * 12 * 48
    assert any("估计已控制协变量:population" in s for s in rep.sentences)


def test_the_same_workspace_with_a_recipe_folder_and_an_unknown_outcome(tmp_path):
    ws = tmp_path / "city"
    (ws / "tables").mkdir(parents=True)
    (ws / "sources.yaml").write_text("name: 模拟市\ntables:\n  observations: {files: [exports/*.csv]}\n",
                                     encoding="utf-8")
    observations().to_parquet(ws / "tables" / "observations.parquet")
    with pytest.raises(ValueError, match=r"no cases table.*indicators: population, waste_kg_per_capita"):
        run(str(ws), phases=PHASES, treated_units=TREATED, outcome="recycling_rate",
            robustness_checks=[])
    rep = run(str(ws), phases=PHASES, treated_units=TREATED, outcome="waste_kg_per_capita",
              freq="M", robustness_checks=[], exposure="population")
    assert rep.exposure == "" and any("暴露量「population」只用于计数结果" in n for n in rep.notes)


def test_a_unit_treated_before_the_data_begin_is_named_in_the_sentences():
    panel = panel_of(observations())
    adoption = {"Q01": "2020-06-01", "Q02": "2022-07-01", "Q03": "2022-07-01", "Q04": "2023-01-01",
                "Q05": "2023-01-01"}
    camp = Campaign.from_dates("分批推行的垃圾分类", [("推行", "2020-06-01", "2024-12-31")], [], adoption=adoption)
    cs = callaway_santanna(panel, camp, outcome="value", unit_names=NAMES, event_window=(3, 3))
    assert cs.diagnostics["always_treated"] == ["Q01"]
    assert any("东区 在数据开始(2021-01-01)之前已推行" in s for s in cs.sentences)
    d = did(panel, camp, outcome="value", effect="level", post="level", event_study=False, unit_names=NAMES)
    assert any("东区 在数据开始(2021-01-01)之前已开始活动" in s for s in d.sentences)
    early = Campaign.from_dates("早已开始的行动", {"整治": ["2020-01-01", "2023-06-30"]}, TREATED)
    with pytest.raises(ValueError, match="东区、西区、南区、北区、中区 在数据开始之前已开始活动"):
        did(panel, early, outcome="value", event_study=False, unit_names=NAMES)
    with pytest.raises(ValueError, match="没有活动前数据,无法做中断时间序列"):
        its(panel, early, outcome="value")


def test_thin_data_gives_a_report_that_says_what_could_not_be_drawn(tmp_path):
    import matplotlib.pyplot as plt

    from cityanalytics.impact import plots

    obs = observations(months=6)
    obs = obs[obs["unit_id"].isin(["Q01", "Q06"])]
    ws = tmp_path / "thin"
    ws.mkdir()
    obs.to_csv(ws / "observations.csv", index=False)
    rep = run(str(ws), phases={"整治": ["2021-04-01", "2021-05-31"]}, treated_units=["Q01"],
              outcome="waste_kg_per_capita", freq="M")
    assert rep.its is not None and rep.did is not None  # fitted, with warnings about the design
    fig, ax = plt.subplots()
    rep.did.event_study = rep.did.event_study.assign(se=np.nan, ci_low=np.nan, ci_high=np.nan)
    plots.plot_event_study(rep.did, ax=ax)
    assert "没有可画的区间" in ax.texts[0].get_text()
    fig2, ax2 = plt.subplots()
    plots.plot_profile(dataclasses.replace(rep.its, profile=None), ax=ax2)
    assert "没有半衰期剖面" in ax2.texts[0].get_text()
    plt.close("all")
    for show in (report.show_scope, report.show_key_points, report.show_its, report.show_did,
                 report.show_robustness, report.show_spec):
        show(rep)  # every section renders on thin data
    plt.close("all")
    # Sections that cannot be fitted say why instead of failing the run.
    rep2 = run(str(ws), phases={"整治": ["2020-01-01", "2021-05-31"]}, treated_units=["Q01"],
               outcome="waste_kg_per_capita", freq="M", robustness_checks=[])
    assert rep2.its is None and rep2.did is None
    assert any(n.startswith("中断时间序列未做:活动开始(2020-01-01)不晚于数据起点") for n in rep2.notes)
    assert any(n.startswith("双重差分未做:东区 在数据开始之前已开始活动") for n in rep2.notes)
    for show in (report.show_its, report.show_did, report.show_spec):
        show(rep2)


def yearly_observations(seed: int = 3, effect: float = -2.5) -> pd.DataFrame:
    """Cities' waste per capita by year (periods written 2010, 2011 ...); five adopt in 2017."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, u in enumerate(UNITS):
        level = 300 + rng.normal(0, 20)
        for year in range(2010, 2022):
            on = u in TREATED and year >= 2017
            value = level + 2.0 * (year - 2010) + 0.4 * i * (year == 2015) + effect * on + rng.normal(0, 0.8)
            rows.append({"unit_id": u, "unit_name": NAMES[u], "period": str(year), "indicator": "msw_kg_per_capita",
                         "value": round(value, 3), "unit": "千克/人·年", "source": "模拟"})
    return pd.DataFrame(rows)


def test_yearly_observations_are_a_yearly_panel_through_the_same_did_and_its(tmp_path):
    obs = yearly_observations()
    panel = value_panel(obs, "value", freq="Y")
    assert panel["period"].dt.strftime("%m-%d").eq("01-01").all() and set(panel["days"]) == {365, 366}
    camp = Campaign.from_dates("强制分类试点", {"试点": ["2017-01-01", "2021-12-31"]}, TREATED)
    r = did(panel, camp, outcome="value", effect="level", post="level", ssc="full", event_window=(3, 4))
    d = panel.copy()
    d["D"] = (d["unit_id"].isin(TREATED) & (d["period"] >= "2017-01-01")).astype(float)
    d["t"] = d["period"].dt.year.astype(str)
    m = smf.ols("value ~ D + C(unit_id) + C(t)", d).fit(cov_type="cluster", cov_kwds={"groups": d["unit_id"]})
    row = r.table.iloc[0]
    assert row["coef"] == pytest.approx(m.params["D"], abs=1e-10) and row["se"] == pytest.approx(m.bse["D"], rel=1e-8)
    assert row["ci_low"] < -2.5 < row["ci_high"]
    assert list(r.event_study["event_time"]) == [-3, -2, -1, 0, 1, 2, 3, 4]
    ws = tmp_path / "yearly"
    ws.mkdir()
    obs.to_csv(ws / "observations.csv", index=False)
    rep = run(str(ws), campaign_name="强制分类试点", phases={"试点": ["2017-01-01", "2021-12-31"]},
              treated_units=TREATED, outcome="msw_kg_per_capita", freq="W", robustness_checks=["leave_one_out"])
    assert rep.freq == "Y" and any("按年度分析" in n for n in rep.notes)
    assert list(rep.its.design.columns) == ["const", "trend", "phase:试点"]  # no seasons in yearly data
    assert rep.did.table.iloc[0]["coef"] == pytest.approx(m.params["D"], abs=1e-10)
    assert "年度面板" in rep.did.spec


def test_weighted_least_squares_by_population_equals_pyfixest_and_statsmodels():
    """A per-capita value weighted by the population behind it: the DiD is WLS with the fixed
    effects swept out by weighted means (pyfixest feols with weights, statsmodels WLS with
    dummies); the ITS averages the covered units by population."""
    pf = pytest.importorskip("pyfixest")
    obs = observations()
    panel = panel_of(obs)
    pop = panel_of(obs, "population")[["unit_id", "period", "value"]].rename(columns={"value": "population"})
    panel = panel.merge(pop, on=["unit_id", "period"])
    panel.attrs["freq"] = "M"
    r = did(panel, CAMPAIGN, outcome="value", effect="level", post="exclude", event_study=False, ssc="full",
            weights="population")
    d = panel[panel["period"] <= "2023-06-30"].copy()
    d["D"] = (d["unit_id"].isin(TREATED) & (d["period"] >= "2023-01-01")).astype(float)
    d["t"] = d["period"].dt.strftime("%Y-%m")
    m = pf.feols("value ~ D | unit_id + t", data=d, weights="population", vcov={"CRV1": "unit_id"},
                 ssc=pf.ssc(k_fixef="full"))
    row = r.table.iloc[0]
    assert row["coef"] == pytest.approx(float(m.coef()["D"]), abs=1e-6)
    assert row["se"] == pytest.approx(float(m.se()["D"]), abs=1e-6)
    ref = smf.wls("value ~ D + C(unit_id) + C(t)", d, weights=d["population"]).fit()
    assert row["coef"] == pytest.approx(ref.params["D"], abs=1e-8)
    assert row["ci_low"] < TRUE < row["ci_high"]
    assert "加权最小二乘(权重 population)" in r.spec
    its_w = its(panel, CAMPAIGN, outcome="value", effect="level", post="exclude", weights="population",
                weekday=False, spring_festival=False, holidays=False)
    sub = panel[panel["unit_id"].isin(TREATED) & (panel["period"] <= "2023-06-30")]
    mean_w = sub.groupby("period").apply(lambda g: np.average(g["value"], weights=g["population"]),
                                         include_groups=False)
    np.testing.assert_allclose(its_w.series["observed"], mean_w.to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="weights are for the least-squares models"):
        did(panel.assign(count=1), CAMPAIGN, model="poisson", weights="population", event_study=False)


def test_a_staggered_rollout_on_three_units_names_the_early_unit_and_runs_every_section(tmp_path):
    """Three units: one started before the data, one during, one never. Callaway-Sant'Anna runs
    on what is left, names the early unit; leave-one-out refits that cannot be estimated are
    gaps in the robustness table, not a failed report."""
    import matplotlib.pyplot as plt

    ws = tmp_path / "rollout"
    ws.mkdir()
    obs = observations(months=12)
    obs[obs["unit_id"].isin(["Q01", "Q02", "Q03"])].to_csv(ws / "observations.csv", index=False)
    pd.DataFrame([{"campaign_id": "C1", "name_zh": "分批推行的垃圾分类", "unit_id": u, "phase": "推行", "phase_order": 1,
                   "start_date": s, "end_date": "2024-12-31", "outcomes": "waste_kg_per_capita"}
                  for u, s in (("Q01", "2020-06-01"), ("Q02", "2021-05-01"))]).to_csv(ws / "campaigns.csv", index=False)
    rep = run(str(ws), campaign_id="C1", freq="M", robustness_checks=["leave_one_out"])
    assert rep.outcome.indicator == "waste_kg_per_capita"  # the campaign's own outcomes name the indicator
    assert rep.staggered is not None and rep.its is None
    assert "东区 在数据开始(2021-01-01)之前已推行,没有推行前的数据,未纳入估计。" in rep.sentences
    for show in (report.show_scope, report.show_key_points, report.show_its, report.show_did,
                 report.show_robustness, report.show_spec):
        show(rep)
    plt.close("all")


def test_a_covariate_the_run_names_that_cannot_be_used_fails_the_run_naming_it(obs_workspace):
    obs = observations()
    extra = obs[obs["indicator"] == "population"].assign(indicator="population_x2",
                                                          value=lambda d: 2 * d["value"] + 5)
    pd.concat([obs, extra]).to_csv(obs_workspace / "observations.csv", index=False)
    with pytest.raises(ValueError, match=r"collinear.*'(population_x2|population)' = linear combination"):
        run(str(obs_workspace), phases=PHASES, treated_units=TREATED, outcome="waste_kg_per_capita",
            freq="M", robustness_checks=[], covariates=["population", "population_x2"])


def test_a_workspace_whose_tables_are_not_built_says_so(tmp_path):
    ws = tmp_path / "new"
    (ws / "tables").mkdir(parents=True)
    (ws / "sources.yaml").write_text("name: 新城\ntables: {}\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"no cases or observations table.*cityanalytics build"):
        run(str(ws), phases=PHASES, treated_units=TREATED)
