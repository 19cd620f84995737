"""The demo city as a bureau would send it: raw exports, the workspace's recipe, and the round trip
canonical tables -> raw exports -> loaded through the recipe -> the same canonical tables."""

from __future__ import annotations

import glob
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from cityanalytics.demo import generate, write_demo
from cityanalytics.demo.exports import CATEGORY_OF_SUBCATEGORY, DUST_ADDRESS_PATTERN, write_exports

N_CASES = 3_000
MONTHS = 78  # 2019-01 .. 2025-06
KEYS = {"districts": ["unit_id"], "unit_changes": ["old_unit_id", "new_unit_id"], "cases": ["case_id"],
        "dust_samples": ["sample_id"], "communities": ["community_id"], "assessments": ["unit_id", "period"],
        "campaigns": ["campaign_id", "unit_id", "phase"], "observations": ["unit_id", "period", "indicator"],
        "assets": ["asset_id"], "inspections": ["asset_id", "inspected_at"],
        "survey_responses": ["wave", "respondent", "question"]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_exports")
    write_demo(root / "canonical", n_cases=N_CASES)
    files = write_exports(root / "canonical", root / "ws")
    return root / "ws", files, generate(n_cases=N_CASES)


@pytest.fixture(scope="module")
def built(demo):
    """`cityanalytics build` on the demo workspace: the recipe's exports back to canonical tables."""
    from cityanalytics.workspace.build import build, write

    ws, _, _ = demo
    result = build(ws)
    write(result)
    return {t.name: t for t in result.tables}


def _recipe(ws: Path) -> dict:
    return yaml.safe_load((ws / "sources.yaml").read_text(encoding="utf-8"))


def _files(ws: Path, spec: dict) -> list[str]:
    return sorted(f for pattern in spec["files"] for f in glob.glob(str(ws / pattern)))


# ---- what the exports look like ----------------------------------------------------------------


def test_cases_are_monthly_gbk_csv_with_titles_total_and_names(demo):
    ws, files, expected = demo
    cases = files["cases"]
    assert len(cases) == MONTHS
    assert [p.suffix for p in cases] == [".csv"] * (MONTHS - 1) + [".xlsx"]
    assert cases[0].name == "案件明细_2019年01月.csv" and cases[-1].name == "案件明细_2025年06月.xlsx"
    raw = cases[5].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    lines = raw.decode("gbk").splitlines()
    assert lines[0] == "示范市(虚构)数字化城市管理案件明细表(2019年06月)"
    assert "合成演示数据,非真实城市" in lines[1]
    header = lines[2].split(",")
    assert header[:3] == ["序号", "案件编号", "问题来源"] and "所属街道" in header and "大类" in header
    assert "category" not in header and "案件类型" not in header  # 部件/事件 must come from the recipe
    assert lines[-1].startswith("合计,共") and lines[-1].endswith(",")
    body = pd.read_csv(cases[5], encoding="gbk", skiprows=2, dtype=str, keep_default_na=False).iloc[:-1]
    june = expected["cases"][expected["cases"]["reported_at"].dt.strftime("%Y-%m") == "2019-06"]
    assert len(body) == len(june) and lines[-1] == f"合计,共{len(june)}件" + "," * (len(header) - 2)
    names = set(expected["districts"]["name_zh"])
    assert set(body["所属街道"]) <= names and not body["所属街道"].str.match(r"^\d").any()
    assert set(body["所属区"]) <= names


def test_excel_exports_have_merged_titles_and_total_rows(demo):
    ws, files, expected = demo
    wb = openpyxl.load_workbook(files["dust_samples"][0])
    sheet = wb["检测结果"]
    assert sheet["A1"].value.startswith("示范市(虚构)") and "合成演示数据" in sheet["A2"].value
    assert "A1:J1" in {str(r) for r in sheet.merged_cells.ranges}
    assert [c.value for c in sheet[3]][:3] == ["序号", "样本编号", "道路编号"]
    assert "点位地址" in [c.value for c in sheet[3]] and "所属街道" not in [c.value for c in sheet[3]]
    assert sheet.cell(sheet.max_row, 1).value == "合计"
    communities = openpyxl.load_workbook(files["communities"][0])
    assert communities.sheetnames == ["澄湖区", "栖云区", "示范经济技术开发区"]
    for name in communities.sheetnames:
        last = communities[name].cell(communities[name].max_row, 1).value
        assert last == "合计"
    total = sum(communities[n].cell(communities[n].max_row, 6).value for n in communities.sheetnames)
    assert total == int(expected["communities"]["households"].sum())
    big = openpyxl.load_workbook(files["cases"][-1], read_only=True)
    rows = list(big["案件明细"].iter_rows(values_only=True))
    assert rows[0][0].startswith("示范市(虚构)") and rows[-1][0] == "合计"


def test_recipe_maps_every_export_and_says_synthetic(demo):
    ws, files, expected = demo
    recipe = _recipe(ws)
    assert recipe["synthetic"] is True and recipe["name"] == "示范市"
    assert "合成演示数据" in recipe["source"]
    tables = recipe["tables"]
    assert set(tables) == set(KEYS)
    for table, written in files.items():
        if table == "workspace":
            continue
        assert _files(ws, tables[table]) == sorted(map(str, written)), table
    assert tables["cases"]["derive"]["category"] == {"column": "小类", "lookup": CATEGORY_OF_SUBCATEGORY}
    assert tables["dust_samples"]["derive"]["unit_id"]["column"] == "点位地址"
    units = pd.read_csv(ws / "units.csv", dtype=str)
    assert list(units["unit_id"]) == list(expected["districts"]["unit_id"])
    assert (ws / "targets.yaml").is_file() and (ws / "tables").is_dir()
    assert (ws / "README.txt").read_text(encoding="utf-8").startswith("合成演示数据,非真实城市")
    # the project's runs and schedule, reading the workspace instead of data/demo
    runs = {p.name: p.read_text(encoding="utf-8") for p in (ws / "params").glob("*.yaml")}
    assert "schedule.yaml" in runs and "data_quality.yaml" in runs and len(runs) >= 5
    assert not any("data/demo" in text for text in runs.values())
    for name in ("campaign_impact_100day.yaml", "data_quality.yaml", "district_comparison.yaml"):
        assert "  workspace: .   # this workspace" in runs[name], name


# ---- the round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(KEYS))
def test_round_trip_through_the_recipe(demo, built, table):
    """canonical tables -> raw exports -> `cityanalytics build` -> the same canonical tables."""
    ws, files, expected = demo
    t = built[table]
    key = KEYS[table]
    pd.testing.assert_frame_equal(t.frame.sort_values(key, ignore_index=True),
                                  expected[table].sort_values(key, ignore_index=True))
    assert t.rows_read == t.rows_kept + t.rows_rejected and t.rows_kept == len(expected[table])
    # Only the 合计 rows are rejected: one per file (per sheet for the communities register).
    totals = {"districts": 0, "campaigns": 0, "communities": 3, "cases": MONTHS, "dust_samples": MONTHS,
              "assessments": 1, "unit_changes": 1, "observations": 0, "assets": 1, "inspections": 1, "survey_responses": 1}
    assert t.rows_rejected == len(t.rejections) == totals[table]
    assert set(t.rejections["reason"]) <= {"summary row (合计/总计), not a record"}
    notes = " ".join(n for f in t.files for n in f.notes)
    if table not in ("districts", "campaigns"):
        assert re.search(r"header (found )?on row 3", notes), notes  # the two title rows skipped
    if table in ("cases", "assessments", "unit_changes", "observations"):
        assert "gbk" in notes
    if table == "cases":
        # Unit names came back as the canonical ids, the pre-2021 石鼓镇 with its own id.
        assert "unit names resolved to unit_id" in notes
        before = t.frame[t.frame["reported_at"] < "2021-01-01"]
        assert "990102101000" in set(before["unit_id"]) and "990102004000" not in set(before["unit_id"])
    # what build wrote is what it returned
    on_disk = pd.read_parquet(ws / "tables" / f"{table}.parquet")
    assert len(on_disk) == len(expected[table])


def test_run_files_read_the_built_workspace(demo, built):
    from cityanalytics.report import params

    ws, _, _ = demo
    spec = params.load_run(ws / "params" / "district_comparison.yaml")
    assert spec.parameters["workspace"] == str(ws.resolve())
    params.check_files(spec)  # the built tables are there


def test_cli_writes_the_workspace(tmp_path):
    from cityanalytics.cli import main

    assert main(["demo", "--out", str(tmp_path / "c"), "--cases", "400", "--workspace", str(tmp_path / "ws")]) == 0
    assert (tmp_path / "ws" / "sources.yaml").is_file()
    assert len(list((tmp_path / "ws" / "exports" / "案件明细").iterdir())) == MONTHS
    assert (tmp_path / "c" / "cases.parquet").is_file()  # the canonical tables as before


def test_map_drafts_the_demo_recipe(demo):
    """`cityanalytics map` on a demo export finds what the recipe says, from the export alone."""
    from cityanalytics.workspace.draft import make_draft, render

    ws, files, _ = demo
    draft = make_draft(files["cases"][3], "cases", workspace=ws)
    assert draft.files_glob == "exports/案件明细/案件明细_2019年04月.csv"
    block = yaml.safe_load(render(draft))["cases"]
    assert block["files"] == [_recipe(ws)["tables"]["cases"]["files"][0]]  # the month made a wildcard
    assert {c: g.header for c, g in draft.chosen.items() if c in ("case_id", "unit_id", "reported_at")} == {
        "case_id": "案件编号", "unit_id": "所属街道", "reported_at": "上报时间"}
    rule, _ = draft.derive["category"]
    assert rule["column"] == "小类"
    assert rule["lookup"] == {k: CATEGORY_OF_SUBCATEGORY[k] for k in rule["lookup"]}
    units = draft.units.set_index("name_zh")
    assert units.loc["鹭洲街道", "parent_id"] == "澄湖区" and units.loc["澄湖区", "level"] == "区"
    dust = make_draft(files["dust_samples"][0], "dust_samples")
    assert "unit_id" in dust.missing
    # the pattern it proposes reads the same units out of the addresses as the demo's recipe
    rule, why = dust.derive["unit_id"]
    addresses = next(p for p in dust.profiles if p.header == "点位地址").values
    assert rule["column"] == "点位地址" and "from 100% of them" in why
    assert addresses.str.extract(rule["pattern"])[0].equals(addresses.str.extract(DUST_ADDRESS_PATTERN)[0])
    register = make_draft(files["communities"][0], "communities")  # one sheet per district
    assert "3 sheets with the same header, profiled together" in register.how_read
    assert len(register.units) == 10  # every unit with communities, from all three sheets
    zone = dust.units.set_index("name_zh").loc["示范经济技术开发区"]
    assert zone["level"] == "功能区" and zone["division_code"] == ""


def test_same_exports_from_csv_tables(demo, tmp_path):
    """`cityanalytics demo --format csv` tables give byte-identical raw CSV exports."""
    ws, files, _ = demo
    write_demo(tmp_path / "canonical", n_cases=N_CASES, fmt="csv")
    again = write_exports(tmp_path / "canonical", tmp_path / "ws")
    for table in ("cases", "assessments", "unit_changes"):
        for a, b in zip(files[table], again[table]):
            if a.suffix == ".csv":
                assert a.read_bytes() == b.read_bytes(), a.name
