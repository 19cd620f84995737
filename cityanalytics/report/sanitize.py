"""The allow-list HTML sanitiser every report page passes through after export.

A report's body is made from notebook outputs, and those carry text from the data (unit and
campaign names, case subcategories, run titles, parameters). Escaping at the point of writing
(:mod:`cityanalytics.text`) is the first defence; this is the second: whatever HTML the
exporter produced, only the tags and attributes our reports use survive, and nothing in the
page can run a script or load anything from the network.

- Tags: text structure, tables, lists, code, images, links and ``<style>`` (pandas tables and
  Stylers bring their CSS in the body). Everything else (``script``, ``iframe``, ``object``,
  ``embed``, ``form``, ``input``, ``link``, ``meta``, ``base``, ``svg``, ``math``, ...) is removed;
  of ``script`` and ``noscript`` the content goes too, of the others the text is kept.
- Attributes: a short list; no event handler (``on...``), no ``srcset``, ``action``,
  ``formaction``, ``xlink:href``, ``background``, ``target``.
- URLs: ``href`` is a ``#fragment`` or a relative path (no scheme, no ``//host``, no
  backslash); ``img src`` is an inline ``data:image/png`` or ``data:image/jpeg`` in base64.
  SVG images are not allowed at all: an SVG is a document that can carry scripts and links,
  and the figures are PNG.
- CSS: a ``style`` attribute keeps only declarations of listed properties whose values have no
  parentheses, quotes, backslashes or ``@`` (so no ``url()``, ``image-set()``, ``expression()``,
  escapes or ``@import``); a ``<style>`` block must consist of such rules under plain selectors,
  else the whole block is dropped (the page loses some colour, never content).

Then :func:`page` puts the trusted head (the exporter's own stylesheet, a title escaped
here, and :data:`CSP_META`) around the cleaned body. The Content-Security-Policy forbids
scripts, network loads, forms and ``<base>`` even if something slipped through.
"""

from __future__ import annotations

import html
import re

import nh3

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
       "base-uri 'none'; form-action 'none'")
CSP_META = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'

TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
    "li", "main", "mark", "ol", "p", "pre", "q", "s", "samp", "section", "small", "span", "strong", "style",
    "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
})
# Removed with their content; every other unlisted tag is removed and its text kept.
DROP_WITH_CONTENT = frozenset({"script", "noscript", "template", "textarea", "select", "title", "iframe",
                               "object", "embed", "frameset", "noembed", "noframes", "xmp", "plaintext"})
GENERIC_ATTRIBUTES = frozenset({"class", "id", "style", "title", "lang", "dir", "tabindex", "data-mime-type"})
ATTRIBUTES = {
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign", "scope"},
    "tr": {"align", "valign"},
    "table": {"border", "cellpadding", "cellspacing"},
    "col": {"span", "width"},
    "colgroup": {"span"},
    "ol": {"start", "type"},
    "style": {"type", "scoped"},
    "details": {"open"},
}
CSS_PROPERTIES = frozenset({
    "color", "background-color", "font-weight", "font-style", "font-size", "font-family", "text-align",
    "vertical-align", "white-space", "word-break", "overflow-wrap", "text-decoration", "line-height",
    "border", "border-top", "border-bottom", "border-left", "border-right", "border-color", "border-style",
    "border-width", "border-collapse", "border-spacing", "padding", "padding-top", "padding-bottom",
    "padding-left", "padding-right", "margin", "margin-top", "margin-bottom", "margin-left", "margin-right",
    "width", "min-width", "max-width", "height", "min-height", "max-height", "table-layout", "opacity",
})

# A CSS value: keywords, numbers with units, hex colours, commas, !important. No (, ", ', \, @, /, :.
_CSS_VALUE = re.compile(r"[A-Za-z0-9#%.,\s!+-]+")
_CSS_SELECTOR = re.compile(r"[A-Za-z0-9_\-#.:,\s>+~*()\[\]=]+")
_CSS_RULE = re.compile(r"\s*([^{}]+)\{([^{}]*)\}\s*")
_STYLE_BLOCK = re.compile(r"(<style\b[^>]*>)(.*?)(</style>)", re.IGNORECASE | re.DOTALL)
_IMAGE_DATA = re.compile(r"data:image/(png|jpeg|jpg);base64,[A-Za-z0-9+/=\s]+", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_TITLE = re.compile(r"<title>.*?</title>", re.IGNORECASE | re.DOTALL)
_HEAD_OPEN = re.compile(r"<head\b[^>]*>(\s*<meta charset=[^>]*>)?", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)


def css_declarations(text: str) -> str | None:
    """The allowed declarations of a ``style`` attribute or rule body, or None if none is left."""
    kept = []
    for declaration in text.split(";"):
        if not declaration.strip():
            continue
        name, colon, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip()
        if colon and name in CSS_PROPERTIES and value and _CSS_VALUE.fullmatch(value):
            kept.append(f"{name}: {value}")
    return "; ".join(kept) if kept else None


def css_block(text: str) -> str | None:
    """A ``<style>`` block's text if every rule is a plain selector with allowed declarations
    (nothing dropped), else None. No at-rules, comments or escapes."""
    position, rules = 0, []
    text = text.strip()
    while position < len(text):
        match = _CSS_RULE.match(text, position)
        if not match or not _CSS_SELECTOR.fullmatch(match.group(1).strip()):
            return None
        body = match.group(2)
        declarations = [d for d in body.split(";") if d.strip()]
        kept = css_declarations(body)
        if declarations and (kept is None or kept.count(";") + 1 != len(declarations)):
            return None
        rules.append(f"{match.group(1).strip()} {{ {kept or ''} }}")
        position = match.end()
    return "\n".join(rules)


def safe_url(tag: str, attribute: str, value: str) -> str | None:
    """An ``href`` that stays in the page or beside it, or an inline PNG/JPEG ``src``; else None."""
    compact = _INVISIBLE.sub("", html.unescape(value))
    if tag == "img" and attribute == "src":
        return value if _IMAGE_DATA.fullmatch(compact) else None
    if attribute == "href":
        if compact.startswith("#"):
            return value
        if compact and not _SCHEME.match(compact) and "\\" not in compact and not compact.startswith("/") \
                and ":" not in compact.split("#", 1)[0]:
            return value
    return None


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute in ("href", "src"):
        return safe_url(tag, attribute, value)
    if attribute == "style":
        return css_declarations(value)
    if attribute.startswith("on"):
        return None
    return value


def clean(fragment: str) -> str:
    """``fragment`` (HTML body content) with only the allowed tags, attributes, URLs and CSS."""
    attributes = {tag: set(names) for tag, names in ATTRIBUTES.items()}
    attributes["*"] = set(GENERIC_ATTRIBUTES)
    cleaned = nh3.clean(
        fragment, tags=set(TAGS), clean_content_tags=set(DROP_WITH_CONTENT), attributes=attributes,
        attribute_filter=_attribute_filter, url_schemes={"data"}, strip_comments=True, link_rel=None,
    )
    return _STYLE_BLOCK.sub(_clean_style_block, cleaned)


def _clean_style_block(match: re.Match) -> str:
    css = css_block(html.unescape(match.group(2)) if "&" in match.group(2) else match.group(2))
    return "" if css is None else f"{match.group(1)}\n{css}\n{match.group(3)}"


def page(document: str, title: str) -> str:
    """A whole exported page made safe: the exporter's head kept (its stylesheet is ours), the
    title re-escaped, the CSP added, everything between ``<body>`` and ``</body>`` cleaned."""
    body_open = _BODY_OPEN.search(document)
    closes = [m.start() for m in _BODY_CLOSE.finditer(document)]
    body_close = closes[-1] if closes else -1
    if body_open is None or body_close < body_open.end():
        raise ValueError("exported page has no <body> ... </body>")
    # the title (data text) first, escaped here, so that the check below sees only the template
    head = _TITLE.sub(lambda _: f"<title>{html.escape(title)}</title>", document[:body_open.start()], count=1)
    if re.search(r"<script\b|<base\b|<link\b|http-equiv\s*=\s*[\"']?refresh", head, re.IGNORECASE):
        raise ValueError("exported page head loads scripts or other resources")  # the template changed
    # first in the head (after the charset), so it governs everything the page loads
    head, n = _HEAD_OPEN.subn(lambda m: m.group(0) + "\n" + CSP_META, head, count=1)
    if n != 1:
        raise ValueError("exported page has no <head>")
    body = clean(document[body_open.end():body_close])
    return head + body_open.group(0) + body + "\n</body>\n</html>\n"
