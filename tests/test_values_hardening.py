"""Issue 12/11 value hardening: numbers, dates, free text, vocabularies, names, CSV injection.

Each test feeds the loader a small file the way an export writes it and asserts the exact
values kept and the rows rejected with their reasons (rows read = kept + rejected).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from cityanalytics.cli import main
from cityanalytics.io import load
from cityanalytics.io.parsing import parse_column

DUST_HEADER = "样本编号,道路编号,所属街道,车道类型,检测日期,尘土残存量(克/平方米)\n"
CASES_HEADER = "案件编号,所属街道,案件类型,上报时间\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def reasons(report) -> dict[tuple[int, str], str]:
    return {(int(r), c): why for r, c, why in report.rejections[["row", "column", "reason"]].itertuples(index=False)}


def dust(tmp_path, values: list[str], **kwargs):
    lines = [f'S{i},R1,U1,机动车道,2022-08-01,"{v}"' for i, v in enumerate(values)]
    return load(write(tmp_path / "dust.csv", DUST_HEADER + "\n".join(lines) + "\n"), "dust_samples", **kwargs)


# ---- numbers ----

def test_comma_is_read_only_as_a_valid_thousands_grouping(tmp_path):
    frame, report = dust(tmp_path, ["3,5", "12.5", "1,000", "12,34"])
    assert report.rows_read == 4 and report.rows_kept == 2
    assert frame["dust_g_m2"].tolist() == [12.5, 1000.0]
    why = reasons(report)
    assert "decimal comma" in why[(2, "dust_g_m2")] and "'3,5'" in why[(2, "dust_g_m2")]
    assert "not a valid thousands grouping" in why[(5, "dust_g_m2")]


def test_decimal_comma_when_the_caller_says_so(tmp_path):
    frame, report = dust(tmp_path, ["3,5", "12", "0,25", "1.234,5"], decimal=",")
    # 1.234,5 is 1234.5 g/m2: above the 1000 plausibility limit, so rejected by range, not by parsing.
    assert frame["dust_g_m2"].tolist() == [3.5, 12.0, 0.25]
    assert reasons(report) == {(5, "dust_g_m2"): "expected a value <= 1000"}


def test_decimal_comma_rejects_a_point_that_is_no_grouping(tmp_path):
    frame, report = dust(tmp_path, ["3.5", "4"], decimal=",")
    assert frame["dust_g_m2"].tolist() == [4.0]
    assert "neither a decimal point" in reasons(report)[(2, "dust_g_m2")]
    with pytest.raises(ValueError, match="decimal"):
        dust(tmp_path, ["1"], decimal=";")


def test_huge_household_count_is_a_range_error_not_an_overflow(tmp_path):
    text = ("小区编号,所属街道,城乡类型,户数\n"
            "C1,U1,城市,1e20\nC2,U1,城市,9223372036854775808\nC3,U1,城市,1200\nC4,U1,城市,inf\n")
    frame, report = load(write(tmp_path / "c.csv", text), "communities")
    assert frame["households"].tolist() == [1200]
    why = reasons(report)
    assert why == {(2, "households"): "number out of range for a count (1e20; at most 9,007,199,254,740,992)",
                   (3, "households"): "number out of range for a count (9223372036854775808; at most "
                                      "9,007,199,254,740,992)",
                   (5, "households"): "expected a number"}


def test_eighteen_digit_ids_stay_text(tmp_path):
    text = CASES_HEADER + "320123456789012345,U1,事件,2022-08-01 09:00\n000123,U1,事件,2022-08-01 10:00\n"
    frame, report = load(write(tmp_path / "c.csv", text), "cases")
    assert report.ok
    assert frame["case_id"].tolist() == ["320123456789012345", "000123"]
    # A float column from Parquet/SQL holding whole-number ids prints them whole, not as 3.2e+17.
    out, _ = parse_column(pd.Series([320123456789012352.0, 7.0, None]), "str")
    assert out.tolist()[:2] == ["320123456789012352", "7"] and out.isna().tolist() == [False, False, True]


# ---- free text ----

def test_free_text_is_kept_as_written_ids_are_folded(tmp_path):
    text = ("案件编号,所属街道,案件类型,上报时间,问题描述\n"
            "ＨＬ００１,U1,事件,２０２２-08-01 09:00,①号楼 ２０㎡\n"
            "HL002,U1,事件,2022-08-01 10:00,null\n"
            "HL003,U1,事件,2022-08-01 11:00,-\n"
            "HL004,U1,事件,2022-08-01 12:00,\n")
    frame, report = load(write(tmp_path / "c.csv", text), "cases")
    assert report.ok
    assert frame["case_id"].tolist() == ["HL001", "HL002", "HL003", "HL004"]
    assert frame.loc[0, "reported_at"] == pd.Timestamp("2022-08-01 09:00")
    assert frame["description"].tolist()[:3] == ["①号楼 ２０㎡", "null", "-"]
    assert pd.isna(frame.loc[3, "description"])


# ---- dates ----

def test_bare_number_in_a_csv_date_column_says_what_it_looks_like(tmp_path):
    text = CASES_HEADER + "A1,U1,事件,20000\nA2,U1,事件,44774.5\nA3,U1,事件,2021\nA4,U1,事件,20220801\n"
    frame, report = load(write(tmp_path / "c.csv", text), "cases")
    assert frame["reported_at"].tolist() == [pd.Timestamp("2022-08-01 12:00"), pd.Timestamp("2022-08-01")]
    why = reasons(report)
    assert "Excel serial day would be 1954-10-03" in why[(2, "reported_at")]
    assert "2021 looks like a year" in why[(4, "reported_at")]
    assert any("1 bare number(s) read as Excel serial days" in n for n in report.notes), report.notes


def test_a_placeholder_date_rejects_its_row_not_the_file(tmp_path):
    text = CASES_HEADER + "A1,U1,事件,9999-12-31\nA2,U1,事件,2022-08-01 09:00\nA3,U1,事件,1800-01-01\n"
    frame, report = load(write(tmp_path / "c.csv", text), "cases")
    assert frame["case_id"].tolist() == ["A2"]
    assert reasons(report) == {(2, "reported_at"): "date out of range 1900..2100",
                               (4, "reported_at"): "date out of range 1900..2100"}
    assert report.rejections.loc[0, "value"] == "9999-12-31"


def test_explicit_date_format_for_us_311_times(tmp_path):
    text = ("case_enquiry_id,unit,category,reported_at\n"
            "101,Back Bay,事件,01/02/2019 01:05:09 PM\n"
            "102,Back Bay,事件,12/31/2019 12:00:00 AM\n"
            "103,Back Bay,事件,2019-01-02 13:05:09\n")
    aliases = {"cases": {"case_id": ["case_enquiry_id"], "unit_id": ["unit"]}}
    fmt = "%m/%d/%Y %I:%M:%S %p"
    frame, report = load(write(tmp_path / "311.csv", text), "cases", aliases=aliases,
                         date_formats={"reported_at": fmt})
    assert frame["reported_at"].tolist() == [pd.Timestamp("2019-01-02 13:05:09"), pd.Timestamp("2019-12-31 00:00")]
    assert reasons(report) == {(4, "reported_at"): f"does not match the date format {fmt!r}"}
    with pytest.raises(ValueError, match="not a date column"):
        load(tmp_path / "311.csv", "cases", aliases=aliases, date_formats={"category": fmt})


# ---- closed vocabularies ----

def test_gbk_export_with_source_variants_keeps_every_row(tmp_path):
    rows = ["案件编号,所属街道,问题来源,案件类型,上报时间"]
    rows += [f"K{i},U1,监督员上报,部件类,2022-08-01 09:00" for i in range(3)]
    rows += ["K3,U1,12345,事件,2022-08-01 09:00", "K4,U1,微信小程序,事件,2022-08-01 09:00",
             "K5,U1,微信小程序,事件,2022-08-01 09:00", "K6,U1,监督员,其它类,2022-08-01 09:00"]
    path = write(tmp_path / "gbk.csv", "\n".join(rows) + "\n", encoding="gbk")
    frame, report = load(path, "cases")
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (7, 6, 1)
    assert frame["source"].tolist() == ["监督员", "监督员", "监督员", "12345热线", "微信小程序", "微信小程序"]
    assert frame["category"].tolist() == ["部件", "部件", "部件", "事件", "事件", "事件"]
    assert reasons(report) == {(8, "category"): "expected one of 部件/事件"}  # required: an indicator needs it
    notes = "\n".join(report.notes)
    assert "问题来源: 1 label(s) not in the vocabulary of source" in notes and "微信小程序 ×2" in notes
    assert "问题来源: 4 cell(s) mapped to the vocabulary of source: 监督员上报→监督员 ×3, 12345→12345热线 ×1" in notes
    # The caller's own variants extend the table.
    frame, report = load(path, "cases", aliases={"values": {"cases": {"source": {"微信小程序": "公众举报"}}}})
    assert frame["source"].tolist()[4:] == ["公众举报", "公众举报"]
    assert not any("kept as given" in n for n in report.notes)


# ---- unit names ----

def test_unit_names_in_any_script_and_the_rule_a_bad_name_breaks(tmp_path):
    text = ("unit_id,name_zh,level\n"
            "u1,Back Bay,区\nu2,A1区,区\nu3,城东街道,街道\nu4,Jamaica Plain,区\n"
            "u5,<b>x</b>,区\nu6,UedBet体育,市\n")
    frame, report = load(write(tmp_path / "units.csv", text), "districts")
    assert frame["name_zh"].tolist() == ["Back Bay", "A1区", "城东街道", "Jamaica Plain"]
    why = reasons(report)
    assert "holds letters (any script), digits, spaces" in why[(6, "name_zh")]
    assert "a Latin word inside a Chinese name" in why[(7, "name_zh")]


# ---- the rejections file ----

def test_rejections_csv_cannot_run_as_spreadsheet_formulas(tmp_path, capsys):
    text = ("unit_id,name_zh,level\n"
            'u1,"=HYPERLINK(""http://evil.example"",""x"")",区\nu2,+cmd,区\nu3,@SUM(A1),区\nu4,-1+1,区\nu5,城东街道,区\n')
    out_csv = tmp_path / "rejections.csv"
    code = main(["validate", str(write(tmp_path / "units.csv", text)), "--table", "districts",
                 "--rejections", str(out_csv)])
    capsys.readouterr()
    assert code == 1
    cells = pd.read_csv(out_csv, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert cells["value"].tolist() == ["'=HYPERLINK(\"http://evil.example\",\"x\")", "'+cmd", "'@SUM(A1)", "'-1+1"]
    assert cells["row"].tolist() == ["2", "3", "4", "5"]


# ---- shares on the wrong scale ----

def test_observation_shares_out_of_range_and_mixed_scales(tmp_path):
    text = ("unit_id,period,indicator,value,unit,source\n"
            "A,2022,closure_rate,98.83%,%,bulletin\n"
            "B,2022,closure_rate,0.9883,%,bulletin\n"
            "C,2022,closure_rate,150%,%,bulletin\n"
            "D,2022,closure_rate,-5%,%,bulletin\n"
            "E,2022,closure_rate,0.5%,%,bulletin\n"
            "A,2022,waste_kg_per_capita,0.9,kg,yearbook\n"
            "B,2022,waste_kg_per_capita,1.3,kg,yearbook\n"
            "A,2022,sorting_share,0.42,,survey\n"
            "B,2022,sorting_share,0.57,,survey\n"
            "A,2022,recycling_share,0.68,%,wb\n"
            "B,2022,recycling_share,5,%,wb\n"
            "C,2022,recycling_share,72,%,wb\n")
    frame, report = load(write(tmp_path / "obs.csv", text), "observations")
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (12, 9, 3)
    assert frame["value"].tolist() == [98.83, 0.5, 0.9, 1.3, 0.42, 0.57, 0.68, 5.0, 72.0]
    # A spread from 0.68% to 72% is real (recycling shares); flagged, not rejected.
    assert any("indicator recycling_share has 1 bare value(s) in 0..1" in n for n in report.notes), report.notes
    why = reasons(report)
    assert why[(4, "value")] == "a share above 100% (shares are 0-100)"
    assert why[(5, "value")] == "a share below 0% (shares are 0-100)"
    assert why[(3, "value")] == ("looks like a fraction (0-1 scale: 0.9883 = 98.83%?) beside percent values "
                                 "(0-100 scale, e.g. 98.83) of indicator closure_rate; write one scale per "
                                 "indicator (percent 0-100)")


# ---- rows without a unit ----

def test_rows_without_a_unit_are_kept_and_counted(tmp_path):
    text = CASES_HEADER + "A1,U1,事件,2022-08-01 09:00\nA2,,事件,2022-08-01 10:00\nA3,,部件,2022-08-02 10:00\n"
    frame, report = load(write(tmp_path / "c.csv", text), "cases")
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (3, 3, 0)
    assert frame["unit_id"].isna().tolist() == [False, True, True]
    assert "2 row(s) without a unit, kept; they count in the city total and show as 未归属单位" in report.notes
    # Resolving names against a districts table leaves the empty unit empty (not "unknown unit").
    units = pd.DataFrame({"unit_id": ["u1"], "name_zh": ["U1"]})
    frame, report = load(tmp_path / "c.csv", "cases", units=units)
    assert report.ok and frame["unit_id"].tolist()[0] == "u1" and frame["unit_id"].isna().sum() == 2
    # Where unit_id is part of the key (assessments), an empty unit still rejects the row.
    text = "unit_id,period,score\nU1,2022-08,90\n,2022-08,80\n"
    frame, report = load(write(tmp_path / "a.csv", text), "assessments")
    assert reasons(report) == {(3, "unit_id"): "required value is empty"}


def test_target_quotes_are_kept_verbatim(tmp_path):
    # A quote is evidence: full-width punctuation and digits stay as the plan wrote them.
    text = ("target_id,plan,indicator,scope,value,unit,comparison,deadline,binding,source_file,quote\n"
            "T1,十四五规划,closure_rate,全市,９５%,%,>=,2025-12-31,约束性,plan.md,"
            "\"结案率达到９５%以上，群众满意度明显提升。\"\n")
    frame, report = load(write(tmp_path / "t.csv", text), "targets")
    assert report.ok
    assert frame.loc[0, "value"] == 95.0  # the number itself is folded (９５ -> 95)
    assert frame.loc[0, "quote"] == "结案率达到９５%以上，群众满意度明显提升。"


def test_unit_names_control_characters_stripped_punctuation_and_overlong_rejected(tmp_path):
    long_name = "X" * 101
    text = ("unit_id,name_zh,level\n"
            'u1,"Back\tBay",区\nu2,"Zürich\x01",区\nu3,(),区\nu4,---,区\n'
            f"u5,{long_name},区\nu6,{'X' * 100},区\nu7,Saint-Denis,区\n")
    frame, report = load(write(tmp_path / "units.csv", text), "districts")
    assert frame["name_zh"].tolist() == ["Back Bay", "Zürich", "X" * 100, "Saint-Denis"]
    assert reasons(report) == {
        (4, "name_zh"): "does not look like a valid name_zh: a unit name needs at least one letter or digit "
                        "(punctuation only)",
        (5, "name_zh"): "does not look like a valid name_zh: a unit name needs at least one letter or digit "
                        "(punctuation only)",
        (6, "name_zh"): "does not look like a valid name_zh: longer than 100 characters",
    }


def test_validate_takes_decimal_and_date_formats(tmp_path, capsys):
    path = write(tmp_path / "dust.csv", DUST_HEADER + 'S1,R1,U1,机动车道,08/01/2022 09:00:00 AM,"3,5"\n')
    assert main(["validate", str(path), "--table", "dust_samples"]) == 1
    assert main(["validate", str(path), "--table", "dust_samples", "--decimal", ",",
                 "--date-format", "sampled_on=%m/%d/%Y %I:%M:%S %p"]) == 0
    assert main(["validate", str(path), "--table", "dust_samples", "--date-format", "sampled_on"]) == 2
    assert "expected COLUMN=FORMAT" in capsys.readouterr().err


def test_ids_handed_as_python_numbers_keep_their_digits():
    out, _ = parse_column(pd.Series([320123456789012352.0, "HL001", 1001.0, 7, None], dtype=object), "str")
    assert out.tolist()[:4] == ["320123456789012352", "HL001", "1001", "7"] and pd.isna(out.iat[4])


def test_lane_area_and_app_variants_map_to_the_vocabulary(tmp_path):
    lines = ['S1,R1,U1,快车道,2022-08-01,3', 'S2,R1,U1,人行便道,2022-08-01,4', 'S3,R1,U1,绿化带,2022-08-01,5']
    frame, report = load(write(tmp_path / "d.csv", DUST_HEADER + "\n".join(lines) + "\n"), "dust_samples")
    assert frame["lane_type"].tolist() == ["机动车道", "人行道"]  # lane type is required: 绿化带 rejects its row
    assert reasons(report) == {(4, "lane_type"): "expected one of 机动车道/非机动车道/人行道/背街小巷"}
    text = "小区编号,所属街道,城乡类型,户数\nC1,U1,城镇,10\nC2,U1,行政村,20\nC3,U1,乡村,30\n"
    frame, report = load(write(tmp_path / "c.csv", text), "communities")
    assert report.ok and frame["area_type"].tolist() == ["城市", "农村", "农村"]
    text = "案件编号,所属街道,问题来源,案件类型,上报时间\nK1,U1,城管通,部件类,2022-08-01 09:00\n"
    frame, report = load(write(tmp_path / "k.csv", text), "cases")
    assert report.ok and frame[["source", "category"]].values.tolist() == [["监督员", "部件"]]
