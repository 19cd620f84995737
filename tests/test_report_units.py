"""The report pipeline's parts, without kernels: run files, names, injection, publishing,
HTML guards, fonts, the data-quality helpers."""

from __future__ import annotations

import ast
import datetime as dt
import json
import os

import nbformat
import pandas as pd
import pytest

from cityanalytics import fonts, quality
from cityanalytics.report import batch, export, layout, manifest, params, publish


def _notebook(path, parameters: str, cells=("x",)):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 测试报告"),
                nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "params").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cases.csv").write_text("case_id\n1\n", encoding="utf-8")
    _notebook(tmp_path / "notebooks" / "nb.ipynb",
              'data_dir = "data"\n'
              "cases_path: str | None = None\n"
              "n = 3\n"
              "rate = 0.5\n"
              "flag = False\n"
              'label = "默认"\n'
              "tables: list | None = None\n"
              "opts = {}\n"
              'period = ""\n'
              "unit_id = None\n"
              "computed = list(range(3))\n")
    return tmp_path


def _run_file(project, body: str, name="r"):
    path = project / "params" / f"{name}.yaml"
    path.write_text("notebook: notebooks/nb.ipynb\n" + body, encoding="utf-8")
    return path


# --- run files --------------------------------------------------------------------------------


def test_notebook_parameters_reads_types_and_defaults(project):
    declared = params.notebook_parameters(project / "notebooks" / "nb.ipynb")
    assert declared["n"].types == ("int",) and declared["n"].default == 3
    assert declared["rate"].types == ("float",)
    assert declared["cases_path"].types == ("str", "None")
    assert declared["tables"].types == ("list", "None")
    assert declared["unit_id"].types is None  # a None default accepts anything
    assert declared["computed"].default is params.NO_DEFAULT


def test_good_run_file_loads(project):
    spec = params.load_run(_run_file(project, "parameters:\n  n: 5\n  rate: 2\n  label: 城关\n  tables: [cases]\n"))
    assert spec.name == "r" and spec.title == "测试报告"
    assert spec.parameters == {"n": 5, "rate": 2.0, "label": "城关", "tables": ["cases"]}
    assert spec.root == project


@pytest.mark.parametrize("body, key, words", [
    ("parameters:\n  bogus: 1\n", "parameters.bogus", "unknown parameter"),
    ("parameters:\n  n: three\n", "parameters.n", "expected int"),
    ("parameters:\n  n: true\n", "parameters.n", "expected int"),
    ("parameters:\n  label: 5\n", "parameters.label", "expected str"),
    ("parameters:\n  flag: 1\n", "parameters.flag", "expected bool"),
    ("parameters:\n  tables: cases\n", "parameters.tables", "expected list"),
    ("parameters:\n  tables: [[cases]]\n", "parameters.tables[0]", "not allowed"),
    ("parameters:\n  opts: {a: {b: 1}}\n", "parameters.opts.a", "not allowed"),
    ("parameters:\n  rate: .nan\n", "parameters.rate", "finite"),
    ("parameters:\n  period: 2025-01\n", "parameters.period", "set by the runner"),
    ("colour: red\n", "colour", "unknown key"),
    ("timeout: -1\n", "timeout", "seconds"),
])
def test_bad_run_file_names_file_and_key(project, body, key, words):
    path = _run_file(project, body)
    with pytest.raises(params.ParamError) as info:
        params.load_run(path)
    message = str(info.value)
    assert str(path) in message and key in message and words in message


def test_dates_become_iso_text(project):
    spec = params.load_run(_run_file(project, "parameters:\n  label: 2025-06-01\n"))
    assert spec.parameters["label"] == "2025-06-01"


def test_missing_data_files_are_named(project):
    spec = params.load_run(_run_file(project, "parameters:\n  cases_path: data/nope.csv\n"))
    with pytest.raises(params.ParamError, match=r"parameters\.cases_path: file .*nope\.csv does not exist"):
        params.check_files(spec)
    spec = params.load_run(_run_file(project, "parameters:\n  data_dir: elsewhere\n"))
    with pytest.raises(params.ParamError, match=r"parameters\.data_dir: dir .*elsewhere does not exist"):
        params.check_files(spec)
    spec = params.load_run(_run_file(project, "parameters:\n  cases_path: data/cases.csv\n"))
    params.check_files(spec)  # exists: no error
    (project / "data" / "cases.csv").unlink()
    (project / "data").rmdir()
    spec = params.load_run(_run_file(project, "parameters: {}\n"))
    with pytest.raises(params.ParamError, match="data_dir \\(the notebook's default\\)"):
        params.check_files(spec)  # the default is what runs, so it is checked too


def test_inject_writes_literals_only(project):
    nb = nbformat.read(project / "notebooks" / "nb.ipynb", as_version=4)
    tricky = 'x"; import os; os.system("echo hi") #\n\\'
    out = params.inject(nb, {"label": tricky, "tables": ["案件", "a'b"], "opts": {"k": None}}, setup="pass")
    cell = out.cells[2]
    assert cell.metadata.tags == ["injected-parameters"] and out.cells[3].metadata.tags == ["report-setup"]
    tree = ast.parse(cell.source)
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body}
    assert values == {"label": tricky, "tables": ["案件", "a'b"], "opts": {"k": None}}
    assert len(nb.cells) == 3  # the original notebook is left alone


# --- names and paths --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "..", "a/b", "a\\b", "/etc", ".hidden", "failed", "", "a..b", "c:x"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(layout.UnsafeName):
        layout.check_name(name, "run name")


def test_safe_names_stay_inside_outputs(tmp_path):
    assert layout.check_name("城关街道", "unit id") == "城关街道"
    path = layout.report_dir(tmp_path / "outputs", "2025-06", "data_quality", "990102001000")
    assert path == (tmp_path / "outputs" / "2025-06" / "data_quality" / "990102001000").resolve()
    with pytest.raises(layout.UnsafeName):
        layout.report_dir(tmp_path / "outputs", "2025-06", "x", "../../../etc")
    with pytest.raises(ValueError):
        layout.report_dir(tmp_path / "outputs", "../2025-06", "x")


def test_run_file_with_traversing_units_is_refused(project):
    spec = params.load_run(_run_file(project, "for_each: unit_id\nunits: ['a', '../../evil']\n"))
    with pytest.raises(params.ParamError, match="evil"):
        params.unit_list(spec)


def test_run_file_name_must_be_safe(project):
    path = project / "params" / ".sneaky.yaml"
    path.write_text("notebook: notebooks/nb.ipynb\n", encoding="utf-8")
    with pytest.raises(params.ParamError, match="cannot be used as a directory name"):
        params.load_run(path)


def test_default_period_is_last_complete_month():
    assert layout.default_period(dt.date(2025, 7, 1)) == "2025-06"
    assert layout.default_period(dt.date(2025, 1, 15)) == "2024-12"


def test_schedule_errors(tmp_path):
    path = tmp_path / "schedule.yaml"
    path.write_text("runs:\n  - run: a\n    every: hourly\n", encoding="utf-8")
    with pytest.raises(batch.ScheduleError, match="hourly"):
        batch.load_schedule(path)
    path.write_text("runs:\n  - run: ../a\n", encoding="utf-8")
    with pytest.raises(batch.ScheduleError, match="directory name"):
        batch.load_schedule(path)
    path.write_text("defaults: {timeout: 30}\nruns:\n  - run: a\n  - run: b\n    every: daily\n    timeout: 5\n",
                    encoding="utf-8")
    schedule = batch.load_schedule(path)
    assert schedule.timeout == 30 and schedule.entries[1] == batch.Entry("b", "daily", 5)


# --- publishing -------------------------------------------------------------------------------


def test_publish_replaces_whole_directory(tmp_path):
    target = tmp_path / "2025-06" / "run"
    first = publish.prepare(target)
    (first / "report.html").write_text("v1")
    (first / "extra.txt").write_text("old")
    publish.publish(first, target)
    second = publish.prepare(target)
    (second / "report.html").write_text("v2")
    assert (target / "report.html").read_text() == "v1"  # untouched until the new one is complete
    publish.publish(second, target)
    assert (target / "report.html").read_text() == "v2" and not (target / "extra.txt").exists()
    assert [p.name for p in target.parent.iterdir()] == ["run"]


def test_prepare_recovers_from_a_crash_between_renames(tmp_path):
    target = tmp_path / "run"
    staging = publish.prepare(target)
    (staging / "report.html").write_text("good")
    publish.publish(staging, target)
    os.replace(target, tmp_path / ".old-run-deadbeef")  # crashed after renaming aside
    (tmp_path / ".staging-run-cafe").mkdir()  # and a half-written staging directory
    publish.prepare(target)
    assert (target / "report.html").read_text() == "good"
    assert not (tmp_path / ".staging-run-cafe").exists()


# --- HTML -------------------------------------------------------------------------------------


def test_report_cleaner_drops_scripts_svg_and_stderr():
    # HTML and Markdown outputs stay; the page sanitiser cleans them (tests/test_xss.py)
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="UserWarning: glyph missing"),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg onload='steal()'/>", "text/plain": "x"}),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg/>"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(1)"}),
        nbformat.v4.new_output("execute_result", execution_count=1,
                               data={"text/html": "<table><td>&lt;script&gt;alert(1)&lt;/script&gt;</td></table>"}),
    ]
    cleaned, _ = export.ReportCleaner().preprocess_cell(cell, {}, 0)
    datas = [o.get("data") for o in cleaned.outputs]
    assert datas[0] == {"text/plain": "x"}
    assert list(datas[1]) == ["text/plain"] and "SVG" in datas[1]["text/plain"]  # says what is missing
    assert "text/html" in datas[2]
    assert len(cleaned.outputs) == 3


def test_cover_escapes_metadata():
    meta = {"title": "<script>alert(1)</script>", "period": "2025-06", "produced_at": "t", "run_file": "r",
            "notebook": "n", "version": "0", "parameters": {"label": "<img src=x onerror=alert(1)>"},
            "synthetic": True}
    html = export.cover_html(meta)
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html
    assert "本报告使用合成演示数据,非真实城市数据" in html


# --- fonts ------------------------------------------------------------------------------------


def test_cjk_font_is_found_here():
    font = fonts.require_cjk_font()
    assert "CJK" in font.family or "Han" in font.family or "YaHei" in font.family


def test_missing_cjk_font_names_the_package(monkeypatch):
    monkeypatch.setattr(fonts, "CJK_FAMILIES", ("No Such Font 123",))
    monkeypatch.setattr(fonts, "_FONT_GLOBS", ())
    monkeypatch.setattr(fonts.sys, "platform", "linux")
    with pytest.raises(fonts.MissingFont, match="fonts-noto-cjk"):
        fonts.require_cjk_font()


# --- manifest ---------------------------------------------------------------------------------


def test_input_files_hash_and_synthetic_marker(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.csv").write_bytes(b"abc")
    entries = manifest.input_files([("data_dir", tmp_path / "d", "dir")], tmp_path)
    assert entries == [{"parameter": "data_dir", "path": "d/a.csv", "bytes": 3,
                        "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}]
    assert not manifest.synthetic_data([("data_dir", tmp_path / "d", "dir")])
    (tmp_path / "d" / "truth.json").write_text(json.dumps({"synthetic": True}))
    assert manifest.synthetic_data([("data_dir", tmp_path / "d", "dir")])
    assert manifest.synthetic_data([("cases_path", tmp_path / "d" / "a.csv", "file")])


# --- data quality helpers ---------------------------------------------------------------------


def test_unit_subtree_and_out_of_order():
    districts = pd.DataFrame({"unit_id": ["c", "d1", "s1", "s2", "d2"], "parent_id": [None, "c", "d1", "d1", "c"]})
    assert quality.unit_subtree(districts, "d1") == {"d1", "s1", "s2"}
    from cityanalytics.io.report import LoadReport

    frame = pd.DataFrame({
        "reported_at": pd.to_datetime(["2025-01-02", "2025-01-02", "2025-01-02"]),
        "closed_at": pd.to_datetime(["2025-01-03", None, "2025-01-01"]),
    })
    loaded = quality.Loaded(".", None, {"cases": quality.LoadedTable("cases", None, frame, LoadReport("x", "cases", 3))})
    table = quality.out_of_order(loaded)
    row = table[table["规则"] == "closed_at 不早于 reported_at"].iloc[0]
    assert row["保留数据中违反"] == 1  # the empty closed_at is not a violation, the early one is


def test_interrupted_run_leaves_last_good_report(project, monkeypatch):
    from cityanalytics.report import execute, runner

    target = layout.report_dir(project / "outputs", "2025-06", "r")
    staging = publish.prepare(target)
    (staging / "report.html").write_text("last good")
    publish.publish(staging, target)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(execute, "execute", interrupted)
    job = runner.Job(run="r", unit=None, unit_name=None, period="2025-06", target=target, root=project,
                     run_file="params/r.yaml", notebook=project / "notebooks" / "nb.ipynb", title="测试")
    with pytest.raises(KeyboardInterrupt):
        runner.run_job(job)
    assert (target / "report.html").read_text() == "last good"
    assert not (target / "failed").exists()
    assert [p.name for p in target.parent.iterdir()] == ["r"]  # staging removed
