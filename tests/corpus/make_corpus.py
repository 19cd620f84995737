"""Regenerate the bad-input corpus in this folder, byte for byte.

    .venv/bin/python tests/corpus/make_corpus.py            # rewrite the files here
    .venv/bin/python tests/corpus/make_corpus.py OUTDIR     # write them somewhere else

Each file is a small, realistic export with one kind of trouble in it (wrong encoding,
merged headers, reversed timestamps, a spam string in a place name ...). What the loader
must do with each file is written down in ``expected.yaml`` beside this script and checked
by ``tests/test_corpus.py``.

Everything here is deterministic: no clocks, no random state without a fixed seed, and
the .xlsx files are re-zipped with fixed timestamps so that regenerating changes nothing.
"""

from __future__ import annotations

import io
import random
import re
import sqlite3
import sys
import zipfile
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Header lines used by many case files.
CASES = "案件编号,所属街道,案件类型,上报时间,结案时间"
DUST = "样本编号,道路编号,道路名称,所属街道,道路等级,车道类型,检测日期,尘土残存量(克/平方米)"


def _lines(*rows: str, newline: str = "\n") -> str:
    return newline.join(rows) + newline


# ---- CSV and text files: name -> (text, encoding) ----

TEXT_FILES: dict[str, tuple[str, str]] = {
    # -- encodings --
    "cases_utf8.csv": (_lines(
        "案件编号,所属街道,案件类型,小类,上报时间,处置时间,结案时间",
        "HL2022080001,城东街道,事件,暴露垃圾,2022-08-01 09:15:00,2022-08-01 15:40:00,2022-08-01 16:02:00",
        "HL2022080002,城西街道,部件,井盖破损,2022-08-02 10:00,2022-08-03 11:30,2022-08-03 12:00",
        "HL2022080003,城东街道,事件,乱堆物料,2022-08-03 08:05:00,,",
    ), "utf-8"),
    "cases_utf8_bom.csv": (_lines(
        "工单编号,所属街道,案件类型,受理时间,结案时间",
        "GD0001,城东街道,事件,2022-08-01 09:00,2022-08-01 11:00",
        "GD0002,城西街道,部件,2022-08-01 10:00,2022-08-02 10:00",
    ), "utf-8-sig"),
    # Windows exports: GBK with CRLF line ends.
    "cases_gbk.csv": (_lines(
        CASES,
        "HL001,城东街道,事件,2022-08-01 09:00,2022-08-01 12:00",
        "HL002,凤凰街道,部件,2022-08-01 10:00,2022-08-01 18:30",
        "HL003,京泰路街道,事件,2022-08-02 08:00,",
        newline="\r\n",
    ), "gbk"),
    # 䶮 (U+4DAE, CJK Extension A) is in GB18030 but not in GBK.
    "districts_gb18030.csv": (_lines(
        "单位编号,单位名称,级别,上级编号",
        "440104,越秀区,区,",
        "440104001,䶮城街道,街道,440104",
        "440104002,北京街道,街道,440104",
    ), "gb18030"),
    # Traditional characters, as in 余杭区's 工作意见: headers and names in Big5.
    "cases_big5.csv": (_lines(
        "案件編號,所屬街道,案件類型,上報時間,結案時間",
        "YH001,臨平街道,事件,2022-08-01 09:00,2022-08-01 12:00",
        "YH002,南苑街道,部件,2022-08-02 09:00,2022-08-02 10:30",
        "YH003,東湖街道,事件,2022-08-03 09:00,2022-08-03 08:00",
    ), "big5"),
    # -- shape of the file --
    "cases_header_only.csv": (_lines(CASES), "utf-8"),
    "cases_missing_column.csv": (_lines(
        "案件编号,所属街道,案件类型,结案时间",
        "HL001,城东街道,事件,2022-08-01 12:00",
    ), "utf-8"),
    "cases_aliases.csv": (_lines(
        "工单号,所属镇街,问题类型,问题来源,受理时间,派单时间,办结时间,问题描述",
        '12345-0801-01,城东街道,事件,12345热线,2022/8/1 9:00,2022/8/1 9:30,2022/8/2 17:00,"小区门口垃圾堆放,无人清理"',
        "12345-0801-02,城西街道,部件,监督员,2022/8/1 10:00,2022/8/1 10:20,2022/8/1 16:00,路灯不亮",
    ), "utf-8"),
    # Headers no default alias knows: loadable only with a user alias.
    "cases_user_alias.csv": (_lines(
        "流水号,责任网格,性质,发生时间",
        "LS-01,城东街道,事件,2022-08-01 09:00",
        "LS-02,城西街道,部件,2022-08-01 10:00",
    ), "utf-8"),
    # Both 所属区县 and 所属街道 map to unit_id: the finer one (street) must win.
    "cases_two_unit_columns.csv": (_lines(
        "案件编号,所属区县,所属街道,案件类型,上报时间",
        "HL001,海陵区,城东街道,事件,2022-08-01 09:00",
        "HL002,海陵区,城西街道,部件,2022-08-01 10:00",
        "HL003,海陵区,,事件,2022-08-01 11:00",
    ), "utf-8"),
    "cases_title_rows.csv": (_lines(
        "海陵区数字化城市管理案件明细表,,,,",
        "导出时间：2022年9月1日,,,,",
        CASES,
        "HL001,城东街道,事件,2022-08-01 09:00,2022-08-01 12:00",
        "HL002,城西街道,事件,2022-08-01 10:00,2022-07-31 12:00",
        "HL003,城西街道,部件,2022-08-01 11:00,2022-08-01 15:00",
    ), "utf-8"),
    # 合计 written with a full-width space, as Excel-made exports do.
    "cases_total_row.csv": (_lines(
        CASES,
        "HL001,城东街道,事件,2022-08-01 09:00,2022-08-01 12:00",
        "HL002,城西街道,部件,2022-08-01 10:00,2022-08-01 15:00",
        "合　计,2件,,,",
    ), "utf-8"),
    "cases_blank_rows.csv": (_lines(
        CASES,
        "HL001,城东街道,事件,2022-08-01 09:00,2022-08-01 12:00",
        ",,,,",
        "HL002,城西街道,部件,2022-08-01 10:00,2022-08-01 15:00",
        "",
        "HL003,城西街道,事件,2022-08-01 11:00,2022-08-01 16:00",
    ), "utf-8"),
    "cases_duplicate_ids.csv": (_lines(
        CASES,
        "HL001,城东街道,事件,2022-08-01 09:00,2022-08-01 12:00",
        "HL002,城西街道,部件,2022-08-01 10:00,2022-08-01 15:00",
        "HL001,城东街道,事件,2022-08-01 09:00,2022-08-01 12:00",
        "HL002,城东街道,事件,2022-08-03 10:00,2022-08-03 15:00",
        "HL003,城西街道,事件,2022-08-01 11:00,2022-08-01 16:00",
    ), "utf-8"),
    "cases_reversed_times.csv": (_lines(
        "案件编号,所属街道,案件类型,上报时间,派遣时间,处置时间,结案时间",
        "HL001,城东街道,事件,2022-08-01 09:00,2022-08-01 09:30,2022-08-01 15:00,2022-08-01 16:00",
        "HL002,城东街道,事件,2022-08-02 09:00,2022-08-02 09:30,2022-08-02 15:00,2022-08-01 16:00",
        "HL003,城西街道,部件,2022-08-03 09:00,2022-08-03 12:00,2022-08-03 11:00,2022-08-03 13:00",
    ), "utf-8"),
    "cases_excel_serial.csv": (_lines(
        CASES,
        "HL001,城东街道,事件,44774.375,44774.5",
        "HL002,城西街道,部件,44775,44776.75",
        "HL003,城西街道,事件,4477,",
    ), "utf-8"),
    "cases_bad_enum.csv": (_lines(
        "案件编号,所属街道,案件来源,案件类型,上报时间,是否返工",
        "HL001,城东街道,监督员,事件,2022-08-01 09:00,否",
        "HL002,城西街道,公众举报,其它,2022-08-01 10:00,是",
        "HL003,城西街道,微信,部件,2022-08-01 11:00,否",
        "HL004,城东街道,12345热线,事件,2022-08-01 12:00,可能",
    ), "utf-8"),
    # A description with an unquoted comma: one field too many.
    "cases_ragged.csv": (_lines(
        "案件编号,所属街道,案件类型,上报时间,问题描述",
        "HL001,城东街道,事件,2022-08-01 09:00,垃圾未清运",
        "HL002,城西街道,事件,2022-08-01 10:00,占道经营,影响通行",
        "HL003,城西街道,部件,2022-08-01 11:00",
    ), "utf-8"),
    # A quoted description spanning two lines: row numbers are records (what Excel shows).
    "cases_quoted_newline.csv": (_lines(
        "案件编号,所属街道,案件类型,上报时间,问题描述",
        'HL001,城东街道,事件,2022-08-01 09:00,"垃圾未清运\n已联系环卫所"',
        "HL002,城西街道,其它,2022-08-01 10:00,占道经营",
    ), "utf-8"),
    "cases_semicolon.csv": (_lines(
        "案件编号;所属街道;案件类型;上报时间;问题描述",
        "HL001;城东街道;事件;2022-08-01 09:00;垃圾未清运,影响市容",
        "HL002;城西街道;部件;2022-08-01 10:00;井盖缺失,存在隐患",
    ), "utf-8"),
    # Excel's "Unicode text" export: UTF-16 with a BOM, tab-separated.
    "cases_utf16.txt": (_lines(
        "案件编号\t所属街道\t案件类型\t上报时间",
        "HL001\t城东街道\t事件\t2022/8/1 9:00",
        "HL002\t城西街道\t部件\t2022/8/1 10:00",
        newline="\r\n",
    ), "utf-16"),
    "cases_tab.txt": (_lines(
        "案件编号\t所属街道\t案件类型\t上报时间\t结案时间",
        "HL001\t城东街道\t事件\t2022-08-01 09:00\t2022-08-01 12:00",
        "HL002\t城西街道\t部件\t2022-08-01 10:00\t",
    ), "utf-8"),
    # -- values --
    "cases_unknown_unit.csv": (_lines(
        "案件编号,所属街道,案件类型,上报时间",
        "HL001,城东街道,事件,2022-08-01 09:00",
        "HL002,321202002,部件,2022-08-01 10:00",
        "HL003,城南街道,事件,2022-08-01 11:00",
    ), "utf-8"),
    "districts_units.csv": (_lines(
        "单位编号,单位名称,级别,上级编号,区划代码,常住人口,面积(平方公里)",
        '321202,海陵区,区,,321202,"663,000",237.5',
        '321202001,城东街道,街道,321202,321202001,"58,210",12.3',
        '321202002,城西街道,街道,321202,321202002,"61,500",9.8',
    ), "utf-8"),
    # As in the scraped copy of 扎兰屯市's 百日攻坚 plan: the city name replaced by a spam string.
    "districts_spam.csv": (_lines(
        "单位编号,单位名称,级别,上级编号",
        "152183,UedBet体育,市,",
        "152183001,兴华街道,街道,152183",
        "152183400,UedBet体育经济开发区,功能区,152183",
    ), "utf-8"),
    "districts_bad_code.csv": (_lines(
        "单位编号,单位名称,级别,上级编号,区划代码",
        "321202,海陵区,区,,321202",
        "321202001,城东街道,街道,321202,32120200",
        "321202002,城西街道,街道,321202,321202002001",
        "321202003,凤凰街道,街道,321202,32120a003",
    ), "utf-8"),
    "dust_percent.csv": (_lines(
        DUST,
        "DS001,R01,海陵路,城东街道,主干路,机动车道,2022-08-01,3.5",
        "DS002,R01,海陵路,城东街道,主干路,人行道,2022-08-01,5%",
    ), "utf-8"),
    # Aggregated figures from a bulletin: the value is written as a percentage.
    "observations_percent.csv": (_lines(
        "单位名称,unit_id,年度,指标,数值,单位,来源",
        "海陵区,321202,2016-2020,case_disposal_rate,98.83%,%,000_d8b5c9bc115e5d6f.txt",
        "海陵区,321202,2016-2020,case_ontime_disposal_rate,98.02,%,000_d8b5c9bc115e5d6f.txt",
    ), "utf-8"),
    "dust_fullwidth.csv": (_lines(
        DUST,
        "ＤＳ００１,Ｒ０１,海陵路,城东街道,主干路,机动车道,２０２２－０８－０１,３．５",
        "DS002,R01,海陵路,城东街道,主干路,人行道,２０２２年８月２日,１２",
    ), "utf-8"),
    "dust_chinese_dates.csv": (_lines(
        DUST,
        "DS001,R01,海陵路,城东街道,主干路,机动车道,2022年8月1日,3.5",
        "DS002,R01,海陵路,城东街道,主干路,非机动车道,2022/8/2,7.9",
        "DS003,R02,东风路,城西街道,次干路,人行道,20220803,9.1",
        "DS004,R02,东风路,城西街道,次干路,机动车道,2022.8.4,2.0",
        "DS005,R03,鼓楼巷,城西街道,背街小巷,背街小巷,2022年8月5号,10",
    ), "utf-8"),
    "dust_invalid_dates.csv": (_lines(
        DUST,
        "DS001,R01,海陵路,城东街道,主干路,机动车道,2022-02-28,3.5",
        "DS002,R01,海陵路,城东街道,主干路,人行道,2022-02-30,3.5",
        "DS003,R02,东风路,城西街道,次干路,人行道,2022/13/01,4.0",
        "DS004,R02,东风路,城西街道,次干路,机动车道,2022年2月29日,2.0",
        "DS005,R02,东风路,城西街道,次干路,机动车道,下周一,2.0",
    ), "utf-8"),
    "dust_bad_enum.csv": (_lines(
        DUST,
        "DS001,R01,海陵路,城东街道,主干路,机动车道,2022-08-01,3.5",
        "DS002,R01,海陵路,城东街道,主干路,快车道,2022-08-01,3.5",
        "DS003,R02,东风路,城西街道,主干道,人行道,2022-08-01,4.0",
    ), "utf-8"),
    "dust_out_of_range.csv": (_lines(
        DUST,
        "DS001,R01,海陵路,城东街道,主干路,机动车道,2022-08-01,0",
        "DS002,R01,海陵路,城东街道,主干路,人行道,2022-08-01,-1.5",
        "DS003,R02,东风路,城西街道,次干路,人行道,2022-08-01,1500",
    ), "utf-8"),
    # A unit typed into the cell: rejected, the unit belongs in the header.
    "dust_unit_suffix.csv": (_lines(
        DUST,
        "DS001,R01,海陵路,城东街道,主干路,机动车道,2022-08-01,5.2",
        "DS002,R01,海陵路,城东街道,主干路,人行道,2022-08-01,5.2克",
        "DS003,R02,东风路,城西街道,次干路,人行道,2022-08-01,4.0 g/m2",
    ), "utf-8"),
    "assessments_bad.csv": (_lines(
        "所属街道,考核月份,得分,发现问题数,整改问题数",
        "城东街道,2022-08,92.5,12,12",
        "城西街道,2022-08,88,10,12",
        "城东街道,2022年8月,90,3,3",
        "城东街道,2022年9月,101,3,3",
        "城西街道,2022年9月,86.5,4,",
    ), "utf-8"),
    "assessments_months.csv": (_lines(
        "所属街道,考核月份,得分",
        "城东街道,2022-08,92.5",
        "城东街道,2022年9月,90",
        "城东街道,202210,91",
        "城东街道,2022/11,89",
        "城东街道,２０２２年１２月,88",
        "城东街道,2022年13月,88",
    ), "utf-8"),
    "communities_bad_dates.csv": (_lines(
        "小区编号,小区名称,所属街道,城乡类型,户数,分类启动日期,达标日期",
        'C001,凤凰小区,城东街道,城市,"1,234",2021-03-01,2021-09-30',
        "C002,刘庄村,城西街道,农村,３５６,2021-06-01,2021-05-01",
        "C003,梅园小区,城西街道,城市,880,2021-06-01,",
        "C004,东进村,城东街道,乡村,120,,",
    ), "utf-8"),
}

# A renamed old workbook: the loader must refuse it by name, with advice.
XLS_BYTES = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504)


def _garbage() -> bytes:
    rng = random.Random(3)
    return bytes(rng.randrange(256) for _ in range(512))


# ---- Excel ----

FIXED_TIME = datetime(2022, 9, 1, 8, 0, 0)


def _workbook():
    import openpyxl

    wb = openpyxl.Workbook()
    wb.properties.creator = "cityanalytics corpus"
    wb.properties.created = FIXED_TIME
    return wb


def _save_xlsx(wb, path: Path) -> None:
    """Save with fixed zip timestamps and document dates, so the bytes never change."""
    buffer = io.BytesIO()
    wb.save(buffer)
    buffer.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>2022-09-01T08:00:00Z", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(2022, 9, 1, 8, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, data)
    path.write_bytes(out.getvalue())


def _rows(ws, rows, start=1):
    for i, row in enumerate(rows, start=start):
        for j, value in enumerate(row, start=1):
            if value is not None:
                ws.cell(row=i, column=j, value=value)


def xlsx_header_row3(path: Path) -> None:
    """Title and an export line above the header; dates as Excel dates, a serial and text."""
    wb = _workbook()
    ws = wb.active
    ws.title = "案件明细"
    _rows(ws, [
        ["海陵区数字化城市管理案件明细表"],
        ["导出单位：海陵区城市管理局", None, None, "导出时间：2022-09-01"],
        ["案件编号", "所属街道", "案件类型", "上报时间", "结案时间"],
        ["HL001", "城东街道", "事件", datetime(2022, 8, 1, 9, 0), datetime(2022, 8, 1, 12, 0)],
        ["HL002", "城西街道", "部件", 44775.375, "2022年8月2日 17时30分"],
        ["HL003", "城西街道", "其它", datetime(2022, 8, 3, 9, 0), None],
    ])
    ws.merge_cells("A1:E1")
    ws["D5"].number_format = "General"
    _save_xlsx(wb, path)


def xlsx_merged_header(path: Path) -> None:
    """A title row, then a two-row header: 时间 merged over 上报/派遣/处置/结案."""
    wb = _workbook()
    ws = wb.active
    ws.title = "Sheet1"
    _rows(ws, [
        ["2022年8月数字城管案件统计"],
        ["案件编号", "所属街道", "案件类型", "时间"],
        [None, None, None, "上报", "派遣", "处置", "结案"],
        ["HL001", "城东街道", "事件", datetime(2022, 8, 1, 9), datetime(2022, 8, 1, 9, 30),
         datetime(2022, 8, 1, 15), datetime(2022, 8, 1, 16)],
        ["HL002", "城西街道", "部件", datetime(2022, 8, 2, 9), datetime(2022, 8, 2, 9, 30),
         datetime(2022, 8, 2, 8), datetime(2022, 8, 2, 16)],
        ["HL003", "城西街道", "事件", datetime(2022, 8, 3, 9), None, None, None],
    ])
    ws.merge_cells("A1:G1")
    for col in "ABC":
        ws.merge_cells(f"{col}2:{col}3")
    ws.merge_cells("D2:G2")
    _save_xlsx(wb, path)


def xlsx_multi_sheet(path: Path) -> None:
    """A 说明 (notes) sheet first, then two monthly sheets with different column orders."""
    wb = _workbook()
    notes = wb.active
    notes.title = "说明"
    _rows(notes, [
        ["数据说明"],
        ["1. 本表由数字化城市管理信息系统导出，每月一张工作表。"],
        ["2. 时间均为北京时间。"],
        ["字段", "含义"],
        ["案件编号", "系统生成的唯一编号"],
        ["上报时间", "监督员上报或市民来电的时间"],
        ["结案时间", "案件结案归档的时间"],
    ])
    aug = wb.create_sheet("8月")
    _rows(aug, [
        ["案件编号", "所属街道", "案件类型", "上报时间", "结案时间"],
        ["HL0801", "城东街道", "事件", datetime(2022, 8, 1, 9), datetime(2022, 8, 1, 12)],
        ["HL0802", "城西街道", "部件", datetime(2022, 8, 2, 9), datetime(2022, 8, 2, 18)],
    ])
    sep = wb.create_sheet("9月")
    _rows(sep, [
        ["上报时间", "案件编号", "案件类型", "所属街道", "结案时间"],
        [datetime(2022, 9, 1, 9), "HL0901", "事件", "城东街道", datetime(2022, 9, 1, 11)],
        [datetime(2022, 9, 2, 9), "HL0801", "事件", "城东街道", datetime(2022, 9, 2, 10)],
        [datetime(2022, 9, 3, 9), "HL0903", "部件", "城西街道", datetime(2022, 9, 2, 10)],
    ])
    _save_xlsx(wb, path)


def xlsx_notes_only(path: Path) -> None:
    """A workbook whose only sheet is notes: no table to load."""
    wb = _workbook()
    ws = wb.active
    ws.title = "说明"
    _rows(ws, [["数据说明"], ["本月无案件数据。"], ["案件编号", "系统生成的唯一编号"]])
    _save_xlsx(wb, path)


def xlsx_merged_body(path: Path) -> None:
    """Street and road names merged down over the rows they cover."""
    wb = _workbook()
    ws = wb.active
    ws.title = "检测结果"
    _rows(ws, [
        ["样本编号", "所属街道", "道路名称", "道路编号", "车道类型", "检测日期", "尘土残存量(克/平方米)"],
        ["DS001", "城东街道", "海陵路", "R01", "机动车道", datetime(2022, 8, 1), 3.5],
        ["DS002", None, None, "R01", "人行道", datetime(2022, 8, 1), 6.0],
        ["DS003", None, "鼓楼巷", "R03", "背街小巷", datetime(2022, 8, 1), 9.5],
        ["DS004", "城西街道", "东风路", "R02", "机动车道", datetime(2022, 8, 2), 2.5],
        ["DS005", None, None, "R02", "非机动车道", datetime(2022, 8, 2), 7.0],
    ])
    ws.merge_cells("B2:B4")
    ws.merge_cells("C2:C3")
    ws.merge_cells("B5:B6")
    ws.merge_cells("C5:C6")
    _save_xlsx(wb, path)


# ---- Parquet and SQLite ----


def parquet_wrong_dtypes(path: Path) -> None:
    """Ids as integers, times as text, a 0/1 flag as float (NaN forced it), one real timestamp column."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.DataFrame({
        "case_id": pd.Series([1001, 1002, 1003], dtype="int64"),
        "unit_id": ["城东街道", "城西街道", "城西街道"],
        "category": ["事件", "部件", "事件"],
        "reported_at": ["2022-08-01 09:00:00", "2022/8/2 10:00", "2022-08-03 08:00:00"],
        "dispatched_at": pd.to_datetime(["2022-08-01 09:30", "2022-08-02 10:30", None]),
        "closed_at": ["2022-08-01 12:00:00", "2022年8月2日18时", "2022-08-02 08:00:00"],
        "reopened": pd.Series([1.0, 0.0, float("nan")], dtype="float64"),
    })
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, path, compression="NONE")


def sqlite_cases(path: Path) -> None:
    """Table `cases` with canonical columns, and table 工单 as a Chinese system names it."""
    if path.exists():
        path.unlink()
    con = sqlite3.connect(path)
    try:
        con.executescript("""
            CREATE TABLE cases (case_id TEXT, unit_id TEXT, category TEXT, reported_at TEXT, closed_at TEXT);
            INSERT INTO cases VALUES
                ('HL001', '城东街道', '事件', '2022-08-01 09:00:00', '2022-08-01 12:00:00'),
                ('HL002', '城西街道', '部件', '2022-08-02 09:00:00', '2022-08-01 12:00:00'),
                ('HL003', '城西街道', '事件', '2022-08-03 09:00:00', NULL);
            CREATE TABLE 工单 (工单编号 INTEGER, 所属街道 TEXT, 案件类型 TEXT, 受理时间 TEXT, 是否返工 INTEGER);
            INSERT INTO 工单 VALUES
                (20220801, '城东街道', '事件', '2022/8/1 9:00', 0),
                (20220802, '城西街道', '部件', '2022/8/1 10:00', 1),
                (20220803, '城西街道', '事件', '2022年8月1日', NULL),
                (20220804, '城东街道', '其它', '2022/8/1 12:00', 0);
        """)
        con.commit()
    finally:
        con.close()


BINARY_BUILDERS = {
    "cases_header_row3.xlsx": xlsx_header_row3,
    "cases_merged_header.xlsx": xlsx_merged_header,
    "cases_multi_sheet.xlsx": xlsx_multi_sheet,
    "cases_notes_only.xlsx": xlsx_notes_only,
    "dust_merged_body.xlsx": xlsx_merged_body,
    "cases_wrong_dtypes.parquet": parquet_wrong_dtypes,
    "cases.sqlite": sqlite_cases,
}


# ---- hostile and careless files (issue 12: readers) ----

TEXT_FILES.update({
    # An unclosed quote: 5 records written, the parser sees 3; the row that swallowed two is rejected.
    "cases_unclosed_quote.csv": (_lines(
        "案件编号,所属街道,案件类型,上报时间,问题描述",
        "HL001,城东街道,事件,2022-08-01 09:00,垃圾未清运",
        'HL002,城西街道,事件,2022-08-01 10:00,"占道经营',
        "HL003,城西街道,部件,2022-08-01 11:00,井盖破损",
        'HL004,城东街道,事件,2022-08-01 12:00,"乱堆物料"',
        "HL005,城东街道,事件,2022-08-01 13:00,路面破损",
    ), "utf-8"),
    # Old Mac "CSV (Macintosh)": lines end with CR alone.
    "cases_cr_only.csv": (_lines(
        CASES,
        "HL001,城东街道,事件,2022-08-01 09:00,2022-08-01 12:00",
        "HL002,城西街道,部件,2022-08-01 10:00,2022-08-01 15:00",
        newline="\r",
    ), "utf-8"),
    # UTF-16 (little-endian) saved without a byte-order mark.
    "cases_utf16_nobom.txt": (_lines(
        "案件编号\t所属街道\t案件类型\t上报时间",
        "HL001\t城东街道\t事件\t2022/8/1 9:00",
        "HL002\t城西街道\t部件\t2022/8/1 10:00",
        newline="\r\n",
    ), "utf-16-le"),
    # One description longer than 131,072 characters (csv.field_size_limit): a clear error.
    "cases_oversized_field.csv": (_lines(
        CASES + ",问题描述",
        "HL001,城东街道,事件,2022-08-01 09:00,2022-08-01 12:00," + "x" * 140_000,
    ), "utf-8"),
})


def xlsx_stray_cell(path: Path) -> None:
    """A small table and one stray cell at XFD1048576 (the last cell of a sheet): 17 billion cells as a grid."""
    wb = _workbook()
    ws = wb.active
    ws.title = "案件"
    _rows(ws, [["案件编号", "所属街道", "案件类型", "上报时间"], ["HL001", "城东街道", "事件", datetime(2022, 8, 1, 9)]])
    ws["XFD1048576"] = "x"
    _save_xlsx(wb, path)


def xlsx_zip_bomb(path: Path) -> None:
    """A valid workbook whose sheet XML carries 16 MiB of blanks: a ~16 kB file inflating about 1000-fold."""
    xlsx_stray_cell(path)
    buffer = io.BytesIO(path.read_bytes())
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<sheetData>", b"<sheetData>" + b" " * (16 << 20))
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(2022, 9, 1, 8, 0, 0)), data,
                         compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    path.write_bytes(out.getvalue())


def xlsx_hidden_sheet(path: Path) -> None:
    """A visible monthly sheet and a hidden sheet of old rows nobody sees when opening the file."""
    wb = _workbook()
    ws = wb.active
    ws.title = "8月"
    _rows(ws, [["案件编号", "所属街道", "案件类型", "上报时间"],
               ["HL0801", "城东街道", "事件", datetime(2022, 8, 1, 9)],
               ["HL0802", "城西街道", "部件", datetime(2022, 8, 2, 9)]])
    old = wb.create_sheet("旧数据")
    _rows(old, [["案件编号", "所属街道", "案件类型", "上报时间"], ["HL0001", "城东街道", "事件", datetime(2021, 1, 1, 9)]])
    old.sheet_state = "hidden"
    _save_xlsx(wb, path)


def xlsx_uncached_formula(path: Path) -> None:
    """A category computed by a formula, saved by a program that does not calculate (no cached value)."""
    wb = _workbook()
    ws = wb.active
    ws.title = "案件"
    _rows(ws, [["案件编号", "所属街道", "案件类型", "上报时间"],
               ["HL001", "城东街道", "事件", datetime(2022, 8, 1, 9)],
               ["HL002", "城西街道", '=IF(B3="","","部件")', datetime(2022, 8, 2, 9)]])
    _save_xlsx(wb, path)


def xlsx_numeric_ids(path: Path) -> None:
    """Case ids typed as numbers: a 12-digit integer, a float 1001.0, and an 18-digit id Excel kept as a double."""
    wb = _workbook()
    ws = wb.active
    ws.title = "案件"
    _rows(ws, [["案件编号", "所属街道", "案件类型", "上报时间"],
               [202208010001, "城东街道", "事件", datetime(2022, 8, 1, 9)],
               [1001.0, "城西街道", "部件", datetime(2022, 8, 2, 9)],
               [320123456789012345, "城西街道", "事件", datetime(2022, 8, 3, 9)]])
    _save_xlsx(wb, path)
    buffer = io.BytesIO(path.read_bytes())
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":  # as Excel writes a double
                data = re.sub(rb"<v>3\.20123[0-9eE+.]+</v>", b"<v>3.2012345678901197E+17</v>", data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(2022, 9, 1, 8, 0, 0)), data,
                         compress_type=zipfile.ZIP_DEFLATED)
    path.write_bytes(out.getvalue())


BINARY_BUILDERS.update({
    "cases_stray_cell.xlsx": xlsx_stray_cell,
    "cases_zip_bomb.xlsx": xlsx_zip_bomb,
    "cases_hidden_sheet.xlsx": xlsx_hidden_sheet,
    "cases_uncached_formula.xlsx": xlsx_uncached_formula,
    "cases_numeric_ids.xlsx": xlsx_numeric_ids,
})


# ---- values (issues 11/12: parsing, vocabularies, names, shares) ----

TEXT_FILES.update({
    # "3,5" g/m2 was read as 35.0: a comma is only a valid thousands grouping; 1,234 is one (and
    # above the 1000 g/m2 limit); 12,34 is not.
    "dust_decimal_comma.csv": (_lines(
        "样本编号,道路编号,所属街道,车道类型,检测日期,尘土残存量(克/平方米)",
        'S1,R1,城东街道,机动车道,2022-08-01,"3,5"',
        "S2,R1,城东街道,机动车道,2022-08-01,12.5",
        'S3,R1,城东街道,机动车道,2022-08-01,"1,234"',
        'S4,R1,城东街道,机动车道,2022-08-01,"12,34"',
    ), "utf-8"),
    # 1e20 households overflowed to a negative number before the range check.
    "communities_huge_counts.csv": (_lines(
        "小区编号,所属街道,城乡类型,户数",
        "C001,城东街道,城市,1e20",
        "C002,城东街道,城市,880",
    ), "utf-8"),
    # An 18-digit id, free text with circled/full-width characters, "null" and "-" as descriptions,
    # a bare 20000 and a 9999-12-31 placeholder in the date column.
    "cases_values_text_dates.csv": (_lines(
        "案件编号,所属街道,案件类型,上报时间,问题描述",
        "320123456789012345,城东街道,事件,2022-08-01 09:00,①号楼 ２０㎡",
        "HL002,城东街道,事件,2022-08-01 10:00,null",
        "HL003,城东街道,事件,2022-08-01 11:00,-",
        "HL004,城东街道,事件,20000,路面破损",
        "HL005,城东街道,事件,9999-12-31,井盖缺失",
    ), "utf-8"),
    # US 311 style times, read with an explicit format; one row in another spelling.
    "cases_us311_dates.csv": (_lines(
        "case_enquiry_id,neighborhood,type,open_dt",
        "101,Back Bay,事件,01/02/2019 01:05:09 PM",
        "102,Back Bay,事件,12/31/2019 12:00:00 AM",
        "103,Back Bay,事件,2019-01-02 13:05:09",
    ), "utf-8"),
    # A GBK export whose 问题来源 says 监督员上报 and 12345: every row was lost to an optional label.
    "cases_gbk_source_labels.csv": (_lines(
        "案件编号,所属街道,问题来源,案件类型,上报时间",
        "HL001,城东街道,监督员上报,部件,2022-08-01 09:00",
        "HL002,城东街道,监督员上报,事件,2022-08-01 10:00",
        "HL003,城东街道,12345,事件,2022-08-01 11:00",
        "HL004,城东街道,微信小程序,事件,2022-08-01 12:00",
    ), "gbk"),
    # Unit names in any script (Latin, masked A1区), one hostile and one spam-mixed name.
    "districts_any_script.csv": (_lines(
        "unit_id,name_zh,level",
        "u1,Back Bay,区",
        "u2,A1区,区",
        "u3,<b>x</b>,区",
        "u4,UedBet体育,市",
    ), "utf-8"),
    # Shares on the wrong scale: 150%, -5%, and 0.9883 beside 98.83.
    "observations_share_scale.csv": (_lines(
        "unit_id,period,indicator,value,unit,source",
        "A,2022,closure_rate,98.83%,%,bulletin",
        "B,2022,closure_rate,0.9883,%,bulletin",
        "C,2022,closure_rate,150%,%,bulletin",
        "D,2022,closure_rate,-5%,%,bulletin",
    ), "utf-8"),
})


def build(outdir: Path = HERE) -> list[str]:
    """Write every corpus file into ``outdir``; returns their names."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (text, encoding) in TEXT_FILES.items():
        (outdir / name).write_bytes(text.encode(encoding))
        written.append(name)
    (outdir / "cases_empty.csv").write_bytes(b"")
    (outdir / "cases_garbage.csv").write_bytes(_garbage())
    (outdir / "cases_old.xls").write_bytes(XLS_BYTES)
    written += ["cases_empty.csv", "cases_garbage.csv", "cases_old.xls"]
    for name, builder in BINARY_BUILDERS.items():
        builder(outdir / name)
        written.append(name)
    return sorted(written)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    names = build(target)
    print(f"wrote {len(names)} corpus files to {target}")
