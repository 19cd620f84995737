"""Comparisons: every statistic against hand-computed values or a reference implementation.

Small IndicatorFrames are built by hand (``frame.proportion`` etc.), so each expected number
below can be checked with a pencil: funnel limits, over-dispersion, the two-sample tests,
Cochran-Armitage, ranks, composite scores, list rules and target status.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import Table
from statsmodels.stats.proportion import proportions_ztest

from cityanalytics.compare import (
    PRESETS,
    binomial_limit,
    cochran_armitage,
    composite_score,
    dispersion,
    funnel,
    league_table,
    level_units,
    limits,
    poisson_limit,
    poisson_trend,
    red_black_lists,
    scenarios,
    target_status,
    trend,
)
from cityanalytics.compare.funnel import exact_outside
from cityanalytics.compare.significance import two_proportions, two_rates
from cityanalytics.compare.targets_status import projection
from cityanalytics.indicators import frame
from cityanalytics.indicators.frame import CITY

Z975 = 1.959963984540054
Z999 = 3.090232306167813


# --- helpers -------------------------------------------------------------------------------


def prop_frame(indicator: str, rows: dict, period="2025-06", with_city=True, level=0.95) -> pd.DataFrame:
    """rows: unit -> (numerator, denominator) for one period, or period -> {unit: (x, n)}."""
    if not all(isinstance(v, dict) for v in rows.values()):
        rows = {period: rows}
    keys, num, den = [], [], []
    for p, units in rows.items():
        units = dict(units)
        if with_city:
            units[CITY] = (sum(x for x, _ in units.values()), sum(n for _, n in units.values()))
        for u, (x, n) in units.items():
            keys.append((u, pd.Period(p, "M")))
            num.append(x)
            den.append(n)
    k = pd.DataFrame(keys, columns=["unit_id", "period"])
    return frame.combine([frame.proportion(indicator, k, np.array(num, float), np.array(den, float), level)], level)


def count_frame(indicator: str, rows: dict, period="2025-06", level=0.95) -> pd.DataFrame:
    rows = dict(rows)
    rows[CITY] = sum(rows.values())
    k = pd.DataFrame({"unit_id": list(rows), "period": pd.Period(period, "M")})
    return frame.combine([frame.count(indicator, k, np.array(list(rows.values()), float), level)], level)


# --- funnel limits -------------------------------------------------------------------------


def test_binomial_limits_by_hand():
    # Binomial(10, 0.5): P(R<=r) * 1024 = 1, 11, 56, 176, 386, 638, 848, 968, 1013, 1023, 1024.
    # p = 0.975: r_p = 8 (968/1024 < 0.975 <= 1013/1024); alpha = (1013 - 998.4) / 45; limit = (8 - alpha)/10.
    upper = (8 - (1013 - 0.975 * 1024) / 45) / 10
    # p = 0.025: r_p = 2 (11/1024 < 0.025 <= 56/1024); alpha = (56 - 25.6) / 45; limit = (2 - alpha)/10.
    lower = (2 - (56 - 0.025 * 1024) / 45) / 10
    assert binomial_limit(10, 0.5, 0.975) == pytest.approx(upper, abs=1e-12)
    assert binomial_limit(10, 0.5, 0.025) == pytest.approx(lower, abs=1e-12)
    assert upper == pytest.approx(0.7675556, abs=1e-7) and lower == pytest.approx(0.1324444, abs=1e-7)
    lo, hi = limits([10], 0.5, 0.95, "proportion", "exact")
    assert (lo[0], hi[0]) == pytest.approx((lower, upper))


def test_poisson_limits_by_hand():
    # Poisson(2): P(K<=4) = 7 e^-2 = 0.947347, P(K=5) = e^-2 * 32/120 = 0.036089.
    f4, p5 = 7 * math.exp(-2), math.exp(-2) * 32 / 120
    alpha = (f4 + p5 - 0.975) / p5
    assert poisson_limit(1.0, 2.0, 0.975) == pytest.approx(5 - alpha, abs=1e-9)
    assert 5 - alpha == pytest.approx(4.766236, abs=1e-6)
    # r_p = 0 at p = 0.025 (P(K=0) = 0.135 >= 0.025): the interpolated limit is below 0, clipped.
    assert poisson_limit(1.0, 2.0, 0.025) == 0.0
    # exposure scales the rate: 2 per unit over E = 4 -> events ~ Poisson(8), limit in events / 4
    assert poisson_limit(4.0, 2.0, 0.975) == pytest.approx(poisson_limit(1.0, 8.0, 0.975) / 4)


def test_normal_limits_by_hand():
    lo, hi = limits([100], 0.9, 0.95, "proportion", "normal")
    assert (lo[0], hi[0]) == pytest.approx((0.9 - Z975 * 0.03, 0.9 + Z975 * 0.03))  # sqrt(.9*.1/100) = 0.03
    lo, hi = limits([100], 0.9, 0.998, "proportion", "normal")
    assert (lo[0], hi[0]) == pytest.approx((0.807293, 0.992707), abs=1e-6)
    lo, hi = limits([4.0], 2.5, 0.95, "rate", "normal")  # sqrt(2.5/4) = 0.790569
    assert (lo[0], hi[0]) == pytest.approx((2.5 - Z975 * 0.7905694, 2.5 + Z975 * 0.7905694))


def test_exact_classification_does_not_flag_a_full_score_that_is_not_extreme():
    # 12/12 when the city is at 94.2%: P(R = 12) = 0.942^12 = 0.488, nowhere near 0.001.
    below, above = exact_outside([12], [12], 0.942, 0.998, "proportion")
    assert not below[0] and not above[0]
    # ... although the interpolated curve (for drawing) sits just under 100%.
    assert binomial_limit(12, 0.942, 0.999) < 1
    # 0/10 at 90%: P(R <= 0) = 1e-10 -> below; 10/10 at 10%: P(R >= 10) = 1e-10 -> above.
    assert exact_outside([0], [10], 0.9, 0.998, "proportion")[0][0]
    assert exact_outside([10], [10], 0.1, 0.998, "proportion")[1][0]


def test_overdispersion_by_hand():
    # theta 0.5, n = 100: s = 0.05; y gives z = -2, -1, 0, 1, 3.
    y = np.array([0.40, 0.45, 0.50, 0.55, 0.65])
    d = dispersion(y, [100] * 5, 0.5, "proportion", winsor=0.0)
    assert d["phi"] == pytest.approx((4 + 1 + 0 + 1 + 9) / 5)  # 3.0
    # w = 1/s^2 = 400 each: sum w = 2000, sum w^2 / sum w = 400 -> tau2 = (5*3 - 4) / 1600
    assert d["tau2"] == pytest.approx(11 / 1600)
    assert d["chi2"] == pytest.approx(15.0) and d["df"] == 4
    assert d["p_value"] == pytest.approx(stats.chi2.sf(15.0, 4))
    # 20% winsorising of 5 z-scores replaces the lowest and the highest: -1, -1, 0, 1, 1 -> phi 0.8, tau2 0
    d20 = dispersion(y, [100] * 5, 0.5, "proportion", winsor=0.2)
    assert d20["phi"] == pytest.approx(0.8) and d20["tau2"] == pytest.approx(0.0, abs=1e-12)
    # 10% of 5 units is floor(0.5) = 0 units: nothing replaced
    assert dispersion(y, [100] * 5, 0.5, "proportion", winsor=0.1)["phi"] == pytest.approx(3.0)
    # inflated limits at n = 100
    lo, hi = limits([100], 0.5, 0.95, "proportion", overdispersion="multiplicative", phi=3.0)
    assert hi[0] == pytest.approx(0.5 + Z975 * math.sqrt(3) * 0.05)
    lo, hi = limits([100], 0.5, 0.95, "proportion", overdispersion="additive", tau2=11 / 1600)
    assert hi[0] == pytest.approx(0.5 + Z975 * math.sqrt(0.0025 + 11 / 1600))
    # phi below 1 never narrows the limits
    lo1, hi1 = limits([100], 0.5, 0.95, "proportion", "normal")
    lo, hi = limits([100], 0.5, 0.95, "proportion", overdispersion="multiplicative", phi=0.5)
    assert (lo[0], hi[0]) == pytest.approx((lo1[0], hi1[0]))


def test_funnel_names_units_outside_the_limits():
    rows = {"A": (400, 1000), "B": (560, 1000), "C": (500, 1000), "D": (505, 1000), "E": (495, 1000)}
    fr = prop_frame("case_ontime_disposal_rate", rows)
    names = {"A": "甲街道", "B": "乙街道", "C": "丙街道", "D": "丁街道", "E": "戊街道"}
    res = funnel(fr, "case_ontime_disposal_rate", "2025-06", names=names)
    t = res.table.set_index("unit_id")
    assert res.extra["theta"] == pytest.approx(100 * 2460 / 5000)
    theta = 0.492
    # A: 400/1000 -> P(R <= 400) under Binomial(1000, .492) is ~1e-8: below 99.8%; worse (higher is better)
    assert t.at["A", "position"] == "below_998" and t.at["A", "worse"]
    assert stats.binom.cdf(400, 1000, theta) < 0.001
    # B: 560/1000: P(R >= 560) = 1.0e-5 -> above 99.8%
    assert stats.binom.sf(559, 1000, theta) < 0.001 and t.at["B", "position"] == "above_998" and t.at["B", "better"]
    assert (t.loc[["C", "D", "E"], "position"] == "within").all()
    assert t.at["A", "z"] == pytest.approx((0.4 - theta) / math.sqrt(theta * (1 - theta) / 1000))
    assert t.at["A", "lower_95"] == pytest.approx(100 * binomial_limit(1000, theta, 0.025))
    assert any("低于 99.8% 控制下限的单位:甲街道" in s for s in res.sentences)
    assert any("高于 99.8% 控制上限的单位:乙街道" in s for s in res.sentences)
    assert "Spiegelhalter" in res.spec
    # with additive over-dispersion the limits widen and A/B may come back inside
    wide = funnel(fr, "case_ontime_disposal_rate", "2025-06", overdispersion="additive").table.set_index("unit_id")
    assert (wide["upper_998"] >= t["upper_998"] - 1e-9).all()
    d = dispersion(np.array([.4, .56, .5, .505, .495]), [1000] * 5, theta, "proportion")
    s2 = theta * (1 - theta) / 1000
    assert wide.at["A", "upper_95"] == pytest.approx(100 * (theta + Z975 * math.sqrt(s2 + d["tau2"])))


def test_funnel_of_counts_needs_exposure_and_uses_poisson():
    fr = count_frame("case_filed", {"A": 40, "B": 10, "C": 25})
    with pytest.raises(ValueError, match="exposure"):
        funnel(fr, "case_filed", "2025-06")
    exposure = {"A": 2.0, "B": 2.0, "C": 2.0, CITY: 6.0}  # 10,000s of residents
    res = funnel(fr, "case_filed", "2025-06", exposure=exposure)
    t = res.table.set_index("unit_id")
    assert res.extra["theta"] == pytest.approx(75 / 6)
    assert t.at["A", "value"] == pytest.approx(20.0)
    assert t.at["A", "upper_95"] == pytest.approx(poisson_limit(2.0, 75 / 6, 0.975))
    # A: 40 events where 25 are expected: P(K >= 40 | Poisson(25)) = 0.0034 -> above 95%, inside 99.8%
    assert t.at["A", "position"] == "above_95"
    assert t.at["B", "position"] == "below_998"  # P(K <= 10 | 25) = 0.00059


# --- tests against the rest of the city ----------------------------------------------------


def test_two_proportions_z_and_fisher():
    p, m = two_proportions([90], [100], [800], [1000])
    pooled = 890 / 1100
    z = (0.9 - 0.8) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 1000))
    assert m[0] == "z" and p[0] == pytest.approx(2 * stats.norm.sf(z))
    assert p[0] == pytest.approx(proportions_ztest([90, 800], [100, 1000])[1])
    # 3/4 vs 1/4: expected counts 2 < 5 -> Fisher; hypergeometric P(3) = P(1) = 16/70, P(4) = P(0) = 1/70
    p, m = two_proportions([3], [4], [1], [4])
    assert m[0] == "fisher" and p[0] == pytest.approx(34 / 70)


def test_two_rates_exact_conditional():
    p, m = two_rates([10], [1.0], [30], [1.0])
    # given 40 events, k1 ~ Binomial(40, 1/2): two-sided p = 2 * P(K <= 10)
    hand = 2 * sum(math.comb(40, k) for k in range(11)) / 2 ** 40
    assert m[0] == "poisson_conditional" and p[0] == pytest.approx(hand)


# --- league table ---------------------------------------------------------------------------


def test_league_table_sentence_and_numbers():
    fr = prop_frame("case_ontime_disposal_rate", {"E": (11650, 12000), "W": (47330, 48000)})
    res = league_table(fr, "case_ontime_disposal_rate", "2025-06", names={"E": "城东街道", "W": "城西街道"}, n_boot=200)
    t = res.table.set_index("unit_id")
    assert t.at["E", "city_value"] == pytest.approx(98.3)  # 58980 / 60000
    assert t.at["E", "diff"] == pytest.approx(100 * 11650 / 12000 - 98.3)
    assert t.at["E", "significant"] is True or t.at["E", "significant"] == True  # noqa: E712
    assert t.at["E", "p_value"] == pytest.approx(proportions_ztest([11650, 47330], [12000, 48000])[1])
    assert "城东街道按期处置率 97.1% (95% CI 96.8%-97.4%),低于全市 1.2 个百分点,差异显著。" in res.sentences
    assert t.at["W", "rank"] == 1 and t.at["E", "rank"] == 2
    assert (t["rank_low"] == t["rank"]).all() and (t["rank_high"] == t["rank"]).all()  # far apart: no overlap


def test_league_sentence_from_a_seed_figure():
    """Hailing 2016-2020 (seed 000): 355,617 of 359,830 cases handled = 98.83%."""
    from cityanalytics.targets import load_facts

    fact = load_facts().facts["hl_case_disposal_rate_2016_2020"]
    x, n = int(fact["numerator"]), int(fact["denominator"])
    fr = prop_frame(fact["indicator"], {"HL": (x, n), "REST": (90_000, 100_000)})
    res = league_table(fr, fact["indicator"], "2025-06", names={"HL": "海陵区"}, n_boot=0)
    t = res.table.set_index("unit_id")
    assert t.at["HL", "value"] == pytest.approx(fact["value"], abs=0.005)
    # Wilson half-width ~ 1.96 * sqrt(.9883 * .0117 / 359830) = 0.035 points: 98.79%-98.86%
    assert res.sentences[1].startswith("海陵区处置率 98.8% (95% CI 98.8%-98.9%),高于全市")
    assert t.at["HL", "p_value"] < 1e-300 or t.at["HL", "significant"]


def test_league_direction_ties_previous_period_and_rank_interval():
    rows = {"2025-05": {"A": (2, 100), "B": (1, 100), "C": (5, 100)},
            "2025-06": {"A": (1, 100), "B": (1, 100), "C": (9, 100), "D": (0, 10)}}
    fr = prop_frame("case_rework_rate", rows)  # lower is better
    res = league_table(fr, "case_rework_rate", "2025-06", n_boot=500, seed=1)
    t = res.table.set_index("unit_id")
    assert t.at["D", "rank"] == 1 and t.at["A", "rank"] == 2 and t.at["B", "rank"] == 2 and t.at["C", "rank"] == 4
    assert t.at["C", "better"] == False  # noqa: E712  (9% rework, city 11/310)
    assert t.at["A", "change"] == pytest.approx(-1.0) and t.at["C", "change"] == pytest.approx(4.0)
    assert np.isnan(t.at["D", "prev_value"])
    assert t.at["C", "change_p"] == pytest.approx(two_proportions([9], [100], [5], [100])[0][0])
    # binomial draws never move a 0/10 unit: it stays best in every replicate; Jeffreys draws move it
    assert t.at["D", "rank_high"] == 1
    jeff = league_table(fr, "case_rework_rate", "2025-06", n_boot=500, seed=1, rank_draws="jeffreys").table
    assert jeff.set_index("unit_id").at["D", "rank_high"] > 1
    assert "Jeffreys" not in res.spec and "二项分布抽样" in res.spec


def test_league_counts_as_rates_per_10000():
    fr = count_frame("case_filed", {"A": 40, "B": 10})
    plain = league_table(fr, "case_filed", "2025-06", n_boot=0).table
    assert plain["diff"].isna().all()  # a count is not set against the city without exposure
    res = league_table(fr, "case_filed", "2025-06", exposure={"A": 2.0, "B": 3.0, CITY: 5.0}, n_boot=0)
    t = res.table.set_index("unit_id")
    assert t.at["A", "value"] == pytest.approx(20.0) and t.at["A", "city_value"] == pytest.approx(10.0)
    # given 50 events, A's 40 ~ Binomial(50, 2/5); two-sided p sums every outcome no likelier than 40
    pmf = [math.comb(50, k) * 0.4 ** k * 0.6 ** (50 - k) for k in range(51)]
    hand = sum(q for q in pmf if q <= pmf[40] * (1 + 1e-7))
    assert t.at["A", "p_value"] == pytest.approx(hand, rel=1e-6)
    assert any(s.startswith("A立案数 20.00 件/万人") for s in res.sentences)


# --- trend ------------------------------------------------------------------------------------


def test_cochran_armitage_by_hand_and_against_statsmodels():
    x, n = np.array([2, 4, 6, 8, 10]), np.array([20] * 5)
    r = cochran_armitage(x, n)
    # p = 0.3; T = sum t (x - 6) = 20; Sxx = 600 - 200^2/100 = 200; Var T = 0.3 * 0.7 * 200 = 42
    assert r["chi2"] == pytest.approx(400 / 42) and r["slope"] == pytest.approx(0.1)
    assert r["p_value"] == pytest.approx(stats.chi2.sf(400 / 42, 1))
    # statsmodels' linear-by-linear test uses the hypergeometric variance: z^2 = chi2 * (N - 1) / N
    sm = Table(np.column_stack([x, n - x])).test_ordinal_association()
    assert sm.zscore ** 2 == pytest.approx(r["chi2"] * 99 / 100)
    rng = np.random.default_rng(7)
    n = rng.integers(50, 400, 5)
    x = rng.binomial(n, [0.90, 0.91, 0.93, 0.92, 0.95])
    sm = Table(np.column_stack([x, n - x])).test_ordinal_association()
    assert sm.zscore ** 2 == pytest.approx(cochran_armitage(x, n)["chi2"] * (n.sum() - 1) / n.sum())


def test_poisson_trend_by_hand():
    r = poisson_trend([10, 12, 15, 20, 25])
    # K = 82, E = 5: T = sum t (k - 16.4) = 38; Var = 82 * (30/5 - 2^2) = 164
    assert r["chi2"] == pytest.approx(38 ** 2 / 164)


def test_trend_flags_units_worse_than_city_and_getting_worse():
    months = pd.period_range("2025-02", "2025-06", freq="M")
    bad = [(99, 100), (97, 100), (95, 100), (92, 100), (88, 100)]
    steady = [(980, 1000)] * 5
    rows = {str(m): {"BAD": bad[i], "OK": steady[i], "OK2": steady[i]} for i, m in enumerate(months)}
    fr = prop_frame("case_ontime_disposal_rate", rows)
    lg = league_table(fr, "case_ontime_disposal_rate", "2025-06", n_boot=0).table
    res = trend(fr, "case_ontime_disposal_rate", "2025-06", league=lg, names={"BAD": "乙镇"})
    t = res.table.set_index("unit_id")
    hand = cochran_armitage([b[0] for b in bad], [100] * 5)
    assert t.at["BAD", "chi2"] == pytest.approx(hand["chi2"])
    assert t.at["BAD", "slope"] == pytest.approx(100 * hand["slope"])
    assert t.at["BAD", "trend"] == "变差" and t.at["BAD", "worse_than_city"] is True and t.at["BAD", "flag"]
    assert t.at["OK", "trend"] == "无显著变化" and not t.at["OK", "flag"]
    assert t.index[0] == CITY
    assert "乙镇" in next(s for s in res.sentences if "双差" in s)


# --- composite --------------------------------------------------------------------------------


def _composite_frame():
    kw = dict(with_city=False)
    return frame.combine([
        prop_frame("case_ontime_disposal_rate", {"A": (95, 100), "B": (90, 100), "C": (99, 100)}, **kw),
        prop_frame("case_closure_rate", {"A": (90, 100), "B": (99, 100), "C": (80, 100)}, **kw),
        prop_frame("case_rework_rate", {"A": (2, 100), "B": (1, 100), "C": (10, 100)}, **kw),
    ], 0.95)


def test_composite_preset_by_hand():
    preset = PRESETS["gbt30428_unit"]
    res = composite_score(_composite_frame(), "2025-06", preset["weights"], normalisation=preset["normalisation"],
                          label=preset["label"])
    t = res.table.set_index("unit_id")
    assert t.at["A", "score"] == pytest.approx(0.6 * 95 + 0.3 * 90 + 0.1 * 98)  # 93.8
    assert t.at["B", "score"] == pytest.approx(0.6 * 90 + 0.3 * 99 + 0.1 * 99)  # 93.6
    assert t.at["C", "score"] == pytest.approx(0.6 * 99 + 0.3 * 80 + 0.1 * 90)  # 92.4
    assert list(t.sort_values("rank").index) == ["A", "B", "C"] and (t["band"] == "A").all()
    assert "厂商" in res.spec and "(1−返工率)×10%" in res.spec
    sens = res.extra["sensitivity"]
    # equal weights: A (95+90+98)/3 = 94.33, B (90+99+99)/3 = 96, C (99+80+90)/3 = 89.67 -> B first
    assert sens.loc["B", "等权重"] == 1 and sens.loc["A", "等权重"] == 2
    assert t.at["A", "max_rank_change"] >= 1 and t.at["B", "max_rank_change"] >= 1


def test_composite_minmax_and_zscore_by_hand():
    w = {"case_ontime_disposal_rate": 1, "case_rework_rate": 1}
    t = composite_score(_composite_frame(), "2025-06", w, normalisation="minmax").table.set_index("unit_id")
    # on-time: (95-90)/(99-90) = 55.6 for A; rework (lower better): (10-2)/(10-1) = 88.9 for A
    assert t.at["A", "term:case_ontime_disposal_rate"] == pytest.approx(100 * 5 / 9)
    assert t.at["A", "term:case_rework_rate"] == pytest.approx(100 * 8 / 9)
    assert t.at["A", "score"] == pytest.approx(50 * (5 / 9 + 8 / 9))
    z = composite_score(_composite_frame(), "2025-06", w, normalisation="zscore").table.set_index("unit_id")
    ont = np.array([95, 90, 99.0])
    assert z.at["A", "term:case_ontime_disposal_rate"] == pytest.approx((95 - ont.mean()) / ont.std())
    rew = np.array([2, 1, 10.0])
    assert z.at["A", "term:case_rework_rate"] == pytest.approx(-(2 - rew.mean()) / rew.std())
    with pytest.raises(ValueError, match="raw"):
        composite_score(count_frame("case_filed", {"A": 1, "B": 2}), "2025-06", {"case_filed": 1}, normalisation="raw")


def test_weight_scenarios():
    sc = scenarios({"case_ontime_disposal_rate": 60, "case_closure_rate": 30, "case_rework_rate": 10})
    assert sc["基准权重"] == pytest.approx({"case_ontime_disposal_rate": .6, "case_closure_rate": .3,
                                         "case_rework_rate": .1})
    up = sc["按期处置率+10pp"]
    assert up == pytest.approx({"case_ontime_disposal_rate": .7, "case_closure_rate": .225, "case_rework_rate": .075})
    down = sc["返工率−10pp"]
    assert down == pytest.approx({"case_rework_rate": 0.0, "case_ontime_disposal_rate": 0.6 / 0.9,
                                  "case_closure_rate": 0.3 / 0.9})
    assert sc["去掉结案率"] == pytest.approx({"case_ontime_disposal_rate": 6 / 7, "case_rework_rate": 1 / 7})
    assert all(sum(v.values()) == pytest.approx(1) for v in sc.values())
    assert len(sc) == 2 + 2 * 3 + 3


# --- lists ------------------------------------------------------------------------------------


def test_red_black_lists_rule_reasons_and_conflicts():
    comp = pd.DataFrame({"unit_id": list("ABCDEFG"), "name": list("ABCDEFG"),
                         "rank": [1, 2, 3, 4, 5, 6, 7.0], "score": [99, 98, 97, 96, 95, 94, 93.0]})
    rows = {u: (980, 1000) for u in "BCDEFG"}
    rows["A"] = (900, 1000)  # far below the city: outside 99.8% on the bad side
    fr = prop_frame("case_ontime_disposal_rate", rows)
    fun = {"case_ontime_disposal_rate": funnel(fr, "case_ontime_disposal_rate", "2025-06")}
    res = red_black_lists({"red_top": 2, "black_bottom": 2}, composite=comp, funnels=fun)
    t = res.table
    red, black = set(t.loc[t["list"] == "红榜", "unit_id"]), set(t.loc[t["list"] == "黑榜", "unit_id"])
    assert red == {"B"} and black == {"A", "F", "G"}  # A is first on score but below the limit
    a = t[t["unit_id"] == "A"].iloc[0]
    assert "低于 99.8% 控制下限" in a["reasons"] and "不列入红榜" in a["note"]
    assert "综合得分排名第 7/7" in t[t["unit_id"] == "G"].iloc[0]["reasons"]
    # three units and top/bottom 3: N becomes floor(3/2) = 1, so no unit is on both lists
    small = red_black_lists({"outside_limit": 0}, composite=comp.head(3))
    assert list(small.table["unit_id"]) == ["A", "C"] and "名额减为单位数的一半" in small.spec
    with pytest.raises(ValueError, match="unknown key"):
        red_black_lists({"top": 3}, composite=comp)


# --- targets ----------------------------------------------------------------------------------


def test_projection_against_statsmodels():
    import statsmodels.api as sm

    periods = list(pd.period_range("2024-07", "2025-06", freq="M"))
    y = np.array([80, 81.5, 81, 83, 84.2, 84, 86, 86.5, 88, 88.2, 90, 90.5])
    fit, lo, hi = projection(periods, y, pd.Period("2025-12", "M"), 0.95)
    x = np.arange(12.0)
    pred = sm.OLS(y, sm.add_constant(x)).fit().get_prediction(np.array([[1.0, 17.0]])).summary_frame(alpha=0.05)
    assert (fit, lo, hi) == pytest.approx((pred["mean"][0], pred["mean_ci_lower"][0], pred["mean_ci_upper"][0]))


def _targets(value=98.0, deadline="2025-12-31", comparison=">="):
    return pd.DataFrame([{"target_id": "t1", "plan": "测试规划", "indicator": "sorting_coverage_communities",
                          "scope": "全区", "value": value, "comparison": comparison,
                          "deadline": pd.Timestamp(deadline), "binding": "约束性"}])


def test_target_status_rule():
    months = [str(p) for p in pd.period_range("2024-07", "2025-06", freq="M")]
    rng = np.random.default_rng(3)
    series = {
        "MET": [98 + 0.1 * i for i in range(12)],  # already 99.1
        "TRACK": [80 + 1.0 * i for i in range(12)],  # 91 now; the line reaches 97 at the deadline
        "RISK": list(90 + 0.3 * np.arange(12) + rng.normal(0, 1.2, 12)),
        "OFF": [70.0] * 12,
    }
    rows = {m: {u: (round(v[i] * 10), 1000) for u, v in series.items()} for i, m in enumerate(months)}
    fr = prop_frame("sorting_coverage_communities", rows)
    res = target_status(fr, _targets(value=97.0), "2025-06")
    t = res.table.set_index("unit_id")
    assert t.at["MET", "status"] == "met"
    # TRACK: 80 + i exactly, deadline 2025-12 is index 17 -> 97.0 meets >= 97
    assert t.at["TRACK", "projection"] == pytest.approx(97.0) and t.at["TRACK", "status"] == "on_track"
    assert t.at["OFF", "status"] == "off_track"
    r = t.loc["RISK"]
    fit, lo, hi = projection(list(pd.period_range("2024-07", "2025-06", freq="M")),
                             [round(v * 10) / 10 for v in series["RISK"]], pd.Period("2025-12", "M"), 0.95)
    assert (r["projection"], r["proj_high"]) == pytest.approx((fit, min(hi, 100.0)))  # percentages clip at 100
    assert fit < 97 <= hi and r["status"] == "at_risk"
    assert "有利一端" in res.spec and "at risk" in res.extra["rule"]
    # a deadline in the past, not met: off track whatever the projection
    past = target_status(fr, _targets(value=97.0, deadline="2025-03-31"), "2025-06").table.set_index("unit_id")
    assert past.at["TRACK", "status"] == "off_track" and past.at["MET", "status"] == "met"


def test_target_scope_picks_the_group_and_skips_flow_targets():
    k = pd.DataFrame({"unit_id": ["A", CITY, "A", CITY], "period": pd.Period("2025-06", "M"),
                      "group": ["", "", "area_type=城市", "area_type=城市"]})
    fr = frame.combine([frame.proportion("sorting_coverage_communities", k, np.array([50, 50, 45, 45.0]),
                                 np.array([100, 100, 50, 50.0]), 0.95)], 0.95)
    tg = pd.concat([_targets().assign(scope="城区居民小区"),
                    _targets().assign(target_id="t2", indicator="sorting_compliant_communities_new"),
                    _targets().assign(target_id="t3", indicator="green_space_rate")])
    res = target_status(fr, tg, "2025-06")
    assert set(res.table["group"]) == {"area_type=城市"}
    assert res.table.set_index("unit_id").at["A", "value"] == pytest.approx(90.0)
    assert set(res.extra["skipped"]["target_id"]) == {"t2", "t3"}


# --- levels -----------------------------------------------------------------------------------


def test_levels_from_the_demo_districts():
    from cityanalytics.demo.units import districts_frame, unit_changes_frame

    d, ch = districts_frame(), unit_changes_frame()
    street = level_units(d, ch, "街道")
    assert len(street.units) == 10 and "990102101000" not in street.units
    assert street.unit_map["990102101000"] == "990102004000"  # 石鼓镇 -> 石鼓街道
    assert street.population[CITY] == 896_000
    district = level_units(d, ch, "区县")
    assert district.units == ["990102", "990103", "990171"]
    assert district.unit_map["990102101000"] == "990102" and district.unit_map["990103102000"] == "990103"
    assert district.population["990102"] == 376_000 and district.names["990171"] == "示范经济技术开发区"
    with pytest.raises(ValueError, match="unknown level"):
        level_units(d, ch, "省")
