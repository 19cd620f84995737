"""Unit tests of the loaders: value parsing, encoding and header detection, aliases, the
readers for SQL, Parquet and Excel, unit resolution, the validate command, harmonize_units."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cityanalytics.cli import main
from cityanalytics.io import LoadError, detect_encoding, load
from cityanalytics.io.headers import merged_aliases
from cityanalytics.io.parsing import ParseFailure, parse_column, parse_datetime, parse_month, parse_number
from cityanalytics.io.readers import locate_header
from cityanalytics.units import current_units, harmonize_units, successor_map

CORPUS = Path(__file__).parent / "corpus"
CASES_HEADER = "案件编号,所属街道,案件类型,上报时间,结案时间\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def parsed(values, kind):
    out, reasons = parse_column(pd.Series(values, dtype=object), kind)
    return out, reasons


# ---- value parsing ----


def test_percent_strings_in_a_percent_column():
    out, reasons = parsed(["98.83%", "１２．５％", "7", " 100 % ", "", "--"], "percent")
    assert out.tolist()[:4] == [98.83, 12.5, 7.0, 100.0]
    assert out.isna().tolist()[4:] == [True, True]
    assert reasons.isna().all()


def test_percent_string_in_a_number_column_is_rejected():
    out, reasons = parsed(["3.5", "5%"], "float")
    assert out.iloc[0] == 3.5 and pd.isna(out.iloc[1])
    assert reasons.iloc[1] == "expected a number, got a percentage"


def test_fullwidth_digits_and_thousands_separators():
    out, reasons = parsed(["１，２３４", "３５６", "359,830", "１２３４５６７"], "int")
    assert out.tolist() == [1234, 356, 359830, 1234567]
    assert str(out.dtype) == "Int64" and reasons.isna().all()
    out, _ = parsed(["３．５", "－１．２５"], "float")
    assert out.tolist() == [3.5, -1.25]


def test_number_with_unit_or_fraction_is_rejected_with_the_reason():
    with pytest.raises(ParseFailure, match=r"unit or text after it \('克'\)"):
        parse_number("5.2克")
    with pytest.raises(ParseFailure, match=r"\('万'\)"):
        parse_number("12.5万")
    _, reasons = parsed(["2.5"], "int")
    assert reasons.iloc[0] == "expected a whole number"


@pytest.mark.parametrize("text, expected", [
    ("2022年8月1日", datetime(2022, 8, 1)),
    ("2022年8月1号", datetime(2022, 8, 1)),
    ("2022年08月01日 9时30分", datetime(2022, 8, 1, 9, 30)),
    ("2022年8月1日9点", datetime(2022, 8, 1, 9)),
    ("2022年8月1日 17:05:09", datetime(2022, 8, 1, 17, 5, 9)),
    ("2022/8/1", datetime(2022, 8, 1)),
    ("2022/8/1 9:05", datetime(2022, 8, 1, 9, 5)),
    ("2022.8.1", datetime(2022, 8, 1)),
    ("2022-08-01T09:15:30", datetime(2022, 8, 1, 9, 15, 30)),
    ("20220801", datetime(2022, 8, 1)),
    ("202208011230", datetime(2022, 8, 1, 12, 30)),
    ("20220801093005", datetime(2022, 8, 1, 9, 30, 5)),
    ("44774", datetime(2022, 8, 1)),
    ("44774.5", datetime(2022, 8, 1, 12)),
    ("44774.3854166667", datetime(2022, 8, 1, 9, 15)),  # 15 significant digits, as exports write them
    ("44774.9999884259", datetime(2022, 8, 1, 23, 59, 59)),
])
def test_parse_datetime_spellings(text, expected):
    assert parse_datetime(text) == expected


@pytest.mark.parametrize("text, reason", [
    ("2022-02-30", "not a valid date"),
    ("2022年2月29日", "not a valid date"),
    ("2022/13/01", "not a valid date"),
    ("4477", "expected a date"),  # below the Excel-serial range: not a date
    ("8/1/2022", "expected a date"),  # day-month order is ambiguous: not guessed
    ("上周", "expected a date"),
])
def test_parse_datetime_rejections(text, reason):
    with pytest.raises(ParseFailure, match=reason):
        parse_datetime(text)


def test_datetime_column_mixes_spellings_and_fullwidth():
    out, reasons = parsed(["2022-08-01 09:00", "２０２２年８月２日", "44776.75", "", None, "2022-02-30"], "datetime")
    assert list(out[:3]) == [pd.Timestamp("2022-08-01 09:00"), pd.Timestamp("2022-08-02"),
                             pd.Timestamp("2022-08-03 18:00")]
    assert out[3:].isna().all()
    assert reasons[:5].isna().all() and "not a valid date" in reasons.iloc[5]
    assert str(out.dtype) == "datetime64[ns]"


def test_date_column_drops_the_time():
    out, _ = parsed(["2022-08-01 09:00", "44774.75", "2022年8月3日 10时"], "date")
    assert list(out) == [pd.Timestamp("2022-08-01"), pd.Timestamp("2022-08-01"), pd.Timestamp("2022-08-03")]


@pytest.mark.parametrize("text, expected", [
    ("2022-08", "2022-08"), ("2022年8月", "2022-08"), ("2022年 8月", "2022-08"), ("202208", "2022-08"),
    ("2022/8", "2022-08"), ("2022.08", "2022-08"), ("２０２２年１２月", "2022-12"), ("2022-08-15", "2022-08"),
    ("44774", "2022-08"),
])
def test_parse_months(text, expected):
    if text.isascii():
        assert str(parse_month(text)) == expected
    out, reasons = parsed([text], "month")
    assert str(out.iloc[0]) == expected and reasons.isna().all()


def test_month_rejections():
    out, reasons = parsed(["2022年13月", "2022-00", "八月"], "month")
    assert out.isna().all()
    assert reasons.str.contains("expected a month").all()


def test_bool_words_and_numeric_flags():
    out, reasons = parsed(["是", "否", "1", "0", "√", "", "可能"], "bool")
    assert out.tolist()[:5] == [True, False, True, False, True]
    assert pd.isna(out.iloc[5]) and reasons.iloc[6].startswith("expected yes/no")
    # 0/1 flags from SQL or Parquet, floats once a NULL is among them
    out, reasons = parse_column(pd.Series([1.0, 0.0, np.nan]), "bool")
    assert out.tolist()[:2] == [True, False] and pd.isna(out.iloc[2]) and reasons.isna().all()
    out, reasons = parse_column(pd.Series([2, 1]), "bool")
    assert reasons.iloc[0].startswith("expected yes/no")


def test_str_column_trims_normalises_and_keeps_integer_ids():
    out, _ = parsed([" ＨＬ００１ ", "--", "", "城东街道"], "str")
    assert out.iloc[0] == "HL001" and out[1:3].isna().all() and out.iloc[3] == "城东街道"
    out, _ = parse_column(pd.Series([1001.0, np.nan]), "str")
    assert out.iloc[0] == "1001" and pd.isna(out.iloc[1])


# ---- encoding detection ----

SIMPLIFIED = "案件编号,所属街道,案件类型,上报时间\nHL001,城东街道,事件,2022年8月1日\n"
TRADITIONAL = ("城管局城市綜合管理工作意見\n案件編號,所屬街道,案件類型,上報時間\n"
               "YH001,臨平街道,事件,2022年8月1日\n")


@pytest.mark.parametrize("text, encoding, detected", [
    (SIMPLIFIED, "utf-8", {"utf-8"}),
    (SIMPLIFIED, "utf-8-sig", {"utf-8-sig"}),
    (SIMPLIFIED, "gbk", {"gb18030", "gbk"}),
    (SIMPLIFIED, "gb2312", {"gb18030", "gbk", "gb2312"}),
    ("单位名称\n䶮城街道\n€\n", "gb18030", {"gb18030"}),  # not encodable in GBK
    (TRADITIONAL, "big5", {"big5"}),
])
def test_detect_encoding(text, encoding, detected):
    raw = text.encode(encoding)
    found = detect_encoding(raw)
    assert found in detected
    assert raw.decode(found) == text


def test_gbk_file_is_read_without_being_told(tmp_path):
    path = write(tmp_path / "gbk.csv", CASES_HEADER + "HL001,城东街道,事件,2022-08-01 09:00,\n", "gbk")
    frame, report = load(path, "cases")
    assert frame.loc[0, "unit_id"] == "城东街道"
    assert "encoding gb18030" in report.notes


def test_undecodable_text_is_a_load_error(tmp_path):
    # Valid in no Chinese encoding and no UTF: a clear error, not a UnicodeDecodeError.
    path = write(tmp_path / "bad.csv", "案件编号,上报时间\n", "utf-8")
    path.write_bytes(path.read_bytes() + b"\xff\xfe\xfd\x80\x81" * 3 + b"\n")
    try:
        frame, report = load(path, "cases")
    except LoadError as exc:
        assert "bad.csv" in str(exc)
    else:  # if some encoding reads it, the header still has to be found
        pytest.fail(f"garbage loaded: {report.summary()}")


# ---- header detection ----


def test_header_below_title_rows():
    grid = [
        ["海陵区数字化城市管理案件明细表", "", "", ""],
        ["导出时间：2022年9月1日", "", "", ""],
        ["案件编号", "所属街道", "案件类型", "上报时间"],
        ["HL001", "城东街道", "事件", "2022-08-01"],
    ]
    row, depth, names = locate_header(grid, "cases", merged_aliases())
    assert (row, depth) == (2, 1)
    assert names == ["案件编号", "所属街道", "案件类型", "上报时间"]


def test_two_row_merged_header():
    # What a merged Excel header looks like once merged cells are filled with their value.
    grid = [
        ["2022年8月案件统计", "2022年8月案件统计", "2022年8月案件统计", "2022年8月案件统计", "2022年8月案件统计"],
        ["案件编号", "所属街道", "案件类型", "时间", "时间"],
        ["案件编号", "所属街道", "案件类型", "上报", "结案"],
        ["HL001", "城东街道", "事件", "2022-08-01", "2022-08-02"],
    ]
    row, depth, names = locate_header(grid, "cases", merged_aliases())
    assert (row, depth) == (1, 2)
    assert names == ["案件编号", "所属街道", "案件类型", "上报时间", "结案时间"]


def test_band_row_that_adds_nothing_is_not_part_of_the_header():
    grid = [
        ["基本信息", "基本信息", "时间信息", "时间信息"],
        ["案件编号", "所属街道", "上报时间", "结案时间"],
        ["HL001", "城东街道", "2022-08-01", "2022-08-02"],
    ]
    assert locate_header(grid, "cases", merged_aliases())[:2] == (1, 1)


def test_no_header_at_all():
    assert locate_header([["a", "b"], ["1", "2"]], "cases", merged_aliases()) == (-1, 0, [])


def test_two_row_header_in_csv(tmp_path):
    path = write(tmp_path / "two.csv",
                 "案件编号,所属街道,案件类型,时间,\n,,,上报,结案\nHL001,城东街道,事件,2022-08-01 09:00,2022-08-01 10:00\n")
    frame, report = load(path, "cases")
    assert frame.loc[0, "closed_at"] == pd.Timestamp("2022-08-01 10:00")
    assert any("row 1-2 (two rows)" in n for n in report.notes)


# ---- aliases ----


def test_user_aliases_are_tried_before_the_defaults(tmp_path):
    # 编号 is a default alias of case_id; this user says their case number is 任务单号.
    path = write(tmp_path / "a.csv", "编号,任务单号,所属街道,案件类型,上报时间\n1,RW-9,城东街道,事件,2022-08-01\n")
    frame, _ = load(path, "cases", aliases={"cases": {"case_id": ["任务单号"]}})
    assert frame.loc[0, "case_id"] == "RW-9"
    frame, _ = load(path, "cases")
    assert frame.loc[0, "case_id"] == "1"


def test_value_fixes_can_come_with_the_aliases(tmp_path):
    path = CORPUS / "districts_spam.csv"
    frame, report = load(path, "districts", aliases={"value_fixes": {"UedBet体育": "扎兰屯市"}})
    assert report.ok and frame.loc[0, "name_zh"] == "扎兰屯市"


def test_missing_column_error_names_file_column_and_expected_names(tmp_path):
    path = write(tmp_path / "导出.csv", "案件编号,所属街道,上报时间\nHL1,城东街道,2022-08-01\n")
    with pytest.raises(LoadError) as info:
        load(path, "cases")
    assert info.value.column == "category"
    message = str(info.value)
    assert "导出.csv" in message and "'category'" in message and "案件类型" in message
    assert "headers found: 案件编号, 所属街道, 上报时间" in message


@pytest.mark.parametrize("name, content, message", [
    ("missing.csv", None, "file not found"),
    ("folder", "dir", "is a folder"),
    ("data.json", "{}", "unknown file type '.json'"),
    ("broken.xlsx", "not a zip", "cannot open as an Excel workbook"),
    ("broken.parquet", "not parquet", "cannot read as Parquet"),
])
def test_unusable_sources_are_load_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    with pytest.raises(LoadError, match=message) as info:
        load(path, "cases")
    assert name in str(info.value)


# ---- SQL, Parquet, Excel ----


@pytest.fixture
def sqlite_url(tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'city.db'}"
    engine = sa.create_engine(url)
    pd.DataFrame({
        "工单编号": [101, 102, 103],
        "所属街道": ["城东街道", "城西街道", "城东街道"],
        "案件类型": ["事件", "部件", "事件"],
        "受理时间": pd.to_datetime(["2022-08-01 09:00", "2022-08-02 10:00", "2022-08-03 11:00"]),
        "结案时间": pd.to_datetime(["2022-08-01 12:00", "2022-08-01 10:00", None]),
    }).to_sql("cases", engine, index=False)
    engine.dispose()
    return url


def test_sqlite_table_through_a_sqlalchemy_url(sqlite_url):
    frame, report = load(sqlite_url, "cases")
    assert report.rows_read == 3 and report.rows_rejected == 1
    rejection = report.rejections.iloc[0]
    assert rejection["row"] == 2 and rejection["column"] == "closed_at"
    assert list(frame["case_id"]) == ["101", "103"]
    assert frame.loc[0, "reported_at"] == pd.Timestamp("2022-08-01 09:00")


def test_sqlite_query(sqlite_url):
    frame, report = load(sqlite_url, "cases", sql="SELECT * FROM cases WHERE 案件类型 = '事件'")
    assert report.ok and list(frame["case_id"]) == ["101", "103"]
    assert pd.isna(frame.loc[1, "closed_at"])


def test_sql_errors_are_load_errors_without_passwords(sqlite_url):
    with pytest.raises(LoadError, match="cannot read table 'dust_samples'"):
        load(sqlite_url, "dust_samples")
    with pytest.raises(LoadError, match="cannot read query"):
        load(sqlite_url, "cases", sql="SELECT * FROM nowhere")
    with pytest.raises(LoadError) as info:
        load("nosuchdialect://analyst:s3cret@db.example.org/city", "cases")
    assert "s3cret" not in str(info.value)


def test_parquet_with_typed_columns(tmp_path):
    path = tmp_path / "typed.parquet"
    pd.DataFrame({
        "case_id": pd.array(["A1", "A2"], dtype="string"),
        "unit_id": ["城东街道", "城西街道"],
        "category": ["事件", "部件"],
        "reported_at": pd.to_datetime(["2022-08-01 01:00", "2022-08-02 02:00"]).tz_localize("UTC"),
        "closed_at": pd.to_datetime(["2022-08-01 12:00", None]),
        "reopened": [True, False],
        "suspended": pd.array([None, True], dtype="boolean"),
    }).to_parquet(path)
    frame, report = load(path, "cases")
    assert report.ok, report.summary()
    # timezone-aware times are read as Beijing time
    assert frame.loc[0, "reported_at"] == pd.Timestamp("2022-08-01 09:00")
    assert str(frame["reported_at"].dtype) == "datetime64[ns]"
    assert frame["reopened"].tolist() == [True, False]
    assert pd.isna(frame.loc[0, "suspended"]) and frame.loc[1, "suspended"]
    assert pd.isna(frame.loc[1, "closed_at"])


def test_parquet_with_numeric_and_period_columns(tmp_path):
    path = tmp_path / "assess.parquet"
    pd.DataFrame({
        "unit_id": ["城东街道", "城西街道"],
        "period": pd.period_range("2022-08", periods=2, freq="M"),
        "score": [92.5, 88.0],
        "problems_found": pd.array([10, None], dtype="Int64"),
    }).to_parquet(path)
    frame, report = load(path, "assessments")
    assert report.ok, report.summary()
    assert [str(p) for p in frame["period"]] == ["2022-08", "2022-09"]
    assert frame.loc[0, "problems_found"] == 10 and pd.isna(frame.loc[1, "problems_found"])


def test_multi_sheet_workbook_skips_the_notes_sheet():
    path = CORPUS / "cases_multi_sheet.xlsx"
    frame, report = load(path, "cases")
    assert report.rows_read == 5
    assert any("说明" in n and "not loaded" in n for n in report.notes)
    assert set(report.rejections["file"]) == {"cases_multi_sheet.xlsx[9月]"}
    frame, report = load(path, "cases", sheet=1)  # by index: 8月
    assert report.ok and list(frame["case_id"]) == ["HL0801", "HL0802"]
    with pytest.raises(LoadError, match="no sheet '10月'; sheets are 说明, 8月, 9月"):
        load(path, "cases", sheet="10月")
    with pytest.raises(LoadError, match="no sheet 7"):
        load(path, "cases", sheet=7)
    with pytest.raises(LoadError) as info:  # asked for the notes sheet itself
        load(path, "cases", sheet="说明")
    assert "cases_multi_sheet.xlsx" in str(info.value)


def test_excel_column_without_header_is_noted(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["案件编号", "所属街道", "案件类型", "上报时间", None])
    ws.append(["HL001", "城东街道", "事件", datetime(2022, 8, 1, 9), "已电话回访"])
    wb.save(tmp_path / "x.xlsx")
    _, report = load(tmp_path / "x.xlsx", "cases")
    assert report.ok
    assert any("column(s) 5 hold values but have no header" in n for n in report.notes)


# ---- units ----

UNITS = pd.DataFrame({
    "unit_id": ["321202001", "321202002", "321203001", "321204001"],
    "name_zh": ["城东街道", "城西街道", "城关镇", "城关镇"],
})


def test_unit_names_resolved_with_units(tmp_path):
    path = write(tmp_path / "c.csv", CASES_HEADER + "".join(
        f"HL00{i},{u},事件,2022-08-01 09:00,\n" for i, u in enumerate(["城东街道", "321202002", "城南街道", "城关镇"])
    ))
    frame, report = load(path, "cases", units=UNITS)
    assert list(frame["unit_id"]) == ["321202001", "321202002"]
    reasons = dict(zip(report.rejections["row"], report.rejections["reason"]))
    assert reasons[4].startswith("unknown unit")
    assert reasons[5].startswith("ambiguous unit name") and "321203001, 321204001" in reasons[5]


def test_harmonize_units_follows_a_chain_of_changes():
    changes = pd.DataFrame({
        "old_unit_id": ["城关镇", "城关街道", "东郊乡"],
        "new_unit_id": ["城关街道", "中心街道", "城关镇"],
        "effective_on": pd.to_datetime(["2019-01-01", "2021-06-01", "2016-01-01"]),
        "change": ["撤镇设街道", "合并", "合并"],
    })
    assert successor_map(changes) == {"城关镇": "中心街道", "城关街道": "中心街道", "东郊乡": "中心街道"}
    frame = pd.DataFrame({"unit_id": ["东郊乡", "城关镇", "城关街道", "北街道", None], "n": [1, 2, 3, 4, 5]})
    out = harmonize_units(frame, changes)
    assert out["unit_id"].tolist()[:4] == ["中心街道", "中心街道", "中心街道", "北街道"]
    assert pd.isna(out["unit_id"].iloc[4])
    assert frame["unit_id"].iloc[0] == "东郊乡"  # the input is not changed
    districts = pd.DataFrame({"unit_id": ["城关镇", "城关街道", "中心街道", "北街道"]})
    assert current_units(districts, changes)["unit_id"].tolist() == ["中心街道", "北街道"]


def test_harmonize_units_refuses_a_cycle():
    changes = pd.DataFrame({"old_unit_id": ["A", "B"], "new_unit_id": ["B", "A"]})
    with pytest.raises(ValueError, match="cycle"):
        harmonize_units(pd.DataFrame({"unit_id": ["A"]}), changes)


# ---- the validate command ----


def validate(*args: str) -> int:
    return main(["validate", *map(str, args)])


def test_validate_exit_codes(capsys):
    assert validate(CORPUS / "cases_utf8.csv", "--table", "cases") == 0
    assert "rows read 3, kept 3, rejected 0" in capsys.readouterr().out
    assert validate(CORPUS / "cases_duplicate_ids.csv", "--table", "cases") == 1
    assert "duplicate case_id" in capsys.readouterr().out
    assert validate(CORPUS / "cases_garbage.csv", "--table", "cases") == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "cases_garbage.csv" in err
    assert validate(CORPUS / "cases_missing_column.csv", "--table", "cases") == 2
    assert "reported_at" in capsys.readouterr().err
    assert validate(CORPUS / "cases_old.xls", "--table", "cases") == 2
    assert validate(CORPUS / "nothing-here.csv", "--table", "cases") == 2


def test_validate_with_sheet_sql_units_and_rejections_file(tmp_path, capsys):
    assert validate(CORPUS / "cases_multi_sheet.xlsx", "--table", "cases", "--sheet", "8月") == 0
    url = f"sqlite:///{CORPUS / 'cases.sqlite'}"
    assert validate(url, "--table", "cases", "--sql", "SELECT * FROM cases WHERE case_id <> 'HL002'") == 0
    out_csv = tmp_path / "rejections.csv"
    code = validate(CORPUS / "cases_unknown_unit.csv", "--table", "cases",
                    "--units", CORPUS / "districts_units.csv", "--rejections", out_csv)
    assert code == 1
    rejections = pd.read_csv(out_csv, encoding="utf-8-sig", dtype=str)
    assert list(rejections.columns) == ["file", "row", "column", "value", "reason"]
    assert rejections.loc[0, "value"] == "城南街道" and rejections.loc[0, "row"] == "4"
    capsys.readouterr()


def test_validate_with_an_alias_file(tmp_path, capsys):
    path = CORPUS / "cases_user_alias.csv"
    assert validate(path, "--table", "cases") == 2
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text(
        "cases:\n  case_id: [流水号]\n  unit_id: [责任网格]\n  category: [性质]\n  reported_at: [发生时间]\n",
        encoding="utf-8",
    )
    assert validate(path, "--table", "cases", "--aliases", aliases) == 0
    assert "流水号 -> case_id" in capsys.readouterr().out
    broken = write(tmp_path / "broken.yaml", "cases: [unclosed\n")
    assert validate(path, "--table", "cases", "--aliases", broken) == 2
    assert "broken.yaml" in capsys.readouterr().err


# ---- every corpus file adds up ----


def test_rows_read_equals_kept_plus_rejected_on_every_corpus_file():
    from test_corpus import ENTRIES, run_entry

    loaded = 0
    for i, entry in enumerate(ENTRIES):
        result, err = run_entry(i)
        if err is not None:
            continue
        report = result.report
        assert report.rows_read == report.rows_kept + report.rows_rejected, entry["file"]
        assert len(result.frame) == report.rows_kept, entry["file"]
        rejected_rows = report.rejections[["file", "row"]].drop_duplicates()
        assert len(rejected_rows) == report.rows_rejected
        assert report.rejections[["file", "row", "column", "reason"]].notna().all().all()
        loaded += 1
    assert loaded >= 35
