"""The campaign evaluation's contract: ``ca.impact.run(workspace, **options)`` returns a
``CampaignReport`` whose ``table`` holds every design's effects as numbers, with ``tidy()``,
``summary()``, ``sentences``, ``plot()``, ``options`` and ``effect(name)``; the report's display
tables are made from that table; a summary never names an outcome by its column (「count」)."""

from __future__ import annotations

import dataclasses
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

import cityanalytics as ca
from cityanalytics.impact import CampaignReport, report
from cityanalytics.impact.analysis import FITTED, TABLE_COLUMNS, TIDY_COLUMNS

matplotlib.use("Agg")

TEXT_COLUMNS = {"design", "design_zh", "term", "label_zh", "scale"}


@pytest.fixture(scope="module")
def phased(project_demo):
    return ca.impact.run(str(project_demo), campaign_id="C2022-BRGJ", freq="W", event_window=[8, 26],
                         robustness_checks=["placebo_dates"])


@pytest.fixture(scope="module")
def citywide(project_demo):
    return ca.impact.run(str(project_demo), campaign_id="C2024-QSBR", outcome="hotline_urban_per_10k",
                         outcome_label="城市管理类热线诉求(件/万人)", freq="M", robustness_checks=[])


def test_run_returns_the_report_with_its_options_and_a_numeric_table(phased, project_demo):
    assert isinstance(phased, CampaignReport)
    assert phased.options == {"workspace": str(project_demo), "campaign_id": "C2022-BRGJ", "freq": "W",
                              "event_window": [8, 26], "robustness_checks": ["placebo_dates"]}
    t = phased.table
    assert list(t.columns) == TABLE_COLUMNS
    assert list(t["design"].unique()) == ["its", "did"]  # 5 covered units: no synthetic control
    for col in set(t.columns) - TEXT_COLUMNS - {"persistent"}:
        assert pd.api.types.is_float_dtype(t[col]), col
    assert str(t["persistent"].dtype) == "boolean"
    # the numbers are the designs' own: % changes of the count, the log coefficient beside them
    its = phased.its.table.set_index("term")
    row = t[(t["design"] == "its") & (t["term"] == "phase:综合治理")].iloc[0]
    assert row["scale"] == "pct" and row["estimate"] == its.at["phase:综合治理", "pct"]
    assert (row["conf_low"], row["conf_high"]) == (its.at["phase:综合治理", "pct_low"], its.at["phase:综合治理", "pct_high"])
    assert (row["coef"], row["std_error"]) == (its.at["phase:综合治理", "coef"], its.at["phase:综合治理", "se"])
    assert row["averted"] == its.at["phase:综合治理", "averted"]
    post = t[(t["design"] == "its") & (t["term"] == "post")].iloc[0]
    assert post["half_life"] == phased.its.diagnostics["half_life"]


def test_tidy_summary_sentences_and_plot(phased):
    tidy = phased.tidy()
    assert list(tidy.columns) == TIDY_COLUMNS and len(tidy) == len(phased.table)
    assert tidy[["estimate", "conf_low", "conf_high", "std_error", "p_value"]].dtypes.map(
        pd.api.types.is_float_dtype).all()
    assert (tidy["conf_low"] <= tidy["estimate"]).all() and (tidy["estimate"] <= tidy["conf_high"]).all()
    assert isinstance(phased.sentences, list) and phased.sentences
    summary = phased.summary()
    assert isinstance(summary, str) and summary.splitlines() == phased.sentences
    ax = phased.plot()
    assert isinstance(ax, matplotlib.axes.Axes) and ax.get_title().endswith("中断时间序列")
    assert "案件数" in ax.get_ylabel()
    matplotlib.pyplot.close("all")


def test_effect_by_term_or_label_naming_the_design_when_several_estimate_it(phased):
    by_label = phased.effect("综合治理阶段", design="did")
    by_term = phased.effect("phase:综合治理", design="双向固定效应(TWFE)")
    assert by_label["design"] == "did" and by_label["estimate"] == by_term["estimate"]
    assert by_label["estimate"] == pytest.approx(phased.did.effect("综合治理阶段")["pct"])
    with pytest.raises(KeyError, match=r"several designs \(its, did\).*design="):
        phased.effect("综合治理阶段")
    with pytest.raises(KeyError, match="no term '整治'.*综合治理阶段"):
        phased.effect("整治")
    with pytest.raises(KeyError, match="no design 'synth'"):
        phased.effect("综合治理阶段", design="synth")


def test_the_stored_effects_are_the_fitted_designs_rows_of_the_table(phased, citywide):
    from cityanalytics.report import resultsets

    for rep in (phased, citywide):
        stored = resultsets.campaign(rep)["effects"]
        fitted = rep.table[rep.table["design"].isin(FITTED)]
        assert list(stored["method"]) == list(fitted["design"]) and list(stored["term"]) == list(fitted["term"])
        np.testing.assert_array_equal(stored["estimate"], fitted["estimate"])
        np.testing.assert_array_equal(stored["ci_low"], fitted["conf_low"])


def test_a_synthetic_control_is_one_of_the_designs_where_it_applies(citywide):
    t = citywide.table
    assert {"its", "did", "synth", "sdid"} <= set(t["design"])
    sc = citywide.synth
    att = citywide.effect("att", design="synth")
    assert att["estimate"] == pytest.approx(sc.att) and att["scale"] == "level"
    sdid = citywide.effect("att", design="sdid")
    assert sdid["conf_low"] < sdid["estimate"] < sdid["conf_high"]
    assert citywide.effect("集中整治阶段", design="synth")["estimate"] == pytest.approx(
        sc.phases.set_index("phase").at["集中整治", "mean_gap"])


def test_the_display_tables_are_made_from_the_numeric_table(phased):
    shown = report.effects_table(phased, "its")
    assert list(shown["项目"]) == list(phased.its.table["label_zh"])
    t = phased.table.query("design == 'its'").reset_index(drop=True)
    assert shown.loc[1, "变化"] == f"{t.loc[1, 'estimate']:+.1f}%"
    assert shown.loc[1, "95% 区间"] == f"{t.loc[1, 'conf_low']:+.1f}% 至 {t.loc[1, 'conf_high']:+.1f}%"
    # an interval whose bound overflowed exp(b) shows ∞; one that could not be estimated says so
    its = dataclasses.replace(phased.its)
    its.table = phased.its.table.copy()
    its.table.loc[0, "pct_high"] = math.inf
    its.table.loc[1, ["pct_low", "pct_high"]] = np.nan
    odd = dataclasses.replace(phased, its=its)
    shown = report.effects_table(odd, "its")
    assert shown.loc[0, "95% 区间"].endswith("至 ∞") and shown.loc[1, "95% 区间"] == "无法估计(数据不足)"
    assert phased.its.table.loc[0, "pct_high"] != math.inf  # the report's own results are untouched


def test_an_unlabelled_count_is_never_called_count(project_demo):
    """The models' own entry points, without outcome_label: the summary says 案件数."""
    from cityanalytics.impact import callaway_santanna, case_panel, did, its
    from cityanalytics.impact.campaign import Campaign
    from cityanalytics.impact.inputs import load_inputs

    tables, _ = load_inputs(str(project_demo), "")
    for campaign_id, fits in (("C2022-BRGJ", (its, did)), ("C2021-XGG", (callaway_santanna,))):
        camp = Campaign.from_table(tables["campaigns"], campaign_id, tables["unit_changes"])
        panel = case_panel(tables["cases"], camp.outcomes, freq="M", unit_changes=tables["unit_changes"])
        for fit in fits:
            result = fit(panel, camp) if fit is not its else fit(panel, camp, outcome_label="")
            text = "\n".join([*result.sentences, result.spec])
            assert "count" not in text, (fit.__name__, text)
            assert result.options["outcome_label"] == "案件数"
            if fit is its:
                assert "的「案件数」" in result.sentences[0]
