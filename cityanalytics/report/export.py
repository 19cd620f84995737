"""Executed notebook -> ``report.html`` (nbconvert, code hidden, title page) -> ``report.pdf``.

HTML: nbconvert's ``lab`` template with four changes: no code cells (``exclude_input``),
no parameters / injected-parameters / setup cells, no stderr streams (warnings belong in the
executed notebook, not in front of a reviewer), and no scripts: the template's MathJax,
require.js and mermaid loaders are left out, JavaScript and widget outputs dropped. Then the
page goes through :func:`cityanalytics.report.sanitize.page`: the body (title page and
notebook outputs) is cleaned by an allow-list HTML sanitiser (no script, event handler,
external URL, form, frame or remote CSS; images only inline PNG/JPEG), the exporter's own
head and stylesheet are kept, and a Content-Security-Policy ``<meta>`` forbids scripts and
network loads. Data text is escaped where it is written (``cityanalytics.text.md_escape``,
pandas, Jinja autoescaping of the title page); the sanitiser is the second line.

Page 1 is a compact cover (title, period, data source, synthetic-data notice, time made)
followed by the output of the notebook's ``summary``-tagged cell; page 2 the table of contents
(:mod:`cityanalytics.report.paging`); the run file, versions and parameters close the report.

PDF: a headless Chromium, Chrome or Edge prints the HTML. Kept open over the DevTools pipe
(:class:`PipeBrowser`), it first fits wide tables to the paper (landscape pages, column
groups), then prints with the title and period in the page header, "第 N 页 / 共 M 页" in the
footer, bookmarks from the headings and a tagged PDF. The one-shot ``--print-to-pdf`` fallback
(platforms without the pipe) prints the page as it is, without header, footer or bookmarks.
The browser is ``$CITYANALYTICS_CHROME`` if set, else the first found on PATH or in the usual
install places of Linux, Windows and macOS.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jinja2
import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from cityanalytics.report import paging, sanitize
from cityanalytics.fonts import css_font_stack

HIDDEN_TAGS = {"parameters", "injected-parameters", "report-setup", "remove-cell"}
SUMMARY_TAG = "summary"  # the cell whose output is page 1's findings
BROWSER_ENV = "CITYANALYTICS_CHROME"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
                 "microsoft-edge", "microsoft-edge-stable", "msedge")
BROWSER_PATHS = (
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
    r"C:\Program Files\Microsoft\Edge\Application\msedge.exe",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
)
# Flags for an offline, one-shot, headless print: without them Chromium may wait on network
# lookups (sync, component updates, QUIC) that never answer on a machine with no internet.
BROWSER_FLAGS = ("--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
                 "--no-default-browser-check")
PDF_TIMEOUT = 180

# Output kinds never shown: scripts, widgets (need a live kernel), and SVG (a document that can
# carry scripts and links; the figures are PNG).
DROPPED_MIMES = ("application/javascript", "application/vnd.jupyter.widget-view+json", "image/svg+xml")


class ExportError(RuntimeError):
    """The HTML or PDF could not be made."""


# --- HTML -------------------------------------------------------------------------------------

_PAGE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{% block extra_css %}<style type="text/css">{{ resources.report_css }}</style>{% endblock extra_css %}
{# extra_css comes before the lab stylesheet: the rules above are made more specific (main ...) to win #}
{% block body_header %}{{ super() }}{{ resources.cover_html }}{% endblock body_header %}
{% block body_footer %}{{ resources.runinfo_html }}{{ super() }}{% endblock body_footer %}
"""

_CSS = """
:root { --jp-content-font-family: FONT; --jp-ui-font-family: FONT; --jp-code-font-family: MONO; }
body { font-family: FONT; }
@page { size: A4; margin: 16mm 14mm 16mm 14mm; }
@page wide { size: A4 landscape; margin: 16mm 14mm 16mm 14mm; }
@media print { body { padding: 0 !important; } .jp-Cell { break-inside: auto; } img { break-inside: avoid; }
               main { max-width: none; margin: 0 !important; } main pre { white-space: pre-wrap; overflow-wrap: anywhere; } }
@media screen { main .jp-OutputArea-output { overflow-x: auto; } }
main { max-width: 60em; margin: 0 auto; }
.ca-wide { page: wide; }
/* A heading never ends a page: each notebook cell is its own block, so a heading that closes
   its markdown cell also keeps that cell with the next one. */
@media print { main :is(h1, h2, h3, h4) { break-after: avoid; }
               main .jp-MarkdownCell:has(:is(h1, h2, h3, h4):last-child) { break-after: avoid; } }
/* main keeps one width across pages: not centred, a landscape page's wide table starts at the left margin */
main table caption { caption-side: top; text-align: left; color: #555; font-size: 0.9em; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
@media print { main .jp-OutputArea-output { overflow: visible !important; } }
main .jp-RenderedHTMLCommon table { table-layout: auto; font-size: 0.82em; max-width: 100%; }
main .jp-RenderedHTMLCommon td, main .jp-RenderedHTMLCommon th { padding: 0.3em 0.45em; }
/* Headers wrap at spaces and punctuation, never one character per line (keep-all): a table
   that cannot fit then shows as too wide, and the print pass moves or splits it. */
main .jp-RenderedHTMLCommon thead th { white-space: normal; word-break: keep-all; }
main .jp-RenderedHTMLCommon table.ca-table td { vertical-align: top; }
.ca-cover { padding: 0 0 0.6em; }
.ca-cover h1 { font-size: 1.8em; margin: 0.6em 0 0.2em; }
.ca-toc { break-before: page; break-after: page; }
main .ca-toc ul { list-style: none; padding-left: 0; line-height: 1.8; }
main .ca-toc li.ca-toc-h3 { padding-left: 2em; font-size: 0.95em; }
.ca-toc a { color: inherit; text-decoration: none; }
.ca-runinfo { break-before: page; }
.ca-runinfo table { border-collapse: collapse; margin: 0.8em 0; width: 100%; }
.ca-runinfo th, .ca-runinfo td { border-bottom: 1px solid #ccc; padding: 0.35em 0.6em; text-align: left; vertical-align: top; }
.ca-runinfo th { width: 8em; white-space: nowrap; color: #333; }
.ca-runinfo code { font-family: MONO; font-size: 0.9em; word-break: break-all; }
.ca-runinfo .ca-note { color: #555; font-size: 0.9em; }
.ca-cover .ca-unit { font-size: 1.35em; margin: 0 0 1.2em; }
.ca-synthetic { border: 3px solid #c62828; color: #c62828; background: #ffebee; font-size: 1.3em;
                font-weight: bold; padding: 0.6em 0.9em; margin: 0 0 1em; }
.ca-cover table { border-collapse: collapse; margin: 0.8em 0; width: 100%; }
.ca-cover th, .ca-cover td { border-bottom: 1px solid #ccc; padding: 0.35em 0.6em; text-align: left;
                             vertical-align: top; }
.ca-cover th { width: 8em; white-space: nowrap; color: #333; }
.ca-cover code { font-family: MONO; font-size: 0.9em; word-break: break-all; }
.ca-cover .ca-note { color: #555; font-size: 0.9em; }
"""

_COVER = """<section class="ca-cover">
{% if synthetic %}<div class="ca-synthetic">本报告使用合成演示数据,非真实城市数据</div>{% endif %}
<h1>{{ title }}</h1>
{% if unit %}<p class="ca-unit">{{ unit }}</p>{% endif %}
{% if description %}<p>{{ description }}</p>{% endif %}
<table>
<tr><th>报告期</th><td class="ca-period">{{ period }}</td></tr>
<tr><th>数据来源</th><td>{% if source %}{{ source }}<br>{% endif %}
{% for item in inputs %}<code>{{ item }}</code>{% if not loop.last %}<br>{% endif %}{% endfor %}
{% if synthetic %}<br><span class="ca-note">合成演示数据(cityanalytics demo 生成,非真实城市)</span>{% endif %}</td></tr>
<tr><th>生成时间</th><td>{{ produced_at }}</td></tr>
</table>
</section>
"""

_RUNINFO = """<section class="ca-runinfo">
<h2>运行信息</h2>
<table>
<tr><th>运行</th><td><code>{{ run_file }}</code> → <code>{{ notebook }}</code></td></tr>
<tr><th>程序版本</th><td>cityanalytics {{ version }}{% if commit %},git <code>{{ commit }}</code>{% endif %}</td></tr>
</table>
<h3>运行参数</h3>
<table>
{% for name, value in parameters.items() %}<tr><th><code>{{ name }}</code></th><td>{{ value }}</td></tr>
{% endfor %}</table>
<p class="ca-note">本节由报告流水线根据运行元数据生成;完整的参数、输入文件校验值(sha256)和软件版本见同目录的 manifest.json。</p>
</section>
"""

_cover_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def cover_html(meta: dict, part: str = _COVER) -> str:
    """The top of page 1: what the report is, period, data source, time made (``part=_RUNINFO``:
    the closing section with the run file, versions and parameters)."""
    fields = {
        "title": meta["title"], "unit": meta.get("unit_label"), "description": meta.get("description"),
        "period": meta["period"], "source": meta.get("source"), "inputs": meta.get("inputs_shown", []),
        "synthetic": meta.get("synthetic", False), "produced_at": meta["produced_at"],
        "run_file": meta["run_file"], "notebook": meta["notebook"], "version": meta["version"],
        "commit": (meta.get("git") or {}).get("short"),
        "parameters": {k: _show(v) for k, v in meta["parameters"].items()},
    }
    return _cover_env.from_string(part).render(**fields)


def _show(value) -> str:
    if value is None:
        return "(未设置)"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value) or "(空)"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_show(v)}" for k, v in value.items()) or "(空)"
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value) if value != "" else "(空)"


class ReportCleaner(Preprocessor):
    """Drop script, widget and SVG outputs (an output left with nothing else says so); drop
    stderr streams unless ``keep_stderr`` (the page of a failed run keeps them)."""

    keep_stderr = Bool(False).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        kept = []
        for out in cell.get("outputs", []):
            if not self.keep_stderr and out.get("output_type") == "stream" and out.get("name") == "stderr":
                continue
            data = out.get("data")
            if data is not None:
                dropped = [mime for mime in DROPPED_MIMES if data.pop(mime, None) is not None]
                if not data:
                    if "image/svg+xml" not in dropped:
                        continue
                    data["text/plain"] = "(SVG 图形不嵌入报告页面;图形请以 PNG 输出)"
            kept.append(out)
        cell.outputs = kept
        return cell, resources


class FrontPage(Preprocessor):
    """Page 1 is the cover and the summary: the first cell tagged ``summary`` moves to the
    front, and the table-of-contents slot (:func:`paging.add_toc`) follows it."""

    def preprocess(self, nb, resources):
        cells = list(nb.cells)
        summary = next((i for i, c in enumerate(cells) if SUMMARY_TAG in c.get("metadata", {}).get("tags", [])), None)
        front = [cells.pop(summary)] if summary is not None else []
        nb.cells = front + [nbformat.v4.new_markdown_cell(paging.TOC_SLOT)] + cells
        return nb, resources


@functools.lru_cache(maxsize=2)
def _exporter(hide_code: bool):
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(
        extra_loaders=[jinja2.DictLoader({"cityreport.html.j2": _PAGE})],
        template_file="cityreport.html.j2",
        exclude_input=hide_code, exclude_input_prompt=hide_code, exclude_output_prompt=hide_code,
        exclude_anchor_links=True, language_code="zh",
    )
    exporter.log.setLevel(logging.ERROR)  # not "Alternative text is missing" once per figure
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags=HIDDEN_TAGS if hide_code else set()),
                                   enabled=True)
    exporter.register_preprocessor(ReportCleaner(keep_stderr=not hide_code), enabled=True)
    if hide_code:
        exporter.register_preprocessor(FrontPage(), enabled=True)
    return exporter


def to_html(notebook: Path, html_path: Path, meta: dict, hide_code: bool = True) -> None:
    """Write the report page for an executed notebook: title page, then outputs only
    (``hide_code=False`` keeps the code, for the page of a failed run)."""
    nb = nbformat.read(notebook, as_version=4)
    nb.metadata["title"] = meta["title"] + (f" — {meta['unit_label']}" if meta.get("unit_label") else "")
    font, mono = css_font_stack(), css_font_stack(mono=True)
    resources = {
        "cover_html": cover_html(meta),
        "runinfo_html": cover_html(meta, _RUNINFO),
        "report_css": _CSS.replace("MONO", mono).replace("FONT", font),
        "metadata": {"name": notebook.stem},
    }
    body, _ = _exporter(hide_code).from_notebook_node(nb, resources=resources)
    html_path.write_text(sanitize.page(paging.add_toc(body), nb.metadata["title"]), encoding="utf-8")


# --- PDF --------------------------------------------------------------------------------------


def find_browser() -> str:
    """The Chromium-family browser that prints PDFs; ExportError says how to get one."""
    configured = os.environ.get(BROWSER_ENV)
    if configured:
        if Path(configured).is_file():
            return configured
        raise ExportError(f"{BROWSER_ENV}={configured!r} is not a file")
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            # Debian's /usr/bin/chromium is a shell wrapper that adds extension flags and
            # costs about a second per call; the binary behind it prints the same PDF.
            direct = Path("/usr/lib/chromium/chromium")
            return str(direct) if name == "chromium" and direct.is_file() else found
    for path in BROWSER_PATHS:
        if Path(path).is_file():
            return path
    raise ExportError(
        "no Chromium, Chrome or Edge found to print the PDF. Debian/Ubuntu: "
        "`sudo apt-get install chromium` (scripts/install-system-deps.sh does it); Windows/macOS: install "
        f"Chrome or Edge, or set {BROWSER_ENV} to the browser's executable; or skip PDFs with --no-pdf"
    )


def to_pdf(html_path: Path, pdf_path: Path, browser: str | None = None) -> None:
    """Print ``html_path`` to ``pdf_path`` with a headless browser.

    Where the platform allows (Linux, macOS) one browser per process stays open and prints
    every report of the batch over the DevTools protocol, which saves its start-up (about
    1.5 s a report here); otherwise, or if that browser fails, a one-shot
    ``--print-to-pdf`` call does the same job.
    """
    browser = browser or find_browser()
    if PipeBrowser.supported():
        try:
            PipeBrowser.shared(browser).print_pdf(Path(html_path), Path(pdf_path))
            return
        except BrowserError:
            PipeBrowser.close_shared()
    _print_once(browser, Path(html_path), Path(pdf_path))


def _flags(profile: str) -> list[str]:
    flags = [*BROWSER_FLAGS, f"--user-data-dir={profile}"]
    if sys.platform.startswith("linux"):
        flags.append("--no-sandbox")  # Chromium refuses to run as root (containers, CI) without it
    return flags


def _print_once(browser: str, html_path: Path, pdf_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="cityanalytics-chrome-") as profile:
        cmd = [browser, *_flags(profile), "--no-pdf-header-footer", f"--print-to-pdf={pdf_path}",
               html_path.resolve().as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=PDF_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ExportError(f"{browser} did not finish printing {html_path} within {PDF_TIMEOUT} s") from None
    if not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise ExportError(f"{browser} wrote no PDF (exit {done.returncode}): " + " | ".join(tail))


class BrowserError(ExportError):
    """The kept-open browser failed; the caller falls back to a one-shot print."""


class PipeBrowser:
    """A headless browser driven over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out, NUL-
    separated JSON). One tab is reused: navigate, wait for the load event, printToPDF.
    (``--no-pdf-header-footer`` must not be passed here: with it Chromium 156's renderer
    crashes on navigation; printToPDF's ``displayHeaderFooter`` does that job.)"""

    _shared: "PipeBrowser | None" = None

    @staticmethod
    def supported() -> bool:
        return os.name == "posix"

    @classmethod
    def shared(cls, executable: str) -> "PipeBrowser":
        if cls._shared is not None and cls._shared.pid != os.getpid():
            cls._shared = None  # inherited through fork: the parent's browser, not ours to use or close
        if cls._shared is None or cls._shared.executable != executable or cls._shared.proc.poll() is not None:
            cls.close_shared()
            cls._shared = cls(executable)
            import multiprocessing.util  # closes it at exit in the main process and in pool workers

            multiprocessing.util.Finalize(cls._shared, cls._shared.close, exitpriority=10)
        return cls._shared

    @classmethod
    def close_shared(cls) -> None:
        if cls._shared is not None:
            cls._shared.close()
            cls._shared = None

    def __init__(self, executable: str):
        import fcntl

        self.executable, self.pid = executable, os.getpid()
        self.profile = tempfile.mkdtemp(prefix="cityanalytics-chrome-")
        to_browser, from_us = os.pipe()
        to_us, from_browser = os.pipe()
        # the child must see the pipe ends as fds 3 and 4: park them above 9 first
        child_in, child_out = fcntl.fcntl(to_browser, fcntl.F_DUPFD, 10), fcntl.fcntl(from_browser, fcntl.F_DUPFD, 10)
        os.close(to_browser)
        os.close(from_browser)

        def wire():  # runs in the child before exec
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        try:
            self.proc = subprocess.Popen(
                [executable, *_flags(self.profile), "--remote-debugging-pipe", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                close_fds=False, preexec_fn=wire,
            )
        finally:
            os.close(child_in)
            os.close(child_out)
        self.write_fd, self.read_fd = from_us, to_us
        self.buffer, self.next_id, self.events = b"", 0, []
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            self.call("Page.enable", session=True)
        except BrowserError:
            self.close()
            raise

    def print_pdf(self, html_path: Path, pdf_path: Path) -> None:
        """Load the page, fit its tables to the paper (:data:`paging.LAYOUT_JS`), print it with
        the title and period on top, page numbers below, bookmarks and tags."""
        import base64

        deadline = time.monotonic() + PDF_TIMEOUT
        laid_out = self.lay_out(html_path, deadline)
        header, footer = paging.header_footer(laid_out.get("title"), laid_out.get("period"), css_font_stack())
        options = {"printBackground": True, "preferCSSPageSize": True, "displayHeaderFooter": True,
                   "headerTemplate": header, "footerTemplate": footer,
                   "generateTaggedPDF": True, "generateDocumentOutline": True}
        result = self.call("Page.printToPDF", options, session=True, deadline=deadline)
        pdf_path.write_bytes(base64.b64decode(result["data"]))

    def lay_out(self, html_path: Path, deadline: float) -> dict:
        """Load ``html_path`` and run the print layout pass at the printable width with print
        media; returns its counts (tables moved to landscape, split, shrunk) and the page's
        title and period."""
        self._open_for_print(html_path, deadline)
        return self._at_print_width(paging.script(paging.LAYOUT_JS), deadline) or {}

    def _open_for_print(self, html_path: Path, deadline: float) -> None:
        self.events.clear()
        self.call("Page.navigate", {"url": html_path.resolve().as_uri()}, session=True, deadline=deadline)
        self.wait_event("Page.loadEventFired", deadline)
        self.call("Emulation.setEmulatedMedia", {"media": "print"}, session=True, deadline=deadline)
        self.call("Emulation.setScrollbarsHidden", {"hidden": True}, session=True, deadline=deadline)

    def _at_print_width(self, expression: str, deadline: float):
        """``expression``'s value with the viewport at the portrait page's printable size."""
        self.call("Emulation.setDeviceMetricsOverride", {"width": paging.PORTRAIT_PX, "height": paging.PAGE_HEIGHT_PX,
                                                         "deviceScaleFactor": 1, "mobile": False},
                  session=True, deadline=deadline)
        try:
            return self.evaluate(expression, deadline)
        finally:
            self.call("Emulation.clearDeviceMetricsOverride", session=True, deadline=deadline)

    def evaluate(self, expression: str, deadline: float):
        reply = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                          session=True, deadline=deadline)
        if "exceptionDetails" in reply:
            raise BrowserError(f"layout script failed: {reply['exceptionDetails'].get('exception', {}).get('description')}")
        return reply.get("result", {}).get("value")

    def layout_faults(self, html_path: Path, fit: bool = True) -> list[dict]:
        """Tables, figures and preformatted text that cross the printable area of their page
        after the layout pass (what :meth:`print_pdf` would print; ``fit=False``: without it)."""
        deadline = time.monotonic() + PDF_TIMEOUT
        if fit:
            self.lay_out(html_path, deadline)
        else:
            self._open_for_print(html_path, deadline)
        return self._at_print_width(paging.script(paging.CHECK_JS), deadline) or []

    def call(self, method: str, params: dict | None = None, session: bool = False, deadline: float | None = None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        try:
            os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        except OSError as exc:
            raise BrowserError(f"browser pipe closed: {exc}") from None
        deadline = deadline or time.monotonic() + 30
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, name: str, deadline: float) -> dict:
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == name:
                    return self.events.pop(i)
            self.events.append(self._receive(deadline))

    def _receive(self, deadline: float) -> dict:
        import select

        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                raise BrowserError("the browser did not answer in time")
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise BrowserError("the browser exited")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            try:
                os.write(self.write_fd, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for fd in (getattr(self, "write_fd", None), getattr(self, "read_fd", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.write_fd = self.read_fd = None
        shutil.rmtree(self.profile, ignore_errors=True)
