"""Campaign impact: did a campaign (专项行动) move its target outcomes, by how much, and does
the effect last after it ends (回潮/反弹)?

    import cityanalytics as ca
    rep = ca.impact.run("data/demo", campaign_id="C2022-BRGJ", freq="W")
    rep.table, rep.tidy(), rep.summary(), rep.plot()      # every design's effects, the key points, the ITS
    rep.effect("综合治理阶段", design="did")                # one effect, by term or the label the table shows

``run(workspace, **options)`` takes the notebook's parameters (campaign, outcome, exposure,
covariates, models, level ...), loads the tables through ``cityanalytics.workspace`` and takes
case counts or an observations indicator (``inputs``: the outcome, the panel, exposures and
covariates joined from the workspace). The designs one by one:

    from cityanalytics.impact import Campaign, case_panel, its, did, callaway_santanna, robustness

    camp = Campaign.from_table(tables["campaigns"], "C2022-BRGJ", tables["unit_changes"])
    panel = case_panel(tables["cases"], camp.outcomes, freq="W", unit_changes=tables["unit_changes"])
    r = its(panel, camp)           # interrupted time series of the covered units' total
    d = did(panel, camp)           # DiD against the uncovered units, event study, pre-trends
    rb = robustness(panel, camp)   # placebo dates and units, leave-one-out, randomization inference

    r = its(panel, camp, exposure="population")             # counts per head: log(population) as the offset
    d = did(values, camp, outcome="value", covariates=["gdp"])  # a value panel: Gaussian, with covariates

Modules: ``analysis`` (``run``, ``CampaignReport``), ``campaign`` (phases, units, adoption
dates), ``panel`` (unit x period panels from the canonical tables, DuckDB), ``design``
(day-level regressors averaged over periods), ``its``, ``within`` (two-way fixed effects
without dummies: OLS and Poisson, cluster-robust), ``did`` (TWFE, event study, pre-trend
tests), ``staggered`` (Callaway-Sant'Anna next to TWFE; ``att_gt`` on any long panel, as R
did: ``cs_api``, ``cs_core``), ``robustness``, ``inputs`` (a workspace's tables, the outcome
and the panel), ``warnings`` (weak designs), ``variance`` (time-series sandwich), ``fitting``
(IRLS, half-life profile), ``simulate`` (panels with known effects), ``plots``, ``sentences``
(Chinese summaries and specifications), ``report`` (the notebook's sections).
``synth`` (synthetic control for one or a few treated places; ``synth_inference``: placebos in space and
time, leave-one-donor-out; ``synth_sdid``: synthetic DiD with its placebo interval; ``design_choice``: the
designs the data support and why, every design on one estimand; ``synth_report``: the report section).
Every analysis returns an ``AnalysisResult``: ``.table``, ``.plot()``, ``.sentences``, ``.spec``.
"""

from cityanalytics.impact.analysis import CampaignReport, analyse, run
from cityanalytics.impact.campaign import Campaign, Phase, list_campaigns
from cityanalytics.impact.design_choice import DesignChoice, choose_design, side_by_side
from cityanalytics.impact.did import DiDResult, did
from cityanalytics.impact.its import ITSResult, its
from cityanalytics.impact.panel import aggregate, case_panel, exposure_offset, value_panel
from cityanalytics.impact.robustness import (leave_one_out, placebo_dates, placebo_units, randomization_inference,
                                             robustness)
from cityanalytics.impact.staggered import ATTgtResult, StaggeredResult, att_gt, callaway_santanna
from cityanalytics.impact.synth import SynthResult, synth_control
from cityanalytics.impact.within import RankDeficientError, ols_fe, poisson_fe

__all__ = [
    "run", "CampaignReport", "analyse", "Campaign", "Phase", "list_campaigns", "case_panel", "value_panel", "aggregate", "its", "ITSResult", "did",
    "DiDResult", "callaway_santanna", "StaggeredResult", "att_gt", "ATTgtResult", "robustness", "placebo_dates",
    "placebo_units",
    "leave_one_out", "randomization_inference", "ols_fe", "poisson_fe", "exposure_offset", "RankDeficientError",
    "synth_control", "SynthResult", "choose_design", "DesignChoice", "side_by_side",
]
