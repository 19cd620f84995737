"""Data text can never become live content in a report page (issue 12, item 1).

A corpus of known XSS and remote-load payloads (tests/corpus/xss_payloads.txt) goes
(a) straight through the page sanitiser, raw and rendered as Markdown, and through
``md_escape``; (b) into the data: unit names, campaign names, case subcategories, the run
title, source line and a parameter, through each of the four report notebooks via the
report runner. Every page must have no script, no event handler, no ``javascript:`` URL
(also after entity decoding), no external URL in ``src``/``href``/``action``/``srcset``/CSS
``url()`` and no ``@import``; and in (b) each payload must still be readable as text.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cityanalytics.report import sanitize
from cityanalytics.text import html_escape, md_escape

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus" / "xss_payloads.txt"


def load_payloads() -> list[str]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [line.replace("\\x00", "\x00").replace("\\n", "\n") for line in lines if line and not line.startswith("##")]


PAYLOADS = load_payloads()

URL_ATTRIBUTES = {"src", "href", "action", "formaction", "srcset", "xlink:href", "background", "poster", "data",
                  "codebase", "cite", "longdesc", "usemap", "manifest", "ping", "lowsrc", "dynsrc"}
TEXT_ATTRIBUTES = {"title", "alt"}  # shown as text, never followed or run
EXTERNAL = re.compile(r"^\s*(https?:|//|\\\\|ftp:|file:)", re.IGNORECASE)
CSS_URL = re.compile(r"url\s*\(|@import|image-set\s*\(|expression\s*\(", re.IGNORECASE)


class _PageScan(HTMLParser):
    """Every tag, attribute, style text and text node of a page, entities decoded as a browser does."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        self._check_tag(tag, attrs)
        if tag in ("style", "script", "title"):
            self._in.append(tag)

    def handle_startendtag(self, tag, attrs):
        self._check_tag(tag, attrs)

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def _check_tag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "form", "base", "link", "frame", "applet", "svg", "math"):
            self.problems.append(f"<{tag}>")
        if tag == "meta" and any(n == "http-equiv" and (v or "").lower() == "refresh" for n, v in attrs):
            self.problems.append("<meta refresh>")
        for name, value in attrs:
            value = value or ""
            compact = re.sub(r"[\x00-\x20\x7f-\x9f]", "", html.unescape(value)).lower()
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=>")
            if name not in TEXT_ATTRIBUTES and ("javascript:" in compact or "vbscript:" in compact
                                                 or "data:text" in compact):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES:
                if EXTERNAL.match(compact) or (name == "srcset"):
                    self.problems.append(f"<{tag} {name}={value!r}>")
                if tag == "img" and name == "src" and not re.match(r"data:image/(png|jpeg);base64,", compact):
                    self.problems.append(f"<img src={value[:60]!r}>")
            if name == "style" and CSS_URL.search(compact):
                self.problems.append(f"<{tag} style={value!r}>")

    def handle_data(self, data):
        if self._in and self._in[-1] == "style":
            if CSS_URL.search(data) and re.search(r"url\s*\(\s*['\"]?\s*(https?:|//)|@import", data, re.I):
                self.problems.append(f"<style>{data[:80]!r}")
        elif self._in and self._in[-1] == "script":
            self.problems.append("script text")
        elif not self._in:
            self.text.append(data)


def scan(page: str) -> _PageScan:
    scanner = _PageScan()
    scanner.feed(page)
    scanner.close()
    if re.search(r"<\s*script", page, re.IGNORECASE):
        scanner.problems.append("<script in the source")
    return scanner


def visible(text: str) -> str:
    """Whitespace-insensitive text, as a reader sees it."""
    return re.sub(r"\s+", "", text.replace("\x00", "").replace("\ufffd", ""))


# --- (a) the sanitiser and the escapers, one payload at a time -----------------------------------


def test_corpus_is_big_enough():
    assert len(PAYLOADS) >= 40
    assert len(set(PAYLOADS)) == len(PAYLOADS)


def test_checker_catches_what_it_should():
    # the checker itself, on live markup: a passing page must mean something
    for live in ('<svg onload="x">', '<a href="jav&#x61;script:x">a</a>', '<img src="https://e.example/t.gif">',
                 '<style>@import url(https://e.example/x.css);</style>', '<div style="background:url(//e.example/x)">',
                 "<script>1</script>", '<form action="https://e.example">', '<base href="https://e.example/">',
                 '<img srcset="https://e.example/a.png 1x">', '<meta http-equiv="refresh" content="0;url=x">'):
        assert scan(live).problems, live


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sanitiser_leaves_nothing_live(payload):
    from nbconvert.filters.markdown import markdown2html

    for fragment in (payload, markdown2html(payload), f"<p>{payload}</p>", f"<table><tr><td>{payload}</td></tr></table>"):
        cleaned = sanitize.clean(fragment)
        assert scan(cleaned).problems == [], (fragment, cleaned)
        assert sanitize.clean(cleaned) == cleaned  # stable: nothing left for a second pass to find


@pytest.mark.parametrize("payload", PAYLOADS)
def test_md_escape_keeps_payload_as_readable_text(payload):
    from nbconvert.filters.markdown import markdown2html

    rendered = markdown2html(f"单位:{md_escape(payload)}。")
    page = scan(sanitize.clean(rendered))
    assert page.problems == []
    # everything the payload says is on the page as text (line breaks became spaces)
    assert visible(payload) in visible("".join(page.text)), (payload, rendered)
    # and the unsanitised rendering was already inert: escaping works on its own
    assert scan(rendered).problems == [], rendered


@pytest.mark.parametrize("payload", PAYLOADS)
def test_html_escape_is_text(payload):
    page = scan(f'<p title="{html_escape(payload)}">{html_escape(payload)}</p>')
    assert page.problems == []
    assert visible("".join(page.text)) == visible(payload)


def test_sanitiser_keeps_what_reports_use():
    png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="
    fragment = (
        '<div class="jp-OutputArea-output" data-mime-type="text/html" tabindex="0" id="cell-1">'
        '<style scoped>\n.dataframe tbody tr th { vertical-align: top; }\n</style>'
        '<style type="text/css">\n#T_ab_row0_col0, #T_ab_row0_col1 {\n  background-color: #fde2e1;\n'
        '  font-weight: bold;\n}\n</style>'
        '<table border="1" class="dataframe" id="T_ab"><thead><tr style="text-align: right;"><th colspan="2">单位</th>'
        '</tr></thead><tbody><tr><td id="T_ab_row0_col0">城关街道</td><td>1.5</td></tr></tbody></table>'
        f'<img alt="图" src="{png}"><a href="#sec-2">见下</a> <a href="../units/u1/report.html">单元报告</a>'
        '<h2 id="sec-2">二、结果</h2><ul><li><strong>粗</strong> <em>斜</em> <code>x</code></li></ul><pre>1</pre>'
        '</div>'
    )
    cleaned = sanitize.clean(fragment)
    for kept in ('class="jp-OutputArea-output"', 'data-mime-type="text/html"', "#T_ab_row0_col0, #T_ab_row0_col1",
                 "background-color: #fde2e1; font-weight: bold", ".dataframe tbody tr th { vertical-align: top }",
                 'style="text-align: right"', 'colspan="2"', f'src="{png}"', 'href="#sec-2"',
                 'href="../units/u1/report.html"', '<h2 id="sec-2">', "<strong>粗</strong>", "<code>x</code>"):
        assert kept in cleaned, kept


def test_css_rules():
    assert sanitize.css_declarations("color: red; position: fixed; background: url(x); width: 3em") == \
        "color: red; width: 3em"
    assert sanitize.css_declarations("background-color: \\72 ed") is None
    assert sanitize.css_block("a { color: red }") == "a { color: red }"
    assert sanitize.css_block("a { color: red } @import 'x';") is None
    assert sanitize.css_block("@media print { a { color: red } }") is None
    assert sanitize.css_block("a { color: red; behavior: x }") is None  # one bad declaration: the block goes


def test_page_keeps_trusted_head_and_adds_csp():
    document = ('<!DOCTYPE html>\n<html lang="zh">\n<head><meta charset="utf-8"/>\n<title>old</title>\n'
                '<style type="text/css">body { font-family: "Noto Sans CJK SC"; }</style>\n</head>\n'
                '<body class="jp-Notebook">\n<main><p>正文<svg/onload=alert(1)></p></main>\n</body>\n</html>')
    page = sanitize.page(document, "标题 <script>alert(1)</script>")
    assert page.index(sanitize.CSP_META) < page.index("<title>")
    assert 'font-family: "Noto Sans CJK SC"' in page  # the exporter's own CSS is not filtered
    assert "<title>标题 &lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    assert '<body class="jp-Notebook">' in page and "<main><p>正文</p></main>" in page
    assert scan(page).problems == []
    with pytest.raises(ValueError, match="head"):
        sanitize.page(document.replace("</head>", '<script src="x.js"></script></head>'), "t")
