"""Indicators on exports that lack lifecycle columns or fall outside the official calendar.

Both failed before: a missing ``disposed_at`` gave 处置率 0% with no warning, and cases
reported before 2015 stopped with "times outside the calendar 2015-01-01..2030-12-31".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cityanalytics.indicators import CITY, case_indicators, sorting_indicators, with_deadlines
from cityanalytics.indicators.computable import computability, reason_zh, why_not

T = pd.Timestamp


def _cases(**columns) -> pd.DataFrame:
    base = pd.DataFrame({
        "case_id": ["a", "b", "c", "d"],
        "unit_id": ["U1", "U1", "U2", "U2"],
        "category": ["事件"] * 4,
        "subcategory": ["暴露垃圾"] * 4,
        "reported_at": [T("2024-03-04 10:00"), T("2024-03-05 10:00"), T("2024-03-06 10:00"), T("2024-03-07 10:00")],
        "closed_at": [T("2024-03-05 10:00"), pd.NaT, T("2024-03-08 10:00"), T("2024-03-09 10:00")],
        "due_at": [T("2024-03-06 10:00")] * 4,
    })
    return base.assign(**columns)


def _value(frame, indicator, unit=CITY):
    row = frame[(frame.indicator == indicator) & (frame.unit_id == unit) & (frame.group == "")]
    assert len(row) == 1, (indicator, unit, len(row))
    return row.iloc[0]


def test_absent_disposed_at_is_not_computable_not_zero():
    frame = case_indicators(_cases(), freq="all", as_of="2024-04-01")
    assert not frame["indicator"].isin(["case_disposal_rate", "case_ontime_disposal_rate",
                                        "case_ontime_closure_rate", "case_rework_rate"]).any()
    assert frame.attrs["not_computable"] == {
        "case_disposal_rate": "disposed_at column absent",
        "case_ontime_disposal_rate": "disposed_at column absent",
        "case_ontime_closure_rate": "disposed_at column absent",
        "case_rework_rate": "reopened column absent",
    }
    # what the export does support is still computed: 3 of 4 closed
    closure = _value(frame, "case_closure_rate")
    assert (closure.numerator, closure.denominator) == (3, 4)
    assert closure.value == pytest.approx(75.0)


def test_empty_disposed_at_is_not_computable_either(tmp_path):
    cases = _cases(disposed_at=pd.Series(pd.NaT, index=range(4), dtype="datetime64[ns]"), reopened=False)
    frame = case_indicators(cases, freq="all", as_of="2024-04-01")
    assert frame.attrs["not_computable"]["case_disposal_rate"] == "disposed_at column empty"
    assert "case_rework_rate" not in frame.attrs["not_computable"]
    assert _value(frame, "case_rework_rate").value == 0.0  # a real 0 of 4: the column is there
    # the same through a Parquet file (read in place by DuckDB when complete)
    path = tmp_path / "cases.parquet"
    cases.assign(filed_at=cases["reported_at"], suspended=False).to_parquet(path)
    frame = case_indicators(str(path), freq="all", as_of="2024-04-01")
    assert frame.attrs["not_computable"]["case_disposal_rate"] == "disposed_at column empty"


def test_columns_a_file_stores_without_any_value_are_read(tmp_path):
    """A blank column written with Arrow's null type (no values, so no type) is typed by its
    canonical role before the counts: 挂账 blank means nothing suspended, disposal not computable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cases = _cases(filed_at=_cases()["reported_at"], reopened=False)
    table = pa.Table.from_pandas(cases, preserve_index=False)
    for column in ("suspended", "disposed_at"):
        table = table.append_column(column, pa.nulls(len(cases)))
    path = tmp_path / "cases.parquet"
    pq.write_table(table, path)
    frame = case_indicators(str(path), freq="all", as_of="2024-04-01")
    assert frame.attrs["not_computable"]["case_disposal_rate"] == "disposed_at column empty"
    closure = _value(frame, "case_closure_rate")
    assert (closure.numerator, closure.denominator) == (3, 4)


def test_cases_before_the_official_calendar_fall_back_to_monday_friday():
    # Friday 2001-06-01 10:00 + 8 working hours (9-12, 13-18): 7 h on Friday, 1 h on Monday -> Mon 10:00
    cases = pd.DataFrame({"case_id": ["x"], "unit_id": ["U1"], "category": ["事件"], "subcategory": ["暴露垃圾"],
                          "reported_at": [T("2001-06-01 10:00")]})
    out = with_deadlines(cases, {"limits": {"暴露垃圾": 8}})
    assert out["due_at"].iloc[0] == T("2001-06-04 10:00")
    assert out.attrs["calendar_fallback_years"] == [2001]
    frame = case_indicators(cases.assign(closed_at=T("2001-06-04 09:00")), freq="Y", as_of="2001-07-01",
                            time_limits={"limits": {"暴露垃圾": 8}})
    assert frame.attrs["calendar_fallback_years"] == [2001]
    assert _value(frame, "case_closure_rate").value == 100.0


def test_official_years_are_not_listed_as_fallback():
    cases = _cases().drop(columns="due_at")
    out = with_deadlines(cases)
    assert out.attrs["calendar_fallback_years"] == []


def test_sorting_register_without_start_dates_is_not_computable():
    communities = pd.DataFrame({"community_id": ["c1", "c2"], "unit_id": ["U1", "U1"], "area_type": ["城市"] * 2,
                                "households": [100, 300], "sorting_started_on": [pd.NaT, pd.NaT],
                                "compliant_on": [T("2024-01-05"), pd.NaT]})
    frame = sorting_indicators(communities, freq="all", start="2024-01-01", end="2024-12-31")
    assert set(frame.attrs["not_computable"]) == {"sorting_coverage_communities", "sorting_coverage_households"}
    assert _value(frame, "sorting_compliant_communities_new").value == 1


def test_computability_table_and_chinese_reasons():
    table = computability({"cases": _cases()}, ["case_filed", "case_disposal_rate", "road_dust_mean"])
    assert table["computable"].tolist() == [True, False, False]
    assert table["reason"].tolist() == ["", "disposed_at column absent", "no dust_samples table"]
    assert table["reason_zh"].tolist() == ["", "缺少disposed_at列", "缺少dust_samples表"]
    assert why_not("case_closure_rate", {"reported_at": True, "closed_at": False}) == "closed_at column empty"
    assert reason_zh("closed_at column empty") == "closed_at列全部为空"


def test_a_closed_case_is_never_censored_when_disposal_is_not_recorded():
    # Both cases are due after the as-of moment; one is closed. Without disposed_at the closed
    # case was counted as censored (open, not yet due) and left out of the closure rate.
    cases = _cases().iloc[:2].assign(due_at=T("2024-06-01"))
    frame = case_indicators(cases, freq="all", as_of="2024-04-01")
    closure = _value(frame, "case_closure_rate")
    assert (closure.numerator, closure.denominator) == (1, 1)
    assert _value(frame, "case_censored_open").value == 1


def test_km_median_without_censoring_is_the_sample_median():
    # 100 closures, none open: S is exactly 0.5 between the 50th and 51st; R and SAS take the
    # midpoint, i.e. the ordinary median (statsmodels' quantile gives the 51st).
    from cityanalytics.stats.survival import km_quantiles

    hours = np.arange(1.0, 101.0)
    assert km_quantiles(hours, np.ones(100, bool), [0.5])[0.5][0] == pytest.approx(50.5)
    assert km_quantiles(hours[:99], np.ones(99, bool), [0.5])[0.5][0] == pytest.approx(50.0)
