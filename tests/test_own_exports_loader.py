"""Issue 11, the loader part of "a bureau's own exports": rows without a unit are kept and
counted, and a GBK export keeps every case whatever its optional labels say."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cityanalytics import schemas
from cityanalytics.io import load


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_cases_without_a_unit_are_kept_and_counted(tmp_path):
    text = ("案件编号,所属街道,案件类型,上报时间\n"
            "A1,城东街道,事件,2022-08-01 09:00\nA2,,事件,2022-08-01 10:00\n"
            "A3,-,部件,2022-08-01 11:00\nA4,城西街道,事件,2022-08-01 12:00\n")
    frame, report = load(write(tmp_path / "c.csv", text), "cases")
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (4, 4, 0)
    assert frame["unit_id"].isna().tolist() == [False, True, True, False]
    assert "2 row(s) without a unit, kept; they count in the city total and show as 未归属单位" \
        in "\n".join(report.notes)


def test_unit_without_a_districts_match_still_rejected_and_empty_unit_kept(tmp_path):
    units = pd.DataFrame({"unit_id": ["U1"], "name_zh": ["城东街道"], "level": ["街道"]})
    text = "案件编号,所属街道,案件类型,上报时间\nA1,城东街道,事件,2022-08-01 09:00\nA2,城南街道,事件,2022-08-01 10:00\nA3,,事件,2022-08-01 11:00\n"
    frame, report = load(write(tmp_path / "c.csv", text), "cases", units=units)
    assert frame["case_id"].tolist() == ["A1", "A3"]
    assert frame["unit_id"].tolist()[0] == "U1" and pd.isna(frame["unit_id"].iat[1])
    assert report.rejections[["row", "column"]].values.tolist() == [[3, "unit_id"]]


def test_tables_keyed_by_unit_still_require_it(tmp_path):
    # observations are keyed by unit_id + period + indicator: an empty unit is still rejected.
    assert "unit_id" in schemas.table("observations").key
    text = "unit_id,period,indicator,value,source\n,2022,x,1.5,s\nA,2022,x,2.5,s\n"
    frame, report = load(write(tmp_path / "o.csv", text), "observations")
    assert frame["unit_id"].tolist() == ["A"]
    assert report.rejections[["row", "column", "reason"]].values.tolist() == [[2, "unit_id", "required value is empty"]]


def test_gbk_export_with_optional_labels_loses_no_case(tmp_path):
    rows = ["案件编号,所属街道,问题来源,案件类型,上报时间,问题描述"]
    rows += [f"K{i:02d},城东街道,监督员上报,事件,2022-08-01 09:00,null" for i in range(31)]
    rows += ["K31,城东街道,12345,部件,2022-08-01 10:00,①号楼", "K32,城东街道,领导批示,事件,2022-08-01 11:00,-"]
    frame, report = load(write(tmp_path / "gbk.csv", "\n".join(rows) + "\n", encoding="gbk"), "cases")
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (33, 33, 0)
    assert frame["source"].value_counts().to_dict() == {"监督员": 31, "12345热线": 1, "领导批示": 1}
    assert frame["description"].tolist()[-2:] == ["①号楼", "-"]
    assert any("问题来源: 1 label(s) not in the vocabulary of source" in n and "领导批示 ×1" in n
               for n in report.notes), report.notes


# ---- the Boston 311 extract as it comes: English headers, Latin unit names, a row without a
# neighbourhood, source labels outside the vocabulary; expected figures counted with csv ----

BOSTON = Path(__file__).parent / "data" / "boston311"
US_FORMAT = "%m/%d/%Y %I:%M:%S %p"


def raw_rows() -> list[dict[str, str]]:
    with open(BOSTON / "boston311-100.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def recipe_options() -> dict:
    cases = yaml.safe_load((BOSTON / "sources.yaml").read_text(encoding="utf-8"))["tables"]["cases"]
    return {"aliases": {"cases": cases["aliases"]}, "constants": cases["constants"], "derive": cases["derive"]}


def units() -> pd.DataFrame:
    frame, report = load(BOSTON / "units.csv", "districts")
    assert report.ok, report.rejections
    return frame


def test_boston_units_in_latin_script_load_whole():
    frame = units()
    assert len(frame) == 19
    assert frame.set_index("unit_id").loc["BOS-01", "name_zh"] == "Allston / Brighton"


def test_boston_extract_keeps_every_row_and_counts_the_one_without_a_unit():
    rows = raw_rows()
    frame, report = load(BOSTON / "boston311-100.csv", "cases", units=units(), **recipe_options())
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (100, 100, 0)

    # Cases per unit, counted from the raw neighbourhood names through units.csv.
    id_by_name = dict(zip(units()["name_zh"], units()["unit_id"]))
    expected = Counter(id_by_name[r["neighborhood"].strip()] for r in rows if r["neighborhood"].strip())
    assert frame["unit_id"].value_counts().to_dict() == dict(expected)
    assert int(frame["unit_id"].isna().sum()) == 1 == sum(1 for r in rows if not r["neighborhood"].strip())
    assert "1 row(s) without a unit, kept; they count in the city total and show as 未归属单位" in report.notes

    # Closure only where case_status says Closed (derive), and source labels kept as given, counted.
    assert int(frame["closed_at"].notna().sum()) == sum(r["case_status"] == "Closed" for r in rows) == 85
    sources = Counter(r["source"] for r in rows)
    assert frame["source"].value_counts().to_dict() == dict(sources)
    note = next(n for n in report.notes if "not in the vocabulary of source" in n)
    assert "Citizens Connect App ×56" in note and "Self Service ×3" in note


def test_boston_extract_with_us_dates_reads_the_same_times(tmp_path):
    rows = raw_rows()
    for r in rows:
        r["open_dt"] = datetime.fromisoformat(r["open_dt"]).strftime(US_FORMAT)
    rows[4]["open_dt"] = "2022-01-05 10:00:00"  # one row in another format: rejected, named
    us = tmp_path / "boston311-us.csv"
    with open(us, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    frame, report = load(us, "cases", date_formats={"reported_at": US_FORMAT}, **recipe_options())
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (100, 99, 1)
    bad = report.rejections.iloc[0]
    assert (bad["row"], bad["column"], bad["reason"]) == (6, "reported_at",
                                                          f"does not match the date format {US_FORMAT!r}")
    original, _ = load(BOSTON / "boston311-100.csv", "cases", **recipe_options())
    same = original[original["case_id"] != original.loc[4, "case_id"]].reset_index(drop=True)
    assert frame["reported_at"].tolist() == same["reported_at"].tolist()
    assert frame.loc[0, "reported_at"] == pd.Timestamp(raw_rows()[0]["open_dt"])


def _boston_workspace(tmp_path, rows):
    """A workspace with the Boston recipe and units, and ``rows`` as its one export."""
    from cityanalytics.cli import main

    ws = tmp_path / "bws"
    assert main(["init", str(ws)]) == 0
    for name in ("units.csv", "sources.yaml"):
        (ws / name).write_bytes((BOSTON / name).read_bytes())
    (ws / "exports").mkdir(exist_ok=True)
    with open(ws / "exports" / "boston311-100.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return ws


def test_workspace_build_rejections_csv_cannot_run_as_formulas(tmp_path):
    from cityanalytics.cli import main

    rows = raw_rows()
    rows[0]["open_dt"] = '=HYPERLINK("http://evil.example","x")'
    ws = _boston_workspace(tmp_path, rows)
    assert main(["build", str(ws)]) == 1
    cells = pd.read_csv(ws / "tables" / "cases.rejections.csv", encoding="utf-8-sig", dtype=str,
                        keep_default_na=False)
    assert cells[["row", "column"]].values.tolist() == [["2", "reported_at"]]
    assert cells.loc[0, "value"] == "'=HYPERLINK(\"http://evil.example\",\"x\")"


def test_workspace_load_report_counts_rejections_with_an_empty_value(tmp_path):
    from cityanalytics.cli import main

    rows = raw_rows()
    rows[0]["open_dt"] = rows[1]["open_dt"] = ""  # required and empty: value is missing in the rejection
    ws = _boston_workspace(tmp_path, rows)
    assert main(["build", str(ws)]) == 1
    report = (ws / "tables" / "load_report.md").read_text(encoding="utf-8")
    assert "| 2 | reported_at | 必填值为空 / required value is empty |" in report


def test_communities_without_a_unit_count_in_the_city_total(tmp_path):
    from cityanalytics.indicators.sorting import sorting_indicators

    text = ("小区编号,所属街道,城乡类型,户数,分类启动日期,达标日期\n"
            "C1,U1,城市,10,2022-01-01,2022-03-01\nC2,,农村,30,2022-01-01,\nC3,U1,城市,60,,\n")
    frame, report = load(write(tmp_path / "c.csv", text), "communities")
    assert report.ok and "1 row(s) without a unit, kept; they count in the city total and show as 未归属单位" \
        in report.notes
    out = sorting_indicators(frame, freq="all")
    hh = out[(out["indicator"] == "sorting_coverage_households") & (out["group"] == "")].set_index("unit_id")
    assert hh.loc["U1", "value"] == pytest.approx(100 * 10 / 70)  # U1: 10 of 70 households covered
    assert hh.loc["city", "value"] == pytest.approx(100 * 40 / 100)  # city: 10 + 30 of 100
