"""What changed since the same run's previous period, from two sets of stored results.

Pure functions over two ``{name: DataFrame}`` dicts (``resultsets``; read back by ``history``):

- rank moves (``league``): a unit's rank moved *beyond the rank intervals* when this period's
  rank lies outside last period's rank interval **and** last period's rank lies outside this
  period's interval; any other move is within what chance alone produces (noise, said so);
- red and black lists (``lists``): units that entered or left each list;
- targets (``targets``): units whose status against a plan target changed (已达标, 按进度可达标,
  有风险, 难以达标), said as better or worse;
- estimates: this period's estimate outside last period's interval: the city's value of each
  indicator (``indicators``), each unit's forecast at the deadline (``forecast_units``, the
  widest interval stored) and whether reaching the target became likely or unlikely (the
  probability crossing 50%), each campaign effect (``effects``), each table's share of rejected
  rows (``load_counts``, Wilson interval of last period's share).

``compare`` runs every check the two result sets allow and returns ``Changes``: the items, the
section's Chinese sentences, the strongest items for the summary page and a terminal text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from cityanalytics.text import fmt as fmt_number
from cityanalytics.text import html_escape, missing, num

STATUS_ORDER = {"met": 0, "on_track": 1, "at_risk": 2, "off_track": 3}
LIST_ORDER = ("红榜", "黑榜")
# Summary-page order across kinds: a target turning worse or a unit entering the black list
# matters more to a reviewer than a rank move or a shifted estimate.
BASE = {"target": 40.0, "list": 30.0, "likely": 25.0, "rank": 20.0, "estimate": 10.0}


@dataclass(frozen=True)
class Change:
    kind: str  # rank, list, target, likely, estimate
    sentence: str
    significant: bool  # beyond the intervals (rank, estimate); list, target and likely changes always
    strength: float = 0.0  # for ordering: larger first
    group: str = ""  # what noise sentences are grouped by (the indicator's or quantity's name)


@dataclass
class Changes:
    period: str | None
    previous: str | None  # the period compared with; None when no earlier results exist
    items: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be compared, and why

    @property
    def significant(self) -> list[Change]:
        return sorted((c for c in self.items if c.significant), key=lambda c: -c.strength)

    @property
    def noise(self) -> list[Change]:
        return [c for c in self.items if not c.significant]

    def strongest(self, n: int = 2) -> list[str]:
        """The ``n`` strongest changes' sentences, for the summary page."""
        return [c.sentence for c in self.significant[:n]]

    def sentences(self) -> list[str]:
        """The section: one sentence without earlier results; else the changes beyond the
        intervals, strongest first, then one sentence per group of moves within them."""
        if self.previous is None:
            return [f"没有本报告上一期的存档结果,无法与上期比较{'(本期 ' + str(self.period) + ')' if self.period else ''}。"]
        out = [c.sentence for c in self.significant]
        if not out:
            out.append(f"与上期({self.previous})相比,没有超出区间的变化。")
        by_group: dict[str, list[Change]] = {}
        for c in self.noise:
            by_group.setdefault(c.group, []).append(c)
        for group, items in by_group.items():
            kind = items[0].kind
            if kind == "rank":
                out.append(f"{group}:另有 {len(items)} 个单位名次变动在名次区间以内,属随机波动,不作为进退。")
            elif kind == "rank_unestimated":
                out.append(f"{group}:{len(items)} 个单位名次有变动,但数值没有置信区间(如每单位只有 1 个观测值),"
                           "名次区间无法估计,不判断进退。")
            else:
                out.append(f"{group}:另有 {len(items)} 项估计在上期区间以内,变化不显著。")
        return out + self.notes

    def __str__(self) -> str:
        return self.text()

    def text(self) -> str:
        """For the terminal (``cityanalytics diff``)."""
        head = (f"与上期比较:{self.period} 对 {self.previous}" if self.previous
                else f"与上期比较:{self.period or ''}")
        return "\n".join([head, *(f"- {s}" for s in self.sentences())])

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html_escape(s)}</li>" for s in self.sentences())
        return f'<div class="ca-changes"><ul>{items}</ul></div>'


# --- formatting ------------------------------------------------------------------------------


def _indicator_zh(indicator: str) -> str:
    from cityanalytics.report.resultsets import indicator_zh

    return indicator_zh(indicator)


def _fmt_indicator(indicator: str, value) -> str:
    from cityanalytics.compare.sentences import fmt_value
    from cityanalytics.indicators.registry import get

    try:
        info = get(indicator)
    except (KeyError, ValueError):
        return num(value, 1)
    stat = info.kind if info.kind in ("proportion", "count", "rate") else "mean"
    return fmt_value(value, stat, "" if stat == "proportion" else info.unit).strip()


def _rank(value) -> str:
    return fmt_number(value, "g")


# --- the checks ------------------------------------------------------------------------------


def rank_moves(current: pd.DataFrame, previous: pd.DataFrame) -> list[Change]:
    """Rank changes of units ranked in both periods, per indicator (columns indicator, unit_id,
    name, rank, rank_low, rank_high; ``suppressed`` units are not ranked)."""
    keep = ["indicator", "unit_id", "name", "rank", "rank_low", "rank_high", "estimated"]
    now, before = (_ranked(t)[keep] for t in (current, previous))
    both = now.merge(before, on=["indicator", "unit_id"], suffixes=("", "_prev"))
    out = []
    for _, r in both.iterrows():
        if r["rank"] == r["rank_prev"]:
            continue
        ind = _indicator_zh(r["indicator"])
        if not (r["estimated"] and r["estimated_prev"]):  # a point rank interval from no spread at all
            out.append(Change("rank_unestimated", "", False, 0.0, ind))
            continue
        outside_prev = r["rank"] < r["rank_low_prev"] or r["rank"] > r["rank_high_prev"]
        prev_outside_now = r["rank_prev"] < r["rank_low"] or r["rank_prev"] > r["rank_high"]
        beyond = bool(outside_prev and prev_outside_now)
        way = "升至" if r["rank"] < r["rank_prev"] else "降至"
        sentence = (f"{r['name']}{ind}名次由第 {_rank(r['rank_prev'])} 位{way}第 {_rank(r['rank'])} 位,"
                    f"超出名次区间(上期 {_rank(r['rank_low_prev'])}–{_rank(r['rank_high_prev'])} 位,"
                    f"本期 {_rank(r['rank_low'])}–{_rank(r['rank_high'])} 位)。")
        out.append(Change("rank", sentence, beyond, BASE["rank"] + abs(float(r["rank"] - r["rank_prev"])), ind))
    return out


def _ranked(table: pd.DataFrame) -> pd.DataFrame:
    t = table.copy()
    if "suppressed" in t.columns:
        t = t[~t["suppressed"].fillna(False).astype(bool)]
    t = t[t["rank"].notna()]
    # the rank interval means something only where the value has an interval (no CI: no spread)
    t["estimated"] = t[["ci_low", "ci_high"]].notna().all(axis=1) if {"ci_low", "ci_high"} <= set(t.columns) else True
    if "name" not in t.columns:
        t["name"] = t["unit_id"]
    return t


def list_moves(current: pd.DataFrame, previous: pd.DataFrame) -> list[Change]:
    """Units that entered or left the red and black lists (columns list, unit_id, name)."""
    out = []
    names = {**_names(previous), **_names(current)}
    for label in dict.fromkeys([*LIST_ORDER, *current["list"].unique(), *previous["list"].unique()]):
        now = list(dict.fromkeys(current.loc[current["list"] == label, "unit_id"]))
        before = set(previous.loc[previous["list"] == label, "unit_id"])
        entered = [u for u in now if u not in before]
        left = [u for u in dict.fromkeys(previous.loc[previous["list"] == label, "unit_id"]) if u not in set(now)]
        black = label == "黑榜"
        for u in entered:
            out.append(Change("list", f"{names.get(u, u)}本期进入{label}(上期不在{label})。", True,
                              BASE["list"] + (2 if black else 1), label))
        for u in left:
            out.append(Change("list", f"{names.get(u, u)}本期退出{label}(上期在{label})。", True,
                              BASE["list"] + (1.5 if black else 0.5), label))
    return out


def _names(table: pd.DataFrame) -> dict:
    if "name" not in table.columns:
        return {}
    return dict(zip(table["unit_id"], table["name"]))


def status_moves(current: pd.DataFrame, previous: pd.DataFrame) -> list[Change]:
    """Units (and the city) whose status against a target changed (columns target_id,
    unit_id, name, name_zh, comparison, target, value, status, status_zh)."""
    key = ["target_id", "unit_id"]
    both = current.merge(previous[[*key, "status", "status_zh", "value"]], on=key, suffixes=("", "_prev"))
    out = []
    for _, r in both.iterrows():
        if r["status_zh"] == r["status_zh_prev"]:
            continue
        rank_now, rank_before = STATUS_ORDER.get(r["status"]), STATUS_ORDER.get(r["status_prev"])
        if rank_now is None or rank_before is None:
            way, weight = "", 0.0
        else:
            way, weight = ("好转" if rank_now < rank_before else "恶化"), float(rank_now - rank_before)
        target = f"{r.get('name_zh', r.get('indicator', ''))} {r.get('comparison', '')} {num(r.get('target'), 1)}"
        sentence = (f"{r['name']}「{target}」目标状态{way}:由“{r['status_zh_prev']}”变为“{r['status_zh']}”"
                    f"(本期 {num(r['value'], 1)},上期 {num(r['value_prev'], 1)})。")
        out.append(Change("target", sentence, True, BASE["target"] + weight, "目标"))
    return out


def estimate_moves(current: pd.DataFrame, previous: pd.DataFrame, keys: list[str], *, estimate: str,
                   low: str, high: str, label, fmt=lambda r, v: num(v, 1), group: str = "估计") -> list[Change]:
    """This period's ``estimate`` against last period's [``low``, ``high``] per ``keys``;
    outside it is a change beyond the interval (strength: the distance over the interval's
    half-width). ``label(row)`` names the quantity; ``fmt(row, value)`` prints a value."""
    both = current.merge(previous[[*keys, estimate, low, high]], on=keys, suffixes=("", "_prev"))
    out = []
    for _, r in both.iterrows():
        now, lo, hi = r[estimate], r[f"{low}_prev"], r[f"{high}_prev"]
        if missing(now) or missing(lo) or missing(hi):
            continue
        tol = 1e-9 * max(1.0, abs(lo), abs(hi))  # an interval bound computed as 1e-17 for a share of 0 is 0
        outside = now < lo - tol or now > hi + tol
        half = max((hi - lo) / 2, 1e-12)
        distance = (lo - now if now < lo else now - hi) / half if outside else 0.0
        way = "高于" if now > hi else "低于"
        interval = "" if missing(r[low]) else f"(区间 {fmt(r, r[low])} 至 {fmt(r, r[high])})"
        sentence = (f"{label(r)}本期 {fmt(r, now)}{interval},{way}上期区间 {fmt(r, lo)} 至 {fmt(r, hi)}"
                    f"(上期 {fmt(r, r[f'{estimate}_prev'])})。")
        out.append(Change("estimate", sentence, bool(outside), BASE["estimate"] + min(distance, 9.0), group))
    return out


def city_estimates(current: pd.DataFrame, previous: pd.DataFrame, period: str, previous_period: str) -> list[Change]:
    """The city's value of each indicator this period against last period's interval (IndicatorFrames)."""
    from cityanalytics.indicators.frame import CITY

    def city(frame, p):
        rows = frame[(frame["unit_id"] == CITY) & (frame["period"].astype(str) == str(p))].copy()
        rows["group"] = rows["group"].fillna("").astype(str)
        return rows

    def label(r):
        return f"全市{_indicator_zh(r['indicator'])}" + (f"({r['group']})" if r["group"] else "")

    return estimate_moves(city(current, period), city(previous, previous_period), ["indicator", "group"],
                          estimate="value", low="ci_low", high="ci_high", label=label,
                          fmt=lambda r, v: _fmt_indicator(r["indicator"], v), group="全市指标")


def _widest(columns, prefix: str) -> str | None:
    levels = [(int(m.group(1)), c) for c in columns if (m := re.fullmatch(prefix + r"(\d+)", str(c)))]
    return max(levels)[1] if levels else None


def forecast_moves(current: pd.DataFrame, previous: pd.DataFrame) -> list[Change]:
    """Forecasts at the deadline outside last period's widest interval, and units for which
    reaching the target became likely (probability 50% or more) or unlikely."""
    lo, hi = _widest(previous.columns, "fc_lo"), _widest(previous.columns, "fc_hi")
    out = []
    if lo and hi and lo in current.columns and hi in current.columns:
        level = lo.removeprefix("fc_lo")

        def label(r):
            return f"{r['unit_name']}到期覆盖率预测({level}% 区间)"

        out += estimate_moves(current, previous, ["unit_id"], estimate="fc_median", low=lo, high=hi, label=label,
                              fmt=lambda r, v: num(v, 1) + "%", group="覆盖率预测")
    if "p_reach" in current.columns and "p_reach" in previous.columns:
        both = current.merge(previous[["unit_id", "p_reach"]], on="unit_id", suffixes=("", "_prev"))
        for _, r in both.iterrows():
            now, before = r["p_reach"], r["p_reach_prev"]
            if missing(now) or missing(before) or (now >= 0.5) == (before >= 0.5):
                continue
            way = "由不太可能变为可能" if now >= 0.5 else "由可能变为不太可能"
            out.append(Change("likely", f"{r['unit_name']}按期达标{way}:达标概率由 {before:.0%} 变为 {now:.0%}。",
                              True, BASE["likely"] + abs(now - before), "达标概率"))
    return out


def effect_moves(current: pd.DataFrame, previous: pd.DataFrame) -> list[Change]:
    """Campaign effect estimates outside last period's interval (``resultsets.campaign``)."""

    def fmt(r, v):
        return fmt_number(v, "+.1f", "%") if r["scale"] == "pct" else fmt_number(v, "+.3f")

    return estimate_moves(current, previous, ["method", "term"], estimate="estimate", low="ci_low", high="ci_high",
                          label=lambda r: f"{r['method_zh']}「{r['label_zh']}」效应", fmt=fmt, group="效应估计")


def rejection_moves(current: pd.DataFrame, previous: pd.DataFrame) -> list[Change]:
    """Each table's share of rejected rows against last period's Wilson 95% interval."""
    from cityanalytics.stats.intervals import wilson

    def shares(t):
        t = t[t["loaded"].astype(bool) & t["rows_read"].notna() & (t["rows_read"].fillna(0) > 0)].copy()
        value, low, high = wilson(t["rows_rejected"].astype(float), t["rows_read"].astype(float))
        return t.assign(share=value, share_low=low, share_high=high)

    return estimate_moves(shares(current), shares(previous), ["table"], estimate="share", low="share_low",
                          high="share_high", label=lambda r: f"{r['table_zh']}被拒绝行占读入行的比例",
                          fmt=lambda r, v: f"{v:.2f}%", group="拒绝比例")


def compare(current: dict, previous: dict | None, *, period=None, previous_period=None) -> Changes:
    """Every check the two result sets allow (see the module docstring). ``previous`` None:
    no earlier results, and the section says so."""
    changes = Changes(None if period is None else str(period),
                      None if previous is None else str(previous_period or "上期"))
    if previous is None:
        return changes
    items = changes.items
    both = lambda name: name in current and name in previous  # noqa: E731
    if both("league"):
        items += rank_moves(current["league"], previous["league"])
    if both("lists"):
        items += list_moves(current["lists"], previous["lists"])
    if both("targets"):
        items += status_moves(current["targets"], previous["targets"])
    if both("indicators") and period is not None and previous_period is not None:
        items += city_estimates(current["indicators"], previous["indicators"], str(period), str(previous_period))
    if both("forecast_units"):
        cur, prev = current["forecast_units"], previous["forecast_units"]
        same = ["target_text", "deadline"]
        if all(c in cur.columns and c in prev.columns for c in same) and len(cur) and len(prev) and any(
                set(cur[c].astype(str)) != set(prev[c].astype(str)) for c in same):
            changes.notes.append("本期与上期的目标或期限不同,覆盖率预测不作逐项比较。")
        else:
            items += forecast_moves(cur, prev)
    if both("effects"):
        items += effect_moves(current["effects"], previous["effects"])
    if both("load_counts"):
        items += rejection_moves(current["load_counts"], previous["load_counts"])
    return changes
