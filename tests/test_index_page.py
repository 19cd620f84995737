"""The period's index page: one line for status, sign-off and times at 1,280 px (measured in
headless Chromium), a filter by status that needs no script, the run matrix, the sign-off state
of each report, and unit names from the data escaped."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest

from cityanalytics.report import index, signoff
from cityanalytics.report.export import PipeBrowser, find_browser
from cityanalytics.report.sanitize import CSP_META

PERIOD = "2025-06"
STREETS = ["鹭洲街道", "柳荫街道", "望桥街道", "石鼓街道", "栖云街道", "桂香街道", "枫林街道", "青禾镇", "白沙镇",
           "示范经济技术开发区"]
HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>'


def _report(folder: Path, *, title: str, unit=None, label=None, status="ok", error=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"run": folder.parent.name if unit else folder.name, "title": title, "status": status, "unit": unit,
            "unit_label": label, "synthetic": True, "produced_at": "2025-07-01 06:00:12+08:00",
            "ended_at": "2025-07-01T06:00:12+08:00", "timings": {"total": 123.4},
            "files": ["report.html", "report.pdf", "report.ipynb", "manifest.json"]}
    if error:
        meta["error"] = error
    (folder / "manifest.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    if status == "ok":
        (folder / "report.pdf").write_bytes(b"%PDF-1.4 " + title.encode())


@pytest.fixture()
def outputs(tmp_path) -> Path:
    out = tmp_path / "outputs"
    period = out / PERIOD
    _report(period / "district_comparison", title="城市管理月度考评通报(街镇比较)")
    _report(period / "data_quality", title="数据质量报告")
    for i, name in enumerate([*STREETS, HOSTILE]):
        _report(period / "district_report" / f"u{i:02d}", title="街镇报告", unit=f"u{i:02d}", label=name)
    long_error = {"phase": "execute", "cell_index": 5, "execution_count": 5, "ename": "ValueError",
                  "evalue": "数据有误" + "x" * 900, "source": "y = 1 / 0  " * 80}
    _report(period / "sorting_forecast" / "failed", title="垃圾分类覆盖率预测", status="failed", error=long_error)
    signoff.sign(period / "district_comparison", "张三")  # 已审
    signoff.sign(period / "data_quality", "李四")
    (period / "data_quality" / "report.pdf").write_bytes(b"%PDF-1.4 re-made")  # 审后已变更
    signoff.sign(period / "district_report" / "u00", "王五", reject=True, note="数字有误")  # 退回
    index.write_index(out, PERIOD)
    return out


def _page(outputs: Path) -> str:
    return (outputs / PERIOD / "index.html").read_text(encoding="utf-8")


def _rows(page: str) -> dict[str, str]:
    """Run/unit path -> its list row's HTML."""
    rows = re.findall(r'<tr class="row [^"]*">.*?</tr>', page, re.S)
    out = {}
    for row in rows:
        m = re.search(r'href="([^"]+?)/(?:failed/)?(?:report\.html|manifest\.json)"', row)
        out[m.group(1)] = row
    return out


def test_sign_off_state_per_report(outputs):
    rows = _rows(_page(outputs))
    assert '<span class="so-approved">已审</span>' in rows["district_comparison"]
    assert '<span class="so-changed">审后已变更</span>' in rows["data_quality"]
    assert '<span class="so-rejected">退回</span>' in rows["district_report/u00"]
    assert '<span class="so-pending">待审</span>' in rows["district_report/u01"]
    assert '<span class="so-none">—</span>' in rows["sorting_forecast"]  # failed, never published: nothing to sign
    assert 'class="row st-failed"' in rows["sorting_forecast"]
    assert 'class="row st-ok so-changed"' in rows["data_quality"]


def test_filter_and_matrix_need_no_script(outputs):
    page = _page(outputs)
    assert CSP_META in page and not re.search(r"<\s*script", page, re.I)
    radios = re.findall(r'<input class="filter" type="radio" name="filter" id="f-([a-z-]+)"', page)
    assert radios == ["all", "st-ok", "st-failed", "so-pending", "so-approved", "so-rejected", "so-changed"]
    for key in radios[1:]:
        assert f"#f-{key}:checked ~ .runs-wrap tr.row:not(.{key}) {{ display: none; }}" in page
    # counts on the labels: 14 reports, 13 made, 1 failed; 10 awaiting review (11 street reports - 1 sent back)
    for label in ("全部(14)", "成功(13)", "失败(1)", "待审(10)", "已审(1)", "退回(1)", "审后已变更(1)"):
        assert label in page
    matrix = page.split('<table class="matrix">')[1].split("</table>")[0]
    assert matrix.count('<th class="unitcol"') == 1 + len(STREETS) + 1  # 全部, the streets, the hostile name
    assert matrix.count("<td class=\"cell m-ok") == 13 and matrix.count("<td class=\"cell m-failed") == 1
    assert matrix.count('<td class="m-none">—</td>') == 4 * 12 - 14
    assert 'href="sorting_forecast/failed/report.html">失败</a>' in matrix


def test_unit_names_from_data_are_escaped(outputs):
    page = _page(outputs)
    assert HOSTILE not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page


MEASURE = r"""(() => {
  const lines = el => { const r = document.createRange(); r.selectNodeContents(el);
    return new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top))).size; };
  const out = {width: document.documentElement.scrollWidth, onechar: [], multiline: [], checked: 0};
  for (const td of document.querySelectorAll('td, th')) {
    const text = td.innerText.trim(); const chars = text.replace(/\s/g, '').length;
    if (chars < 2) continue;
    const n = lines(td);
    if (n >= 2 && n >= 0.6 * chars) out.onechar.push(text.slice(0, 20) + ' (' + n + ' lines)');
    if (td.matches('td.status, td.signoff, td.time, td.took')) {
      out.checked += 1;
      if (n !== 1) out.multiline.push(td.className + ': ' + text.slice(0, 20) + ' (' + n + ' lines)');
    }
  }
  out.text_colours = [...new Set([...document.querySelectorAll('table.runs tr.row td:first-child')]
    .map(td => getComputedStyle(td).color))];
  const shown = () => [...document.querySelectorAll('table.runs tr.row')].filter(r => r.offsetParent !== null).length;
  out.rows = shown();
  document.getElementById('f-st-failed').checked = true; out.failed_rows = shown();
  document.getElementById('f-so-pending').checked = true; out.pending_rows = shown();
  out.dimmed = [...document.querySelectorAll('table.matrix td.cell')].filter(c => getComputedStyle(c).opacity < 1).length;
  document.getElementById('f-all').checked = true; out.all_rows = shown();
  return JSON.stringify(out);
})()"""


def test_the_index_reads_at_1280_px(outputs, tmp_path):
    browser = PipeBrowser(find_browser())
    try:
        browser.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1,
                                                            "mobile": False}, session=True)
        browser.events.clear()
        browser.call("Page.navigate", {"url": (outputs / PERIOD / "index.html").as_uri()}, session=True)
        browser.wait_event("Page.loadEventFired", time.monotonic() + 30)
        got = json.loads(browser.call("Runtime.evaluate", {"expression": MEASURE, "returnByValue": True},
                                      session=True)["result"]["value"])
        shot = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)
        artifacts = Path(__file__).resolve().parents[1] / "test-artifacts" / "index"
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "index_1280.png").write_bytes(base64.b64decode(shot["data"]))
    finally:
        browser.close()
    assert got["onechar"] == [] and got["multiline"] == []
    # status, sign-off, time and duration of every report, each on one line (the failed run's
    # sign-off is a lone "—", below the two characters measured)
    assert got["checked"] == 4 * 14 - 1
    assert got["width"] <= 1280  # the long error wraps inside its cell instead of widening the page
    assert (got["rows"], got["failed_rows"], got["pending_rows"], got["all_rows"]) == (14, 1, 10, 14)
    assert got["dimmed"] == 14 - 10  # the filter dims the other matrix cells
    assert got["text_colours"] == ["rgb(34, 34, 34)"]  # a row's filter classes do not colour its text
