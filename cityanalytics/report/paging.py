"""The printed page: table of contents, page header and footer, and tables that fit the page.

- :func:`add_toc` fills the table-of-contents slot the exporter leaves after page 1 with links
  to the report's section headings (``h2``/``h3``), giving each heading an ``id``.
- :func:`header_footer` makes the templates Chromium's ``Page.printToPDF`` draws in the page
  margins: report title and period on top, "第 N 页 / 共 M 页" below. The title is data (a run
  file's title, a unit's name): it is escaped here, as everywhere else in the page.
- :data:`LAYOUT_JS` runs in the page before printing, at the printable width with print media
  emulated. A table wider than the portrait page moves to a landscape page (``@page wide``):
  a reviewer reads a row across, so the table stays whole where it can. One wider than the
  landscape page is split into column groups, each repeating the key (first) column; a table
  that cannot be split (merged header cells) is set in a smaller type until it fits.
  Transposing is not used: it turns the many-unit tables of these reports into very wide ones.
- :data:`CHECK_JS` lists what still crosses the printable area (for the layout test).
"""

from __future__ import annotations

import html
import re

# A4 less the 14 mm side margins of the report stylesheet, in CSS px (96 per inch)
PORTRAIT_PX = int((210 - 2 * 14) / 25.4 * 96)    # 687
LANDSCAPE_PX = int((297 - 2 * 14) / 25.4 * 96)   # 1016
PAGE_HEIGHT_PX = int((297 - 2 * 16) / 25.4 * 96)
TOC_SLOT = '<div class="ca-toc-slot"></div>'
MAX_HEADER_CHARS = 60

_HEADING = re.compile(r"<h([23])((?:\s[^>]*)?)>(.*?)</h\1>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_ID = re.compile(r'\sid="([^"]*)"')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def add_toc(body: str) -> str:
    """``body`` with the slot replaced by a linked list of the headings after it (each given
    an ``id`` if it has none); without a slot, ``body`` unchanged."""
    at = body.find(TOC_SLOT)
    if at < 0:
        return body
    head, tail = body[:at], body[at + len(TOC_SLOT):]
    items, count = [], 0

    def anchor(match: re.Match) -> str:
        nonlocal count
        level, attrs, inner = match.groups()
        text = html.unescape(_TAG.sub("", inner)).strip()
        if not text:
            return match.group(0)
        found = _ID.search(attrs)
        if found:
            ident = found.group(1)
        else:
            count += 1
            ident = f"ca-sec-{count}"
            attrs = f' id="{ident}"' + attrs
        items.append(f'<li class="ca-toc-h{level}"><a href="#{html.escape(ident)}">{html.escape(text)}</a></li>')
        return f"<h{level}{attrs}>{inner}</h{level}>"

    tail = _HEADING.sub(anchor, tail)
    toc = ('<div class="ca-toc"><h2 class="ca-toc-title">目录</h2><ul>' + "".join(items) + "</ul></div>") if items else ""
    return head + toc + tail


def _plain(text: str | None) -> str:
    text = _CONTROL.sub(" ", text or "").strip()
    return text if len(text) <= MAX_HEADER_CHARS else text[:MAX_HEADER_CHARS - 1] + "…"


def header_footer(title: str | None, period: str | None, font: str) -> tuple[str, str]:
    """Chromium's header and footer templates. They are rendered apart from the page, without
    its stylesheet: font size and a CJK font are given explicitly."""
    style = html.escape(f"font-family: {font}; font-size: 8pt; color: #555; width: 100%; margin: 0 14mm;"
                        " display: flex; justify-content: space-between;", quote=True)
    header = (f'<div style="{style}"><span>{html.escape(_plain(title))}</span>'
              f'<span>{"报告期 " + html.escape(_plain(period)) if period else ""}</span></div>')
    footer = (f'<div style="{style} justify-content: center;">'
              '第&nbsp;<span class="pageNumber"></span>&nbsp;页&nbsp;/&nbsp;共&nbsp;<span class="totalPages"></span>&nbsp;页</div>')
    return header, footer


# Shared by the layout pass and the check. Widths: an element's holder (its output area) gets
# the width it has on a portrait page, or on a landscape one inside .ca-wide; the element fits
# when it is no wider than that.
_PRELUDE = """
const PORTRAIT = %(portrait)d, LANDSCAPE = %(landscape)d;
const main = document.querySelector('main') || document.body;
const viewWidth = document.documentElement.clientWidth;  // the page's printable width (no scrollbar)
const holderOf = el => el.closest('.jp-OutputArea-output') || el.closest('.jp-Cell') || el.parentElement;
const pageOf = el => el.closest('.ca-wide') ? LANDSCAPE : PORTRAIT;
function measure(el, pageWidth) {
  const holder = holderOf(el);
  // the holder's width on a portrait page, kept before a landscape table widens it
  if (!holder.dataset.caBase) holder.dataset.caBase = holder.getBoundingClientRect().width;
  const avail = parseFloat(holder.dataset.caBase) + (pageWidth - viewWidth);
  const saved = [holder.style.width, holder.style.maxWidth];
  holder.style.width = avail + 'px'; holder.style.maxWidth = 'none';
  const box = el.getBoundingClientRect(), hbox = holder.getBoundingClientRect();
  const used = Math.max(box.right, box.left + el.scrollWidth) - hbox.left;
  const cols = el.tagName === 'TABLE' && el.rows.length ? Array.from(el.rows[0].cells).map(c => c.getBoundingClientRect().width) : [];
  holder.style.width = saved[0]; holder.style.maxWidth = saved[1];
  return {avail: avail, used: used, cols: cols, fits: used <= avail + 0.5};
}
const tables = Array.from(main.querySelectorAll('table')).filter(t => !t.parentElement.closest('table') && !t.closest('.ca-cover, .ca-runinfo'));
"""

LAYOUT_JS = "(() => {" + _PRELUDE + """
const stats = {wide: 0, split: 0, shrunk: 0};
function simple(t) {
  if (t.querySelector('[colspan]:not([colspan="1"]), [rowspan]:not([rowspan="1"])')) return false;
  const rows = Array.from(t.rows);
  return rows.length > 0 && rows[0].cells.length > 2 && rows.every(r => r.cells.length === rows[0].cells.length);
}
function split(t) {
  const m = measure(t, LANDSCAPE), budget = m.avail * 0.97, key = m.cols[0];
  const groups = []; let group = [], sum = key;
  for (let i = 1; i < m.cols.length; i++) {
    if (group.length && sum + m.cols[i] > budget) { groups.push(group); group = []; sum = key; }
    group.push(i); sum += m.cols[i];
  }
  groups.push(group);
  if (groups.length < 2) return [];
  const caption = t.caption ? t.caption.textContent : '';
  let after = t; const parts = [];
  groups.forEach((g, k) => {
    const part = t.cloneNode(true);
    for (const row of Array.from(part.rows)) {
      for (let i = row.cells.length - 1; i >= 1; i--) if (!g.includes(i)) row.deleteCell(i);
    }
    if (part.caption) part.caption.remove();
    part.createCaption().textContent = (caption ? caption + ' ' : '') + '(续表 ' + (k + 1) + '/' + groups.length + ')';
    part.classList.add('ca-split');
    after.after(part); after = part; parts.push(part);
  });
  t.remove();
  return parts;
}
function shrink(t) {
  const base = parseFloat(getComputedStyle(t).fontSize);
  for (const f of [0.9, 0.8, 0.7, 0.6]) {
    t.style.fontSize = (base * f) + 'px';
    if (measure(t, LANDSCAPE).fits) return;
  }
}
// Chromium lays a landscape page's content out at the portrait width: the holder of a table
// on a landscape page is given the landscape width itself.
function widen(t) {
  const holder = holderOf(t), avail = measure(t, LANDSCAPE).avail;
  holder.style.width = avail + 'px'; holder.style.maxWidth = 'none'; holder.style.flex = 'none';
  for (let el = holder; el && el !== main.parentElement; el = el.parentElement) {
    if (getComputedStyle(el).overflowX !== 'visible') el.style.overflow = 'visible';  // no clipping box
  }
}
for (const t of tables) {
  if (measure(t, PORTRAIT).fits) continue;
  const area = t.closest('.jp-OutputArea-child') || holderOf(t);
  area.classList.add('ca-wide');
  // the section heading just before a table that opens its cell goes to the landscape page too
  const cell = t.closest('.jp-Cell'), prev = cell && cell.previousElementSibling;
  if (prev && prev.classList.contains('jp-MarkdownCell') && area.matches('.jp-OutputArea > :first-child')) {
    prev.classList.add('ca-wide');
  }
  widen(t);
  stats.wide++;
  if (measure(t, LANDSCAPE).fits) continue;
  const parts = simple(t) ? split(t) : [];
  if (parts.length) { stats.split++; parts.filter(p => !measure(p, LANDSCAPE).fits).forEach(shrink); }
  else { stats.shrunk++; shrink(t); }
}
const text = sel => { const el = document.querySelector(sel); return el ? el.textContent.trim() : ''; };
stats.title = text('.ca-cover h1') + (text('.ca-cover .ca-unit') ? ' — ' + text('.ca-cover .ca-unit') : '');
stats.period = text('.ca-cover .ca-period');
return stats;
})()"""

CHECK_JS = "(() => {" + _PRELUDE + """
const faults = [];
const items = tables.concat(Array.from(main.querySelectorAll('img, pre')).filter(e => !e.closest('table')));
for (const el of items) {
  const m = measure(el, pageOf(el));
  if (!m.fits) {
    const label = el.tagName === 'TABLE' ? (el.rows.length ? el.rows[0].textContent : '') : (el.alt || el.textContent || '');
    faults.push({tag: el.tagName.toLowerCase(), used: Math.round(m.used), avail: Math.round(m.avail),
                 landscape: pageOf(el) === LANDSCAPE, label: label.replace(/\\s+/g, ' ').trim().slice(0, 60)});
  }
}
return faults;
})()"""


def script(source: str) -> str:
    return source % {"portrait": PORTRAIT_PX, "landscape": LANDSCAPE_PX}
