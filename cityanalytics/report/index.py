"""``outputs/<period>/index.html``: every report of the period, its status and its links.

Built from the manifests on disk, not from one batch's memory, so ``--only`` and single
``cityanalytics run`` calls keep the other reports of the period in the index. A report
whose latest attempt failed is listed as failed with the failing cell and error, and a link
to the last good report when there is one.
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
body { font-family: {{ font }}; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 0.4em 0.6em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
.ok { color: #2e7d32; font-weight: bold; } .failed { color: #c62828; font-weight: bold; }
.syn { color: #c62828; font-size: 0.85em; }
pre { white-space: pre-wrap; background: #fafafa; border: 1px solid #eee; padding: 0.4em; margin: 0.3em 0 0;
      font-size: 0.85em; max-height: 14em; overflow: auto; }
.note { color: #555; font-size: 0.9em; }
</style></head><body>
<h1>报告索引 · {{ period }}</h1>
<p>共 {{ rows|length }} 份报告:成功 {{ n_ok }},失败 {{ rows|length - n_ok }}。索引更新于 {{ now }}。</p>
<table>
<tr><th>报告</th><th>单元</th><th>状态</th><th>文件</th><th>生成时间</th><th>耗时</th></tr>
{% for r in rows %}{% set m = r.latest %}
<tr>
<td>{{ m.title or r.run }}<br><code>{{ r.run }}</code>{% if m.synthetic %}<br><span class="syn">合成演示数据</span>{% endif %}</td>
<td>{{ m.unit_label or "全部" }}</td>
<td>{% if r.status == "ok" %}<span class="ok">成功</span>{% else %}<span class="failed">失败</span>{% endif %}</td>
<td>{% if r.good %}{% for name, label in links if name in r.good.files %}<a href="{{ r.path }}/{{ name }}">{{ label }}</a>{% if not loop.last %} · {% endif %}{% endfor %}{% endif %}
{% if r.status == "failed" %}{% set e = r.failed.error or {} %}
<div>出错的运行:{% for name, label in failed_links if name in r.failed.files %}<a href="{{ r.path }}/failed/{{ name }}">{{ label }}</a>{% if not loop.last %} · {% endif %}{% endfor %}</div>
<div>阶段 {{ e.phase }}{% if e.cell_index is not none %},第 {{ e.cell_index }} 个单元格{% if e.execution_count %}(In [{{ e.execution_count }}]){% endif %}{% endif %}:</div>
<pre>{{ e.ename }}: {{ (e.evalue or "")[:600] }}{% if e.source %}

{{ e.source[:600] }}{% endif %}</pre>
{% if r.good %}<div class="note">上面的链接是上次成功的报告({{ r.good.produced_at }}),未被覆盖。</div>{% endif %}
{% endif %}</td>
<td>{{ m.produced_at }}</td>
<td>{% if m.timings and m.timings.total %}{{ "%.1f"|format(m.timings.total) }} s{% endif %}</td>
</tr>{% endfor %}
</table>
{% if notes %}<h2>未能开始的运行</h2>
{% for note in notes %}<pre class="failed">{{ note[:600] }}</pre>
{% endfor %}{% endif %}
</body></html>
"""

_env = jinja2.Environment(autoescape=True)
LINKS = (("report.html", "HTML"), ("report.pdf", "PDF"), ("report.ipynb", "notebook"), ("manifest.json", "manifest"))
FAILED_LINKS = (("report.html", "出错页面"), ("report.ipynb", "notebook"), ("kernel.log", "kernel.log"),
                ("manifest.json", "manifest"))


def write_index(outputs: Path, period: str, order: list[str] | None = None, notes: list[str] | None = None) -> Path:
    """``notes``: runs of this batch that have no report folder to hold their failure (a run
    name that cannot be a folder, a report folder that is a symlink out of outputs/)."""
    from cityanalytics.report.fonts import css_font_stack

    folder = layout.period_dir(outputs, period)
    folder.mkdir(parents=True, exist_ok=True)
    rows = collect(folder, order)
    html = _env.from_string(_PAGE).render(
        period=period, rows=rows, notes=notes or [], links=LINKS, failed_links=FAILED_LINKS, n_ok=sum(r.status == "ok" for r in rows), font=Markup(css_font_stack()),
        csp_meta=Markup(CSP_META),  # no scripts, no network loads
        now=dt.datetime.now().astimezone().isoformat(timespec="seconds").replace("T", " "),
    )
    path = folder / "index.html"
    publish.write_text(path, html)
    return path
