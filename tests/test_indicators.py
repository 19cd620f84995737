"""Indicators against hand-computed values, the plans' own figures and reference intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cityanalytics.indicators import (CITY, assessment_indicators, case_indicators, dust_indicators, registry,
                                      sorting_indicators, with_deadlines)
from cityanalytics.indicators.frame import check
from cityanalytics.stats import intervals
from cityanalytics.stats.survival import km_quantiles
from cityanalytics.targets import load_facts
from cityanalytics.workcalendar import WorkCalendar

T = pd.Timestamp


def pick(frame, indicator, unit=CITY, group=""):
    row = frame[(frame.indicator == indicator) & (frame.unit_id == unit) & (frame.group == group)]
    assert len(row) == 1, (indicator, unit, group, len(row))
    return row.iloc[0]


# ---- intervals against reference values ----

def test_wilson_matches_the_closed_form():
    # Wilson (1927): (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n); 81/263, z = 1.959964
    n, x, z = 263, 81, 1.959963984540054
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    value, low, high = intervals.wilson([x], [n])
    assert value[0] == pytest.approx(100 * p)
    assert low[0] == pytest.approx(100 * (centre - half), abs=1e-9)
    assert high[0] == pytest.approx(100 * (centre + half), abs=1e-9)


def test_wilson_edges():
    value, low, high = intervals.wilson([0, 5, 0], [5, 5, 0])
    assert low[0] == 0 and high[1] == pytest.approx(100)
    assert np.isnan(value[2]) and np.isnan(low[2])
    with pytest.raises(ValueError):
        intervals.wilson([6], [5])


def test_exact_poisson_reference_values():
    # Garwood limits for 10 events at 95%: 4.7954 to 18.3904 (standard tables)
    v, low, high = intervals.poisson_exact([10])
    assert (v[0], round(low[0], 4), round(high[0], 4)) == (10, 4.7954, 18.3904)
    # 0 events: upper limit -ln(0.025) = 3.6889
    _, low0, high0 = intervals.poisson_exact([0])
    assert low0[0] == 0 and high0[0] == pytest.approx(3.688879, abs=1e-6)
    # a rate per 10,000 population
    rate, _, _ = intervals.poisson_exact([45], exposure=900_000, per=10_000)
    assert rate[0] == pytest.approx(0.5)


def test_t_mean_by_hand():
    x = [2.0, 4.0, 6.0, 8.0]
    mean, low, high = intervals.t_mean(x)
    half = 3.182446305284263 * np.std(x, ddof=1) / 2  # t(0.975, 3) * sd / sqrt(4)
    assert (mean, low, high) == pytest.approx((5.0, 5 - half, 5 + half))


def test_bootstrap_median_contains_median_and_is_reproducible():
    rng = np.random.default_rng(1)
    x = rng.exponential(10, 200)
    a = intervals.bootstrap(x, np.median, seed=3)
    assert a == intervals.bootstrap(x, np.median, seed=3)
    assert a[1] < a[0] < a[2]


def test_km_quantiles_by_hand():
    # times 3, 27 (events) and 734 (censored): S drops to 2/3 at 3 and 1/3 at 27
    est = km_quantiles([3, 27, 734], [True, True, False], [0.5, 0.9])
    assert est[0.5][0] == 27
    assert math.isnan(est[0.9][0])  # never falls to 10%: not estimable, not invented


# ---- working calendar ----

def test_working_hours_skip_national_day_and_count_the_adjusted_sunday():
    cal = WorkCalendar(start="2024-01-01", end="2025-12-31")
    start = pd.Series([T("2024-09-30 16:30"), T("2024-09-29 10:00"), T("2025-01-01 10:00")])
    due = cal.add_working_hours(start, [4, 2, 1])
    # 1.5 h on Monday 30 Sep, 1-7 Oct are holidays, 2.5 h on Tuesday 8 Oct
    assert due[0] == T("2024-10-08 11:30")
    # Sunday 29 Sep 2024 was a 调休 workday
    assert due[1] == T("2024-09-29 12:00")
    # New Year's Day is a holiday
    assert due[2] == T("2025-01-02 10:00")
    assert cal.working_hours_between(start[:1], due[:1])[0] == pytest.approx(4)


def test_calendar_says_which_years_are_not_official():
    cal = WorkCalendar(start="2026-12-01", end="2027-01-31")
    assert cal.fallback_years == [2027]


# ---- case handling ----

@pytest.fixture
def small_cases():
    reported = [T("2024-03-01 10:00")] * 3 + [T("2024-03-04 10:00")] * 2 + [T("2024-03-31 15:00")]
    return pd.DataFrame({
        "case_id": list("123456"),
        "unit_id": list("AAABBB"),
        "category": ["事件"] * 6,
        "subcategory": ["暴露垃圾"] * 6,
        "reported_at": reported,
        "filed_at": reported,
        "disposed_at": [T("2024-03-01 12:00"), T("2024-03-02 12:00"), pd.NaT, T("2024-03-04 11:00"), pd.NaT,
                        pd.NaT],
        "closed_at": [T("2024-03-01 13:00"), T("2024-03-02 13:00"), pd.NaT, T("2024-03-04 12:00"), pd.NaT, pd.NaT],
        "due_at": [T("2024-03-01 14:00")] * 3 + [T("2024-03-04 14:00")] * 2 + [pd.NaT],
        "reopened": [False, True, False, False, False, False],
        "suspended": [False, False, False, False, True, False],
    })


def test_case_rates_by_hand(small_cases):
    f = check(case_indicators(small_cases, start="2024-03-01", end="2024-03-31"))
    # A: 1 on time, 2 late, 3 open past its deadline -> due 3, disposed 2, on time 1, rework 1
    a = {i: pick(f, i, "A") for i in ["case_disposal_rate", "case_ontime_disposal_rate", "case_rework_rate"]}
    assert (a["case_disposal_rate"].numerator, a["case_disposal_rate"].denominator) == (2, 3)
    assert a["case_ontime_disposal_rate"].numerator == 1
    assert a["case_rework_rate"].numerator == 1
    # B: 4 on time; 5 suspended (left out); 6 reported Sunday 31 Mar 15:00, deadline 4 working hours later
    # is Monday 1 Apr 14:00 (lunch 12-13 is not worked), after the as-of moment -> censored, in no denominator
    b = pick(f, "case_disposal_rate", "B")
    assert (b.numerator, b.denominator) == (1, 1)
    assert pick(f, "case_censored_open", "B").value == 1
    city = pick(f, "case_disposal_rate")
    assert (city.numerator, city.denominator) == (3, 4)
    assert pick(f, "case_filed").value == 6
    assert f.attrs["exclude_suspended"] is True


def test_suspended_cases_count_when_the_city_says_so(small_cases):
    f = case_indicators(small_cases, start="2024-03-01", end="2024-03-31", exclude_suspended=False)
    assert pick(f, "case_disposal_rate", "B").denominator == 2


def test_as_of_earlier_censors_more(small_cases):
    f = case_indicators(small_cases, start="2024-03-01", end="2024-03-31", as_of="2024-03-01 13:00")
    a = pick(f, "case_disposal_rate", "A")
    # at 13:00 on 1 Mar case 1 is disposed, cases 2 and 3 are open but not yet due
    assert (a.numerator, a.denominator) == (1, 1)


def test_missing_deadlines_come_from_the_time_limit_table(small_cases):
    filled = with_deadlines(small_cases)
    assert filled.loc[5, "due_at"] == T("2024-04-01 14:00")  # 9-12 and 13-14 on Monday
    assert filled.loc[5, "due_source"] == "time_limit_table"
    assert filled.loc[0, "due_source"] == "export"


def test_km_durations_in_the_frame(small_cases):
    f = case_indicators(small_cases, start="2024-03-01", end="2024-03-31")
    assert pick(f, "case_hours_to_close_median", "A").value == 27


def test_parquet_and_frame_give_the_same_numbers(small_cases, tmp_path):
    small_cases.loc[5, "due_at"] = T("2024-04-01 14:00")
    path = tmp_path / "cases.parquet"
    small_cases.to_parquet(path)
    a = case_indicators(small_cases, start="2024-03-01", end="2024-03-31")
    b = case_indicators(path, start="2024-03-01", end="2024-03-31")
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_breakdown_and_rollup(small_cases):
    small_cases.loc[0, "category"] = "部件"
    f = case_indicators(small_cases, start="2024-03-01", end="2024-03-31", by="category",
                        unit_map={"A": "D1", "B": "D1"}, indicators=["case_filed"])
    assert pick(f, "case_filed", "D1", "部件").value == 1
    assert pick(f, "case_filed", "D1", "事件").value == 5


def test_hailing_disposal_rate_reproduces_98_83():
    facts = load_facts().table().set_index("fact_id")
    fact = facts.loc["hl_case_disposal_rate_2016_2020"]
    n, k = int(fact.denominator), int(fact.numerator)
    reported = pd.Timestamp("2020-06-01")
    cases = pd.DataFrame({
        "case_id": np.arange(n).astype(str), "unit_id": "海陵区", "category": "事件",
        "reported_at": reported, "due_at": reported + pd.Timedelta(days=1),
        "disposed_at": np.where(np.arange(n) < k, reported + pd.Timedelta(hours=2), pd.NaT),
    })
    cases["disposed_at"] = pd.to_datetime(cases["disposed_at"])
    f = case_indicators(cases, start="2020-06-01", end="2020-06-30", indicators=["case_disposal_rate"])
    assert round(pick(f, "case_disposal_rate").value, 2) == fact.value == 98.83


# ---- road dust ----

def test_zibo_dust_compliance_reproduces_93_64():
    facts = load_facts().table().set_index("fact_id")
    fact = facts.loc["zb_dust_compliance_rate_2020"]
    n, k = int(fact.denominator), int(fact.numerator)
    samples = pd.DataFrame({
        "sample_id": np.arange(n).astype(str), "road_id": (np.arange(n) % 50).astype(str), "unit_id": "淄博",
        "lane_type": "机动车道", "sampled_on": T("2020-05-01"),
        "dust_g_m2": np.where(np.arange(n) < k, 2.5, 4.0),
    })
    f = dust_indicators(samples, freq="Y")
    assert round(pick(f, "road_dust_sample_compliance_rate").value, 2) == fact.value == 93.64


def test_dust_by_lane_limits_and_roads():
    samples = pd.DataFrame({
        "sample_id": list("abcdef"), "road_id": ["r1", "r1", "r1", "r2", "r2", "r2"], "unit_id": "U",
        "lane_type": ["机动车道", "机动车道", "人行道", "机动车道", "非机动车道", "背街小巷"],
        "sampled_on": T("2023-04-10"),
        # limits 3 / 3 / 10 / 3 / 8 / 10
        "dust_g_m2": [2.0, 4.0, 9.0, 3.0, 8.5, 1.0],
    })
    f = dust_indicators(samples, freq="M", include_city=False)
    rate = pick(f, "road_dust_sample_compliance_rate", "U")
    assert (rate.numerator, rate.denominator) == (4, 6)  # b (4>3) and e (8.5>8) fail
    roads = pick(f, "road_dust_road_compliance_rate", "U")
    # r1 motor-lane mean 3.0 <= 3 and sidewalk 9 <= 10 -> ok; r2 non-motor 8.5 > 8 -> fails
    assert (roads.numerator, roads.denominator) == (1, 2)
    assert pick(f, "road_dust_mean", "U", "lane_type=机动车道").value == pytest.approx(3.0)
    with pytest.raises(ValueError, match="快车道"):
        dust_indicators(samples.assign(lane_type="快车道"))


# ---- sorting coverage ----

def test_coverage_by_communities_and_households():
    communities = pd.DataFrame({
        "community_id": list("abcd"), "unit_id": ["U"] * 4, "area_type": ["城市", "城市", "城市", "农村"],
        "households": [100, 300, 600, 50],
        "sorting_started_on": [T("2021-01-10"), T("2021-02-01"), pd.NaT, T("2021-01-31")],
        "compliant_on": [T("2021-03-05"), pd.NaT, pd.NaT, pd.NaT],
    })
    f = sorting_indicators(communities, start="2021-01-01", end="2021-03-31", include_city=False)
    jan = f[f.period == pd.Period("2021-01", "M")]
    c = pick(jan, "sorting_coverage_communities", "U")
    assert (c.numerator, c.denominator) == (2, 4)  # a and d by the end of January
    urban = pick(jan, "sorting_coverage_communities", "U", "area_type=城市")
    assert (urban.numerator, urban.denominator) == (1, 3)
    hh = pick(jan, "sorting_coverage_households", "U")
    assert hh.value == pytest.approx(100 * 150 / 1050)
    # Kish effective n is far below 1,050 households, so the interval is wider than a household Wilson
    _, low_naive, high_naive = intervals.wilson([150], [1050])
    assert hh.ci_high - hh.ci_low > high_naive[0] - low_naive[0]
    new = f[f.indicator == "sorting_compliant_communities_new"].set_index("period")["value"]
    assert list(new) == [0, 0, 1]


# ---- assessments ----

def test_assessments_by_hand():
    a = pd.DataFrame({
        "unit_id": ["U", "U", "V"], "period": pd.PeriodIndex(["2022-01", "2022-02", "2022-01"], freq="M"),
        "score": [90.0, 80.0, 70.0], "problems_found": [10, 30, 5], "problems_rectified": [9, 27, 1],
    })
    f = assessment_indicators(a, freq="Q")
    assert pick(f, "assessment_score_mean", "U").value == 85
    assert pick(f, "assessment_score_mean").value == pytest.approx(80)
    r = pick(f, "assessment_rectification_rate", "U")
    assert (r.numerator, r.denominator) == (36, 40)
    assert pick(f, "assessment_problems_found").value == 45


def test_registry_covers_every_indicator_produced(small_cases):
    produced = set(case_indicators(small_cases)["indicator"]) - {"case_censored_open"}
    assert produced <= set(registry())
    for ind in registry().values():
        assert ind.name_zh and ind.formula_zh and ind.unit
