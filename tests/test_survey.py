"""Design-based survey estimates (cityanalytics.survey) against published results and hand counts.

Published references (R ``survey`` package, Lumley 2010 *Complex Surveys*, and its documentation
examples on the California API samples; data in tests/data/survey_api, see ATTRIBUTION.md there):

- stratified sample ``apistrat``, ``svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc)``:
  ``svytotal(~enroll)`` = 3687178, SE 114642; ``svymean(~api00)`` = 662.29.
- the same design without the finite population correction (``as_survey(strata=stype, weights=pw)``,
  with-replacement, as Stata ``svy`` without ``fpc``): ``svymean(~api00)`` SE 9.5361.
- one-stage cluster sample ``apiclus1``, ``svydesign(id=~dnum, weights=~pw, fpc=~fpc)``:
  ``svymean(~api00)`` = 644.17, SE 23.542; ``svytotal(~enroll)`` = 3404940, SE 932235.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cityanalytics import schemas
from cityanalytics.io import load
from cityanalytics.survey import (Design, domain_mean, option_shares, ratio, satisfaction_index, total,
                                  wave_change)

DATA = Path(__file__).parent / "data" / "survey_api"


@pytest.fixture(scope="module")
def apistrat():
    return pd.read_csv(DATA / "apistrat.csv")


@pytest.fixture(scope="module")
def apiclus1():
    return pd.read_csv(DATA / "apiclus1.csv")


def test_stratified_total_and_mean_match_r_survey(apistrat):
    design = Design.of(apistrat.assign(stratum=apistrat["stype"], stratum_size=apistrat["fpc"]), weight="pw",
                       psu=None)
    t = total(apistrat["enroll"].to_numpy(float), design)
    assert round(t.value) == 3687178
    assert round(t.se) == 114642
    m = ratio(apistrat["api00"].to_numpy(float), np.ones(len(apistrat)), design)
    assert round(m.value, 2) == 662.29
    assert design.df == 200 - 3


def test_stratified_mean_with_replacement_matches_r_survey(apistrat):
    design = Design.of(apistrat.assign(stratum=apistrat["stype"]), weight="pw", psu=None, stratum_size=None)
    m = ratio(apistrat["api00"].to_numpy(float), np.ones(len(apistrat)), design)
    assert m.value == pytest.approx(662.29, abs=0.005)
    assert m.se == pytest.approx(9.5361, abs=5e-5)


def test_cluster_sample_matches_r_survey(apiclus1):
    frame = apiclus1.assign(psu=apiclus1["dnum"].astype(str), stratum_size=apiclus1["fpc"])
    design = Design.of(frame, weight="pw", stratum=None)
    assert design.df == 15 - 1  # 15 districts, one stratum
    m = ratio(apiclus1["api00"].to_numpy(float), np.ones(len(apiclus1)), design)
    assert (round(m.value, 2), round(m.se, 3)) == (644.17, 23.542)
    t = total(apiclus1["enroll"].to_numpy(float), design)
    assert (round(t.value), round(t.se)) == (3404940, 932235)


def _responses(rows):
    return pd.DataFrame(rows, columns=["respondent", "unit_id", "wave", "question", "answer", "weight", "stratum"])


# Two strata (A: units u1 u2, B: unit u1), weights 1 and 2, answers on a 1-5 scale.
HAND = _responses([
    ("r1", "u1", "W1", "Q", "5", 1.0, "A"),
    ("r2", "u1", "W1", "Q", "3", 1.0, "A"),
    ("r3", "u2", "W1", "Q", "4", 1.0, "A"),
    ("r4", "u1", "W1", "Q", "2", 2.0, "B"),
    ("r5", "u1", "W1", "Q", "4", 2.0, "B"),
])


def test_satisfaction_index_by_hand():
    out = satisfaction_index(HAND, "Q").set_index(["unit_id", "measure"])
    # u1: sum w y = 5 + 3 + 4 + 8 = 20 over sum w = 6 -> 10/3.
    r = 10 / 3
    assert out.loc[("u1", "mean_score"), "value"] == pytest.approx(r)
    # Linearised z_i = w_i (y_i - r) 1{u1} / 6; u2's row is in stratum A with z = 0.
    z_a = np.array([(5 - r) / 6, (3 - r) / 6, 0.0])
    z_b = np.array([2 * (2 - r) / 6, 2 * (4 - r) / 6])
    var = sum(len(z) / (len(z) - 1) * ((z - z.mean()) ** 2).sum() for z in (z_a, z_b))
    row = out.loc[("u1", "mean_score")]
    assert row["se"] == pytest.approx(np.sqrt(var))
    assert row["df"] == 5 - 2
    q = stats.t.ppf(0.975, 3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((r - q * np.sqrt(var), r + q * np.sqrt(var)))
    # share satisfied (score >= 4) in u1: (1 + 2) / 6 = 0.5; city: (1 + 1 + 2) / 7.
    assert out.loc[("u1", "share_satisfied"), "value"] == pytest.approx(0.5)
    assert out.loc[("city", "share_satisfied"), "value"] == pytest.approx(4 / 7)
    assert out.loc[("city", "mean_score"), "value"] == pytest.approx((5 + 3 + 4 + 4 + 8) / 7)
    assert out.loc[("u1", "mean_score"), "n"] == 4 and out.loc[("u1", "mean_score"), "weight_sum"] == 6


def test_indicator_frame_in_percent_with_registered_ids():
    from cityanalytics.indicators.frame import check
    from cityanalytics.indicators.registry import get
    from cityanalytics.survey import as_indicator_frame
    f = check(as_indicator_frame(satisfaction_index(HAND, "Q")))
    share = f[(f.indicator == "survey_satisfied_share") & (f.unit_id == "u1")].iloc[0]
    assert share.value == pytest.approx(50.0) and share.group == "question=Q" and share.period == "W1"
    assert share.ci_low < 50 < share.ci_high and share.denominator == 4
    assert get("survey_satisfied_share").table == "survey_responses"


def test_blank_answer_is_left_out_not_scored_zero():
    d = pd.concat([HAND, _responses([("r6", "u1", "W1", "Q", None, 5.0, "B")])], ignore_index=True)
    out = satisfaction_index(d, "Q").set_index(["unit_id", "measure"])
    assert out.loc[("u1", "mean_score"), "value"] == pytest.approx(10 / 3)
    assert out.loc[("u1", "mean_score"), "n"] == 4


def test_labels_scored_and_unknown_label_named():
    d = HAND.assign(answer=["非常满意", "一般", "满意", "不满意", "满意"])
    from cityanalytics.survey import LIKERT_5
    out = satisfaction_index(d, "Q", scores=LIKERT_5).set_index(["unit_id", "measure"])
    assert out.loc[("u1", "mean_score"), "value"] == pytest.approx(10 / 3)
    with pytest.raises(ValueError, match=r"row 2, column answer: '还行'"):
        satisfaction_index(d.assign(answer=["非常满意", "一般", "还行", "不满意", "满意"]), "Q", scores=LIKERT_5)


def test_option_shares_add_up_and_match_hand_counts():
    out = option_shares(HAND, "Q")
    u1 = out[out["unit_id"] == "u1"].set_index("measure")["value"]
    assert u1.sum() == pytest.approx(1.0)
    assert u1["option=4"] == pytest.approx(2 / 6)  # r5 (w 2) of u1's weight 6
    assert u1["option=5"] == pytest.approx(1 / 6)
    assert (out["ci_low"] <= out["value"]).all() and (out["value"] <= out["ci_high"]).all()


def test_wave_change_independent_samples():
    w2 = HAND.assign(wave="W2", answer=["5", "5", "4", "4", "4"])
    index = satisfaction_index(pd.concat([HAND, w2], ignore_index=True), "Q")
    ch = wave_change(index, "W1", "W2").set_index(["unit_id", "measure"])
    a = index[(index.wave == "W1") & (index.unit_id == "u1") & (index.measure == "mean_score")].iloc[0]
    b = index[(index.wave == "W2") & (index.unit_id == "u1") & (index.measure == "mean_score")].iloc[0]
    row = ch.loc[("u1", "mean_score")]
    assert row["change"] == pytest.approx((5 + 5 + 8 + 8) / 6 - 10 / 3)
    assert row["se"] == pytest.approx(np.hypot(a["se"], b["se"]))
    df = (a["se"] ** 2 + b["se"] ** 2) ** 2 / (a["se"] ** 4 / a["df"] + b["se"] ** 4 / b["df"])
    q = stats.t.ppf(0.975, df)
    assert row["ci_high"] - row["change"] == pytest.approx(q * row["se"])
    with pytest.raises(ValueError, match="no estimates for wave 'W9'"):
        wave_change(index, "W1", "W9")


def test_unit_missing_from_a_wave_gets_no_change_not_dropped():
    w2 = HAND[HAND.unit_id == "u1"].assign(wave="W2")
    ch = wave_change(satisfaction_index(pd.concat([HAND, w2], ignore_index=True), "Q"), "W1", "W2")
    u2 = ch[ch.unit_id == "u2"]
    assert len(u2) == 2 and u2["change"].isna().all()


def test_single_psu_stratum_is_an_error_not_a_zero_variance():
    d = HAND.assign(stratum=["A", "A", "A", "A", "B"])
    with pytest.raises(ValueError, match="stratum 'B' has a single PSU"):
        satisfaction_index(d, "Q")


def test_partly_missing_stratum_named():
    d = HAND.assign(stratum=["A", None, "A", "B", "B"])
    with pytest.raises(ValueError, match="stratum: row 1 has no stratum"):
        satisfaction_index(d, "Q")


def test_finite_population_correction_needs_one_count_per_stratum():
    with pytest.raises(ValueError, match="stratum 'A' has more than one population count"):
        Design.of(HAND.assign(stratum_size=[100, 100, 90, 50, 50]))


def test_clusters_within_strata_use_psu_totals():
    # psu p1 holds r1 and r2: their z values are summed before the variance.
    d = HAND.assign(psu=["p1", "p1", "p2", "p3", "p4"])
    design = Design.of(d)
    y = d["answer"].astype(float).to_numpy()
    est = domain_mean(y, np.ones(len(d), dtype=bool), design)
    r = (5 + 3 + 4 + 4 + 8) / 7
    z = d["weight"].to_numpy() * (y - r) / 7
    za, zb = np.array([z[0] + z[1], z[2]]), z[3:]
    var = sum(2 * ((g - g.mean()) ** 2).sum() for g in (za, zb))
    assert est.se == pytest.approx(np.sqrt(var))
    assert design.df == 4 - 2


def test_survey_responses_load_with_aliases(tmp_path):
    assert "survey_responses" in schemas.TABLES
    path = tmp_path / "满意度.csv"
    path.write_text("问卷编号,街道,测评批次,题目,评分,设计权重,抽样层\n"
                    "1,u1,2024H1,Q,5,1.5,A\n2,u1,2024H1,Q,3,1.5,A\n3,u2,2024H1,Q,4,x,B\n", encoding="utf-8")
    result = load(path, "survey_responses", units=None)
    assert list(result.frame["respondent"]) == ["1", "2"]
    rejected = result.report.rejections
    assert len(rejected) == 1 and rejected.iloc[0]["column"] == "weight"


def test_a_bureau_export_through_a_workspace_recipe(tmp_path):
    """A recipe names the survey export and its own headers; build writes the canonical table."""
    from cityanalytics.cli import main
    from cityanalytics.workspace import open_workspace

    root = tmp_path / "ws"
    assert main(["init", str(root)]) == 0
    (root / "sources.yaml").write_text(
        "name: 示范市(测试)\nsource: 第三方测评\ntables:\n  districts: {files: [units.csv]}\n"
        "  survey_responses:\n    files: [exports/满意度_*.csv]\n"
        "    aliases: {respondent: [答卷号], answer: [总体满意度得分], weight: [加权系数]}\n"
        "    constants: {question: 总体满意度}\n", encoding="utf-8")
    pd.DataFrame({"unit_id": ["C", "S01", "S02"], "name_zh": ["示范市", "鹭洲街道", "东湖街道"],
                  "level": ["市", "街道", "街道"], "parent_id": ["", "C", "C"]}).to_csv(root / "units.csv", index=False)
    rows = [(r.respondent, {"u1": "鹭洲街道", "u2": "东湖街道"}[r.unit_id], "2025Q1", r.answer, r.weight, r.stratum)
            for r in HAND.itertuples()]
    pd.DataFrame(rows, columns=["答卷号", "街道", "测评批次", "总体满意度得分", "加权系数", "抽样层"]).to_csv(
        root / "exports" / "满意度_2025Q1.csv", index=False)
    assert main(["build", str(root)]) == 0
    ws = open_workspace(root)
    table = pd.read_parquet(ws.path("survey_responses"))
    assert set(table["unit_id"]) == {"S01", "S02"} and len(table) == 5
    out = satisfaction_index(table, "总体满意度").set_index(["unit_id", "measure"])
    assert out.loc[("S01", "mean_score"), "value"] == pytest.approx(10 / 3)


def test_domains_and_clustered_shares_match_samplics(apistrat):
    """Reference values printed by samplics 0.6.1 ``TaylorEstimator`` (run once; samplics is archived
    and not a dependency): domain means of api00 by sch.wide (strata stype, no fpc), and the share of
    schools with api00 > 700 with PSUs dnum within strata stype, its SE and logit-scale 95% interval."""
    d = apistrat
    design = Design.of(d.assign(stratum=d["stype"]), weight="pw", psu=None, stratum_size=None)
    for domain, mean, se in (("No", 593.7468582145887, 18.943708679091756),
                             ("Yes", 676.5304436567773, 10.654073882751684)):
        e = domain_mean(d["api00"].to_numpy(float), (d["sch.wide"] == domain).to_numpy(), design)
        assert (e.value, e.se) == pytest.approx((mean, se), rel=1e-12)
    clustered = Design.of(d.assign(stratum=d["stype"], psu=d["dnum"].astype(str)), weight="pw", stratum_size=None)
    e = domain_mean((d["api00"] > 700).astype(float).to_numpy(), np.ones(len(d), dtype=bool), clustered)
    assert (e.value, e.se) == pytest.approx((0.4043396816110388, 0.039583050036672895), rel=1e-12)
    assert e.interval(0.95, "logit") == pytest.approx((0.3291566721202789, 0.4842979844665069), rel=1e-9)
