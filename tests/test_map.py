"""`cityanalytics map`: a draft recipe block for exports the alias table has never seen."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import yaml

from cityanalytics.cli import main
from cityanalytics.workspace.draft import divisions, make_draft, month_glob, propose_units, render

T0 = dt.datetime(2022, 1, 3, 8, 0, 0)
HOODS = ["Roxbury", "Dorchester", "South End", "Back Bay", "Allston"]
TYPES = ["Pothole", "Street Light Out", "Graffiti", "Missed Trash"]
ADDRESSES = ["泰州市海陵区城东街道凤凰路18号", "泰州市海陵区城西街道鼓楼路3号", "泰州市高港区口岸街道扬州路",
             "泰州市姜堰区三水街道人民路9号"]


@pytest.fixture
def us_export(tmp_path):
    """A US 311-style CSV: English headers, MM/DD/YYYY hh:mm:ss AM dates, a status column."""
    lines = ["Case Number,Date Opened,Date Closed,Status,Request Type,Neighborhood,Details,Channel"]
    for i in range(40):
        opened = T0 + dt.timedelta(hours=13 * i, minutes=7 * i)
        closed = opened + dt.timedelta(hours=30) if i % 5 else None
        fmt = (lambda d: d.strftime("%m/%d/%Y %I:%M:%S %p") if d else "")
        lines.append(f"{101004100000 + i},{fmt(opened)},{fmt(closed)},{'Closed' if closed else 'Open'},"
                     f"{TYPES[i % 4]},{HOODS[i % 5]},\"pothole report {i}, near {HOODS[i % 5]}\","
                     f"{'Citizens Connect App' if i % 2 else 'Constituent Call'}")
    path = tmp_path / "us311.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def gbk_export(tmp_path):
    """A GBK hotline export: a title row, headers no alias names, the unit only inside an address, a 合计 row."""
    rows = ["示范市(虚构)12345热线工单导出", "工单流水号,诉求时间,办毕时间,诉求渠道,诉求类型,事发地址,办理状态"]
    for i in range(30):
        t = T0 + dt.timedelta(hours=7 * i)
        rows.append(f"GD{20220103000 + i},{t:%Y年%m月%d日 %H:%M},{t + dt.timedelta(days=2):%Y-%m-%d %H:%M:%S},"
                    f"12345热线,{['道路破损', '占道经营', '噪声扰民'][i % 3]},{ADDRESSES[i % 4]},已办结")
    rows.append("合计,30件,,,,,")
    path = tmp_path / "热线工单.csv"
    path.write_bytes("\n".join(rows).encode("gbk"))
    return path


def _block(text: str) -> dict:
    parsed = yaml.safe_load(text)
    assert list(parsed) == ["cases"]
    return parsed["cases"]


def test_us_export_english_headers_and_am_pm_dates(us_export):
    draft = make_draft(us_export, "cases")
    chosen = {c: g.header for c, g in draft.chosen.items()}
    assert chosen["case_id"] == "Case Number"
    assert chosen["reported_at"] == "Date Opened"
    assert chosen["closed_at"] == "Date Closed"
    assert chosen["unit_id"] == "Neighborhood"
    assert chosen["subcategory"] == "Request Type"
    assert chosen["source"] == "Channel"
    assert chosen["description"] == "Details"
    text = render(draft)
    block = _block(text)
    assert block["files"] == [str(us_export)]
    assert block["aliases"]["reported_at"] == ["Date Opened"]
    assert block["aliases"]["case_id"] == ["Case Number"]
    assert block["date_formats"] == {"reported_at": "%m/%d/%Y %I:%M:%S %p", "closed_at": "%m/%d/%Y %I:%M:%S %p"}
    # category has no column: a lookup of the request types is proposed, and marked a guess
    assert block["derive"]["category"] == {"column": "Request Type", "lookup": {
        "Pothole": "事件", "Street Light Out": "部件", "Graffiti": "事件", "Missed Trash": "事件"}}
    # closure counted only where the status says so: 32 of 40 rows are Closed
    assert block["derive"]["closed_at"] == {"column": "Date Closed", "when": {"column": "Status", "in": ["Closed"]}}
    assert "Closed (32), Open (8)" in text
    for line in text.splitlines():
        if line.startswith("    ") and ":" in line and "#" in line:
            assert "# guess:" in line, line  # every proposal says it is a guess, with its evidence
    assert "category: NOT MATCHED (derive above)" in text
    assert "month first: the second field reaches" in text


def test_gbk_export_unseen_headers_and_units_with_real_codes(gbk_export):
    draft = make_draft(gbk_export, "cases")
    chosen = {c: g.header for c, g in draft.chosen.items()}
    assert chosen == {"case_id": "工单流水号", "reported_at": "诉求时间", "closed_at": "办毕时间",
                      "source": "诉求渠道", "subcategory": "诉求类型"}
    assert any("title row" in h for h in draft.how_read)
    assert any("合计" in h for h in draft.how_read)
    text = render(draft)
    block = _block(text)
    assert block["encoding"] in ("gb18030", "gbk")
    assert "date_formats" not in block  # 2022年01月03日 08:00 and ISO are read without a format
    unit = block["derive"]["unit_id"]
    assert unit["column"] == "事发地址"
    got = pd.Series(ADDRESSES).str.extract(unit["pattern"])[0].tolist()
    assert got == ["城东街道", "城西街道", "口岸街道", "三水街道"]
    assert block["derive"]["category"]["lookup"] == {"道路破损": "部件", "占道经营": "事件", "噪声扰民": "事件"}
    assert "unit_id: NOT MATCHED (derive above)" in text
    units = draft.units.set_index("name_zh")
    assert units.loc["海陵区", "division_code"] == "321202"
    assert units.loc["高港区", "division_code"] == "321203"
    assert units.loc["姜堰区", "division_code"] == "321204"
    assert units.loc["城东街道", "parent_id"] == "321202" and units.loc["口岸街道", "parent_id"] == "321203"
    assert units.loc["城东街道", "division_code"] == ""
    assert units.loc["城东街道", "level"] == "街道" and units.loc["海陵区", "level"] == "区"
    assert all(units["note"].str.len() > 0)


def test_unmatched_required_columns_are_listed(tmp_path):
    path = tmp_path / "bare.csv"
    path.write_text("留言内容,回复内容\n路灯坏了,已修复\n垃圾没人收,已处理\n", encoding="utf-8")
    draft = make_draft(path, "cases")
    text = render(draft)
    for column in ("case_id", "unit_id", "category", "reported_at"):
        assert f"#   {column}: NOT MATCHED" in text
    assert "no column holds dates" in text
    assert "no column holds place names or addresses" in text


def test_namesakes_are_never_picked_silently():
    table = divisions()
    assert len(table) == 3210 and table["code"].is_unique
    assert (table.loc[table["name"] == "海陵区", "code"] == "321202").all()
    # 朝阳区 is in Beijing and in Changchun: alone it gets no code ...
    alone = propose_units(["朝阳区"]).set_index("name_zh")
    assert alone.loc["朝阳区", "division_code"] == ""
    assert "110105" in alone.loc["朝阳区", "note"] and "220104" in alone.loc["朝阳区", "note"]
    # ... beside 海淀区 (Beijing only) the Beijing one is taken, and said to be a guess.
    both = propose_units(["朝阳区", "海淀区"]).set_index("name_zh")
    assert both.loc["朝阳区", "division_code"] == "110105"
    assert both.loc["朝阳区", "note"].find("guess: division_code 110105") >= 0


def test_cli_writes_draft_and_units(tmp_path, gbk_export, capsys):
    out = tmp_path / "drafts" / "hotline.cases.yaml"
    assert main(["map", str(gbk_export), "--table", "cases", "--out", str(out)]) == 0
    block = _block(out.read_text(encoding="utf-8"))
    assert block["aliases"]["case_id"] == ["工单流水号"]
    units = pd.read_csv(tmp_path / "drafts" / "hotline.units.csv", dtype=str, keep_default_na=False)
    assert dict(zip(units["name_zh"], units["division_code"]))["海陵区"] == "321202"
    assert main(["map", str(tmp_path / "missing.csv")]) == 2
    assert "file not found" in capsys.readouterr().out


def test_workspace_recipe_and_units_are_evidence(tmp_path, gbk_export):
    """With --workspace: the recipe's aliases count as the alias table, units.csv names as places,
    and the draft lands in DIR/drafts/ with the export's path relative to the workspace."""
    ws = tmp_path / "ws"
    (ws / "exports").mkdir(parents=True)
    export = ws / "exports" / gbk_export.name
    export.write_bytes(gbk_export.read_bytes())
    (ws / "sources.yaml").write_text("name: 测试\ntables:\n  cases:\n    files: [exports/*.csv]\n"
                                     "    aliases: {case_id: [工单流水号]}\n", encoding="utf-8")
    assert main(["map", str(export), "--workspace", str(ws)]) == 0
    text = (ws / "drafts" / "热线工单.cases.yaml").read_text(encoding="utf-8")
    block = _block(text)
    assert block["files"] == ["exports/热线工单.csv"]
    assert "case_id" not in block["aliases"]  # already in the recipe: nothing to add
    assert "工单流水号 -> case_id" in text
    assert (ws / "drafts" / "热线工单.units.csv").is_file()


def test_message_board_workbook_with_masked_names(tmp_path):
    """An Excel message board (留言编号/留言时间/答复时间, a merged title row, masked district names)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["某市网络问政平台群众留言(示例)"])
    ws.merge_cells("A1:G1")
    ws.append(["留言编号", "留言用户", "留言主题", "留言时间", "留言详情", "答复时间", "地区"])
    for i in range(25):
        t = dt.datetime(2019, 1, 5, 9, 0) + dt.timedelta(hours=17 * i)
        ws.append([f"{188000 + i}", f"A{1000 + i}", f"关于第{i}号小区的问题", t,
                   f"小区垃圾多日没有清运,影响居民生活,请尽快处理({i})", t + dt.timedelta(days=11),
                   ["A1区", "A2区", "A3区", "A7县"][i % 4]])
    path = tmp_path / "board.xlsx"
    wb.save(path)
    draft = make_draft(path, "cases")
    chosen = {c: g.header for c, g in draft.chosen.items()}
    assert chosen == {"case_id": "留言编号", "reported_at": "留言时间", "disposed_at": "答复时间",
                      "unit_id": "地区", "description": "留言详情"}
    block = _block(render(draft))
    assert block["constants"] == {"category": "事件"}
    units = draft.units.set_index("name_zh")
    assert list(units.index) == ["A1区", "A2区", "A3区", "A7县"]
    assert units.loc["A7县", "level"] == "县" and units.loc["A1区", "division_code"] == ""
    assert "masked or romanised" in units.loc["A1区", "note"]


def test_month_in_file_name_becomes_a_wildcard():
    assert month_glob("exports/案件明细_2019年04月.csv") == "exports/案件明细_*.csv"
    assert month_glob("exports/cases-2024-06.xlsx") == "exports/cases-*.xlsx"
    assert month_glob("x/311_20240630.csv") == "x/311_*.csv"
    assert month_glob("exports/热线工单.csv") is None
    assert month_glob("exports/boston311-100.csv") is None


def test_real_boston_export_draft_agrees_with_its_edited_recipe():
    """On the shipped Boston 311 extract (a real export) the draft proposes what its hand-edited
    recipe (tests/data/boston311/sources.yaml) says, column for column."""
    from pathlib import Path

    data = Path(__file__).parent / "data" / "boston311"
    recipe = yaml.safe_load((data / "sources.yaml").read_text(encoding="utf-8"))["tables"]["cases"]
    draft = make_draft(data / "boston311-100.csv", "cases")
    chosen = {c: [g.header] for c, g in draft.chosen.items()}
    for column, headers in recipe["aliases"].items():
        assert chosen[column] == headers, column
    assert "category" not in chosen and {c: v for c, (v, _) in draft.constants.items()} == {}
    rule, why = draft.derive["closed_at"]
    assert rule == recipe["derive"]["closed_at"] and "Closed (85), Open (15)" in why
    # a few request types name components (Street Light Outages, Sign Repair): a lookup, not the
    # recipe's constant, is offered for category, and said to be a guess to check
    lookup, why = draft.derive["category"]
    assert lookup["column"] == "type" and lookup["lookup"]["Street Light Outages"] == "部件" and "guess" in why
