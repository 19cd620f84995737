"""The bulletin's report sections, one function per notebook cell.

Each function displays the Chinese heading, tables (focus unit highlighted), static figures and
the method note of one section of ``notebooks/district_comparison.ipynb``; the notebook only
calls them, so it reads like the report's outline. The report adapts to the workspace: the
introduction names only what the data hold, and a section with nothing to show is one line
saying why instead of its heading and an empty table.
"""

from __future__ import annotations

from IPython.display import Markdown, display

from cityanalytics.indicators.registry import get
from cityanalytics.text import md_code, md_escape as E  # data text into Markdown

from . import display as D
from .bulletin import Bulletin
from .data import period_kind_zh

# What each table lets the bulletin talk about (for the introduction).
TOPICS = {"cases": "数字城管案件的处置", "dust_samples": "道路“以克论净”检测", "communities": "生活垃圾分类",
          "assessments": "月度考评得分"}
SECTION_IDS = ("overview", "leagues", "funnels", "composite", "trends", "lists", "targets")


def _figure(result) -> None:
    import matplotlib.pyplot as plt

    ax = result.plot()
    fig = ax.figure
    display(fig)
    plt.close(fig)


def _bullets(lines, escape: bool = True) -> None:
    """Sentences (data text: escaped) as a list; ``escape=False`` for lines already Markdown."""
    if lines:
        display(Markdown("\n".join(f"- {E(x) if escape else x}" for x in lines)))


def _method(text: str) -> None:
    display(Markdown(f"<small>方法:{E(text)}</small>"))


def _heading(text: str) -> None:
    display(Markdown(f"## {E(text)}"))


def _absent(title: str, why: str) -> None:
    """A section with nothing to show: one line saying why, instead of the section."""
    why = why.split(":", 1)[1] if why.split(":", 1)[0] in (title, title[:4], "红黑榜", "综合得分") else why
    display(Markdown(f"**{E(title)}**:本报告略去,{E(why)}。"))


def _topics(b: Bulletin) -> list[str]:
    tables = {get(i).table for i in b.leagues} or {get(i).table for i in b.indicators}
    return [TOPICS[t] for t in TOPICS if t in tables]


def title(b: Bulletin) -> str:
    """The report's title, from what is compared (no topic the data do not hold)."""
    level = "区县" if b.level.level == "区" else "街镇"
    return f"城市管理{period_kind_zh(b.period)}考评通报({level}比较,{b.period})"


def introduction(b: Bulletin) -> None:
    """The heading and the first paragraph, written from the indicators the data support."""
    display(Markdown(f"**{E(title(b))}**"))
    topics = _topics(b)
    parts = ["每个单位的数值和置信区间", "与全市的差距及其显著性", "名次和名次区间"]
    if b.funnels:
        parts.append("漏斗图控制限")
    if b.composite is not None:
        parts.append("综合得分及其对权重的敏感性")
    if b.trends:
        parts.append("近几期的趋势")
    if b.lists is not None:
        parts.append("红黑榜")
    if b.targets is not None:
        parts.append("规划目标的完成状态")
    text = (f"把各{'区县' if b.level.level == '区' else '街镇'}报告期的{'、'.join(topics) or '指标'}放在一起比较:"
            f"{'、'.join(parts)}。指标名称和口径来自指标库,单位名称来自区划表。")
    display(Markdown(text))
    if b.dropped:
        display(Markdown("数据不支持、本报告未比较的指标:" + ";".join(
            E(f"{get(k).name_zh}({k}):{v}") for k, v in b.dropped.items()) + "。"))


def scope(b: Bulletin, workspace) -> None:
    """What the report covers: period, as-of time, level, units, data, notes on the parameters."""
    who = f";重点单位:**{E(b.focus_name)}**(表中高亮,相关结论列在前面)" if b.focus else ""
    root = getattr(workspace, "root", workspace)
    lines = [f"报告期:**{b.period}**({period_kind_zh(b.period)});比较层级:"
             f"{'区县' if b.level.level == '区' else '街镇'},共 {len(b.level.units)} 个单位{who}。",
             f"数据:{md_code(root)}(含{'、'.join(E(t) for t in b.tables) or '无'}表);统计窗口 "
             f"{E(b.frame.attrs.get('window', ''))};案件指标按 {E(b.as_of or '报告期末')} 时的状态统计(截止时点)。",
             f"比较指标:{'、'.join(E(r.extra['slice'].indicator.name_zh) for r in b.leagues.values()) or '无'}。"]
    if b.min_denominator:
        lines.append(f"小数原则:样本量(比例指标的分母、每万人发生率的件数)少于 "
                     f"{b.min_denominator:g} 的单位列出数值,但不排名、不列入红黑榜。")
    lines += [E(n) for n in b.notes]
    lines += [f"未做的比较:{E(v)}。" for v in b.skipped.values()]
    _bullets(lines, escape=False)


def key_points(b: Bulletin) -> None:
    _heading("要点")
    lines = b.key_sentences()
    if lines:
        _bullets(lines)
    else:
        display(Markdown("本期没有可以归纳的要点(各指标均无可比较的数值)。"))


def overview(b: Bulletin) -> None:
    _heading("总览")
    display(Markdown("报告期各单位各指标的数值,末行为全市。"))
    display(D.overview(b))


def leagues(b: Bulletin) -> None:
    if not b.leagues:
        _absent("排名表", "没有可比较的指标")
        return
    _heading("排名表")
    display(Markdown("名次 1 为最好(按指标库规定的方向),并列取最优名次;名次区间反映抽样误差下名次的不确定性;"
                     "“与全市差”为单位减全市,显著性按单位与全市其余部分比较判断。"))
    for r in b.leagues.values():
        s = r.extra["slice"]
        display(Markdown(f"### {E(s.indicator.name_zh)}"))
        if r.table["value"].notna().sum() == 0:
            display(Markdown(E(f"{s.period} 各单位均没有{s.indicator.name_zh}数值。")))
            continue
        display(D.league(r))
        display(Markdown("<small>较上期一栏带 * 表示与上期相比变化显著。</small>"))
        _figure(r)
        _method(r.spec)


def funnels(b: Bulletin) -> None:
    if not b.funnels:
        why = [v for k, v in b.skipped.items() if k.endswith(":funnel")]
        _absent("漏斗图", ";".join(why) if why else "没有可比较的指标")
        return
    _heading("漏斗图")
    display(Markdown("以全市值为中心线,按各单位样本量画出 95% 和 99.8% 控制限;超出 99.8% 控制限的单位与全市的差异"
                     "很难用偶然波动解释。"))
    for r in b.funnels.values():
        s = r.extra["slice"]
        display(Markdown(f"### {E(s.indicator.name_zh)}"))
        _figure(r)
        _bullets(r.sentences)
        display(D.funnel(r))
        _method(r.spec)


def composite(b: Bulletin) -> None:
    if b.composite is None:
        why = b.skipped.get("composite") or "未设置综合得分权重,或加权指标都不能由这些数据计算"
        _absent("综合得分与权重敏感性", why)
        return
    _heading("综合得分与权重敏感性")
    _bullets(b.composite.sentences)
    display(D.composite(b.composite))
    if b.composite.table["rank"].notna().sum() < 2:  # nothing ranked: no sensitivity to show
        _method(b.composite.spec)
        return
    display(Markdown("#### 各情形下的权重(%)"))
    display(D.weights(b.composite))
    display(Markdown("#### 各情形下的名次"))
    _figure(b.composite)
    _method(b.composite.spec)


def trends(b: Bulletin) -> None:
    if not b.trends:
        _absent("趋势", "没有可比较的指标")
        return
    _heading("趋势")
    display(Markdown("近几期的变化方向及其检验;“双差”指报告期显著劣于全市且趋势显著变差的单位。"))
    for r in b.trends.values():
        s = r.extra["slice"]
        display(Markdown(f"### {E(s.indicator.name_zh)}"))
        _bullets(r.sentences)
        display(D.trend(r))
        _figure(r)
        _method(r.spec)


def lists(b: Bulletin) -> None:
    if b.lists is None:
        _absent("红黑榜", b.skipped.get("lists", "没有可排名的指标"))
        return
    _heading("红黑榜")
    _bullets(b.lists.sentences)
    display(D.lists(b.lists))
    _method(b.lists.spec)


def targets(b: Bulletin) -> None:
    if b.targets is None:
        _absent("规划目标对照", "本次未选择对照的规划目标")
        return
    if b.targets.table.empty:
        n = len(b.targets.extra["skipped"])
        _absent("规划目标对照", "所选规划中没有可与本报告指标对照的目标" + (f"(其 {n} 项目标的指标本报告未计算)" if n else ""))
        return
    _heading("规划目标对照")
    _bullets(b.targets.sentences)
    for head, table in D.targets(b.targets):
        display(Markdown(f"#### {E(head)}"))
        display(table)
    skipped = b.targets.extra["skipped"]
    if len(skipped):
        display(Markdown(f"该规划另有 {len(skipped)} 项目标未对照(指标未计算、不在指标库或为流量目标)。"))
    _method(b.targets.spec)


def all_sentences(b: Bulletin) -> None:
    _heading("全部结论")
    display(Markdown("由数字自动生成的全部文字结论,供编写通报时取用。"))
    _bullets(b.sentences())
