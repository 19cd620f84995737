"""The report pipeline end to end, on tiny notebooks in a project made in tmp_path: good,
failing, hanging and fanned-out runs in one batch; the last good report surviving a failure;
HTML escaping; Chinese text in the PDF; manifests; the index page; the real data-quality
notebook on (small) demo data."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from cityanalytics import cli

ROOT = Path(__file__).resolve().parents[1]
PERIOD = "2025-06"
SYNTHETIC = "本报告使用合成演示数据,非真实城市数据"

GOOD = [
    "import pandas as pd\n"
    "pd.DataFrame({'街道': ['城关街道'], '描述': ['<script>alert(1)</script>']})",
    "import matplotlib\nimport matplotlib.pyplot as plt\nfrom matplotlib import font_manager\n"
    "fig, ax = plt.subplots(figsize=(3, 2))\nax.bar(['鹭洲', '柳荫'], [3, 4])\nax.set_title('案件数量')\n"
    "print('FIGURE FONT', font_manager.findfont(font_manager.FontProperties(family=matplotlib.rcParams['font.family'])))",
    "print('标签', label, '单元', unit_id, '报告期', period)",
]


def _notebook(path: Path, cells: list[str], parameters: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 城市管理测试报告\n\n测试用。"),
                nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "cityanalytics", "display_name": "Python (cityanalytics)", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path):
    params = 'label = "默认"\nunit_id = None\nperiod = ""\ndata_dir = "data/city"\nfail = False\n'
    _notebook(tmp_path / "notebooks" / "good.ipynb", GOOD, params)
    _notebook(tmp_path / "notebooks" / "flaky.ipynb",
              ["if fail:\n    raise ValueError('数据有误:字段缺失')", "print('done')"], params)
    _notebook(tmp_path / "notebooks" / "hang.ipynb", ["import time\ntime.sleep(120)"], params)
    _write(tmp_path / "data" / "city" / "cases.csv", "case_id,unit_id\n1,a\n")
    _write(tmp_path / "data" / "city" / "truth.json", json.dumps({"synthetic": True}))
    _write(tmp_path / "params" / "good.yaml", "notebook: notebooks/good.ipynb\ntitle: 案件办理测试报告\n"
           "source: 测试数据\nparameters:\n  label: 城关\n")
    _write(tmp_path / "params" / "units.yaml", "notebook: notebooks/flaky.ipynb\nfor_each: unit_id\n"
           "units: [u1, u2]\n")
    _write(tmp_path / "params" / "flaky.yaml", "notebook: notebooks/flaky.ipynb\nparameters:\n  fail: false\n")
    _write(tmp_path / "params" / "hang.yaml", "notebook: notebooks/hang.ipynb\n")
    _write(tmp_path / "params" / "schedule.yaml",
           "defaults: {timeout: 60}\nruns:\n"
           "  - {run: good, every: monthly}\n  - {run: flaky, every: monthly}\n"
           "  - {run: hang, every: daily, timeout: 5}\n  - {run: units, every: weekly}\n")
    return tmp_path


def _reports(project: Path, *args: str) -> int:
    return cli.main(["reports", "--schedule", str(project / "params" / "schedule.yaml"), "--period", PERIOD,
                     "--no-progress", *args])


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_batch_failure_timeout_fanout_and_last_good_report(project, capsys):
    out = project / "outputs" / PERIOD
    # A first batch where everything but the hanging run works: flaky gets a good report.
    assert _reports(project, "--only", "flaky", "--only", "good", "--jobs", "1") == 0
    good_html = (out / "flaky" / "report.html").read_bytes()
    good_pdf = (out / "flaky" / "report.pdf").read_bytes()

    # Now flaky fails; the batch goes on, the command exits non-zero.
    _write(project / "params" / "flaky.yaml", "notebook: notebooks/flaky.ipynb\nparameters:\n  fail: true\n")
    assert _reports(project, "--jobs", "2") == 1
    err = capsys.readouterr().err
    assert "FAILED flaky [execute] in cell 4 (In [4])" in err and "ValueError: 数据有误:字段缺失" in err
    assert "FAILED hang [timeout]" in err

    # The last good report of flaky is intact; the failed notebook is kept beside it.
    assert (out / "flaky" / "report.html").read_bytes() == good_html
    assert (out / "flaky" / "report.pdf").read_bytes() == good_pdf
    failed_nb = nbformat.read(out / "flaky" / "failed" / "report.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in failed_nb.cells for o in c.get("outputs", []))
    failed = json.loads((out / "flaky" / "failed" / "manifest.json").read_text(encoding="utf-8"))
    assert failed["status"] == "failed" and failed["error"]["cell_index"] == 4
    assert "raise ValueError" in failed["error"]["source"]

    # The hanging cell was stopped after 5 s; that run failed alone.
    hang = json.loads((out / "hang" / "failed" / "manifest.json").read_text(encoding="utf-8"))
    assert hang["error"]["phase"] == "timeout" and hang["timeout"] == 5 and hang["timings"]["execute"] < 60
    assert not (out / "hang" / "report.html").exists()

    # The others finished; the fan-out run made one report per unit.
    for rel in ("good", "units/u1", "units/u2"):
        for name in ("report.ipynb", "report.html", "report.pdf", "manifest.json"):
            assert (out / rel / name).is_file(), (rel, name)
    u1 = json.loads((out / "units" / "u1" / "manifest.json").read_text(encoding="utf-8"))
    assert u1["unit"] == "u1" and u1["parameters"]["unit_id"] == "u1" and u1["status"] == "ok"

    # The index lists every run and unit with its status, links, and the failing cell.
    index = (out / "index.html").read_text(encoding="utf-8")
    for link in ('href="good/report.html"', 'href="good/report.pdf"', 'href="units/u1/report.html"',
                 'href="units/u2/report.pdf"', 'href="flaky/failed/report.ipynb"', 'href="flaky/report.html"'):
        assert link in index
    assert index.count("成功") >= 3 and index.count('class="failed"') == 2
    assert "ValueError: 数据有误:字段缺失" in index and "CellTimeoutError" in index
    assert "未被覆盖" in index  # flaky's previous good report is still linked

    # Manifest: parameters, inputs with sha256, versions, times, phases.
    good = json.loads((out / "good" / "manifest.json").read_text(encoding="utf-8"))
    data = project / "data" / "city" / "cases.csv"
    entry = next(i for i in good["inputs"] if i["path"] == "data/city/cases.csv")
    assert entry["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest() and entry["parameter"] == "data_dir"
    assert any(i["path"] == "notebooks/good.ipynb" and len(i["sha256"]) == 64 for i in good["inputs"])
    assert good["parameters"]["label"] == "城关" and good["parameters"]["period"] == PERIOD
    assert {"pandas", "papermill", "nbconvert", "python"} <= set(good["packages"])
    assert good["started_at"] <= good["ended_at"] and good["synthetic"] is True
    assert {"execute", "cells", "html", "pdf", "total"} <= set(good["timings"])

    # HTML: code hidden, data escaped, no script at all, title page first.
    html = (out / "good" / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "pd.DataFrame" not in html and "# Parameters" not in html
    assert html.index("案件办理测试报告") < html.index("城市管理测试报告")
    assert SYNTHETIC in html

    # PDF: Chinese text from the title page and the notebook, and a CJK font in the figure.
    text = _pdf_text(out / "good" / "report.pdf")
    for words in ("案件办理测试报告", SYNTHETIC, "报告期", "2025-06", "城关街道", "标签 城关"):
        assert words in text, words
    executed = nbformat.read(out / "good" / "report.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    font_file = printed.split("FIGURE FONT ", 1)[1].splitlines()[0]
    assert "NotoSansCJK" in font_file or "SourceHan" in font_file, font_file
    stderr = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stderr")
    assert "missing from font" not in stderr  # no tofu warnings from matplotlib


def test_rerun_replaces_the_period_and_parameter_errors_start_nothing(project, capsys):
    out = project / "outputs" / PERIOD
    assert cli.main(["run", str(project / "params" / "flaky.yaml"), "--period", PERIOD, "--no-pdf",
                     "--no-progress"]) == 0
    first = json.loads((out / "flaky" / "manifest.json").read_text(encoding="utf-8"))
    (out / "flaky" / "stale.txt").write_text("from an older run")
    assert cli.main(["run", str(project / "params" / "flaky.yaml"), "--period", PERIOD, "--no-pdf",
                     "--no-progress"]) == 0
    second = json.loads((out / "flaky" / "manifest.json").read_text(encoding="utf-8"))
    assert second["started_at"] >= first["started_at"] and not (out / "flaky" / "stale.txt").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind

    for body, words in [("parameters:\n  nonsense: 1\n", "parameters.nonsense: unknown parameter"),
                        ("parameters:\n  fail: maybe\n", "parameters.fail: expected bool"),
                        ("parameters:\n  data_dir: data/missing\n", "parameters.data_dir: dir")]:
        bad = _write(project / "params" / "bad.yaml", "notebook: notebooks/flaky.ipynb\n" + body)
        assert cli.main(["run", str(bad), "--period", PERIOD, "--no-pdf", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert str(bad) in err and words in err
    assert not (out / "bad").exists()  # refused before any kernel or output

    # In a batch a bad run file is a failed run in the index; the rest still run.
    _write(project / "params" / "schedule.yaml", "runs:\n  - run: bad\n  - run: flaky\n")
    assert _reports(project, "--no-pdf") == 1
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "parameters.data_dir: dir" in index and 'href="flaky/report.html"' in index


def test_data_quality_notebook_on_demo_data(tmp_path):
    from cityanalytics.demo import write_demo

    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    write_demo(tmp_path / "data" / "demo", n_cases=3000)
    _write(tmp_path / "params" / "dq.yaml", (ROOT / "params" / "data_quality.yaml").read_text(encoding="utf-8"))
    _write(tmp_path / "params" / "dq_units.yaml",
           "notebook: notebooks/data_quality.ipynb\nfor_each: unit_id\nunits: {level: 功能区}\n"
           "parameters:\n  data_dir: data/demo\n  tables: [districts, cases, dust_samples]\n")
    _write(tmp_path / "params" / "schedule.yaml", "runs:\n  - run: dq\n  - run: dq_units\n")
    assert _reports(tmp_path, "--jobs", "2") == 0
    out = tmp_path / "outputs" / PERIOD
    text = _pdf_text(out / "dq" / "report.pdf")
    for words in ("数据质量报告", SYNTHETIC, "读入概况", "案件(cases)", "3000"):
        assert words in text, words
    unit = json.loads((out / "dq_units" / "990171" / "manifest.json").read_text(encoding="utf-8"))
    assert unit["unit_name"] == "示范经济技术开发区" and unit["status"] == "ok"
    assert "示范经济技术开发区" in _pdf_text(out / "dq_units" / "990171" / "report.pdf")
