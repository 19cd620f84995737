"""Data text can never become live content in a report page (issue 12, item 1).

A corpus of known XSS and remote-load payloads (tests/data/xss_payloads.txt) goes
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
CORPUS = ROOT / "tests" / "data" / "xss_payloads.txt"


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


def test_comparison_tables_escape_unit_names():
    """The districts schema refuses non-Chinese names today; the tables escape them anyway
    (a pandas Styler, unlike DataFrame.to_html, does not escape by default)."""
    import pandas as pd

    from cityanalytics.compare import tables

    frame = pd.DataFrame({"单位": PAYLOADS, PAYLOADS[5]: ["1.0"] * len(PAYLOADS)})
    page = scan(tables._styled(frame, [i % 2 == 0 for i in range(len(PAYLOADS))]).to_html())
    assert page.problems == []
    text = visible("".join(page.text))
    for payload in PAYLOADS:
        assert visible(payload) in text, payload


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
    page = sanitize.page(document.replace("<title>old</title>", '<title>&lt;meta http-equiv="refresh"&gt;</title>'),
                         "标题 <script>alert(1)</script>")  # nbconvert keeps quotes in the title
    assert page.index(sanitize.CSP_META) < page.index("<title>")
    assert 'font-family: "Noto Sans CJK SC"' in page  # the exporter's own CSS is not filtered
    assert "<title>标题 &lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    assert '<body class="jp-Notebook">' in page and "<main><p>正文</p></main>" in page
    assert scan(page).problems == []
    with pytest.raises(ValueError, match="head"):
        sanitize.page(document.replace("</head>", '<script src="x.js"></script></head>'), "t")


# --- (b) payloads in the data, the run file and the parameters, through every notebook -------------

PERIOD = "2025-06"
IMPACT_CAMPAIGN = "C2022-BRGJ"  # its name and target subcategories are on the page
HOSTILE_UNITS = ("990102101000", "990103101000", "990103003000")  # 石鼓镇, 青禾镇, 枫林街道
NOTEBOOKS = ("data_quality", "district_comparison", "sorting_forecast", "campaign_impact")


def _yaml_text(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


@pytest.fixture(scope="module")
def hostile_reports(tmp_path_factory):
    """A small demo whose names are payloads, run through the four notebooks by the report runner
    (HTML only, two at a time). Returns (period folder, {slot: payloads}, {notebook: payloads
    its page must show}, exit code)."""
    import shutil

    import pandas as pd

    from cityanalytics import cli
    from cityanalytics.demo import write_demo

    root = tmp_path_factory.mktemp("xss")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    demo = root / "data" / "demo"
    write_demo(demo, n_cases=3000)
    slots: dict[str, list[str]] = {}

    # case subcategories, also the campaigns' target subcategories (no ';': it separates outcomes)
    cases = pd.read_parquet(demo / "cases.parquet")
    campaigns = pd.read_parquet(demo / "campaigns.parquet")
    subcategories = list(dict.fromkeys(cases["subcategory"]))
    usable = [p for p in PAYLOADS if ";" not in p and "\n" not in p]
    renamed = dict(zip(subcategories, usable[::3]))
    cases["subcategory"] = cases["subcategory"].map(renamed)
    # an outcome that is not a case subcategory (the city-wide campaign's observations indicator) stays
    campaigns["outcomes"] = [";".join(renamed.get(s, s) for s in o.split(";")) for o in campaigns["outcomes"]]
    cases.to_parquet(demo / "cases.parquet", index=False)
    slots["subcategories"] = list(renamed.values())
    rest = iter(p for _ in range(3) for p in PAYLOADS if p not in slots["subcategories"])

    # unit names: the districts table allows only Chinese names (a hostile name is a rejected
    # row, listed with its value in the data-quality report); three towns get three payloads each
    districts = pd.read_parquet(demo / "districts.parquet")
    towns = districts.index[districts["unit_id"].isin(HOSTILE_UNITS)]
    slots["units"] = [next(rest) for _ in range(3 * len(towns))]
    for i, row in enumerate(towns):
        districts.loc[row, "name_zh"] = " ".join(slots["units"][3 * i:3 * i + 3])
    districts.to_parquet(demo / "districts.parquet", index=False)

    # campaign names: three payloads each
    ids = list(dict.fromkeys(campaigns["campaign_id"]))
    slots["campaigns"] = [next(rest) for _ in range(3 * len(ids))]
    campaigns["name_zh"] = campaigns["campaign_id"].map(
        {c: " ".join(slots["campaigns"][3 * i:3 * i + 3]) for i, c in enumerate(ids)})
    campaigns.to_parquet(demo / "campaigns.parquet", index=False)
    impact = campaigns[campaigns["campaign_id"] == IMPACT_CAMPAIGN].iloc[0]
    k = ids.index(IMPACT_CAMPAIGN)
    shown = {"campaign_impact": slots["campaigns"][3 * k:3 * k + 3] + impact["outcomes"].split(";")}

    # run titles and source lines (three payloads each) and a string parameter (two payloads)
    text_payloads = [next(rest) for _ in range(30)]
    texts = iter(text_payloads)

    # community names: every payload not used above, in turn
    communities = pd.read_parquet(demo / "communities.parquet")
    taken = {p for values in slots.values() for p in values} | set(text_payloads)
    slots["communities"] = [p for p in PAYLOADS if p not in taken]
    communities["name_zh"] = [slots["communities"][i % len(slots["communities"])] for i in range(len(communities))]
    communities.to_parquet(demo / "communities.parquet", index=False)

    extra = {"data_quality": "for_each: unit_id\nunits: {level: 功能区}\n",
             "district_comparison": "", "sorting_forecast": "", "campaign_impact": ""}
    parameters = {
        "data_quality": "",
        "district_comparison": "  n_boot: 200\n  trend_periods: 3\n  target_plan: {}\n",
        "sorting_forecast": "  n_paths: 200\n  backtest_origins: 0\n  indicator: {}\n",
        "campaign_impact": f"  campaign_id: {IMPACT_CAMPAIGN}\n  freq: M\n  robustness_checks: []\n  campaign_name: {{}}\n",
    }
    schedule = "runs:\n"
    for notebook in NOTEBOOKS:
        slots[f"{notebook}:title"] = [next(texts) for _ in range(3)]
        slots[f"{notebook}:source"] = [next(texts) for _ in range(3)]
        title, source = " ".join(slots[f"{notebook}:title"]), " ".join(slots[f"{notebook}:source"])
        body = parameters[notebook]
        shown.setdefault(notebook, []).extend(slots[f"{notebook}:title"] + slots[f"{notebook}:source"])  # title page
        if "{}" in body:
            slots[f"{notebook}:parameter"] = [next(texts) for _ in range(2)]
            shown[notebook] += slots[f"{notebook}:parameter"]  # the title page lists every parameter
            body = body.format(_yaml_text(" ".join(slots[f"{notebook}:parameter"])))
        run_file = (f"notebook: notebooks/{notebook}.ipynb\ntitle: {_yaml_text(title)}\nsource: {_yaml_text(source)}\n"
                    f"{extra[notebook]}parameters:\n  workspace: data/demo\n{body}")
        (root / "params").mkdir(exist_ok=True)
        (root / "params" / f"{notebook}.yaml").write_text(run_file, encoding="utf-8")
        schedule += f"  - run: {notebook}\n"
    (root / "params" / "schedule.yaml").write_text(schedule, encoding="utf-8")
    used = {p for values in slots.values() for p in values}
    assert used == set(PAYLOADS), "every payload goes through at least one report"

    code = cli.main(["reports", "--schedule", str(root / "params" / "schedule.yaml"), "--period", PERIOD,
                     "--no-pdf", "--no-progress", "--jobs", "2"])
    return root / "outputs" / PERIOD, slots, shown, code


def _page(out: Path, notebook: str) -> Path:
    pages = sorted((out / notebook).rglob("report.html"))
    assert len(pages) == 1, pages
    return pages[0]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_payloads_in_the_data_stay_text_in_every_report(hostile_reports, notebook):
    out, slots, shown, code = hostile_reports
    page_path = _page(out, notebook)
    manifest = (page_path.parent / "manifest.json").read_text(encoding="utf-8")
    assert '"status": "ok"' in manifest, manifest[-2000:]
    page = page_path.read_text(encoding="utf-8")
    found = scan(page)
    assert found.problems == [], found.problems[:10]
    assert sanitize.CSP_META in page
    text = visible("".join(found.text))
    assert len(shown[notebook]) >= 6
    for payload in shown[notebook]:
        assert visible(payload) in text, (notebook, payload)
    assert len(set(p for n in NOTEBOOKS for p in shown[n])) >= 36  # payloads checked readable on some page
    if notebook == "data_quality":  # hostile unit names are rejected rows (14 units + 19 neighbouring cities
        # read, 30 kept, 3 rejected)
        assert visible("行政单元(districts) 已读入 33 30 3") in text and "name_zh" in text


def test_index_page_of_hostile_runs(hostile_reports):
    out, slots, shown, code = hostile_reports
    assert code == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    found = scan(page)
    assert found.problems == [] and sanitize.CSP_META in page
    text = visible("".join(found.text))
    for notebook in NOTEBOOKS:
        for payload in slots[f"{notebook}:title"]:
            assert visible(payload) in text, payload
