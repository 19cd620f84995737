"""The monthly bulletin (一月一考评、一月一通报): every comparison for one period in one object.

    import cityanalytics as ca
    b = ca.compare.run("data/demo", period="2025-06", indicators=[...], weights_preset="gbt30428_unit")
    # the first argument: a workspace folder, a folder of canonical tables, or a Workspace
    b.table                # one row per unit and indicator, numbers numeric
    b.tidy()               # estimate, conf_low, conf_high per unit, indicator and term
    b.sentences            # the Chinese summary, the focus unit's lines first (b.summary(): one string)
    b.plot()               # the league table of the first indicator
    b.leagues[ind].table   # league table of one indicator; .plot() draws it

``run`` takes the notebook's parameters (``notebooks/district_comparison.ipynb`` is a thin
layer over it) and calls ``build_bulletin``; ``assemble_bulletin`` is the part that works on
an IndicatorFrame already computed: ``compare_indicators`` (league table, funnel and trend of
each indicator), then ``complete_bulletin`` (composite score, lists, targets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cityanalytics.indicators.registry import get
from cityanalytics.results import AnalysisResult
from cityanalytics.targets import load_targets

from ._common import NotComparable, level_of, pick
from .data import (UNASSIGNED, UNASSIGNED_NAME, as_workspace, computable, compute, latest_complete_month, load_level,
                   parse_period, unassigned_in_period)
from .composite import PRESETS, composite_score
from .funnel import funnel
from .league import league_table
from .levels import Level, normalise_level
from .lists import check_rule, red_black_lists
from .targets_status import target_status
from .trend import trend


# Settings the league tables, funnels and trends depend on (``compare_indicators``'s keywords;
# the rest, weights, lists and targets, only ``complete_bulletin``'s).
PER_INDICATOR = ("indicators", "focus", "n_boot", "rank_draws", "seed", "funnel_method", "overdispersion",
                 "trend_periods", "worse_rule", "min_denominator")
MIN_DENOMINATOR = 30  # default: a unit with fewer cases (observations) is shown, not ranked or listed
# The trend column's Chinese words as codes, for ``Bulletin.table``.
TREND_CODES = {"改善": "better", "变差": "worse", "上升": "up", "下降": "down", "无显著变化": "none",
               "数据不足": "insufficient"}
TABLE_COLUMNS = ["indicator", "label_zh", "measure", "value_unit", "unit_id", "unit_name", "numerator", "denominator",
                 "value", "ci_low", "ci_high", "city_value", "diff", "p_value", "significant", "better", "suppressed",
                 "rank", "rank_low", "rank_high", "change", "change_p", "change_significant", "funnel_z",
                 "funnel_position", "trend", "trend_slope", "trend_p_value", "double_flag", "focus"]
TIDY_COLUMNS = ["indicator", "unit_id", "unit_name", "term", "estimate", "conf_low", "conf_high", "p_value", "n"]


@dataclass
class Bulletin:
    """Every comparison of one period (``run`` / ``build_bulletin``), and the result contract.

    ``table``: one row per indicator and unit (the league tables' units; the city is in
    ``city_value``). Label columns: ``indicator``, ``label_zh`` (its Chinese name), ``measure``
    (proportion, rate, count or mean), ``value_unit`` (%, 件/万人, 分 ...), ``unit_id``,
    ``unit_name``. Numbers (float): ``numerator``, ``denominator`` (the sample size: cases,
    residents in 10,000s, observations), ``value``, ``ci_low``, ``ci_high``, ``city_value``,
    ``diff`` (unit - city), ``p_value`` (of the difference), ``rank``, ``rank_low``, ``rank_high``
    (the rank interval), ``change`` (since the previous period), ``change_p``, ``funnel_z``,
    ``trend_slope`` (per period), ``trend_p_value``. Flags (nullable booleans: NA where not
    judged): ``significant``, ``better`` (than the city), ``suppressed`` (too few cases to rank),
    ``change_significant``, ``double_flag`` (worse than the city and getting worse), ``focus``.
    Codes: ``funnel_position`` (``within``, ``above_998``, ``below_95`` ...; empty without a
    funnel), ``trend`` (``better``, ``worse``, ``up``, ``down``, ``none``, ``insufficient``).

    ``tidy()``: one row per estimate, columns ``indicator``, ``unit_id``, ``unit_name``,
    ``term``, ``estimate``, ``conf_low``, ``conf_high``, ``p_value``, ``n``. Terms: ``value``
    (the unit's value and interval, n its sample size; the city's as unit ``city``), ``rank``
    (the rank and its rank interval), ``trend_slope`` (the slope per period, its trend test's
    p-value, n the periods tested). ``sentences`` / ``summary()``: the Chinese summary, the
    focus unit's lines first. ``plot()``: the first indicator's league table. ``options``: the
    keywords ``run`` (or ``build_bulletin``) was called with, the opened workspace as
    ``options["workspace"]`` (the explorer recomputes from them, reusing its loaded tables).
    """

    period: pd.Period
    level: Level
    frame: pd.DataFrame
    indicators: list[str]
    leagues: dict[str, AnalysisResult]
    funnels: dict[str, AnalysisResult]
    trends: dict[str, AnalysisResult]
    composite: AnalysisResult | None
    lists: AnalysisResult | None
    targets: AnalysisResult | None
    focus: str | None = None
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # comparison -> why it was left out (Chinese)
    settings: dict = field(default_factory=dict, repr=False)  # assemble_bulletin's keywords, to recompute
    dropped: dict[str, str] = field(default_factory=dict)  # indicator -> why the data cannot compute it (Chinese)
    unassigned: tuple[int, int] = (0, 0)  # (cases with no unit, all cases) in the period
    as_of: str = ""  # the moment case figures describe
    source_tables: list[str] = field(default_factory=list)  # the canonical tables the workspace holds
    options: dict = field(default_factory=dict, repr=False)  # run's keywords, the workspace included

    @property
    def min_denominator(self) -> float:
        return float(self.settings.get("min_denominator", 0) or 0)

    @property
    def focus_name(self) -> str | None:
        return self.level.names.get(self.focus) if self.focus else None

    @property
    def sentences(self) -> list[str]:
        """Summary lines: the focus unit's first (when set), then city, lists, flags."""
        mine, rest = [], []
        name = self.focus_name
        groups = [r.sentences for r in self.leagues.values()]
        groups += [self.composite.sentences] if self.composite else []
        groups += [r.sentences for r in self.funnels.values()]
        groups += [r.sentences for r in self.trends.values()]
        groups += [self.lists.sentences] if self.lists else []
        groups += [self.targets.sentences] if self.targets else []
        for lines in groups:
            for line in lines:
                (mine if name and line.startswith(name) else rest).append(line)
        return mine + rest

    @property
    def key_sentences(self) -> list[str]:
        """The short list for the top of the report: city lines, outliers, lists, flags, focus."""
        out = []
        name = self.focus_name
        city = self.level.names.get("city", "全市")
        for r in self.leagues.values():
            out += [s for s in r.sentences if s.startswith(city) or (name and s.startswith(name))]
        for r in self.funnels.values():
            out += [s for s in r.sentences if "控制" in s and "以内" not in s]
        for r in self.trends.values():
            out += [s for s in r.sentences if "双差" in s]
        if self.composite:
            out += self.composite.sentences[:2]
        if self.lists:
            out += self.lists.sentences
        if name:
            out = [s for s in out if s.startswith(name)] + [s for s in out if not s.startswith(name)]
        return out

    def overview(self) -> pd.DataFrame:
        """Units x indicators: this period's values (the city last), for every indicator of the
        frame, also one whose comparisons are not shown (the explorer shows one at a time)."""
        rows, city = {}, {}
        exposure = self.level.exposure or None
        for ind in dict.fromkeys([*self.leagues, *self.frame["indicator"].unique()]):
            try:
                s = pick(self.frame, ind, self.period, units=[*self.level.units, UNASSIGNED],
                         exposure=exposure if get(ind).kind == "count" else None)
            except ValueError:  # no rows for the period: left out, as from the league tables
                continue
            label = f"{s.indicator.name_zh}({s.unit_label})"
            rows[label] = s.units.set_index("unit_id")["value"]
            city[label] = s.city["value"] if s.city is not None else None
        shown = [*self.level.units, *([UNASSIGNED] if self.unassigned[0] else [])]
        if rows:
            out = pd.DataFrame(rows).reindex(shown)
        else:
            out = pd.DataFrame(index=shown)
        out.loc["city"] = pd.Series(city, dtype=object)
        out.insert(0, "单位", [UNASSIGNED_NAME if u == UNASSIGNED else self.level.names.get(u, u)
                               for u in out.index])
        return out.reset_index(names="unit_id")

    # --- the result contract ---------------------------------------------------------------------

    @property
    def table(self) -> pd.DataFrame:
        """One row per indicator and unit, numbers numeric (columns: the class docstring)."""
        parts = []
        for ind, league in self.leagues.items():
            s, t = league.extra["slice"], league.table
            out = pd.DataFrame({"indicator": ind, "label_zh": s.indicator.name_zh, "measure": s.stat,
                                "value_unit": s.unit_label, "unit_id": t["unit_id"].astype(str).to_numpy(),
                                "unit_name": t["name"].astype(str).to_numpy()})
            for c in ("numerator", "denominator", "value", "ci_low", "ci_high", "city_value", "diff", "p_value",
                      "rank", "rank_low", "rank_high", "change", "change_p"):
                out[c] = pd.to_numeric(t[c], errors="coerce").astype(float).to_numpy()
            for c in ("significant", "better", "suppressed", "change_significant", "focus"):
                out[c] = _flags(t[c])
            by_unit = out["unit_id"]
            funnel = self.funnels.get(ind)
            if funnel is not None:
                f = funnel.table.set_index("unit_id")
                out["funnel_z"] = by_unit.map(f["z"]).astype(float)
                out["funnel_position"] = by_unit.map(f["position"]).fillna("").astype(str)
            else:
                out["funnel_z"], out["funnel_position"] = float("nan"), ""
            trend_result = self.trends.get(ind)
            if trend_result is not None:
                tr = trend_result.table.set_index("unit_id")
                out["trend"] = by_unit.map(tr["trend"].map(TREND_CODES)).fillna("").astype(str)
                out["trend_slope"] = by_unit.map(tr["slope"]).astype(float)
                out["trend_p_value"] = by_unit.map(tr["p_value"]).astype(float)
                out["double_flag"] = _flags(by_unit.map(tr["flag"]))
            else:
                out["trend"], out["trend_slope"], out["trend_p_value"] = "", float("nan"), float("nan")
                out["double_flag"] = _flags([None] * len(out))
            parts.append(out[TABLE_COLUMNS])
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in TABLE_COLUMNS})
        return pd.concat(parts, ignore_index=True)

    def tidy(self) -> pd.DataFrame:
        """One row per estimate: each unit's value (and the city's, unit ``city``) with its interval
        and sample size, each unit's rank with its rank interval, each trend slope with its p-value."""
        rows = []
        for ind, league in self.leagues.items():
            s, t = league.extra["slice"], league.table
            for r in t.itertuples(index=False):
                rows.append((ind, r.unit_id, r.name, "value", r.value, r.ci_low, r.ci_high, float("nan"), r.denominator))
            if s.city is not None:
                c = s.city
                rows.append((ind, c["unit_id"], self.level.names.get(c["unit_id"], "全市"), "value", c["value"],
                             c["ci_low"], c["ci_high"], float("nan"), c["denominator"]))
            for r in t.itertuples(index=False):
                rows.append((ind, r.unit_id, r.name, "rank", r.rank, r.rank_low, r.rank_high, float("nan"),
                             r.denominator))
            if ind in self.trends:
                for r in self.trends[ind].table.itertuples(index=False):
                    rows.append((ind, r.unit_id, r.name, "trend_slope", r.slope, float("nan"), float("nan"),
                                 r.p_value, float(r.periods)))
        out = pd.DataFrame(rows, columns=TIDY_COLUMNS)
        for c in TIDY_COLUMNS[4:]:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
        for c in TIDY_COLUMNS[:4]:
            out[c] = out[c].astype(str)
        return out

    def summary(self) -> str:
        """The Chinese summary: the sentences, one per line."""
        return "\n".join(self.sentences)

    def plot(self, ax=None):
        """The main figure: the league table of the first compared indicator (the run's first)."""
        if self.leagues:
            return next(iter(self.leagues.values())).plot(ax=ax)
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{self.period} 没有可比较的指标。", ha="center", va="center")
        return ax


def _flags(values):
    """True / False / NA (not judged) as pandas' nullable boolean (positional, no index)."""
    return pd.array([pd.NA if v is None or pd.isna(v) else bool(v) for v in values], dtype="boolean")


def _dtype(column: str) -> str:
    if column in ("significant", "better", "suppressed", "change_significant", "double_flag", "focus"):
        return "boolean"
    if column in ("indicator", "label_zh", "measure", "value_unit", "unit_id", "unit_name", "funnel_position", "trend"):
        return "object"
    return "float64"


def resolve_period(requested: str | None, data) -> tuple[pd.Period, list[str]]:
    """The report period: ``requested`` (a month 2025-06, a quarter 2025Q2 or a year 2025), or
    the latest complete month the data cover.

    One rule for every report: the period the run asks for is the period reported (the folder,
    the title page and the body agree). A period after the data's end is kept, with a note
    saying where the data end (its figures are then blank, never silently another period's).
    """
    latest = latest_complete_month(data)
    if not requested:
        return latest, [f"报告期未指定,取数据覆盖的最近一个完整月份 {latest}。"]
    asked = parse_period(requested)
    if asked.end_time.to_period("M") > latest:
        return asked, [f"数据只覆盖到 {latest}(最近的完整月份),报告期 {asked} 的数据不完整或没有数据。"]
    return asked, []


# What the monthly bulletin compares when no indicators are named (the notebook's default): one
# for each kind of data a bureau exports; those the workspace cannot compute are left out, with why.
DEFAULT_INDICATORS = ("case_ontime_disposal_rate", "case_closure_rate", "case_rework_rate",
                      "road_dust_sample_compliance_rate", "sorting_coverage_communities", "assessment_score_mean")


def run(workspace, *, period: str | None = "", as_of: str | None = "", engine: str | dict | None = "",
        unit_id: str | None = "", level: str = "街道", indicators: list[str] | None = None, weights_preset: str = "",
        weights: dict[str, float] | None = None, normalisation: str = "raw", list_rule: dict | None = None,
        min_denominator: float = MIN_DENOMINATOR, target_plan: str = "", targets_path: str | Path | None = "",
        ci_level: float = 0.95, overdispersion: str | None = "none", trend_periods: int = 5,
        rank_draws: str = "binomial", n_boot: int = 2000, funnel_method: str = "exact",
        worse_rule: str = "significant", target_window: int = 12, seed: int = 0) -> Bulletin:
    """The district comparison: every comparison of one report period, as the notebook
    ``notebooks/district_comparison.ipynb`` runs it. Keywords are the notebook's parameters
    (``params/district_comparison.yaml``), as written there:

    workspace: a workspace folder, a folder of canonical tables, or a ``Workspace``.
    engine: ``""`` for the workspace's setting (sources.yaml), else DuckDB; ``"duckdb"``,
    ``"spark"`` or a mapping. targets_path: ``""`` for the workspace's targets.yaml, else the
    package's target library. overdispersion: ``"none"``, ``"multiplicative"`` or ``"additive"``.
    indicators: indicator ids; None for ``DEFAULT_INDICATORS``. The rest as in
    ``build_bulletin``, which this calls. ``Bulletin.options`` keeps these
    keywords (the opened workspace as ``workspace``): ``cityanalytics.widgets.explore`` recomputes
    from them.
    """
    options = dict(locals())
    ws = as_workspace(workspace)
    options["workspace"] = ws
    b = build_bulletin(ws, period=period, level=level, indicators=list(indicators or DEFAULT_INDICATORS), weights=weights,
                       normalisation=normalisation, weights_preset=weights_preset, list_rule=list_rule,
                       target_plan=target_plan, targets_path=targets_path or ws.targets_path, ci_level=ci_level,
                       overdispersion=None if overdispersion in (None, "", "none") else overdispersion,
                       funnel_method=funnel_method, trend_periods=trend_periods, worse_rule=worse_rule,
                       target_window=target_window, n_boot=n_boot, rank_draws=rank_draws, unit_id=unit_id, seed=seed,
                       min_denominator=min_denominator, as_of=as_of, engine=engine or None)
    b.options = options
    return b


def build_bulletin(workspace, *, period: str | None = "", level: str = "街道",
                   indicators: list[str] | None = None, weights: dict[str, float] | None = None,
                   normalisation: str = "raw", weights_preset: str = "", list_rule: dict | None = None,
                   target_plan: str = "", targets_path: str | Path | None = None, ci_level: float = 0.95,
                   overdispersion: str | None = None, funnel_method: str = "exact", trend_periods: int = 5,
                   worse_rule: str = "significant", target_window: int = 12, n_boot: int = 2000,
                   rank_draws: str = "binomial", unit_id: str | None = "", seed: int = 0,
                   min_denominator: float = MIN_DENOMINATOR, as_of: str | None = "", engine=None) -> Bulletin:
    """Compute every comparison of the bulletin. Parameters as in the notebook's parameters cell.

    workspace: a workspace folder, a folder of canonical tables, or a ``Workspace``.
    Indicators the workspace cannot compute (table missing, a needed column absent or empty)
    are left out with their reason (``Bulletin.dropped``), and so are their weights.
    min_denominator: units below it are shown but not ranked or listed (``league_table``).
    as_of: the moment case figures describe; default the end of the report period.
    engine: where the indicators are summed (``cityanalytics.engines``: ``"duckdb"``, ``"spark"``
    or a mapping); default (None or "") the workspace's setting in sources.yaml, else DuckDB.
    """
    options = dict(locals())
    ws = as_workspace(workspace)
    options["workspace"] = ws
    from .shared import refocus, shared_parts  # the batch's shared bundle when a fan-out run provides one

    settings = dict(period=period, level=level, indicators=indicators, weights=weights, normalisation=normalisation,
                    weights_preset=weights_preset, list_rule=list_rule, target_plan=target_plan,
                    targets_path=targets_path, ci_level=ci_level, target_window=target_window,
                    trend_periods=trend_periods, as_of=as_of, engine=engine or None)
    per_indicator = dict(worse_rule=worse_rule, n_boot=n_boot, rank_draws=rank_draws, seed=seed,
                         funnel_method=funnel_method, overdispersion=overdispersion, min_denominator=min_denominator)

    def assemble(city: City, focus: str | None, notes: list[str]) -> Bulletin:
        return assemble_bulletin(city.frame, city.level, city.period, indicators=city.indicators, weights=city.weights,
                                 normalisation=city.normalisation, weights_label=city.weights_label,
                                 list_rule=city.list_rule, targets=city.targets, target_window=target_window,
                                 trend_periods=trend_periods, focus=focus, notes=notes, dropped=city.dropped,
                                 unassigned=city.unassigned, source_tables=city.tables, **per_indicator)

    city, unfocused = shared_parts(ws, settings, per_indicator, assemble)
    lvl, notes = city.level, list(city.notes)
    focus = unit_id or None
    if focus and focus not in lvl.units and lvl.unit_map.get(focus) in lvl.units and focus not in city.names:
        # a retired unit (e.g. 撤镇设街道): report on the unit that carries its series
        successor = lvl.unit_map[focus]
        notes.append(f"单位 {focus} 已因区划调整并入或更名为{lvl.names[successor]}({successor}),本报告按后者统计。")
        focus = successor
    if focus and focus not in lvl.units:
        other = load_level(ws, "区" if lvl.level == "街道" else "街道")
        if focus in other.units:
            notes.append(f"单位 {other.names[focus]} 属于{'区县' if other.level == '区' else '街镇'}一级,"
                         f"本报告改在该级比较。")
            city, unfocused = compute_city(ws, settings, level=other), None
            lvl = city.level
        else:
            raise ValueError(f"unit_id {focus!r} is not a unit of the data (units: {', '.join(lvl.units)})")
    if unfocused is not None:  # the batch's bulletin without a focus unit: only the focus changes
        b = refocus(unfocused, focus, notes + city.late_notes, len(city.notes) + len(city.late_notes))
    else:
        b = assemble(city, focus, notes + city.late_notes)
    b.options = options
    return b


@dataclass
class City:
    """What a bulletin computes that does not depend on its focus unit: the settings resolved,
    the level, the period and the IndicatorFrame. Every unit's report of one batch shares it."""
    level: Level
    period: pd.Period
    frame: pd.DataFrame
    indicators: list[str]
    weights: dict[str, float] | None
    normalisation: str
    weights_label: str | None
    list_rule: dict
    targets: pd.DataFrame | None
    dropped: dict[str, str]
    unassigned: tuple[int, int]
    tables: list[str]
    names: dict  # the level's unit names before 未落地 (unassigned) was added
    notes: list[str]  # notes that come before the focus unit's
    late_notes: list[str]  # notes that come after them (unassigned cases, targets)


def compute_city(ws, settings: dict, level: Level | None = None) -> City:
    """The focus-independent part of ``build_bulletin`` for its keyword ``settings`` (all but
    the focus unit and the settings only ``assemble_bulletin`` uses). ``level``: a level
    already loaded (the focus unit's, when it is not of the level asked for)."""
    s = settings
    notes: list[str] = []
    rule = check_rule(s["list_rule"])
    weights, normalisation = s["weights"], s["normalisation"]
    if s["weights_preset"]:
        if s["weights_preset"] not in PRESETS:
            raise ValueError(f"unknown weights preset {s['weights_preset']!r}; known: {', '.join(PRESETS)}")
        preset = PRESETS[s["weights_preset"]]
        weights, normalisation, label = preset["weights"], preset["normalisation"], preset["label"]
    else:
        label = None
    indicators = list(dict.fromkeys([*(s["indicators"] or []), *(weights or {})]))
    if not indicators:
        raise ValueError("indicators: choose at least one indicator id")
    for ind in indicators:
        get(ind)
    indicators, dropped = computable(ws, indicators)
    if weights and any(k in dropped for k in weights):
        weights = {k: v for k, v in weights.items() if k not in dropped}
        notes.append("综合得分只用可计算的指标:" + ("、".join(get(k).name_zh for k in weights) if weights
                                                  else "没有可计算的加权指标,不计算综合得分") + "。")
    if not indicators:  # a report that says so, not a crash: every section is one line
        notes.append("所选指标都不能由这些数据计算,本报告没有可比较的指标。")
    p, more = resolve_period(s["period"], ws)
    notes += more
    lvl = level if level is not None else load_level(ws, normalise_level(s["level"]))
    names = dict(lvl.names)
    late: list[str] = []
    history = max(s["target_window"], s["trend_periods"], 2)
    frame = compute(ws, indicators, lvl, p, history=history, ci_level=s["ci_level"], as_of=s["as_of"] or None,
                    engine=s.get("engine"))
    unassigned = unassigned_in_period(ws, p)
    if unassigned[0]:
        lvl.names[UNASSIGNED] = UNASSIGNED_NAME
        late.append(f"{UNASSIGNED_NAME}:报告期内 {unassigned[0]} 件案件没有所属单位,占全部 {unassigned[1]} 件的 "
                    f"{100 * unassigned[0] / unassigned[1]:.1f}%;计入全市合计,在总览中单列,不参与排名和榜单。")
    targets = None
    if s["target_plan"] or s["targets_path"]:
        targets = load_targets(s["targets_path"] or None)
        if s["target_plan"]:
            targets = targets[targets["plan"].str.contains(s["target_plan"], regex=False)]
            if targets.empty:
                late.append(f"目标库中没有名称包含“{s['target_plan']}”的规划。")
    return City(level=lvl, period=p, frame=frame, indicators=indicators, weights=weights,
                normalisation=normalisation, weights_label=label, list_rule=rule, targets=targets, dropped=dropped,
                unassigned=unassigned, tables=list(ws.present), names=names, notes=notes, late_notes=late)


def assemble_bulletin(frame: pd.DataFrame, lvl: Level, period: pd.Period, *, indicators: list[str],
                      weights: dict[str, float] | None, normalisation: str, weights_label: str | None,
                      list_rule: dict, targets: pd.DataFrame | None, target_window: int, trend_periods: int,
                      worse_rule: str, n_boot: int, rank_draws: str, seed: int, funnel_method: str,
                      overdispersion: str | None, focus: str | None, notes=(), min_denominator: float = 0,
                      dropped: dict | None = None, unassigned: tuple[int, int] = (0, 0),
                      source_tables: list[str] | None = None) -> Bulletin:
    """Every comparison of one period from an IndicatorFrame that already holds its months.

    ``build_bulletin`` resolves the parameters and computes the frame, then calls this; the
    settings are kept on the bulletin (``Bulletin.settings``). The two steps, for a caller that
    keeps what it computed (the JupyterLab explorer, ``cityanalytics.widgets.compare``):
    ``compare_indicators`` (the settings named in ``PER_INDICATOR``), then ``complete_bulletin``.
    """
    settings = {k: v for k, v in locals().items()
                if k not in ("frame", "lvl", "period", "notes", "dropped", "unassigned", "source_tables")}
    comparisons = compare_indicators(frame, lvl, period, **{k: settings[k] for k in PER_INDICATOR})
    return complete_bulletin(comparisons, frame, lvl, period, settings, notes=notes, dropped=dropped,
                             unassigned=unassigned, source_tables=source_tables)


@dataclass
class IndicatorComparisons:
    """The per-indicator part of a bulletin: each indicator's league table, funnel and trend,
    and the comparisons left out with why (Chinese)."""

    leagues: dict[str, AnalysisResult]
    funnels: dict[str, AnalysisResult]
    trends: dict[str, AnalysisResult]
    skipped: dict[str, str]


def compare_indicators(frame: pd.DataFrame, lvl: Level, period: pd.Period, *, indicators: list[str],
                       focus: str | None, n_boot: int, rank_draws: str, seed: int, funnel_method: str,
                       overdispersion: str | None, trend_periods: int, worse_rule: str,
                       min_denominator: float = 0) -> IndicatorComparisons:
    """League table, funnel and trend of each indicator in ``period`` (its keywords: ``PER_INDICATOR``)."""
    p = period
    exposure = lvl.exposure or None
    names = lvl.names
    leagues, funnels, trends, skipped = {}, {}, {}, {}
    by_indicator = {ind: rows for ind, rows in frame.groupby("indicator", sort=False)}
    for ind in indicators:
        kw = dict(units=lvl.units, names=names, focus=focus)
        ex = exposure if get(ind).kind == "count" else None
        rows = by_indicator.get(ind, frame.iloc[:0])
        rows.attrs.update(frame.attrs)
        if rows.empty or not (rows["period"] == p).any():
            skipped[ind] = f"{get(ind).name_zh}:{p} 没有数据"
            continue
        try:
            leagues[ind] = league_table(rows, ind, p, exposure=ex, n_boot=n_boot, seed=seed, rank_draws=rank_draws,
                                        min_denominator=min_denominator, **kw)
        except ValueError as exc:
            skipped[ind] = getattr(exc, "zh", f"{get(ind).name_zh}:{exc}")
            continue
        try:
            funnels[ind] = funnel(rows, ind, p, exposure=ex, method=funnel_method, overdispersion=overdispersion,
                                  levels=(0.95, 0.998), **kw)
        except NotComparable as exc:
            skipped[f"{ind}:funnel"] = exc.zh
        trends[ind] = trend(rows, ind, p, n_periods=trend_periods, exposure=ex, league=leagues[ind].table,
                            worse_rule=worse_rule, **kw)
    return IndicatorComparisons(leagues, funnels, trends, skipped)


def complete_bulletin(comparisons: IndicatorComparisons, frame: pd.DataFrame, lvl: Level, period: pd.Period,
                      settings: dict, *, notes=(), dropped: dict | None = None, unassigned: tuple[int, int] = (0, 0),
                      source_tables: list[str] | None = None) -> Bulletin:
    """The bulletin from its per-indicator comparisons: the composite score, the red and black
    lists and the targets, from ``settings`` (``assemble_bulletin``'s keywords)."""
    s = settings
    notes = list(notes)
    p, names, focus = period, lvl.names, s["focus"]
    leagues, funnels, trends = comparisons.leagues, comparisons.funnels, comparisons.trends
    skipped = dict(comparisons.skipped)
    comp = None
    if s["weights"]:
        unranked = {u for k in s["weights"] if k in leagues
                    for u in leagues[k].table.loc[leagues[k].table["suppressed"].astype(bool), "unit_id"]}
        try:
            comp = composite_score(frame, p, s["weights"], normalisation=s["normalisation"], units=lvl.units,
                                   names=names, focus=focus, label=s["weights_label"], unranked=unranked)
        except ValueError as exc:
            skipped["composite"] = f"综合得分:{getattr(exc, 'zh', exc)}"
    rule = s["list_rule"]
    if rule["basis"] == "composite" and comp is None and leagues:
        notes.append(f"没有综合得分,红黑榜改按{get(next(iter(leagues))).name_zh}排名。")
        rule = {**rule, "basis": next(iter(leagues))}
    basis = comp.table if rule["basis"] == "composite" and comp is not None else (
        leagues[rule["basis"]].table if rule["basis"] in leagues else None)
    if basis is None:
        lists = None
        skipped["lists"] = "红黑榜:没有可排名的指标,未列榜单"
    elif basis["rank"].notna().sum() < 2:
        lists = None
        small = f"(样本量少于 {s['min_denominator']:g} 的单位不排名)" if s["min_denominator"] else ""
        skipped["lists"] = f"红黑榜:参与排名的单位不足 2 个{small},未列榜单"
    else:
        lists = red_black_lists(rule, composite=comp.table if comp else None,
                                leagues={k: v.table for k, v in leagues.items()}, funnels=funnels, names=names)
    status = None
    if s["targets"] is not None:
        status = target_status(frame, s["targets"], p, units=lvl.units, names=names, window=s["target_window"],
                               level=level_of(frame), focus=focus)
    return Bulletin(period=p, level=lvl, frame=frame, indicators=s["indicators"], leagues=leagues, funnels=funnels,
                    trends=trends, composite=comp, lists=lists, targets=status, focus=focus, notes=notes,
                    skipped=skipped, settings=dict(settings), dropped=dict(dropped or {}), unassigned=unassigned,
                    as_of=str(frame.attrs.get("as_of", "")), source_tables=list(source_tables or []))
