"""Intervals against PHE's published reference values, and missing in, missing out.

tests/data/phe/intervals.csv holds rows of PHEindicatormethods' own test workbooks
(testdata_Byars_Wilson.xlsx, testdata_Rate.xlsx, v2.1.0; see tests/data/phe/ATTRIBUTION.md):
Byars' and Wilson limits from their internal ``byars_*``/``wilson_*`` functions and
``phe_rate`` limits per 100,000 (exact below 10 events, Byars from 10), including the rows
where a count or a denominator is missing (PHE returns NA there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cityanalytics.stats import intervals

REF = pd.read_csv(Path(__file__).parent / "data" / "phe" / "intervals.csv")


def _rows(function: str) -> pd.DataFrame:
    rows = REF[REF["function"] == function]
    assert len(rows) > 0
    return rows


def test_wilson_matches_phe_to_1e12():
    # PHE's wilson_lower/upper return fractions; ours are percent
    for _, r in _rows("wilson").iterrows():
        value, low, high = intervals.wilson([r["x"]], [r["n"]], r["level"])
        assert value[0] == pytest.approx(100 * r["x"] / r["n"], rel=1e-15)
        assert low[0] / 100 == pytest.approx(r["lower"], rel=1e-12, abs=1e-15), r.to_dict()
        assert high[0] / 100 == pytest.approx(r["upper"], rel=1e-12), r.to_dict()


def test_byars_matches_phe_to_1e12():
    rows = _rows("byars")
    for _, r in rows.iterrows():
        value, low, high = intervals.byars([r["x"]], level=r["level"])
        assert value[0] == r["x"]
        if np.isnan(r["lower"]):  # 1 event at 99.8%: the approximation goes below 0, PHE gives NA
            assert np.isnan(low[0]), r.to_dict()
        else:
            assert low[0] == pytest.approx(r["lower"], rel=1e-12), r.to_dict()
        assert high[0] == pytest.approx(r["upper"], rel=1e-12), r.to_dict()
    assert rows["lower"].isna().sum() == 1  # the NA row is really exercised


def test_phe_rate_matches_phe_including_missing_rows():
    rows = _rows("phe_rate")
    for _, r in rows.iterrows():
        value, low, high = intervals.phe_rate([r["x"]], [r["n"]], r["level"], per=r["per"])
        for ours, theirs in ((value[0], r["value"]), (low[0], r["lower"]), (high[0], r["upper"])):
            if np.isnan(theirs):
                assert np.isnan(ours), r.to_dict()
            else:
                assert ours == pytest.approx(theirs, rel=1e-12), r.to_dict()
    # both branches and the missing rows are in the reference
    assert (rows["x"] < 10).any() and (rows["x"] >= 10).any() and rows["value"].isna().sum() == 6


def test_phe_rate_switches_to_byars_at_ten_events():
    # 9 events: exact (Garwood) limits, lower chi2(0.025; 18)/2 = 4.115373 (standard tables);
    # 10 events: Byars' formula, lower 10 (1 - 1/90 - z/(3 sqrt 10))^3 with z = 1.959964
    _, low9, _ = intervals.phe_rate([9])
    assert low9[0] == pytest.approx(intervals.poisson_exact([9])[1][0], rel=1e-15)
    assert low9[0] == pytest.approx(4.115373, abs=1e-6)
    _, low10, high10 = intervals.phe_rate([10])
    z = 1.959963984540054
    assert low10[0] == pytest.approx(10 * (1 - 1 / 90 - z / (3 * np.sqrt(10))) ** 3, rel=1e-14)
    assert high10[0] == pytest.approx(11 * (1 - 1 / 99 + z / (3 * np.sqrt(11))) ** 3, rel=1e-14)


@pytest.mark.parametrize("num, den", [([1], [np.nan]), ([10], [np.nan]), ([np.nan], [10]), ([np.nan], [np.nan])])
def test_wilson_missing_in_missing_out(num, den):
    # used to treat a missing denominator as 1: wilson([1], [nan]) gave (100, 20.65, 100), [10]/[nan] 1000
    value, low, high = intervals.wilson(num, den)
    assert np.isnan(value[0]) and np.isnan(low[0]) and np.isnan(high[0])


def test_wilson_missing_positions_do_not_touch_the_others():
    value, low, high = intervals.wilson([65, np.nan, 3, 0], [100, 50, np.nan, 0])
    ref = REF[(REF["function"] == "wilson") & (REF["x"] == 65) & (REF["level"] == 0.95)].iloc[0]
    assert low[0] / 100 == pytest.approx(ref["lower"], rel=1e-12)
    assert np.isnan(value[1:]).all() and np.isnan(low[1:]).all() and np.isnan(high[1:]).all()


def test_wilson_rejects_impossible_counts_naming_the_position():
    with pytest.raises(ValueError, match=r"position 1 \(6 > 5\)"):
        intervals.wilson([1, 6], [5, 5])
    with pytest.raises(ValueError, match="numerators must be >= 0; position 0 has -1"):
        intervals.wilson([-1], [5])
    with pytest.raises(ValueError, match="denominators must be >= 0"):
        intervals.wilson([0], [-5])


def test_poisson_and_byars_missing_in_missing_out():
    for f in (intervals.poisson_exact, intervals.byars, intervals.phe_rate):
        v, lo, hi = f([np.nan, 4, 4], [10, np.nan, 0])
        assert np.isnan(v).all() and np.isnan(lo).all() and np.isnan(hi).all(), f.__name__
        with pytest.raises(ValueError, match="counts must be >= 0"):
            f([-1])
    # zero events: lower bound 0 in every method; upper limits exact -ln(0.025), Byars 3.668 (approx.)
    for f in (intervals.poisson_exact, intervals.byars, intervals.phe_rate):
        _, lo, _ = f([0])
        assert lo[0] == 0.0
    assert intervals.byars([0])[2][0] == pytest.approx((1 - 1 / 9 + 1.959963984540054 / 3) ** 3, rel=1e-14)
