"""Funnels against PHE's published funnel test data, and funnels of a user's own columns.

tests/data/phe/funnel_*.csv are rows of PHEindicatormethods 2.1.0's funnel test data
(tests/testthat/testdata_funnel_*.csv; see tests/data/phe/ATTRIBUTION.md):

- proportion limits (``calculate_funnel_limits(statistic = "proportion")``), printed to 6 or 8
  decimals of a percent; baselines 80.642448% (all 303 areas) and 82.18033788%;
- 30 of the 303 areas of ``testdata_funnel_prop_inputs.csv`` with PHE's significance label,
  the 30 closest to a 95% or 99.8% limit (so the test bites), compared against the published
  baseline of all 303;
- rate limits (``statistic = "rate"``, per 100,000, 3 years of data) from three tables: the
  population at which a whole number of events sits on each limit, and the limit;
- the 40 areas of ``testdata_funnel_rate_dsr_inputs.csv`` with PHE's crude-rate significance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cityanalytics.compare.funnel import binomial_limit, funnel_ratio, limits, phe_poisson_limit

DATA = Path(__file__).parent / "data" / "phe"
LABEL = {"below_998": "Low (0.001)", "below_95": "Low (0.025)", "above_998": "High (0.001)",
         "above_95": "High (0.025)", "within": "Not significant"}


def test_phe_proportion_limits_match_published_table():
    ref = pd.read_csv(DATA / "funnel_proportion_limits.csv")
    for _, r in ref.iterrows():
        theta = r["baseline"] / 100
        digits = 6 if r["source"] == "testdata_funnel_prop_outputs.csv" else 8
        for lv, key in ((0.95, "95"), (0.998, "998")):
            lo, hi = limits([r["population"]], theta, lv, "proportion", "phe")
            # published to `digits` decimals of a percent; the baseline too, so allow one unit more
            assert 100 * lo[0] == pytest.approx(r[f"lower_{key}"], abs=1.5 * 10 ** -digits), r.to_dict()
            assert 100 * hi[0] == pytest.approx(r[f"upper_{key}"], abs=1.5 * 10 ** -digits), r.to_dict()
    assert (ref["lower_998"] == 0).any() and (ref["upper_95"] == 100).any()  # the clipped rows are there


def test_phe_proportion_significance_for_the_closest_areas():
    ref = pd.read_csv(DATA / "funnel_proportion_units.csv")
    res = funnel_ratio(ref, "numerator", "denominator", unit="area", method="phe", centre=80.642448,
                       label="PHE test proportion", source="funnel_proportion_units.csv")
    got = res.table.set_index("unit_id")["position"].map(LABEL)
    expected = ref.set_index("area")["significance"]
    assert (got.loc[expected.index] == expected).all(), pd.concat([got, expected], axis=1)[got != expected]
    assert set(expected) == set(LABEL.values())  # every label is exercised
    assert "PHE" in res.spec and "Wilson" in res.extra["definition"]


def test_phe_rate_limits_match_published_tables():
    ref = pd.read_csv(DATA / "funnel_rate_limits.csv")
    for _, r in ref.iterrows():
        theta = r["baseline"] / 1e5  # per person-year of the pooled data
        exposure = r["population_1_year"] * r["years_of_data"]
        ours = phe_poisson_limit([exposure], theta, r["level"], r["side"])[0] * 1e5
        # PHE finds each point by bisection on v = mu / (1 + x + mu), stopping at a step of 1e-7,
        # and prints populations to 10 significant digits: measured agreement 6.4e-6 at worst
        assert ours == pytest.approx(r["limit"], rel=1e-5), r.to_dict()
    # where the published point sits: exactly x events at that exposure (to PHE's precision)
    r = ref.iloc[0]
    assert r["limit"] == pytest.approx(r["events"] / (r["population_1_year"] * 3) * 1e5, rel=1e-9)


def test_phe_rate_limits_are_the_exact_interval_inverted():
    # at a whole number of events x the lower limit sits where the exact upper bound of x equals theta*E
    theta, x = 2e-3, 7.0
    mu_upper = stats.chi2.ppf(0.975, 2 * x + 2) / 2
    e = mu_upper / theta
    assert phe_poisson_limit([e], theta, 0.95, "lower")[0] == pytest.approx(x / e, rel=1e-10)
    mu_lower = stats.chi2.ppf(0.025, 2 * x) / 2
    e = mu_lower / theta
    assert phe_poisson_limit([e], theta, 0.95, "upper")[0] == pytest.approx(x / e, rel=1e-10)
    # small exposure: even 0 events is not unusually low -> lower limit 0
    assert phe_poisson_limit([100.0], theta, 0.95, "lower")[0] == 0.0


def test_phe_rate_significance_for_all_40_areas():
    ref = pd.read_csv(DATA / "funnel_rate_units.csv")
    res = funnel_ratio(ref, "count", "pop", unit="row", stat="rate", per=1e5, method="phe",
                       source="funnel_rate_units.csv")
    # pooled centre as PHE's weighted average: sum of events / sum of populations
    assert res.extra["theta"] == pytest.approx(ref["count"].sum() / ref["pop"].sum() * 1e5, rel=1e-12)
    t = res.table.set_index("unit_id")
    got = t["position"].map(LABEL)
    expected = ref.set_index("row")["significance"]
    assert (got.loc[expected.index] == expected).all(), pd.concat([got, expected], axis=1)[got != expected]
    assert (ref["count"] == 0).any()  # the zero-event row (exact interval) is in there
    assert t["value"].to_numpy() == pytest.approx(ref["rate_crude_per_100000"].to_numpy(), rel=1e-9)


def test_exact_and_phe_limits_differ_most_for_small_units():
    # the definitions differ: exact interpolated binomial quantiles against Wilson score limits.
    # n = 10, p0 = 0.9: exact 95% lower limit (by hand from Binomial(10, .9)) against 0.9 - 1.96*0.0949
    lo_phe, _ = limits([10], 0.9, 0.95, "proportion", "phe")
    assert lo_phe[0] == pytest.approx(0.9 - 1.959963984540054 * np.sqrt(0.09 / 10))
    lo_exact = binomial_limit(10, 0.9, 0.025)
    assert abs(lo_exact - lo_phe[0]) > 0.01
    # on PHE's own grid (baseline 80.64%, 1 to 61,000 cases) they differ by up to ~30 points at n = 2-5
    n = np.arange(1, 200)
    gap = max(np.max(np.abs(limits(n, 0.80642448, lv, "proportion", "exact")[i]
                            - limits(n, 0.80642448, lv, "proportion", "phe")[i]))
              for lv in (0.95, 0.998) for i in (0, 1))
    assert 0.25 < gap < 0.35


def test_funnel_ratio_on_plain_columns_by_hand():
    frame = pd.DataFrame({"街道": ["甲", "乙", "丙", "丁", "戊"],
                          "closed": [400, 560, 500, 505, 35], "cases": [1000, 1000, 1000, 1000, np.nan]})
    res = funnel_ratio(frame, "closed", "cases", unit="街道", label="结案率")
    t = res.table.set_index("unit_id")
    theta = 1965 / 4000  # pooled over the four rows with both values
    assert res.extra["theta"] == pytest.approx(100 * theta)
    assert t.at["甲", "position"] == "below_998" and t.at["甲", "worse"]
    assert stats.binom.cdf(400, 1000, theta) < 0.001
    assert t.at["乙", "position"] == "above_998" and t.at["乙", "better"]
    assert t.at["甲", "lower_95"] == pytest.approx(100 * binomial_limit(1000, theta, 0.025))
    # the row without a denominator is not drawn, but named
    assert "戊" not in t.index and res.extra["excluded"] == ["戊"]
    assert any("戊" in line and "未画入" in line for line in res.sentences)
    assert "中心线为合计值" in res.spec and "Binomial" in res.extra["definition"]
    # a given centre (e.g. the province): 50%
    res50 = funnel_ratio(frame, "closed", "cases", unit="街道", centre=50)
    assert res50.extra["theta"] == pytest.approx(50.0) and "给定中心值" in res50.spec
    # the same rows through the PHE option: Wilson score limits
    phe = funnel_ratio(frame, "closed", "cases", unit="街道", method="phe").table.set_index("unit_id")
    assert phe.at["甲", "lower_95"] == pytest.approx(100 * (theta - 1.959963984540054 * np.sqrt(theta * (1 - theta) / 1000)))


def test_funnel_ratio_rates_per_10000():
    frame = pd.DataFrame({"unit": ["A", "B", "C"], "complaints": [40, 10, 25], "residents": [20000, 20000, 20000]})
    res = funnel_ratio(frame, "complaints", "residents", unit="unit", stat="rate", per=10_000, label="投诉率")
    t = res.table.set_index("unit_id")
    assert res.extra["theta"] == pytest.approx(75 / 6)  # per 10,000
    assert t.at["A", "value"] == pytest.approx(20.0) and t.at["A", "size"] == pytest.approx(2.0)
    # exact: P(K >= 40 | Poisson(25)) = 0.0034 -> above 95%; P(K <= 10 | 25) = 0.00059 -> below 99.8%
    assert t.at["A", "position"] == "above_95" and t.at["B", "position"] == "below_998"
    assert res.extra["size_label"] == "residents(单位:万人)" and "横轴为residents(单位:万人)" in res.spec
    assert "中心线为合计值(各单位分子之和 / 分母之和) 12.50 /万人" in res.spec
    labelled = funnel_ratio(frame, "complaints", "residents", unit="unit", stat="rate", per=10_000, unit_label="件/万人")
    assert "12.50 件/万人" in labelled.spec


def test_funnel_ratio_names_bad_rows():
    base = pd.DataFrame({"unit_id": ["A", "B"], "x": [5, 7], "n": [10, 6]})
    with pytest.raises(ValueError, match=r"row 1: x = 7 is larger than n = 6"):
        funnel_ratio(base, "x", "n", source="my.csv")
    with pytest.raises(ValueError, match=r"my.csv: row 0, column 'n': -3 is negative"):
        funnel_ratio(base.assign(n=[-3, 10]), "x", "n", source="my.csv")
    with pytest.raises(ValueError, match=r"row 1, column 'x': 'seven' is not a number"):
        funnel_ratio(base.assign(x=[5, "seven"]), "x", "n")
    with pytest.raises(ValueError, match="repeats 'A'"):
        funnel_ratio(base.assign(unit_id=["A", "A"]), "x", "n")
    with pytest.raises(ValueError, match="no column 'cases'"):
        funnel_ratio(base, "x", "cases")
    with pytest.raises(ValueError, match="stat must be one of"):
        funnel_ratio(base, "x", "n", stat="mean")


def test_registered_indicator_funnel_with_the_phe_option():
    from cityanalytics.compare import funnel
    from cityanalytics.indicators import frame
    from cityanalytics.indicators.frame import CITY

    period = pd.Period("2025-06", "M")
    units = {"A": (400, 1000), "B": (560, 1000), "C": (500, 1000), "D": (9, 12), CITY: (1469, 3012)}
    keys = pd.DataFrame({"unit_id": list(units), "period": period})
    num = np.array([x for x, _ in units.values()], float)
    den = np.array([n for _, n in units.values()], float)
    fr = frame.combine([frame.proportion("case_ontime_disposal_rate", keys, num, den, 0.95)], 0.95)
    res = funnel(fr, "case_ontime_disposal_rate", "2025-06", method="phe")
    t = res.table.set_index("unit_id")
    theta = 1469 / 3012
    z998 = stats.norm.ppf(0.999)
    assert t.at["A", "lower_998"] == pytest.approx(100 * (theta - z998 * np.sqrt(theta * (1 - theta) / 1000)))
    # D: 9/12 = 75% against PHE's 95% upper limit at n = 12: 48.8% + 1.96 * 14.4% = 77.1%: inside
    assert t.at["D", "position"] == "within"
    assert t.at["A", "position"] == "below_998" and t.at["B", "position"] == "above_998"
    assert "PHE" in res.spec and res.extra["definition"].startswith("PHE")
    # counts with residents: PHE's rule judges each unit by its own exact / Byars interval
    fr = frame.combine([frame.count("case_filed", pd.DataFrame({"unit_id": ["A", "B", "C", CITY], "period": period}),
                            np.array([40.0, 10.0, 8.0, 58.0]), 0.95)], 0.95)
    res = funnel(fr, "case_filed", "2025-06", exposure={"A": 2.0, "B": 2.0, "C": 2.0, CITY: 6.0}, method="phe")
    t = res.table.set_index("unit_id")
    theta = 58 / 6
    # A: 40 events, Byars 99.8% lower bound 23.23 events over 2 (x 10,000) = 11.62 > 9.67 -> above 99.8%
    lo998 = 40 * (1 - 1 / 360 - z998 / (3 * np.sqrt(40))) ** 3 / 2
    assert lo998 > theta and t.at["A", "position"] == "above_998"
    # C: 8 events (< 10: exact), 95% upper bound 15.76 events = 7.88 per 10,000 < 9.67 -> below 95%;
    # 99.8% upper bound 21.16 events = 10.58 > 9.67 -> not below 99.8%
    assert stats.chi2.ppf(0.975, 18) / 2 / 2 < theta < stats.chi2.ppf(0.999, 18) / 2 / 2
    assert t.at["C", "position"] == "below_95"
    assert t.at["A", "lower_95"] == pytest.approx(phe_poisson_limit([2.0], theta, 0.95, "lower")[0])


def test_funnel_ratio_rejects_a_centre_outside_the_scale():
    frame = pd.DataFrame({"unit_id": ["A", "B"], "x": [5, 7], "n": [10, 10]})
    with pytest.raises(ValueError, match="centre must be a number from 0 to 100"):
        funnel_ratio(frame, "x", "n", centre=120)
    with pytest.raises(ValueError, match="no row has both x and n"):
        funnel_ratio(frame.assign(x=[5, 0], n=[np.nan, 0]), "x", "n")
