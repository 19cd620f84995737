"""Hostile and careless files at the readers (issue 12, items 2, 3, 4, 7 and ids as text).

Each test failed before the readers were hardened: a stray cell at XFD1048576 built the whole
grid (4 GB), an unclosed quote merged records silently, special files hung, oversized fields,
UTF-16 without a BOM and CR-only line ends were tracebacks or binary, hidden sheets loaded
unseen, an uncached formula read as "required value is empty", and an 18-digit id stored as a
number became 3.2e+17.
"""

from __future__ import annotations

import io
import os
import re
import resource
import subprocess
import sys
import textwrap
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from cityanalytics.cli import main
from cityanalytics.io import LoadError, load
from cityanalytics.io import readers

CASES_HEADER = "案件编号,所属街道,案件类型,上报时间,问题描述\n"
ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def validate(path, *extra) -> int:
    return main(["validate", str(path), "--table", "cases", *map(str, extra)])


def workbook(rows, *, title="案件"):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    return wb, ws


CASE_ROWS = [
    ["案件编号", "所属街道", "案件类型", "上报时间"],
    ["HL001", "城东街道", "事件", datetime(2022, 8, 1, 9)],
    ["HL002", "城西街道", "部件", datetime(2022, 8, 2, 9)],
]


# ---- item 2: a tiny workbook must not exhaust memory ----


def test_stray_cell_at_xfd1048576_is_a_clear_error_within_bounded_memory(tmp_path):
    """1.7 kB on disk, 17 billion cells as a grid: refused naming the cell, in bounded memory."""
    wb, ws = workbook(CASE_ROWS)
    ws["XFD1048576"] = "x"
    path = tmp_path / "stray.xlsx"
    wb.save(path)
    assert path.stat().st_size < 10_000
    # In a child process with a 1 GiB address-space limit: the old reader needed over 4 GB.
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from cityanalytics.io import LoadError, load
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            load({str(path)!r}, "cases")
        except LoadError as exc:
            print("LOADERROR", exc)
        print("GROWTH_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LOADERROR" in out.stdout and "stray.xlsx" in out.stdout
    assert "cell XFD1048576 lies beyond column 1,000" in out.stdout
    growth_kb = int(out.stdout.split("GROWTH_KB")[1].split()[0])
    assert growth_kb < 200_000, f"peak RSS grew by {growth_kb} kB while loading"


def test_stray_cell_far_below_the_table_is_bounded_by_the_cell_limit(tmp_path, monkeypatch):
    wb, ws = workbook(CASE_ROWS)
    ws["D1000"] = "x"  # 1000 rows x 4 columns = 4000 cells
    path = tmp_path / "tall.xlsx"
    wb.save(path)
    monkeypatch.setattr(readers, "MAX_SHEET_CELLS", 3_000)
    with pytest.raises(LoadError, match=r"tall.xlsx: sheet '案件': cells reach row 1,000 and column D \(4,000 cells\); the limit is 3,000"):
        load(path, "cases")
    monkeypatch.setattr(readers, "MAX_SHEET_CELLS", 20_000_000)
    frame, report = load(path, "cases")  # within the limit: the blank rows are counted, not lost
    assert report.rows_read == 999 and report.rows_kept == 2
    assert (report.rejections["reason"] == "blank row").sum() == 996


def _zip_bomb(path: Path, size: int) -> Path:
    """A valid workbook whose sheet XML is padded with `size` bytes of whitespace (deflates ~1000x)."""
    wb, _ = workbook(CASE_ROWS)
    buffer = io.BytesIO()
    wb.save(buffer)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<sheetData>", b"<sheetData>" + b" " * size)
            dst.writestr(info.filename, data)
    return path


def test_zip_bomb_is_refused_before_opening(tmp_path):
    path = _zip_bomb(tmp_path / "bomb.xlsx", 64 << 20)
    assert path.stat().st_size < 200_000
    with pytest.raises(LoadError, match=r"bomb.xlsx: member xl/worksheets/sheet1.xml would expand [\d,]+-fold .*zip bomb"):
        load(path, "cases")


def test_total_decompressed_size_is_bounded(tmp_path, monkeypatch):
    path = _zip_bomb(tmp_path / "big.xlsx", 1 << 20)  # below the ratio check's threshold
    monkeypatch.setattr(readers, "MAX_XLSX_UNCOMPRESSED", 512 << 10)
    with pytest.raises(LoadError, match=r"big.xlsx: decompresses to [\d,]+ bytes; the limit for a workbook is 524,288"):
        load(path, "cases")
    monkeypatch.setattr(readers, "MAX_XLSX_UNCOMPRESSED", 1 << 30)
    assert load(path, "cases").report.rows_kept == 2


def test_streaming_reader_keeps_merged_headers_and_fills_merged_body_cells(tmp_path):
    """Read-only worksheets have no merged_cells; <mergeCells> is read from the sheet XML instead."""
    wb, ws = workbook([
        ["案件编号", "所属街道", "案件类型", "时间", None],
        [None, None, None, "上报", "结案"],
        ["HL001", "城东街道", "事件", datetime(2022, 8, 1, 9), datetime(2022, 8, 1, 12)],
        ["HL002", None, "部件", datetime(2022, 8, 2, 9), None],
        ["HL003", "城西街道", "事件", datetime(2022, 8, 3, 9), None],
    ])
    for col in "ABC":
        ws.merge_cells(f"{col}1:{col}2")
    ws.merge_cells("D1:E1")
    ws.merge_cells("B3:B4")
    ws.merge_cells("A100:Z200")  # a damaged range far outside the data fills nothing
    wb.save(tmp_path / "merged.xlsx")
    frame, report = load(tmp_path / "merged.xlsx", "cases")
    assert report.ok, report.summary()
    assert frame["unit_id"].tolist() == ["城东街道", "城东街道", "城西街道"]
    assert str(frame.loc[0, "closed_at"]) == "2022-08-01 12:00:00"
    assert any("header on row 1-2 (two rows)" in n for n in report.notes)
    assert any("6 merged cell range(s) filled" in n for n in report.notes)


def test_damaged_sheet_xml_is_a_load_error(tmp_path):
    wb, _ = workbook(CASE_ROWS)
    buffer = io.BytesIO()
    wb.save(buffer)
    path = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]
            dst.writestr(info.filename, data)
    with pytest.raises(LoadError, match=r"damaged.xlsx: cannot read sheet '案件'"):
        load(path, "cases")


# ---- item 3: an unclosed quote never merges records silently ----

UNCLOSED = (CASES_HEADER
            + "HL001,城东街道,事件,2022-08-01 09:00,垃圾未清运\n"
            + 'HL002,城西街道,事件,2022-08-01 10:00,"占道经营\n'
            + "HL003,城西街道,部件,2022-08-01 11:00,井盖破损\n"
            + 'HL004,城东街道,事件,2022-08-01 12:00,"乱堆物料"\n'
            + "HL005,城东街道,事件,2022-08-01 13:00,路面破损\n")


def test_unclosed_quote_rejects_the_row_that_swallowed_records(tmp_path, capsys):
    path = write(tmp_path / "unclosed.csv", UNCLOSED)
    frame, report = load(path, "cases")
    # 5 records written; the parser sees 3. The swallowing row is rejected, naming what it holds.
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (3, 2, 1)
    assert frame["case_id"].tolist() == ["HL001", "HL005"]
    rejection = report.rejections.iloc[0]
    assert (rejection["row"], rejection["column"]) == (3, "description")
    assert "runs from line 3 to line 5" in rejection["reason"]
    assert "2 line(s) that look like records of their own (HL003, HL004)" in rejection["reason"]
    assert validate(path) == 1
    assert "is a quote left open" in capsys.readouterr().out


def test_unclosed_quote_at_the_end_of_the_file(tmp_path):
    text = CASES_HEADER + 'HL001,城东街道,事件,2022-08-01 09:00,"垃圾\nHL002,城西街道,事件,2022-08-01 10:00,占道\n'
    frame, report = load(write(tmp_path / "eof.csv", text), "cases")
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (1, 0, 1)
    assert "(HL002)" in report.rejections.loc[0, "reason"]


def test_a_legitimate_multi_line_description_is_kept(tmp_path):
    text = CASES_HEADER + 'HL001,城东街道,事件,2022-08-01 09:00,"垃圾未清运,\n已联系环卫所"\n'
    frame, report = load(write(tmp_path / "ok.csv", text), "cases")
    assert report.ok and frame.loc[0, "description"] == "垃圾未清运,\n已联系环卫所"


# ---- item 4: clear errors (exit 2), never a traceback or a hang ----


def test_oversized_field_is_a_load_error_naming_row_and_limit(tmp_path, capsys):
    rows = "".join(f"HL{i:03d},城东街道,事件,2022-08-01 09:00,垃圾\n" for i in range(40))
    path = write(tmp_path / "huge.csv", CASES_HEADER + rows + "HL999,城东街道,事件,2022-08-01 09:00," + "垃" * 140_000 + "\n")
    with pytest.raises(LoadError, match=r"huge.csv: row 42, field 5 is 140,000 characters long; the limit for one cell is 131,072"):
        load(path, "cases")
    assert validate(path) == 2
    # Within the header search the csv module meets it first: the same clear error, not _csv.Error.
    path = write(tmp_path / "early.csv", CASES_HEADER + "HL001,城东街道,事件,2022-08-01 09:00," + "垃" * 140_000 + "\n")
    with pytest.raises(LoadError, match=r"early.csv: record 2 \(from line 2\) has a field longer than 131,072 characters"):
        load(path, "cases")
    assert validate(path) == 2 and "error:" in capsys.readouterr().err


def test_a_record_with_too_many_fields_is_refused_before_a_frame_is_built(tmp_path):
    rows = "HL001,城东街道,事件,2022-08-01 09:00," + "," * 200_000 + "\n"
    path = write(tmp_path / "wide.csv", CASES_HEADER + rows * 50)  # 50 x 200,000 cells as a frame: 80 MB of pointers
    with pytest.raises(LoadError, match=r"wide.csv: record 2 \(line 2\) has 200,005 fields; the limit for a table is 1,000"):
        load(path, "cases")
    # Separators inside a quoted value are not fields.
    quoted = CASES_HEADER + 'HL001,城东街道,事件,2022-08-01 09:00,"' + "," * 2000 + '"\n'
    frame, report = load(write(tmp_path / "quoted.csv", quoted), "cases")
    assert report.ok and frame.loc[0, "description"] == "," * 2000


def test_cr_only_line_ends_are_read_as_line_breaks(tmp_path):
    text = CASES_HEADER + "HL001,城东街道,事件,2022-08-01 09:00,垃圾\nHL002,城西街道,部件,2022-08-02 09:00,井盖\n"
    frame, report = load(write(tmp_path / "mac.csv", text.replace("\n", "\r")), "cases")
    assert report.ok and frame["case_id"].tolist() == ["HL001", "HL002"]
    assert any("CR only" in n for n in report.notes)


@pytest.mark.parametrize("kind", ["fifo", "dev_zero_link"])
def test_special_files_are_refused_without_opening(tmp_path, kind, capsys):
    path = tmp_path / "cases.csv"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block forever
        expected = "is a named pipe (FIFO), not a regular file"
    else:
        path.symlink_to("/dev/zero")  # reading it never ends
        expected = "is a character device, not a regular file"
    with pytest.raises(LoadError, match=re.escape(expected)):
        load(path, "cases")
    assert validate(path) == 2 and expected in capsys.readouterr().err
    assert main(["validate", "/dev/zero", "--table", "cases"]) == 2


def test_text_larger_than_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    path = write(tmp_path / "big.csv", CASES_HEADER + "HL001,城东街道,事件,2022-08-01 09:00,x\n" * 100)
    monkeypatch.setattr(readers, "MAX_TEXT_BYTES", 1000)
    with pytest.raises(LoadError, match=r"big.csv: is [\d,]+ bytes; the limit for a text file is 1,000 bytes"):
        load(path, "cases")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_detected(tmp_path, encoding):
    text = CASES_HEADER.replace(",", "\t") + "HL001\t城东街道\t事件\t2022/8/1 9:00\t一一\n"
    frame, report = load(write(tmp_path / "u16.txt", text, encoding), "cases")
    assert report.ok and frame.loc[0, "unit_id"] == "城东街道" and frame.loc[0, "description"] == "一一"
    assert f"encoding {encoding} (UTF-16 without a byte-order mark)" in report.notes


def test_header_only_file_says_so(tmp_path, capsys):
    path = write(tmp_path / "empty_month.csv", CASES_HEADER)
    frame, report = load(path, "cases")
    assert report.rows_read == 0 and frame.empty
    assert "header only: no data rows below the header on row 1" in report.notes
    assert validate(path) == 0 and "header only" in capsys.readouterr().out
    wb, _ = workbook(CASE_ROWS[:1])
    wb.save(tmp_path / "empty.xlsx")
    _, report = load(tmp_path / "empty.xlsx", "cases")
    assert any("header only" in n for n in report.notes)


# ---- item 7: hidden sheets, uncached formulas ----


def test_hidden_sheets_are_skipped_with_a_note_unless_asked_for(tmp_path):
    wb, _ = workbook(CASE_ROWS, title="8月")
    old = wb.create_sheet("旧数据")
    for row in [CASE_ROWS[0], ["HL900", "城东街道", "事件", datetime(2021, 1, 1)]]:
        old.append(row)
    old.sheet_state = "hidden"
    wb.save(tmp_path / "hidden.xlsx")
    frame, report = load(tmp_path / "hidden.xlsx", "cases")
    assert frame["case_id"].tolist() == ["HL001", "HL002"]
    assert any("sheet(s) 旧数据 are hidden in the workbook; not loaded" in n for n in report.notes)
    frame, report = load(tmp_path / "hidden.xlsx", "cases", sheet="旧数据")
    assert frame["case_id"].tolist() == ["HL900"]
    assert any("hidden in the workbook; loaded because it was asked for" in n for n in report.notes)


def test_uncached_formula_is_reported_as_such(tmp_path):
    wb, ws = workbook(CASE_ROWS)
    ws["C3"] = '=IF(A3="","","部件")'  # openpyxl writes the formula with no cached value
    wb.save(tmp_path / "formula.xlsx")
    frame, report = load(tmp_path / "formula.xlsx", "cases")
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (2, 1, 1)
    rejection = report.rejections.iloc[0].to_dict()
    assert rejection["row"] == 3 and rejection["column"] == "category"
    assert rejection["reason"] == "formula without a cached value; open and save the file in Excel"
    assert rejection["value"] == '=IF(A3="","","部件")'


# ---- ids are text from the first read; the encoding can be set ----


def test_numeric_ids_in_excel_become_exact_text(tmp_path):
    wb, ws = workbook([CASE_ROWS[0], [320123456789012345, "城东街道", "事件", datetime(2022, 8, 1)],
                       [1001.0, "城西街道", "部件", datetime(2022, 8, 2)]])
    wb.save(tmp_path / "written.xlsx")

    def with_number(name: str, digits: bytes) -> Path:  # the sheet XML as another program writes it
        path = tmp_path / name
        with zipfile.ZipFile(tmp_path / "written.xlsx") as src, zipfile.ZipFile(path, "w") as dst:
            for info in src.infolist():
                data = src.read(info.filename)
                if info.filename == "xl/worksheets/sheet1.xml":
                    data = re.sub(rb"<v>3\.20123[0-9e+.]+</v>", b"<v>" + digits + b"</v>", data)
                dst.writestr(info.filename, data)
        return path

    frame, report = load(with_number("ids.xlsx", b"320123456789012345"), "cases")
    assert frame["case_id"].tolist() == ["320123456789012345", "1001"]
    # Excel itself writes an 18-digit number as a double: its 15 significant digits are kept, and said.
    frame, report = load(with_number("excel_double.xlsx", b"3.2012345678901197E+17"), "cases")
    assert frame.loc[0, "case_id"] == "320123456789012000"
    assert any("1 case_id value(s) are numbers of more than 15 digits" in n for n in report.notes)


def test_csv_cells_are_read_as_text(tmp_path):
    text = "案件编号,所属街道,案件类型,上报时间\n007,320123456789012345,事件,2022-08-01\n"
    frame, _ = load(write(tmp_path / "ids.csv", text), "cases")
    assert frame.loc[0, "case_id"] == "007" and frame.loc[0, "unit_id"] == "320123456789012345"


def test_encoding_override(tmp_path):
    text = CASES_HEADER + "HL001,城东街道,事件,2022-08-01 09:00,垃圾\n"
    path = write(tmp_path / "gbk.csv", text, "gbk")
    frame, report = load(path, "cases", encoding="gbk")
    assert frame.loc[0, "unit_id"] == "城东街道" and "encoding gbk (as set, not detected)" in report.notes
    with pytest.raises(LoadError, match=r"gbk.csv: is not utf-8 text: byte 0x.. on line 1"):
        load(path, "cases", encoding="utf-8")
    with pytest.raises(LoadError, match="unknown encoding 'klingon'"):
        load(path, "cases", encoding="klingon")


def test_a_sheet_whose_data_is_missing_is_said_and_a_chart_sheet_skipped(tmp_path):
    wb, _ = workbook(CASE_ROWS, title="8月")
    wb.create_sheet("9月").append(CASE_ROWS[0])
    from openpyxl.chart import BarChart

    wb.create_chartsheet("图表").add_chart(BarChart())
    buffer = io.BytesIO()
    wb.save(buffer)
    path = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet2.xml":  # 9月's part is gone; openpyxl drops it silently
                dst.writestr(info.filename, src.read(info.filename))
    frame, report = load(path, "cases")
    assert frame["case_id"].tolist() == ["HL001", "HL002"]
    assert any("sheet(s) 9月 are listed in the workbook but their data is missing" in n for n in report.notes)
    assert any("chart sheet(s) 图表 hold no cells" in n for n in report.notes)
    only = tmp_path / "only.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(only, "w") as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info.filename, src.read(info.filename))
    with pytest.raises(LoadError, match=r"only.xlsx: .*(no sheet data|no header row)"):
        load(only, "cases")


def test_validate_takes_the_encoding(tmp_path, capsys):
    path = write(tmp_path / "big5.csv", "案件編號,所屬街道,案件類型,上報時間\nHL001,臨平街道,事件,2022-08-01 09:00\n", "big5")
    assert validate(path, "--encoding", "big5") == 0
    assert "encoding big5 (as set, not detected)" in capsys.readouterr().out
    assert validate(path, "--encoding", "utf-8") == 2
    assert "is not utf-8 text" in capsys.readouterr().err
