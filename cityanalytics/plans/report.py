"""The plan-progress report (规划目标进度): every target of a plan, or of every plan, judged.

    res = plan_progress("data/demo-workspace", plan="", period="2025-06")
    res.table          # one row per target, binding (约束性) targets first
    res.counts()       # {"green": .., "amber": .., "red": .., "none": ..}

Targets come from the workspace's ``targets.yaml`` (else the packaged registry); each is judged
by ``progress.judge`` on the series ``sources.Sources`` finds for it. Where the coverage forecast
models the target (sorting coverage, 两定一撤, compliant share: the communities register), its
probability of reaching the target by the deadline is the forecast's (bounded logistic and
logit-ARIMA paths); elsewhere a straight-line trend gives it (see ``progress``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cityanalytics.indicators.frame import CITY
from cityanalytics.indicators.registry import get, registry
from cityanalytics.report import sections
from cityanalytics.targets import load_targets
from cityanalytics.text import BLANK, md_escape, missing

from .progress import LIGHT_ZH, RULE_ZH, Series, judge, period_end
from .sources import ROAD_ZH, Sources

BINDING_ORDER = {"约束性": 0, "预期性": 1, "未标明": 2}
TABLES = ("districts", "observations", "communities", "dust_samples", "assets", "inspections", "survey_responses")
FORECAST_INDICATORS = ("sorting_coverage_communities", "fixed_dropoff_coverage")


@dataclass
class PlanProgress:
    table: pd.DataFrame
    as_of: pd.Timestamp
    period: str
    plans: list[str]
    unit_id: str | None
    synthetic: bool = False
    spec: str = RULE_ZH
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        c = self.table["light"].value_counts()
        return {k: int(c.get(k, 0)) for k in LIGHT_ZH}

    def display_table(self) -> pd.DataFrame:
        """The report's table: every cell filled (a target without data says why)."""
        return display_frame(self.table)


def _status_zh(light: str, met: bool, passed: bool) -> str:
    if light == "green":
        return "已达标" if met else "进度正常"
    if light == "red":
        return "到期未达标" if passed else "进度滞后"
    return {"amber": "需关注", "none": "无数据"}[light]


def _tables(workspace) -> tuple[dict, object]:
    from cityanalytics.workspace import open_workspace

    ws = workspace if hasattr(workspace, "table") else open_workspace(workspace)
    return {name: ws.table(name) for name in TABLES}, ws


def _targets(ws, plan: str, targets_path) -> pd.DataFrame:
    path = targets_path or getattr(ws, "targets_path", None)
    t = load_targets(path if path else None)
    if plan:
        t = t[t["plan"].str.contains(plan, regex=False)]
        if t.empty:
            raise ValueError(f"no target of a plan whose name contains {plan!r}")
    return t.reset_index(drop=True)


def _as_of(period: str, series: list[Series | None]) -> tuple[pd.Timestamp, str]:
    if period:
        return period_end(period), str(period)
    last = max((max(s.dates) for s in series if s is not None and len(s.dates)), default=None)
    if last is None:
        raise ValueError("no target has any data: give the report period")
    p = pd.Timestamp(last).to_period("M")
    return p.end_time.normalize(), str(p)


def _forecast_probability(ws, target: dict, as_of: pd.Timestamp, n_paths: int, seed: int):
    """The coverage forecast's probability for the city (None when it cannot run)."""
    from cityanalytics.forecast import run
    from cityanalytics.forecast.models import LABELS_ZH

    try:
        res = run(ws, period=str(as_of.to_period("M")), target_id=target["target_id"], backtest_origins=0,
                  n_paths=n_paths, seed=seed, units=[CITY])
    except (ValueError, KeyError) as exc:
        return None, f"覆盖率预测无法运行:{exc}"
    row = res.table[res.table["unit_id"] == CITY]
    if row.empty or pd.isna(row["p_reach"].iloc[0]):
        return None, "覆盖率预测没有给出全市的达标概率"
    return float(row["p_reach"].iloc[0]), f"覆盖率预测({LABELS_ZH.get(row['model'].iloc[0], '—')},{n_paths} 条模拟路径)"


def plan_progress(workspace, *, plan: str = "", period: str = "", unit_id: str = "", targets_path=None,
                  n_paths: int = 500, seed: int = 0) -> PlanProgress:
    """Judge every target of ``plan`` (a part of its name; "" = every plan) as of ``period``."""
    tables, ws = _tables(workspace)
    targets = _targets(ws, plan, targets_path)
    src = Sources(tables, unit_id or None, root=getattr(ws, "root", None))
    found = [src.series(t) for t in targets.to_dict("records")]
    as_of, label = _as_of(period, [s for s, _ in found])
    rows = []
    for t, (series, reason) in zip(targets.to_dict("records"), found):
        info = get(t["indicator"]) if t["indicator"] in registry() else None
        cumulative = info is not None and info.kind == "count" and t["comparison"] == ">="
        share = info is not None and info.unit == "%"
        if (series is not None and series.road == "table" and t["indicator"] in FORECAST_INDICATORS
                and pd.Timestamp(t["deadline"]) >= as_of):
            p, how = _forecast_probability(ws, t, as_of, n_paths, seed)
            if p is not None:
                series.probability, series.probability_how = p, how
        pr = judge(t, series, as_of, cumulative=cumulative, share=share, no_data_reason=reason)
        rows.append({
            "target_id": t["target_id"], "plan": t["plan"], "binding": t["binding"], "indicator": t["indicator"],
            "name_zh": info.name_zh if info else t["indicator"], "scope": t["scope"], "comparison": t["comparison"],
            "target": float(t["value"]), "unit": t["unit"], "deadline": pd.Timestamp(t["deadline"]),
            "kind": "累计数" if cumulative else ("比例" if share else "水平"),
            "road": series.road if series is not None else "none",
            "road_zh": ROAD_ZH.get(series.road, "") if series is not None else "无",
            "source": series.source if series is not None else "",
            "baseline": pr.baseline, "baseline_date": pr.baseline_date, "value": pr.value,
            "value_date": pr.value_date, "path": pr.path, "gap": pr.gap, "ahead": pr.ahead,
            "probability": pr.probability, "probability_how": pr.probability_how,
            "light": pr.light, "light_zh": pr.light_zh, "status_zh": _status_zh(pr.light, pr.met, pr.passed),
            "met": pr.met, "passed": pr.passed, "reason": pr.reason,
            "detail": series.detail if series is not None else "", "source_file": t["source_file"],
            "quote": t["quote"],
        })
    table = pd.DataFrame(rows)
    table["_b"] = table["binding"].map(BINDING_ORDER).fillna(3)
    table = table.sort_values(["_b"], kind="stable").drop(columns="_b").reset_index(drop=True)
    synthetic = _synthetic(ws)
    plans = list(dict.fromkeys(targets["plan"]))
    return PlanProgress(table=table, as_of=as_of, period=label, plans=plans, unit_id=src.unit_id,
                        synthetic=synthetic)


def _synthetic(ws) -> bool:
    try:
        if ws.recipe is not None and getattr(ws.recipe, "synthetic", False):
            return True
    except Exception:  # a folder of tables without a recipe
        pass
    root = Path(getattr(ws, "root", "."))
    return (root / "truth.json").is_file()


# --- what the report shows ------------------------------------------------------------------------


def _with_unit(x, unit: str = "") -> str:
    """At most two decimals, trailing zeros dropped, and the unit: 98.5%, 1,200 个."""
    if missing(x):
        return BLANK
    text = f"{x:,.2f}".rstrip("0").rstrip(".")
    return f"{text}{'%' if unit == '%' else (' ' + unit if unit else '')}"


def _month(x) -> str:
    return "" if x is None or pd.isna(x) else pd.Timestamp(x).strftime("%Y-%m")


def _probability(r) -> str:
    if r.passed:
        return "期限已过"
    if r.met:
        return "已达标"
    if math.isnan(r.probability):
        return "数值太少"
    return "<1%" if r.probability < 0.005 else (">99%" if r.probability > 0.995 else f"{r.probability:.0%}")


def display_frame(t: pd.DataFrame) -> pd.DataFrame:
    """One row per target, in Chinese; a target without data says 无数据 and why (never a blank cell)."""
    out = []
    for r in t.itertuples():
        none = r.light == "none"
        cmp = {">=": "≥", "<=": "≤"}.get(r.comparison, "=")
        latest = f"{_with_unit(r.value, r.unit)}({_month(r.value_date)})" + ("累计" if r.kind == "累计数" else "")
        out.append({
            "编号": r.target_id, "目标": f"{r.name_zh}({r.scope}){cmp}{_with_unit(r.target, r.unit)}",
            "属性": r.binding, "期限": _month(r.deadline),
            "途径": "无数据" if none else ("规范表" if r.road == "table" else "汇总数据"),
            "基线": "无数据" if none else f"{_with_unit(r.baseline, r.unit)}({_month(r.baseline_date)})",
            "最新值": f"无数据:{r.reason}" if none else latest,
            "直线进度": "无数据" if none else f"{_with_unit(r.path, r.unit)}({'领先或持平' if r.ahead else '落后'})",
            "达标概率": "无数据" if none else _probability(r),
            "状态": f"{r.light_zh}·{r.status_zh}",
        })
    return pd.DataFrame(out)


def findings(res: PlanProgress, previous: pd.DataFrame | None = None) -> list[str]:
    """Page 1: the count by light, the binding targets, the red ones, the missing ones, changes."""
    t, c = res.table, res.counts()
    out = [f"截至 {res.as_of.date()},{len(res.plans)} 个规划共 {len(t)} 项目标:绿 {c['green']} 项、黄 {c['amber']} 项、"
           f"红 {c['red']} 项、无数据 {c['none']} 项(按进度或已达标 {c['green']} 项,落后或需关注 "
           f"{c['amber'] + c['red']} 项)。"]
    b = t[t["binding"] == "约束性"]
    if len(b):
        out.append(f"约束性目标 {len(b)} 项:" + "、".join(f"{r.name_zh}{_with_unit(r.value, r.unit)}({r.light_zh})"
                                                     for r in b.itertuples()) + "。")
    red = t[t["light"] == "red"]
    if len(red):
        late = red[red["passed"]]
        names = "、".join(f"{r.name_zh}({r.scope})" for r in red.head(6).itertuples())
        first = "(列出前 6 项)" if len(red) > 6 else ""
        out.append(f"红灯目标 {len(red)} 项{first}:{names};其中 {len(late)} 项期限已过未达标。")
    none = t[t["light"] == "none"]
    if len(none):
        out.append(f"无数据 {len(none)} 项:" + "、".join(f"{r.name_zh}({r.reason})" for r in none.head(4).itertuples())
                   + ("等。" if len(none) > 4 else "。"))
    if previous is not None and {"target_id", "light"} <= set(previous.columns):
        prev = dict(zip(previous["target_id"], previous["light"]))
        moved = [f"{r.name_zh}{LIGHT_ZH.get(prev[r.target_id], '')}→{r.light_zh}" for r in t.itertuples()
                 if r.target_id in prev and prev[r.target_id] != r.light]
        out.append("与上期相比状态变化:" + "、".join(moved[:6]) + "。" if moved else "与上期相比各目标状态没有变化。")
    if res.synthetic:
        out.append("本报告使用合成演示数据(示范市为虚构城市),数值不代表任何真实城市。")
    return out[:6]


def results(res: PlanProgress) -> dict:
    """What the report stores (history.save_all): the judged targets, one row each."""
    keep = ["target_id", "plan", "binding", "indicator", "scope", "comparison", "target", "unit", "deadline",
            "road", "baseline", "value", "path", "gap", "probability", "light", "status_zh", "reason"]
    return {"plan_progress": res.table[keep].copy()}


def summary_page(res: PlanProgress):
    """Page 1 (``summary.Page``): the results stored in a report run, the findings, and the lights
    that changed since the previous period's run."""
    from cityanalytics.report import history, summary

    stored = results(res)
    changes = summary.compare_with_previous(stored, res.period)  # stores them, as every report does
    prev = history.previous()
    previous = prev[1].get("plan_progress") if prev else None
    return summary.Page(findings(res, previous), changes, stored)


def show_summary(res: PlanProgress) -> None:
    sections.show(summary_page(res))


def show_rule(res: PlanProgress) -> None:
    scope = "、".join(res.plans)
    rule = md_escape(f"报告期截至 {res.as_of.date()};单位 {res.unit_id or '全部'};规划:{scope}。")
    sections.markdown(rule + "\n\n" + md_escape(res.spec))


def show_table(res: PlanProgress) -> None:
    """A table per plan (binding targets first within it), every cell filled."""
    for plan in res.plans:
        part = res.table[res.table["plan"] == plan]
        sections.markdown(f"### {md_escape(plan)}({len(part)} 项)")
        sections.table(display_frame(part))


def show_sources(res: PlanProgress) -> None:
    """Where each value came from, how its light was reached, and the plan's sentence it comes from."""
    t = res.table
    frame = pd.DataFrame({"编号": t["target_id"], "数据途径": t["road_zh"], "数据来源": t["source"].replace("", BLANK),
                          "判定说明": [("; ".join(x for x in (r.reason, r.detail, r.probability_how) if x)) or BLANK
                                   for r in t.itertuples()],
                          "规划原文": t["quote"].str.replace("\n", " "), "文件": t["source_file"]})
    sections.table(frame)
