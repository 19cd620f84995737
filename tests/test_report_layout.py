"""Every scheduled report's PDF, looked at as a reviewer would: nothing crosses the printable
area, no pandas index column, a page number on every page, page 1 the cover and summary,
then the table of contents, and bookmarks in the PDF.

The schedule's run files are copied with small settings (one unit per fan-out, fewer
simulated paths) and run by the real runner on the demo data in ``data/demo``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from cityanalytics import cli
from cityanalytics.report import export, paging
from cityanalytics.report.params import load_run, unit_list

ROOT = Path(__file__).resolve().parents[1]
PAGE_NUMBER = re.compile(r"第\s*(\d+)\s*页\s*/\s*共\s*(\d+)\s*页")
MARGIN_PT = 14 / 25.4 * 72  # the stylesheet's side margins
SMALL = {"n_paths": 200, "backtest_origins": 2, "ri_max_sets": 49}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _small_runs(params_dir: Path) -> list[str]:
    schedule = yaml.safe_load((ROOT / "params" / "schedule.yaml").read_text(encoding="utf-8"))
    names = []
    for entry in schedule["runs"]:
        name = entry["run"]
        source = ROOT / "params" / f"{name}.yaml"
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        for key, value in SMALL.items():
            if key in raw.get("parameters", {}):
                raw["parameters"][key] = value
        if raw.get("for_each"):
            first = unit_list(load_run(source, ROOT))[0][0]
            raw["units"] = [first]
        raw["notebook"] = str(ROOT / raw["notebook"])
        (params_dir / f"{name}.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        names.append({"run": name, **{k: v for k, v in entry.items() if k != "run"}})
    (params_dir / "schedule.yaml").write_text(yaml.safe_dump({"runs": names}, allow_unicode=True), encoding="utf-8")
    return [n["run"] for n in names]


@pytest.fixture(scope="module")
def reports(tmp_path_factory, project_demo):
    import os

    base = tmp_path_factory.mktemp("layout")
    params_dir = base / "params"
    params_dir.mkdir()
    runs = _small_runs(params_dir)
    outputs = base / "outputs"
    here = os.getcwd()
    os.chdir(ROOT)  # run files outside the project resolve notebooks and data against the working directory
    try:
        code = cli.main(["reports", "--schedule", str(params_dir / "schedule.yaml"), "--outputs", str(outputs),
                         "--no-progress", "--jobs", "2"])
    finally:
        os.chdir(here)
    pdfs = sorted(outputs.glob("*/*/report.pdf")) + sorted(outputs.glob("*/*/*/report.pdf"))
    made = {p.relative_to(outputs).parts[1] for p in pdfs}
    assert code == 0 and made == set(runs), f"exit {code}; runs without a PDF: {sorted(set(runs) - made)}"
    return pdfs


def pdf_pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:-1]


def page_number_faults(pdf: Path) -> list[str]:
    pages = pdf_pages(pdf)
    faults = []
    for i, text in enumerate(pages, 1):
        found = PAGE_NUMBER.findall(text)
        if (str(i), str(len(pages))) not in found:
            faults.append(f"page {i} of {len(pages)}: no 第 {i} 页 / 共 {len(pages)} 页")
    return faults


def index_column_faults(html: Path) -> list[str]:
    """Tables whose body rows start with a header cell holding 0, 1, 2, ... (a pandas index)."""
    soup = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
    faults = []
    for table in soup.find_all("table"):
        rows = table.find("tbody").find_all("tr", recursive=False) if table.find("tbody") else []
        heads = [r.find(["th", "td"]) for r in rows]
        if rows and all(h is not None and h.name == "th" for h in heads):
            labels = [h.get_text(strip=True) for h in heads]
            if labels == [str(i) for i in range(len(labels))]:
                faults.append(f"index column 0..{len(labels) - 1} before {table.find('thead').get_text(' ', strip=True)[:50]!r}"
                              if table.find("thead") else "index column")
    return faults


def text_box_faults(pdf: Path) -> list[str]:
    """Words the PDF places outside the page's printable width (side margins)."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    faults = []
    for number, page in enumerate(out.split("<page ")[1:], 1):
        width = float(re.search(r'width="([\d.]+)"', page).group(1))
        for x0, x1, word in re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)<', page):
            if float(x0) < MARGIN_PT - 2 or float(x1) > width - MARGIN_PT + 2:
                faults.append(f"page {number}: {word!r} at x {float(x0):.0f}-{float(x1):.0f} of {width:.0f} pt")
    return faults


def box_faults(html: Path, fit: bool = True) -> list[str]:
    browser = export.PipeBrowser.shared(export.find_browser())
    return [f"{f['tag']} {f['used']} px wide, {f['avail']} px on its {'landscape' if f['landscape'] else 'portrait'} "
            f"page: {f['label']!r}" for f in browser.layout_faults(html, fit=fit)]


def test_no_table_or_figure_crosses_the_printable_area(reports):
    faults = {str(p.parent): box_faults(p.parent / "report.html") + text_box_faults(p)[:5] for p in reports}
    assert not {k: v for k, v in faults.items() if v}


def test_no_pandas_index_column(reports):
    faults = {str(p.parent): index_column_faults(p.parent / "report.html") for p in reports}
    assert not {k: v for k, v in faults.items() if v}


def test_every_page_has_its_number(reports):
    faults = {str(p.parent): page_number_faults(p) for p in reports}
    assert not {k: v for k, v in faults.items() if v}


def test_cover_and_summary_first_then_contents_and_bookmarks(reports):
    for pdf in reports:
        pages = pdf_pages(pdf)
        first = re.sub(r"\s+", "", pages[0])
        assert "本报告使用合成演示数据" in first and "报告期" in first and "生成时间" in first, pdf
        html = (pdf.parent / "report.html").read_text(encoding="utf-8")
        cover, summary, toc = html.find('class="ca-cover"'), html.find("celltag_summary"), html.find('class="ca-toc"')
        assert 0 < cover < summary < toc, f"{pdf}: cover, summary, contents out of order"
        assert "目录" in pages[1] and "目录" not in pages[0], pdf
        data = pdf.read_bytes()
        assert b"/Outlines" in data and b"/StructTreeRoot" in data, f"{pdf}: no bookmarks or tags"


def test_header_and_footer_escape_the_title():
    header, footer = paging.header_footer('<img src=x onerror="alert(1)">城关\u2028街道', "2025-06", '"Noto Sans CJK SC"')
    assert "<img" not in header and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;城关 街道" in header
    assert 'font-family: &quot;Noto Sans CJK SC&quot;; font-size: 8pt' in header
    assert '<span class="pageNumber"></span>' in footer and '<span class="totalPages"></span>' in footer


# --- a small notebook with outputs already in it: no kernel, one print ------------------------

HOSTILE_TITLE = '<img src=x onerror="alert(1)">城关 </title><script>alert(2)</script>'


def _small_report(tmp_path: Path) -> tuple[Path, Path]:
    import nbformat
    import pandas as pd

    from cityanalytics.report.summary import Page
    from cityanalytics.report.changes import Changes
    from cityanalytics.report.tables import show_table

    wide = pd.DataFrame({"单位": [f"第{i}街道" for i in range(12)],
                         **{f"指标{k}预测区间(百分点)": [f"{90 + k * 0.1:.1f}%–{95 + k * 0.1:.1f}%"] * 12 for k in range(14)}})
    narrow = pd.DataFrame({"单位": ["城关街道", "柳荫街道"], "覆盖率": [97.5, 98.25], "社区数": [3, 14]})

    def html_output(html: str):
        return nbformat.v4.new_output("display_data", data={"text/html": html, "text/plain": "table"})

    nb = nbformat.v4.new_notebook()
    summary = nbformat.v4.new_code_cell("summary.show()", metadata={"tags": ["summary"]})
    page = Page(findings=["全市覆盖率 96.6%(80% 区间 95.0% 至 97.5%)。"], changes=Changes.__new__(Changes))
    summary.outputs = [html_output(page._repr_html_())]
    nb.cells = [nbformat.v4.new_markdown_cell("# 测试报告\n\n导言。"),
                nbformat.v4.new_markdown_cell("## 宽表"), nbformat.v4.new_code_cell("wide"),
                summary,
                nbformat.v4.new_markdown_cell("## 窄表"), nbformat.v4.new_code_cell("narrow")]
    nb.cells[2].outputs = [html_output(show_table(wide).to_html())]
    nb.cells[5].outputs = [html_output(show_table(narrow, units={"覆盖率": "%"}).to_html())]
    notebook = tmp_path / "report.ipynb"
    nbformat.write(nb, notebook)
    meta = {"title": HOSTILE_TITLE, "period": "2025-06", "produced_at": "2025-07-01 08:00", "run_file": "params/t.yaml",
            "notebook": "notebooks/t.ipynb", "version": "0", "parameters": {"workspace": "data/demo"},
            "synthetic": True, "source": "测试数据", "inputs_shown": []}
    html, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    export.to_html(notebook, html, meta)
    export.to_pdf(html, pdf)
    return html, pdf


@pytest.mark.timeout(120)
def test_small_report_layout_and_hostile_title(tmp_path):
    html, pdf = _small_report(tmp_path)
    text = html.read_text(encoding="utf-8")
    soup = BeautifulSoup(text, "html.parser")
    assert not soup.find_all("script") and not [e for e in soup.find_all(True) if any(a.startswith("on") for a in e.attrs)]
    assert HOSTILE_TITLE in soup.find("h1").get_text()
    # page 1: cover then the summary cell's output (moved before the body), then the contents
    assert text.find('class="ca-cover"') < text.find("celltag_summary") < text.find('class="ca-toc"') < text.find("导言")
    assert '<a href="#ca-sec-1">宽表</a>' in text and '<h2 id="ca-sec-1">宽表</h2>' in text
    pages = pdf_pages(pdf)
    assert "全市覆盖率" in pages[0] and "目录" in pages[1] and len(pages) >= 4
    # the header shows the hostile title as text (not markup): it was escaped
    header = re.sub(r"\s+", " ", pages[0].split("\n")[0] + pages[1].split("\n")[0])
    assert '<img src=x onerror="alert(1)">城关' in header and "报告期 2025-06" in header
    assert page_number_faults(pdf) == [] and index_column_faults(html) == []
    # the 15-column table went to a landscape page, split into column groups with the key column
    sizes = subprocess.run(["pdfinfo", "-f", "1", "-l", str(len(pages)), str(pdf)], capture_output=True, text=True).stdout
    assert "841.92 x 594.96" in sizes
    assert sum(p.count("续表") for p in pages) >= 2 and sum(p.count("单位") for p in pages) >= 2  # the key column repeated
    before, after = box_faults(html, fit=False), box_faults(html)
    assert before and after == [], (before, after)
    assert text_box_faults(pdf) == []
    # numbers right-aligned with the same decimals, the unit in the header, no index
    assert "97.50" in text and "98.25" in text and "覆盖率(%)" in text


# ---- the reports' text, before and after a refactor ------------------------------------------
# tests/data/report_text/<run>.txt holds each scheduled report's PDF text (pdftotext), with what
# legitimately changes between runs masked: the time the report was made, the page count in the
# footer, the commit, and the folders the project and the test run sit in. Reports are compared with all
# whitespace removed, so a longer folder name that wraps a line differently is not a change.
# CITYANALYTICS_UPDATE_REPORT_TEXT=1 rewrites them (after a change meant to alter the reports).
REPORT_TEXT = ROOT / "tests" / "data" / "report_text"
_MASKS = [
    (re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?(\.\d+)?([+-]\d{2}:?\d{2}|Z)?"), "<time>"),
    (re.compile(r"第\s*\d+\s*页\s*/\s*共\s*\d+\s*页"), "<page>"),
    (re.compile(r"[\w.+/-]*data/demo/?", re.ASCII), "<demo>/"),
    (re.compile(r"git [0-9a-f]{7,40}(\+本地修改)?"), "git <commit>"),
    (re.compile(r"/tmp/[\w.+/-]*(\s*→\s*notebooks/[\w.]*)?", re.ASCII), "<tmp>"),
]


def _masked(text: str) -> str:
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text


def report_text(pdf: Path) -> str:
    """The PDF's text, one line per text line, volatile parts masked."""
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    lines = [" ".join(line.split()) for line in _masked(text).replace("\f", "\n").splitlines()]
    return "\n".join(line for line in lines if line) + "\n"


def _content(text: str) -> str:
    # a masked temporary path wraps where its length puts it: the tail that spilled onto the next
    # line (``…ality.ipynb``) goes with the mask
    return re.sub(r"<tmp>→?[\w./-]*", "<tmp>", _masked("".join(text.split())), flags=re.ASCII)


def test_report_text_unchanged(reports):
    """Every scheduled report says what it said before (refactors must not change the reports)."""
    import difflib
    import os

    update = os.environ.get("CITYANALYTICS_UPDATE_REPORT_TEXT") == "1"
    changed = {}
    for pdf in reports:
        parts = pdf.parts[pdf.parts.index("outputs") + 2:-1]  # outputs/<period>/<run>[/<unit>]/report.pdf
        path = REPORT_TEXT / ("__".join(parts) + ".txt")
        got = report_text(pdf)
        if update:
            REPORT_TEXT.mkdir(parents=True, exist_ok=True)
            path.write_text(got, encoding="utf-8")
            continue
        want = path.read_text(encoding="utf-8") if path.is_file() else ""
        if _content(got) != _content(want):
            diff = difflib.unified_diff(want.splitlines(), got.splitlines(), "before", "after", lineterm="", n=1)
            changed[path.stem] = "\n".join(list(diff)[:40])
    assert not changed, "reports whose text changed:\n" + "\n\n".join(f"## {k}\n{v}" for k, v in changed.items())
