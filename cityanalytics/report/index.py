"""``outputs/<period>/index.html``: every report of the period, its status and its links.

Built from the manifests on disk, not from one batch's memory, so ``--only`` and single
``cityanalytics run`` calls keep the other reports of the period in the index. A report
whose latest attempt failed is listed as failed with the failing cell and error, and a link
to the last good report when there is one.

The page reads at 1,280 px: status, sign-off, times and durations never wrap (one line each);
the error text wraps anywhere instead of widening its column. A filter by status (成功, 失败,
and the sign-off states 待审 / 已审 / 退回 / 审后已变更 of ``cityanalytics.report.signoff``)
works without scripts, which the page's Content-Security-Policy forbids: radio buttons and CSS
``:checked ~`` rules hide the other rows and dim the other matrix cells. The run matrix shows
runs × units coloured by status, each cell linking to its report. Text from manifests (titles,
unit names, errors) is escaped by Jinja's autoescape.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from cityanalytics.report import layout, manifest, publish
from cityanalytics.report.sanitize import CSP_META


@dataclass
class Row:
    run: str
    unit: str | None
    path: str  # report directory relative to the period directory
    good: dict | None
    failed: dict | None
    signoff: str | None = None  # 待审 / 已审 / 退回 / 审后已变更 (reports that exist)
    signoff_key: str = "none"
    classes: str = ""

    @property
    def latest(self) -> dict:
        if self.good and self.failed:
            return self.failed if str(self.failed.get("ended_at")) >= str(self.good.get("ended_at")) else self.good
        return self.good or self.failed

    @property
    def status(self) -> str:
        return "ok" if self.latest is self.good else "failed"


def collect(period_dir: Path, order: list[str] | None = None) -> list[Row]:
    rows = []
    if not period_dir.is_dir():
        return rows
    for run_dir in sorted(p for p in period_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        rows += _rows(run_dir, run_dir.name, None, run_dir.name)
        for unit_dir in sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if unit_dir.name != layout.FAILED_DIR:
                rows += _rows(unit_dir, run_dir.name, unit_dir.name, f"{run_dir.name}/{unit_dir.name}")
    rank = {name: i for i, name in enumerate(order or [])}
    return sorted(rows, key=lambda r: (rank.get(r.run, len(rank)), r.run, r.unit or ""))


def _rows(folder: Path, run: str, unit: str | None, rel: str) -> list[Row]:
    good = manifest.read(folder / "manifest.json")
    failed = manifest.read(folder / layout.FAILED_DIR / "manifest.json")
    return [Row(run, unit, rel, good, failed)] if good or failed else []


_PAGE = """<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8">
{{ csp_meta }}
<title>报告索引 {{ period }}</title>
<style>
body { font-family: {{ font }}; margin: 2em auto; max-width: 76em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; }
table.runs { width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 0.4em 0.6em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; white-space: nowrap; }
td.status, td.signoff, td.time, td.took, td.unit { white-space: nowrap; }
td.took { text-align: right; }
td.files { overflow-wrap: anywhere; }
.ok { color: #2e7d32; font-weight: bold; } .failed { color: #c62828; font-weight: bold; }
.syn { color: #c62828; font-size: 0.85em; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #fafafa; border: 1px solid #eee; padding: 0.4em;
      margin: 0.3em 0 0; font-size: 0.85em; max-height: 14em; overflow: auto; }
.note { color: #555; font-size: 0.9em; }
span.so-pending { color: #8d6e00; } span.so-approved { color: #2e7d32; } span.so-rejected { color: #c62828; }
span.so-changed { color: #e65100; font-weight: bold; } span.so-none { color: #888; }
input.filter { position: absolute; opacity: 0; width: 1px; height: 1px; }
.filters label { display: inline-block; white-space: nowrap; border: 1px solid #bbb; border-radius: 1em;
                 padding: 0.15em 0.8em; margin: 0 0.3em 0.3em 0; cursor: pointer; font-size: 0.9em; }
.matrix-wrap { overflow-x: auto; margin-bottom: 1.5em; }
table.matrix td, table.matrix th { text-align: center; border: 1px solid #fff; padding: 0.3em 0.5em; }
table.matrix th.run { text-align: left; }
table.matrix th.unitcol { min-width: 4.5em; max-width: 9em; font-weight: normal; font-size: 0.85em; white-space: normal; }
table.matrix td.cell { white-space: nowrap; font-size: 0.85em; }
table.matrix td.m-ok { background: #c8e6c9; } table.matrix td.m-failed { background: #ffcdd2; }
table.matrix td.m-none { background: #f5f5f5; color: #aaa; }
table.matrix td.cell a { color: inherit; }
{% for f in filters %}{% if f.key != "all" %}#f-{{ f.key }}:checked ~ .runs-wrap tr.row:not(.{{ f.key }}) { display: none; }
#f-{{ f.key }}:checked ~ .matrix-wrap td.cell:not(.{{ f.key }}) { opacity: 0.25; }
{% endif %}#f-{{ f.key }}:checked ~ .filters label[for=f-{{ f.key }}] { background: #333; color: #fff; border-color: #333; }
{% endfor %}
</style></head><body>
<h1>报告索引 · {{ period }}</h1>
<p>共 {{ rows|length }} 份报告:成功 {{ n_ok }},失败 {{ rows|length - n_ok }}。索引更新于 {{ now }}。</p>
{% for f in filters %}<input class="filter" type="radio" name="filter" id="f-{{ f.key }}"{% if loop.first %} checked{% endif %}>
{% endfor %}<div class="filters">按状态筛选:{% for f in filters %}<label for="f-{{ f.key }}">{{ f.label }}({{ f.count }})</label>{% endfor %}</div>
<h2>运行矩阵</h2>
<div class="matrix-wrap"><table class="matrix">
<tr><th class="run">运行</th>{% for u in matrix.units %}<th class="unitcol" title="{{ u.key }}">{{ u.label }}</th>{% endfor %}</tr>
{% for run in matrix.runs %}<tr><th class="run">{{ run.title }}<br><code>{{ run.name }}</code></th>{% for u in matrix.units %}{% set r = matrix.cells.get((run.name, u.key)) %}{% if r %}<td class="cell m-{{ r.status }} {{ r.classes }}" title="{{ r.run }}{% if r.unit %}/{{ r.unit }}{% endif %}"><a href="{{ r.path }}/{% if r.status == "failed" and not r.good %}failed/{% endif %}report.html">{{ "成功" if r.status == "ok" else "失败" }}</a>{% if r.signoff %}<br><span class="so-{{ r.signoff_key }}">{{ r.signoff }}</span>{% endif %}</td>{% else %}<td class="m-none">—</td>{% endif %}{% endfor %}</tr>
{% endfor %}</table></div>
<h2>报告列表</h2>
<div class="runs-wrap"><table class="runs">
<tr><th>报告</th><th>单元</th><th>状态</th><th>审核</th><th>文件</th><th>生成时间</th><th>耗时</th></tr>
{% for r in rows %}{% set m = r.latest %}
<tr class="row {{ r.classes }}">
<td>{{ m.title or r.run }}<br><code>{{ r.run }}</code>{% if m.synthetic %}<br><span class="syn">合成演示数据</span>{% endif %}</td>
<td class="unit">{{ m.unit_label or "全部" }}</td>
<td class="status">{% if r.status == "ok" %}<span class="ok">成功</span>{% else %}<span class="failed">失败</span>{% endif %}</td>
<td class="signoff"><span class="so-{{ r.signoff_key }}">{{ r.signoff or "—" }}</span></td>
<td class="files">{% if r.good %}{% for name, label in links if name in r.good.files %}<a href="{{ r.path }}/{{ name }}">{{ label }}</a>{% if not loop.last %} · {% endif %}{% endfor %}{% endif %}
{% if r.status == "failed" %}{% set e = r.failed.error or {} %}
<div>出错的运行:{% for name, label in failed_links if name in r.failed.files %}<a href="{{ r.path }}/failed/{{ name }}">{{ label }}</a>{% if not loop.last %} · {% endif %}{% endfor %}</div>
<div>阶段 {{ e.phase }}{% if e.cell_index is not none %},第 {{ e.cell_index }} 个单元格{% if e.execution_count %}(In [{{ e.execution_count }}]){% endif %}{% endif %}:</div>
<pre>{{ e.ename }}: {{ (e.evalue or "")[:600] }}{% if e.source %}

{{ e.source[:600] }}{% endif %}</pre>
{% if r.good %}<div class="note">上面的链接是上次成功的报告({{ r.good.produced_at }}),未被覆盖。</div>{% endif %}
{% endif %}</td>
<td class="time">{{ m.produced_at }}</td>
<td class="took">{% if m.timings and m.timings.total %}{{ "%.1f"|format(m.timings.total) }} s{% endif %}</td>
</tr>{% endfor %}
</table></div>
{% if notes %}<h2>未能开始的运行</h2>
{% for note in notes %}<pre class="failed">{{ note[:600] }}</pre>
{% endfor %}{% endif %}
</body></html>
"""

_env = jinja2.Environment(autoescape=True)
LINKS = (("report.html", "HTML"), ("report.pdf", "PDF"), ("report.ipynb", "notebook"), ("manifest.json", "manifest"))
FAILED_LINKS = (("report.html", "出错页面"), ("report.ipynb", "notebook"), ("kernel.log", "kernel.log"),
                ("manifest.json", "manifest"))
# Sign-off states (cityanalytics.report.signoff) -> CSS class; the filter offers each.
SIGNOFF_KEYS = {"待审": "pending", "已审": "approved", "退回": "rejected", "审后已变更": "changed"}
UNREADABLE = "审核记录无法读取"


def _signoff_status(folder: Path) -> str | None:
    """待审 / 已审 / 退回 / 审后已变更 for a report folder; None without the sign-off module."""
    try:
        from cityanalytics.report import signoff
    except ImportError:
        return None
    try:
        return signoff.status(folder)
    except (OSError, ValueError):  # a broken records file must not take the index down
        return UNREADABLE


def _decorate(rows: list[Row], folder: Path) -> None:
    """Sign-off state and filter classes on each row (a failed run without a report: no sign-off)."""
    for r in rows:
        r.signoff = _signoff_status(folder / r.path) if r.good else None
        r.signoff_key = SIGNOFF_KEYS.get(r.signoff or "", "none")
        r.classes = " ".join([f"st-{r.status}", *([f"so-{r.signoff_key}"] if r.signoff in SIGNOFF_KEYS else [])])


def _filters(rows: list[Row]) -> list[dict]:
    out = [{"key": "all", "label": "全部", "count": len(rows)},
           {"key": "st-ok", "label": "成功", "count": sum(r.status == "ok" for r in rows)},
           {"key": "st-failed", "label": "失败", "count": sum(r.status == "failed" for r in rows)}]
    for zh, key in SIGNOFF_KEYS.items():
        out.append({"key": f"so-{key}", "label": zh, "count": sum(r.signoff == zh for r in rows)})
    return out


def _matrix(rows: list[Row]) -> dict:
    """Runs (in the index's order) × units (全部 for a run of the whole city, then each unit)."""
    runs, units, cells = {}, {}, {}
    for r in rows:
        m = r.latest or {}
        runs.setdefault(r.run, {"name": r.run, "title": m.get("title") or r.run})
        key = r.unit or ""
        units.setdefault(key, {"key": key or "全部", "label": (m.get("unit_label") or r.unit) if r.unit else "全部"})
        cells[(r.run, units[key]["key"])] = r
    ordered = [units[""]] if "" in units else []
    ordered += [u for k, u in units.items() if k]
    return {"runs": list(runs.values()), "units": ordered, "cells": cells}


def write_index(outputs: Path, period: str, order: list[str] | None = None, notes: list[str] | None = None) -> Path:
    """``notes``: runs of this batch that have no report folder to hold their failure (a run
    name that cannot be a folder, a report folder that is a symlink out of outputs/)."""
    from cityanalytics.fonts import css_font_stack

    folder = layout.period_dir(outputs, period)
    folder.mkdir(parents=True, exist_ok=True)
    rows = collect(folder, order)
    _decorate(rows, folder)
    html = _env.from_string(_PAGE).render(
        period=period, rows=rows, filters=_filters(rows), matrix=_matrix(rows), notes=notes or [], links=LINKS, failed_links=FAILED_LINKS, n_ok=sum(r.status == "ok" for r in rows), font=Markup(css_font_stack()),
        csp_meta=Markup(CSP_META),  # no scripts, no network loads
        now=dt.datetime.now().astimezone().isoformat(timespec="seconds").replace("T", " "),
    )
    path = folder / "index.html"
    publish.write_text(path, html)
    return path
