"""The comparison report's sections, one ``show_*`` function per notebook section.

Each function takes the bulletin (``compare.run``'s result) and shows the Chinese heading,
tables (focus unit highlighted, built by ``compare.tables``), static figures and sentences,
all drawn through ``cityanalytics.report.sections``. Nothing here computes a statistic. The
introduction names only what the data hold, and a section with nothing to show is one line
saying why instead of its heading and an empty table.

    res = ca.compare.run(workspace, ...)
    ui = ca.widgets.explore(res)
    ui.section(report.show_leagues)
"""

from __future__ import annotations

from cityanalytics.indicators.registry import get
from cityanalytics.maps import BoundaryError
from cityanalytics.report import sections
from cityanalytics.text import md_code, md_escape  # data text into Markdown
from cityanalytics.workspace import open_workspace

from . import tables
from .bulletin import Bulletin
from .data import period_kind_zh
from .maps import TITLE as MAP_TITLE
from .maps import NoMap, bulletin_map

# What each table lets the bulletin talk about (for the introduction).
TOPICS = {"cases": "数字城管案件的处置", "dust_samples": "道路“以克论净”检测", "communities": "生活垃圾分类",
          "assessments": "月度考评得分"}


def _reason(title: str, why: str) -> str:
    """``why`` without the section's own name at its start (the skipped reasons begin with it)."""
    return why.split(":", 1)[1] if why.split(":", 1)[0] in (title, title[:4], "红黑榜", "综合得分") else why


def _per_indicator(results: dict, title: str, why: str, intro: str, show) -> None:
    """A section of one result per indicator: its title and ``intro``, then each indicator's
    result under its name (a level-3 heading), shown by ``show(result)``; without results, one
    line saying ``why``."""
    if not results:
        sections.absent(title, _reason(title, why))
        return
    sections.heading(title)
    sections.markdown(intro)
    for r in results.values():
        sections.heading(r.extra["slice"].indicator.name_zh, 3)
        show(r)


def _topics(b: Bulletin) -> list[str]:
    tables_used = {get(i).table for i in b.leagues} or {get(i).table for i in b.indicators}
    return [TOPICS[t] for t in TOPICS if t in tables_used]


def _workspace(b: Bulletin):
    """The bulletin's workspace, from the options it was made with."""
    return open_workspace(b.options["workspace"])


def title(b: Bulletin) -> str:
    """The report's title, from what is compared (no topic the data do not hold)."""
    level = "区县" if b.level.level == "区" else "街镇"
    return f"城市管理{period_kind_zh(b.period)}考评通报({level}比较,{b.period})"


def show_introduction(b: Bulletin) -> None:
    """The heading and the first paragraph, written from the indicators the data support."""
    sections.markdown(f"**{md_escape(title(b))}**")
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
    sections.markdown(f"把各{'区县' if b.level.level == '区' else '街镇'}报告期的{'、'.join(topics) or '指标'}放在一起比较:"
                      f"{'、'.join(parts)}。指标名称和口径来自指标库,单位名称来自区划表。")
    if b.dropped:
        sections.markdown("数据不支持、本报告未比较的指标:" + ";".join(
            md_escape(f"{get(k).name_zh}({k}):{v}") for k, v in b.dropped.items()) + "。")


def show_scope(b: Bulletin) -> None:
    """What the report covers: period, as-of time, level, units, data, notes on the parameters."""
    who = f";重点单位:**{md_escape(b.focus_name)}**(表中高亮,相关结论列在前面)" if b.focus else ""
    lines = [f"报告期:**{b.period}**({period_kind_zh(b.period)});比较层级:"
             f"{'区县' if b.level.level == '区' else '街镇'},共 {len(b.level.units)} 个单位{who}。",
             f"数据:{md_code(_workspace(b).root)}(含{'、'.join(md_escape(t) for t in b.source_tables) or '无'}表);"
             f"统计窗口 {md_escape(b.frame.attrs.get('window', ''))};案件指标按 {md_escape(b.as_of or '报告期末')} "
             f"时的状态统计(截止时点)。",
             f"比较指标:{'、'.join(md_escape(r.extra['slice'].indicator.name_zh) for r in b.leagues.values()) or '无'}。"]
    if b.min_denominator:
        lines.append(f"小数原则:样本量(比例指标的分母、每万人发生率的件数)少于 "
                     f"{b.min_denominator:g} 的单位列出数值,但不排名、不列入红黑榜。")
    lines += [md_escape(n) for n in b.notes]
    lines += [f"未做的比较:{md_escape(v)}。" for v in b.skipped.values()]
    sections.bullets(lines, escape=False)


def show_key_points(b: Bulletin) -> None:
    sections.heading("要点")
    lines = b.key_sentences
    if lines:
        sections.bullets(lines)
    else:
        sections.markdown("本期没有可以归纳的要点(各指标均无可比较的数值)。")


def show_overview(b: Bulletin) -> None:
    sections.heading("总览")
    sections.markdown("报告期各单位各指标的数值,末行为全市。")
    sections.table(tables.overview(b))


def _league(r) -> None:
    s = r.extra["slice"]
    if r.table["value"].notna().sum() == 0:
        sections.note(f"{s.period} 各单位均没有{s.indicator.name_zh}数值。")
        return
    sections.table(tables.league(r))
    sections.markdown("<small>较上期一栏带 * 表示与上期相比变化显著。</small>")
    sections.figure(r)
    sections.method(r.spec)


def show_leagues(b: Bulletin) -> None:
    _per_indicator(b.leagues, "排名表", "没有可比较的指标",
                   "名次 1 为最好(按指标库规定的方向),并列取最优名次;名次区间反映抽样误差下名次的不确定性;"
                   "“与全市差”为单位减全市,显著性按单位与全市其余部分比较判断。", _league)


def _funnel(r) -> None:
    sections.figure(r)
    sections.bullets(r.sentences)
    sections.table(tables.funnel(r))
    sections.method(r.spec)


def show_funnels(b: Bulletin) -> None:
    why = [v for k, v in b.skipped.items() if k.endswith(":funnel")]
    _per_indicator(b.funnels, "漏斗图", ";".join(why) if why else "没有可比较的指标",
                   "以全市值为中心线,按各单位样本量画出 95% 和 99.8% 控制限;超出 99.8% 控制限的单位与全市的差异"
                   "很难用偶然波动解释。", _funnel)


def show_map(b: Bulletin) -> None:
    """The main indicator by unit, significance marked (``compare.maps``); never raises for
    missing or bad boundaries: the section is then one line saying why."""
    if not b.leagues:
        sections.absent(MAP_TITLE, "没有可比较的指标")
        return
    try:
        res = bulletin_map(b, _workspace(b))
    except NoMap as exc:
        sections.markdown(f"**{md_escape(MAP_TITLE)}**:本报告略去,{md_escape(exc.zh)}。"
                          + "".join(f"\n- {md_escape(x)}" for x in exc.problems))
        return
    except BoundaryError as exc:
        sections.markdown(f"**{md_escape(MAP_TITLE)}**:本报告略去,边界文件无法使用:{md_escape(str(exc))}。")
        return
    sections.heading(MAP_TITLE)
    sections.figure(res)
    sections.bullets(res.sentences)
    sections.method(res.spec)


def show_composite(b: Bulletin) -> None:
    if b.composite is None:
        why = b.skipped.get("composite") or "未设置综合得分权重,或加权指标都不能由这些数据计算"
        sections.absent("综合得分与权重敏感性", _reason("综合得分与权重敏感性", why))
        return
    sections.heading("综合得分与权重敏感性")
    sections.bullets(b.composite.sentences)
    sections.table(tables.composite(b.composite))
    if b.composite.table["rank"].notna().sum() < 2:  # nothing ranked: no sensitivity to show
        sections.method(b.composite.spec)
        return
    sections.heading("各情形下的权重(%)", 4)
    sections.table(tables.weights(b.composite))
    sections.heading("各情形下的名次", 4)
    sections.figure(b.composite)
    sections.method(b.composite.spec)


def _trend(r) -> None:
    sections.bullets(r.sentences)
    sections.table(tables.trend(r))
    sections.figure(r)
    sections.method(r.spec)


def show_trends(b: Bulletin) -> None:
    _per_indicator(b.trends, "趋势", "没有可比较的指标",
                   "近几期的变化方向及其检验;“双差”指报告期显著劣于全市且趋势显著变差的单位。", _trend)


def show_lists(b: Bulletin) -> None:
    if b.lists is None:
        sections.absent("红黑榜", _reason("红黑榜", b.skipped.get("lists", "没有可排名的指标")))
        return
    sections.heading("红黑榜")
    sections.bullets(b.lists.sentences)
    sections.table(tables.lists(b.lists))
    sections.method(b.lists.spec)


def show_targets(b: Bulletin) -> None:
    if b.targets is None:
        sections.absent("规划目标对照", "本次未选择对照的规划目标")
        return
    if b.targets.table.empty:
        n = len(b.targets.extra["skipped"])
        sections.absent("规划目标对照", "所选规划中没有可与本报告指标对照的目标" + (f"(其 {n} 项目标的指标本报告未计算)" if n else ""))
        return
    sections.heading("规划目标对照")
    sections.bullets(b.targets.sentences)
    for head, table in tables.targets(b.targets):
        sections.heading(head, 4)
        sections.table(table)
    skipped = b.targets.extra["skipped"]
    if len(skipped):
        sections.markdown(f"该规划另有 {len(skipped)} 项目标未对照(指标未计算、不在指标库或为流量目标)。")
    sections.method(b.targets.spec)


def show_all_sentences(b: Bulletin) -> None:
    sections.heading("全部结论")
    sections.markdown("由数字自动生成的全部文字结论,供编写通报时取用。")
    sections.bullets(b.sentences)


__all__ = ["title", "show_introduction", "show_scope", "show_key_points", "show_overview", "show_leagues",
           "show_funnels", "show_map", "show_composite", "show_trends", "show_lists", "show_targets",
           "show_all_sentences"]
