"""The data workspace: `cityanalytics init`, the recipe (sources.yaml) and `cityanalytics build`.

The exports below use headers the built-in alias table does not know (流转编码, 登记时刻 ...),
US-style dates, a unit only inside an address, no 部件/事件 column and a status column that
says when a case is closed; the recipe supplies all of it. Expected rows are written by hand.
"""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest

from cityanalytics.cli import main
from cityanalytics.io import LoadError, load
from cityanalytics.workspace import open_workspace
from cityanalytics.workspace.recipe import RecipeError, read_recipe
from cityanalytics.workspace.scaffold import RUN_FILES

HEADER = ["流转编码", "登记时刻", "事发位置", "诉求细类", "办理情况", "归档时刻", "反映渠道"]
MARCH = [
    ["A001", "2025-03-03 08:00", "示范市澄湖区鹭洲街道湖滨路1号", "暴露垃圾", "已办结", "2025-03-03 10:40", "电话"],
    ["A002", "2025-03-04 13:30", "示范市澄湖区东湖街道东湖路8号", "道路破损", "处理中", "", "电话"],
    ["A003", "2025-03-05 09:15", "示范市澄湖区某某路", "暴露垃圾", "已办结", "2025-03-05 15:00", "网站"],
    ["A004", "2025-03-06 10:00", "示范市澄湖区鹭洲街道", "垃圾满溢", "已办结", "2025-03-06 12:00", "电话"],
    ["A005", "2025-03-07 14:00", "示范市澄湖区东湖街道", "道路破损", "已退回", "2025-03-10 09:00", "电话"],
]
APRIL = [
    ["B001", "2025-04-01 09:00", "示范市澄湖区东湖街道东湖路", "暴露垃圾", "已结案", "2025-04-01 10:30", "电话"],
    ["B002", "2025-04-02 16:30", "示范市澄湖区鹭洲街道湖滨路", "道路破损", "处理中", "", "网站"],
]

RECIPE = """\
name: 示范市(测试)
source: 测试导出
tables:
  districts: {files: [units.csv]}
  cases:
    files: [exports/案件_*.csv, exports/案件_*.xlsx]
    encoding: gbk
    aliases: {case_id: [流转编码], reported_at: [登记时刻], subcategory: [诉求细类]}
    constants: {source: 12345热线}
    derive:
      unit_id: {column: 事发位置, pattern: '([^市区县]+?街道)'}
      category: {column: 诉求细类, lookup: {暴露垃圾: 事件, 道路破损: 部件}}
      closed_at: {column: 归档时刻, when: {column: 办理情况, in: [已办结, 已结案]}}
    time_limits: {hours_by_subcategory: {暴露垃圾: 2, 道路破损: 48}, working_hours: true}
"""
# The same exports with US dates (登记时刻 03/03/2025 08:00 AM), read through date_formats.
US_RECIPE = RECIPE.replace("    time_limits:", "    date_formats: {reported_at: '%m/%d/%Y %I:%M %p'}\n    time_limits:")


def us_dates(rows):
    """登记时刻 written as the US systems do: 2025-03-03 13:30 -> 03/03/2025 01:30 PM."""
    return [[r[0], pd.Timestamp(r[1]).strftime("%m/%d/%Y %I:%M %p"), *r[2:]] for r in rows]


def write_csv(path, rows, encoding="gbk"):
    lines = [",".join(HEADER)] + [",".join(r) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def write_xlsx(path, rows, title="示范市4月案件明细"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "案件明细"
    ws.append([title])
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    wb.save(path)


def make_workspace(root, recipe=RECIPE, dates=lambda rows: rows):
    assert main(["init", str(root)]) == 0
    (root / "sources.yaml").write_text(recipe, encoding="utf-8")
    pd.DataFrame({"unit_id": ["C", "S01", "S02"], "name_zh": ["示范市", "鹭洲街道", "东湖街道"],
                  "level": ["市", "街道", "街道"], "parent_id": ["", "C", "C"]}).to_csv(root / "units.csv", index=False)
    write_csv(root / "exports" / "案件_2025-03.csv", dates(MARCH))
    write_xlsx(root / "exports" / "案件_2025-04.xlsx", dates(APRIL))
    return root


@pytest.fixture
def ws(tmp_path):
    return make_workspace(tmp_path / "ws")


@pytest.fixture
def ws_us(tmp_path):
    """Exports with US dates and a recipe with date_formats."""
    return make_workspace(tmp_path / "ws_us", US_RECIPE, us_dates)


def build(root, *extra):
    return main(["build", str(root), *extra])


def ts(text):
    return pd.Timestamp(text)


# --- init ------------------------------------------------------------------------------------


def test_init_makes_the_workspace_and_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    root = tmp_path / "new"
    assert main(["init", str(root)]) == 0
    for rel in ("sources.yaml", "units.csv", "targets.yaml", "params/schedule.yaml", *(f"params/{n}" for n in RUN_FILES)):
        assert (root / rel).is_file(), rel
    assert (root / "exports").is_dir() and (root / "outputs").is_dir()
    assert (root / "units.csv").read_text(encoding="utf-8").startswith("unit_id,name_zh,level,parent_id,division_code")
    # the templates are usable as they are: the recipe reads, the targets file loads (no entries)
    recipe = read_recipe(root)
    assert list(recipe.tables) == ["districts"] and recipe.synthetic is False
    from cityanalytics.targets import load_targets

    assert len(load_targets(root / "targets.yaml")) == 0
    import yaml

    schedule = yaml.safe_load((root / "params" / "schedule.yaml").read_text(encoding="utf-8"))
    # campaign_impact waits (commented out) until its run file names a campaign
    assert [r["run"] for r in schedule["runs"]] == ["data_quality", "district_comparison", "sorting_forecast"]
    assert "# - run: campaign_impact" in (root / "params" / "schedule.yaml").read_text(encoding="utf-8")
    for name in RUN_FILES:
        assert yaml.safe_load((root / "params" / name).read_text(encoding="utf-8"))["workspace"] == "."
    # built as it is: units.csv has only its header, so there is no districts table yet
    assert main(["build", str(root)]) == 0
    assert "units.csv: no data rows; the districts table is absent" in capsys.readouterr().out
    assert not (root / "tables" / "districts.parquet").exists() and not open_workspace(root).has("districts")
    # the commented cases block of the template is a valid recipe once uncommented
    import re

    text = (root / "sources.yaml").read_text(encoding="utf-8")
    (root / "sources.yaml").write_text("\n".join(re.sub(r"^  # ", "  ", line) for line in text.splitlines()),
                                       encoding="utf-8")
    cases = read_recipe(root).tables["cases"]
    assert cases.aliases == {"case_id": ["工单号"], "reported_at": ["上报时间"]} and cases.time_limits.column == "due_at"
    assert sorted(cases.derive) == ["category", "closed_at", "unit_id"]
    capsys.readouterr()
    assert main(["init", str(root)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["init", str(root), "--force"]) == 0


# --- build -----------------------------------------------------------------------------------


def test_build_gives_the_hand_computed_canonical_rows(ws_us, capsys):
    ws = ws_us
    assert "03/04/2025 01:30 PM" in (ws / "exports" / "案件_2025-03.csv").read_bytes().decode("gbk")
    assert build(ws) == 1  # two rows rejected
    cases = pd.read_parquet(ws / "tables" / "cases.parquet").set_index("case_id")
    assert list(cases.index) == ["A001", "A002", "A005", "B001", "B002"]
    assert list(cases["unit_id"]) == ["S01", "S02", "S02", "S02", "S01"]  # from the address, via units.csv
    assert list(cases["category"]) == ["事件", "部件", "部件", "事件", "部件"]  # lookup of 诉求细类
    assert list(cases["subcategory"]) == ["暴露垃圾", "道路破损", "道路破损", "暴露垃圾", "道路破损"]
    assert set(cases["source"]) == {"12345热线"}  # the constant
    assert list(cases["reported_at"]) == [ts("2025-03-03 08:00"), ts("2025-03-04 13:30"), ts("2025-03-07 14:00"),
                                          ts("2025-04-01 09:00"), ts("2025-04-02 16:30")]  # %m/%d/%Y %I:%M %p
    # closed only where the status says so: A005 (已退回) has a 归档时刻 but is not closed
    assert cases.loc["A001", "closed_at"] == ts("2025-03-03 10:40")
    assert cases.loc["B001", "closed_at"] == ts("2025-04-01 10:30")
    assert cases[["closed_at"]].loc[["A002", "A005", "B002"]].isna().all().all()

    rejections = pd.read_csv(ws / "tables" / "cases.rejections.csv", dtype=str)
    reasons = dict(zip(rejections["row"], zip(rejections["column"], rejections["reason"])))
    assert reasons["4"] == ("unit_id", "pattern '([^市区县]+?街道)' found nothing in 事发位置 '示范市澄湖区某某路'")
    assert reasons["5"] == ("category", "'垃圾满溢' in 诉求细类 is not in the lookup")

    info = json.loads((ws / "tables" / "build.json").read_text(encoding="utf-8"))
    files = {f["path"]: f for f in info["tables"]["cases"]["files"]}
    assert {p: (f["rows_read"], f["rows_kept"], f["rows_rejected"]) for p, f in files.items()} == {
        "exports/案件_2025-03.csv": (5, 3, 2), "exports/案件_2025-04.xlsx": (2, 2, 0)}
    assert len(files["exports/案件_2025-03.csv"]["sha256"]) == 64
    assert (info["tables"]["cases"]["rows_read"], info["tables"]["cases"]["rows_kept"]) == (7, 5)
    report = (ws / "tables" / "load_report.md").read_text(encoding="utf-8")
    assert "正则表达式未能从该列提取值 / pattern '([^市区县]+?街道)' found nothing in 事发位置" in report
    assert "该值不在对照表中" in report
    # the workspace serves the built tables
    w = open_workspace(ws)
    assert w.path("cases") == ws / "tables" / "cases.parquet" and len(w.table("cases")) == 5
    assert len(w.table("districts")) == 3


def test_exit_codes_skip_new_month_and_max_rejected(ws, capsys):
    assert build(ws) == 1
    cases_file = ws / "tables" / "cases.parquet"
    first = cases_file.read_bytes()
    capsys.readouterr()

    assert build(ws) == 1  # nothing changed: every table skipped, the rejections still stand
    out = capsys.readouterr().out
    assert "cases: unchanged since the last build" in out and "districts: unchanged" in out
    assert cases_file.read_bytes() == first

    # a new month dropped in: one good row, one with an unknown street
    write_csv(ws / "exports" / "案件_2025-05.csv", [
        ["C001", "2025-05-06 10:00", "示范市澄湖区鹭洲街道", "暴露垃圾", "已办结", "2025-05-06 11:00", "电话"],
        ["C002", "2025-05-07 10:00", "示范市澄湖区西山街道", "暴露垃圾", "处理中", "", "电话"],
    ])
    assert build(ws, "--max-rejected", "10%") == 2  # 3 of 9 rows rejected > 10%: the old tables stay
    assert cases_file.read_bytes() == first
    assert (ws / "tables" / "load_report.failed.md").is_file()
    assert build(ws, "--max-rejected", "3") == 1  # 3 rows is not more than 3
    cases = pd.read_parquet(cases_file)
    assert list(cases["case_id"]) == ["A001", "A002", "A005", "B001", "B002", "C001"]  # the new month is picked up
    rejections = pd.read_csv(ws / "tables" / "cases.rejections.csv", dtype=str)
    assert rejections.loc[rejections["value"] == "西山街道", "reason"].tolist() == [
        "unknown unit (not an id or name in the districts table)"]
    assert not (ws / "tables" / "load_report.failed.md").exists()

    # a recipe change rebuilds; a clean workspace exits 0
    (ws / "exports" / "案件_2025-03.csv").unlink()
    (ws / "exports" / "案件_2025-05.csv").unlink()
    assert build(ws) == 0
    assert list(pd.read_parquet(cases_file)["case_id"]) == ["B001", "B002"]


def test_unusable_file_exits_2_and_keeps_the_tables(ws, capsys):
    assert build(ws) == 1
    before = (ws / "tables" / "cases.parquet").read_bytes()
    # a month whose export lost the address column: the unit cannot be derived at all
    bad = [h for h in HEADER if h != "事发位置"]
    (ws / "exports" / "案件_2025-06.csv").write_bytes((",".join(bad) + "\nD001,2025-06-02 09:00,暴露垃圾,已办结,,电话\n")
                                                   .encode("gbk"))
    capsys.readouterr()
    assert build(ws) == 2
    err = capsys.readouterr().err
    assert "exports/案件_2025-06.csv" in err and "derive unit_id: the file has no column '事发位置'" in err
    assert (ws / "tables" / "cases.parquet").read_bytes() == before


def test_a_case_in_two_monthly_exports_is_kept_from_the_later_one(ws):
    # A002 was still open in March's export; April's export lists it again, closed
    write_xlsx(ws / "exports" / "案件_2025-04.xlsx", APRIL + [
        ["A002", "2025-03-04 13:30", "示范市澄湖区东湖街道东湖路8号", "道路破损", "已办结", "2025-03-11 16:00", "电话"]])
    assert build(ws) == 1
    cases = pd.read_parquet(ws / "tables" / "cases.parquet").set_index("case_id")
    assert list(cases.index) == ["A001", "A005", "B001", "B002", "A002"]
    assert cases.loc["A002", "closed_at"] == ts("2025-03-11 16:00")
    rejections = pd.read_csv(ws / "tables" / "cases.rejections.csv", dtype=str, keep_default_na=False)
    again = rejections[rejections["value"] == "A002"]
    assert again[["file", "row", "column"]].values.tolist() == [["exports/案件_2025-03.csv", "", "case_id"]]
    assert again["reason"].iloc[0] == ("duplicate case_id: superseded by the copy in exports/案件_2025-04.xlsx "
                                      "(a later export is the more recent state)")
    files = {f["path"]: f for f in json.loads((ws / "tables" / "build.json").read_text(encoding="utf-8"))
             ["tables"]["cases"]["files"]}
    assert (files["exports/案件_2025-03.csv"]["rows_kept"], files["exports/案件_2025-03.csv"]["rows_rejected"]) == (2, 3)
    assert (files["exports/案件_2025-04.xlsx"]["rows_read"], files["exports/案件_2025-04.xlsx"]["rows_kept"]) == (3, 3)
    # a superseded copy is not a bad row: 2 bad rows of 8 pass --max-rejected 2, 3 would not
    assert build(ws, "--force", "--max-rejected", "2") == 1


def test_a_required_column_nobody_supplies_says_where_to_supply_it(ws, capsys):
    (ws / "sources.yaml").write_text(RECIPE.replace("      category: {column: 诉求细类, lookup: {暴露垃圾: 事件, 道路破损: 部件}}\n",
                                                    ""), encoding="utf-8")
    assert build(ws) == 2
    err = capsys.readouterr().err
    assert "exports/案件_2025-03.csv" in err and "column 'category': missing required column" in err
    assert "tables.cases.aliases.category (a header of the export), constants.category or derive.category" in err


def test_a_glob_matching_nothing_leaves_the_table_absent(ws, capsys):
    text = RECIPE + "  campaigns: {files: [exports/专项行动*.xlsx]}\n"
    (ws / "sources.yaml").write_text(text, encoding="utf-8")
    assert build(ws) == 1
    assert "campaigns: no file matches exports/专项行动*.xlsx: the campaigns table is absent" in capsys.readouterr().out
    assert not open_workspace(ws).has("campaigns")
    # a table taken out of the recipe is taken out of the workspace
    (ws / "sources.yaml").write_text(RECIPE.replace("  districts: {files: [units.csv]}\n", ""), encoding="utf-8")
    assert open_workspace(ws).path("districts") == ws / "tables" / "districts.parquet"
    capsys.readouterr()
    assert build(ws) == 1
    assert "districts: no longer in the recipe; its table of the previous build is removed" in capsys.readouterr().out
    assert open_workspace(ws).path("districts") == ws / "units.csv"  # the workspace's units, as before any build


@pytest.mark.parametrize("edit, message", [
    (("    encoding: gbk\n", "    encodng: gbk\n"), "tables.cases.encodng: unknown key"),
    (("pattern: '([^市区县]+?街道)'", "pattern: '([^市区县]+?街道'"),
     "tables.cases.derive.unit_id.pattern: '([^市区县]+?街道' is not a valid regular expression"),
    (("lookup: {暴露垃圾: 事件, 道路破损: 部件}", "lookup_file: lookups/类别.csv"),
     "tables.cases.derive.category.lookup_file: lookup_file "),
    (("  cases:\n", "  case:\n"), "tables.case: not a canonical table"),
    (("    encoding: gbk\n", "    encoding: gbk\n    encoding: utf-8\n"),
     "key 'encoding' appears twice in one mapping (first on line 7)"),
    (("time_limits:", "date_formats: {unit_id: '%Y'}\n    time_limits:"),
     "tables.cases.date_formats.unit_id: unit_id is a str"),
    (("working_hours: true", "working_hours: yes please"), "tables.cases.time_limits.working_hours: expected true"),
])
def test_a_bad_recipe_names_the_file_table_and_key(ws, capsys, edit, message):
    (ws / "sources.yaml").write_text(RECIPE.replace(*edit), encoding="utf-8")
    with pytest.raises(RecipeError) as err:
        read_recipe(ws)
    assert str(err.value).startswith(str(ws / "sources.yaml") + ": ")
    assert message in str(err.value)
    capsys.readouterr()
    assert build(ws) == 2
    assert message in capsys.readouterr().err
    assert not (ws / "tables" / "cases.parquet").exists()


def test_lookup_file_and_time_limit_column(ws):
    (ws / "lookups").mkdir()
    (ws / "lookups" / "类别.csv").write_text("from,to\n暴露垃圾,事件\n道路破损,部件\n垃圾满溢,事件\n", encoding="utf-8")
    text = (RECIPE.replace("lookup: {暴露垃圾: 事件, 道路破损: 部件}", "lookup_file: lookups/类别.csv")
            .replace("time_limits: {hours_by_subcategory: {暴露垃圾: 2, 道路破损: 48}, working_hours: true}",
                     "time_limits: {column: 归档时刻}"))
    (ws / "sources.yaml").write_text(text, encoding="utf-8")
    assert build(ws) == 1  # A003 only (no street in its address)
    cases = pd.read_parquet(ws / "tables" / "cases.parquet").set_index("case_id")
    assert cases.loc["A004", "category"] == "事件"  # 垃圾满溢 is in the lookup file
    # due_at is the export's own column: 归档时刻 as written, empty where it is empty
    assert cases.loc["A005", "due_at"] == ts("2025-03-10 09:00") and pd.isna(cases.loc["A002", "due_at"])
    # the lookup file is part of the fingerprint: changing it rebuilds
    (ws / "lookups" / "类别.csv").write_text("from,to\n暴露垃圾,事件\n道路破损,部件\n", encoding="utf-8")
    assert build(ws) == 1
    assert "A004" not in set(pd.read_parquet(ws / "tables" / "cases.parquet")["case_id"])


def test_due_at_from_hours_by_subcategory_in_working_hours(ws, capsys):
    assert build(ws) == 1
    cases = pd.read_parquet(ws / "tables" / "cases.parquet").set_index("case_id")
    # working hours 9-12 and 13-18 on the official calendar:
    # A001 Mon 03-03 08:00 + 2h (暴露垃圾) -> 11:00 the same day;
    # A002 Tue 03-04 13:30 + 48h (道路破损): 4.5 + 8 x 5 (Wed-Fri, Mon, Tue) = 44.5, 3.5 more -> Wed 03-12 13:30;
    # A005 Fri 03-07 14:00 + 48h: 4 + 8 x 5 = 44, 4 more -> Mon 03-17 14:00;
    # B001 Tue 04-01 09:00 + 2h -> 11:00;
    # B002 Wed 04-02 16:30 + 48h: 1.5 + 8 (Thu); 清明 Fri 04-04 is a holiday; + 8 x 4 (Mon-Thu) = 41.5,
    #      6.5 more on Fri 04-11 -> 16:30
    assert list(cases["due_at"]) == [ts("2025-03-03 11:00"), ts("2025-03-12 13:30"), ts("2025-03-17 14:00"),
                                     ts("2025-04-01 11:00"), ts("2025-04-11 16:30")]
    assert "due_at computed for 5 row(s) from hours_by_subcategory (working hours)" in (
        ws / "tables" / "load_report.md").read_text(encoding="utf-8")


def test_clock_hours_deadlines_and_an_export_deadline_kept(ws):
    text = RECIPE.replace("working_hours: true", "working_hours: false, default: 10")
    (ws / "sources.yaml").write_text(text, encoding="utf-8")
    build(ws)
    cases = pd.read_parquet(ws / "tables" / "cases.parquet").set_index("case_id")
    assert cases.loc["A001", "due_at"] == ts("2025-03-03 10:00")  # 08:00 + 2 clock hours
    assert cases.loc["A002", "due_at"] == ts("2025-03-06 13:30")  # 13:30 + 48 clock hours


# --- the loader's constants= and derive= ----------------------------------------------------------


def test_derive_in_the_loader_optional_column_keeps_the_row(tmp_path):
    path = tmp_path / "x.csv"
    write_csv(path, MARCH, encoding="utf-8")
    result = load(path, "cases", aliases={"cases": {"case_id": ["流转编码"], "reported_at": ["登记时刻"]}},
                  constants={"category": "事件", "unit_id": "S01"},
                  derive={"subcategory": {"column": "诉求细类", "lookup": {"暴露垃圾": "暴露垃圾"}}})
    # subcategory is optional: a label not in the lookup leaves it empty and the row is kept
    assert result.report.rows_read == 5 and result.report.rows_rejected == 0
    assert list(result.frame["subcategory"].fillna("-")) == ["暴露垃圾", "-", "暴露垃圾", "-", "-"]
    assert any("subcategory could not be derived on 3 row(s)" in n for n in result.report.notes)
    with pytest.raises(LoadError, match="derive unit_id: the file has no column '地址'"):
        load(path, "cases", derive={"unit_id": {"column": "地址", "pattern": "(x)"}},
             aliases={"cases": {"case_id": ["流转编码"], "reported_at": ["登记时刻"]}}, constants={"category": "事件"})


# --- reports on a workspace ----------------------------------------------------------------------


def test_run_files_of_a_workspace_read_it(ws, tmp_path):
    from cityanalytics.report import params

    dq = ws / "params" / "data_quality.yaml"
    spec = params.load_run(dq)
    # the notebook comes from the project, the data from the workspace
    assert spec.notebook == params.PROJECT / "notebooks" / "data_quality.ipynb"
    given = spec.parameters.get("workspace") or spec.parameters.get("data_dir")
    # a notebook with `workspace` gets the folder; one still on `data_dir` gets the built tables
    assert given == str(ws.resolve()) if "workspace" in spec.declared else given == str(ws.resolve() / "tables")
    with pytest.raises(params.ParamError, match=r"has no built tables yet; run `cityanalytics build"):
        params.check_files(spec)
    build(ws)
    params.check_files(spec)
    assert [(k, p) for k, p, _ in params.data_paths(spec) if k in ("workspace", "data_dir")] == [
        (k, ws.resolve() / "tables") for k in ("workspace", "data_dir") if k in spec.parameters]

    # the recipe's as_of and source reach a run that does not set them
    (ws / "sources.yaml").write_text(RECIPE.replace("source: 测试导出", "source: 测试导出\nas_of: 2025-04-30 18:00"),
                                     encoding="utf-8")
    comparison = params.load_run(ws / "params" / "district_comparison.yaml")
    assert comparison.parameters["as_of"] == "2025-04-30T18:00:00" and comparison.source == "测试导出"
    impact = params.load_run(ws / "params" / "campaign_impact.yaml")
    assert impact.parameters["workspace"] == str(ws.resolve())
    # data_dir is accepted for a notebook that declares workspace (the former name), and the
    # other way round; a workspace named twice is an error
    run = ws / "params" / "old.yaml"
    run.write_text("notebook: notebooks/campaign_impact.ipynb\nparameters:\n  data_dir: .\n", encoding="utf-8")
    assert params.load_run(run).parameters["workspace"] == str(ws.resolve())
    run.write_text("notebook: notebooks/campaign_impact.ipynb\nworkspace: .\nparameters:\n  workspace: .\n",
                   encoding="utf-8")
    with pytest.raises(params.ParamError, match="old.yaml: workspace: also set as parameters.workspace"):
        params.load_run(run)
    run.write_text("notebook: notebooks/campaign_impact.ipynb\nworkspace: nowhere\n", encoding="utf-8")
    with pytest.raises(params.ParamError, match=r"workspace \(the notebook's default\)|parameters.workspace: dir .*nowhere"):
        params.check_files(params.load_run(run))


def test_reports_workspace_plans_the_workspace_schedule(ws, monkeypatch):
    from cityanalytics.report import batch, params
    from cityanalytics.workspace.runs import workspace_batch

    (ws / "sources.yaml").write_text(RECIPE.replace("source: 测试导出", "source: 测试导出\nsynthetic: true"),
                                     encoding="utf-8")
    build(ws)
    w = open_workspace(ws)
    assert w.recipe.synthetic is True and w.recipe.name == "示范市(测试)"
    assert w.build_info["tables"]["cases"]["rows_kept"] == 5
    schedule, root, outputs = workspace_batch(ws, None)
    assert schedule == ws.resolve() / "params" / "schedule.yaml" and outputs == ws.resolve() / "outputs"
    assert root == params.PROJECT
    planner = batch.Planner(root, outputs, "2025-04", pdf=False)
    jobs = planner.plan(ws / "params" / "data_quality.yaml")
    assert len(jobs) == 1 and jobs[0].error is None
    assert jobs[0].target.is_relative_to(ws.resolve() / "outputs")
    shown = {i["path"] for i in jobs[0].inputs}
    assert any(p.endswith("tables/cases.parquet") for p in shown) and not any("exports/" in p for p in shown)
    assert jobs[0].synthetic is True  # the recipe says so: every report says the data are synthetic
    # `cityanalytics run DIR/params/NAME.yaml`: the project's notebooks, reports in DIR/outputs
    from cityanalytics.workspace.runs import workspace_run

    assert workspace_run(ws / "params" / "data_quality.yaml", None) == (params.PROJECT, ws.resolve() / "outputs")
    assert workspace_run(params.PROJECT / "params" / "data_quality.yaml", None) is None
    with pytest.raises(ValueError, match="no params/schedule.yaml"):
        (ws / "params" / "schedule.yaml").unlink()
        workspace_batch(ws, None)


def test_a_table_from_a_database(tmp_path, capsys):
    import sqlite3

    root = tmp_path / "db_ws"
    main(["init", str(root)])
    rows = pd.DataFrame({"工单号": ["Q1", "Q2"], "上报时间": ["2025-03-03 08:00", "2025-03-04 09:00"],
                         "街道": ["鹭洲街道", "东湖街道"], "类别": ["事件", "部件"]})
    with sqlite3.connect(root / "exports" / "平台.db") as conn:
        rows.to_sql("工单", conn, index=False)
    pd.DataFrame({"unit_id": ["S01", "S02"], "name_zh": ["鹭洲街道", "东湖街道"], "level": ["街道", "街道"]}).to_csv(
        root / "units.csv", index=False)
    (root / "sources.yaml").write_text(
        "tables:\n  cases:\n    database: sqlite:///exports/平台.db\n    sql: SELECT * FROM 工单 WHERE 工单号 <> 'x'\n"
        "    aliases: {case_id: [工单号], reported_at: [上报时间], unit_id: [街道], category: [类别]}\n",
        encoding="utf-8")
    assert build(root) == 0
    cases = pd.read_parquet(root / "tables" / "cases.parquet")
    assert list(cases["unit_id"]) == ["S01", "S02"] and list(cases["category"]) == ["事件", "部件"]
    info = json.loads((root / "tables" / "build.json").read_text(encoding="utf-8"))["tables"]["cases"]["files"]
    assert info[0]["path"].startswith("sqlite:///") and len(info[0]["sha256"]) == 64  # a SQLite file is hashed
    capsys.readouterr()
    assert build(root) == 0 and "cases: unchanged" in capsys.readouterr().out
    (root / "sources.yaml").write_text("tables:\n  cases:\n    files: [x.csv]\n    database: sqlite:///a.db\n",
                                       encoding="utf-8")
    with pytest.raises(RecipeError, match="tables.cases.database: give files or database, not both"):
        read_recipe(root)


def test_chinese_glosses_of_the_common_reasons():
    from cityanalytics.workspace.glossary import gloss

    assert gloss("required value is empty") == "必填值为空"
    assert gloss("duplicate case_id (first seen at row 3; the first copy is kept)") == "编号重复,保留首条"
    assert gloss("expected one of 部件/事件") == "不是允许的取值之一"
    assert gloss("closed_at is earlier than reported_at") == "时间先后顺序不对"
    assert gloss("unknown unit (not an id or name in the districts table)") == "单位不在 units.csv 中(既非编号也非名称)"
    assert gloss("something no rule knows") == ""


def test_decimal_comma_and_constants_on_a_panel(tmp_path):
    root = tmp_path / "panel"
    main(["init", str(root)])
    (root / "exports" / "panel.csv").write_text("unit_id;period;value\nS01;2024-01;3,5\nS02;2024-01;12,25\n",
                                               encoding="utf-8")
    (root / "sources.yaml").write_text(
        "tables:\n  observations:\n    files: [exports/panel.csv]\n    decimal: ','\n"
        "    constants: {indicator: waste_kg_per_capita, source: 统计年鉴}\n", encoding="utf-8")
    assert build(root) == 0
    panel = pd.read_parquet(root / "tables" / "observations.parquet")
    assert list(panel["value"]) == [3.5, 12.25] and set(panel["indicator"]) == {"waste_kg_per_capita"}
