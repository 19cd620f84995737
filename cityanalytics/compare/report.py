"""The bulletin's report sections, one function per notebook cell.

Each function displays Chinese headings, tables (focus unit highlighted), static figures and
the method note of one section of ``notebooks/district_comparison.ipynb``; the notebook only
calls them, so it reads like the report's outline.
"""

from __future__ import annotations

from IPython.display import Markdown, display

from . import display as D
from .bulletin import Bulletin


def _figure(result) -> None:
    import matplotlib.pyplot as plt

    ax = result.plot()
    fig = ax.figure
    display(fig)
    plt.close(fig)


def _bullets(lines) -> None:
    if lines:
        display(Markdown("\n".join(f"- {x}" for x in lines)))


def _method(text: str) -> None:
    display(Markdown(f"<small>方法:{text}</small>"))


def scope(b: Bulletin, data_dir: str) -> None:
    """What the report covers: period, level, units, data, notes on the parameters."""
    who = f";重点单位:**{b.focus_name}**(表中高亮,相关结论列在前面)" if b.focus else ""
    lines = [f"报告期:**{b.period}**;比较层级:{'区县' if b.level.level == '区' else '街镇'},"
             f"共 {len(b.level.units)} 个单位{who}。",
             f"数据目录:`{data_dir}`;统计窗口 {b.frame.attrs.get('window', '')},案件指标按报告期末的状态统计。",
             f"比较指标:{'、'.join(r.extra['slice'].indicator.name_zh for r in b.leagues.values())}。"]
    lines += b.notes
    lines += [f"未做的比较:{v}。" for v in b.skipped.values()]
    _bullets(lines)


def key_points(b: Bulletin) -> None:
    _bullets(b.key_sentences())


def overview(b: Bulletin) -> None:
    display(D.overview(b))


def leagues(b: Bulletin) -> None:
    for r in b.leagues.values():
        s = r.extra["slice"]
        display(Markdown(f"### {s.indicator.name_zh}"))
        display(D.league(r))
        display(Markdown("<small>较上期一栏带 * 表示与上期相比变化显著。</small>"))
        _figure(r)
        _method(r.spec)


def funnels(b: Bulletin) -> None:
    for r in b.funnels.values():
        s = r.extra["slice"]
        display(Markdown(f"### {s.indicator.name_zh}"))
        _figure(r)
        _bullets(r.sentences)
        display(D.funnel(r))
        _method(r.spec)


def composite(b: Bulletin) -> None:
    if b.composite is None:
        display(Markdown("未设置综合得分权重。"))
        return
    _bullets(b.composite.sentences)
    display(D.composite(b.composite))
    display(Markdown("#### 各情形下的权重(%)"))
    display(D.weights(b.composite))
    display(Markdown("#### 各情形下的名次"))
    _figure(b.composite)
    _method(b.composite.spec)


def trends(b: Bulletin) -> None:
    for r in b.trends.values():
        s = r.extra["slice"]
        display(Markdown(f"### {s.indicator.name_zh}"))
        _bullets(r.sentences)
        display(D.trend(r))
        _figure(r)
        _method(r.spec)


def lists(b: Bulletin) -> None:
    _bullets(b.lists.sentences)
    display(D.lists(b.lists))
    _method(b.lists.spec)


def targets(b: Bulletin) -> None:
    if b.targets is None:
        display(Markdown("本次未选择对照的规划目标。"))
        return
    _bullets(b.targets.sentences)
    for head, table in D.targets(b.targets):
        display(Markdown(f"#### {head}"))
        display(table)
    skipped = b.targets.extra["skipped"]
    if len(skipped):
        display(Markdown(f"该规划另有 {len(skipped)} 项目标未对照(指标未计算、不在指标库或为流量目标)。"))
    _method(b.targets.spec)


def all_sentences(b: Bulletin) -> None:
    _bullets(b.sentences())
