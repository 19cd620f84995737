"""Issue 11, the loader part of "a bureau's own exports": rows without a unit are kept and
counted, and a GBK export keeps every case whatever its optional labels say."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
