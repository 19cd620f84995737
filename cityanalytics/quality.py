"""Data quality: what was loaded from a workspace, and what the loaders made of it.

The ``data_quality`` notebook is a thin outline over these functions::

    loaded = load_tables("data/demo", unit_id=None)   # every canonical table found there
    overview(loaded, period="2025-06")                # rows read / kept / rejected, periods, units
    rejections_by_reason(loaded)                      # why rows were rejected
    missing_values(loaded)                            # empty cells per column
    out_of_order(loaded)                              # lifecycle timestamps in the wrong order
    plot_monthly_rows(loaded)                         # rows per month for each dated table
    indicator_support(loaded)                         # which indicators each table can support, and why not
    unassigned_rows(loaded)                           # rows with no unit (未归属单位) and their share

Tables come from ``cityanalytics.workspace`` (a workspace folder or a folder of canonical
tables, as ``cityanalytics demo`` writes). Units are resolved against the ``districts`` table
when there is one, so unknown units show up as rejections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cityanalytics import schemas
from cityanalytics.text import BLANK, md_code, md_escape  # md_escape: data text into Markdown

DATE_KINDS = ("datetime", "date", "month")
# How reports name the canonical tables (the id follows in brackets).
TABLE_ZH = {
    "districts": "行政单元", "unit_changes": "区划变更", "cases": "案件", "dust_samples": "以克论净采样",
    "communities": "垃圾分类小区", "assessments": "月度考核", "campaigns": "专项行动", "targets": "规划目标",
    "observations": "汇总指标", "survey_responses": "问卷调查", "assets": "设施台账", "inspections": "设施巡查",
}


def table_label(table: str) -> str:
    return f"{TABLE_ZH[table]}({table})" if table in TABLE_ZH else table


def _for_reading(frame: pd.DataFrame, index: str) -> pd.DataFrame:
    """Tables as a reviewer reads them: labelled rows, BLANK ("—") for nothing to show."""
    out = frame.astype(object).where(frame.notna(), BLANK)
    if len(out) and "表" in out.columns:
        out["表"] = out["表"].map(table_label)
    return out.set_index(index) if index in out.columns else out


@dataclass
class LoadedTable:
    """One canonical table as loaded: its file, frame and load report (or why it is missing)."""

    table: str
    file: Path | None
    frame: pd.DataFrame | None = None
    report: object | None = None  # cityanalytics.io.LoadReport
    problem: str | None = None  # "file not found", or the LoadError message


@dataclass
class Loaded:
    data_dir: Path  # the workspace's root
    unit_id: str | None
    tables: dict[str, LoadedTable] = field(default_factory=dict)
    workspace: object | None = None  # cityanalytics.workspace.Workspace

    def ok(self) -> dict[str, LoadedTable]:
        return {k: t for k, t in self.tables.items() if t.frame is not None}


def date_column(table: str) -> str | None:
    """The first date, datetime or month column of a canonical table: what its rows are dated by."""
    return next((c.name for c in schemas.table(table).columns if c.kind in DATE_KINDS), None)


def unit_subtree(districts: pd.DataFrame, unit_id: str) -> set[str]:
    """``unit_id`` and every unit below it (following ``parent_id``)."""
    children: dict[str, list[str]] = {}
    for unit, parent in zip(districts["unit_id"].astype(str), districts["parent_id"].astype("string")):
        if parent is not pd.NA:
            children.setdefault(str(parent), []).append(unit)
    out, todo = set(), [str(unit_id)]
    while todo:
        unit = todo.pop()
        if unit not in out:
            out.add(unit)
            todo.extend(children.get(unit, []))
    return out


def load_tables(workspace, tables: list[str] | None = None, unit_id: str | None = None) -> Loaded:
    """Load every table in ``tables`` (default: every canonical table) the workspace holds.

    workspace: a workspace folder, a folder of canonical tables, or a ``Workspace``.
    With ``unit_id``, frames are cut to that unit and the units below it; the load reports
    stay those of the whole files (a rejected row may not have a usable unit).
    """
    from cityanalytics.io import LoadError
    from cityanalytics.workspace import open_workspace

    ws = open_workspace(workspace)
    data_dir = ws.root
    names = list(tables) if tables else list(schemas.TABLES)
    for name in names:
        schemas.table(name)  # unknown table names are an error, not a silent skip
    out = Loaded(ws.root, unit_id, workspace=ws)
    districts = None
    order = sorted(names, key=lambda n: n != "districts")  # districts first: the others use it
    for name in order:
        path = ws.path(name)
        if path is None:
            out.tables[name] = LoadedTable(name, None, problem="file not found")
            continue
        try:
            result = ws.load(name, units=districts if name != "districts" else None)
        except LoadError as exc:
            out.tables[name] = LoadedTable(name, path, problem=str(exc))
            continue
        if name == "districts":
            districts = result.frame
        out.tables[name] = LoadedTable(name, path, result.frame, result.report)
    if unit_id is not None:
        if districts is None:
            raise ValueError(f"unit_id={unit_id!r} needs the districts table in {data_dir}")
        if str(unit_id) not in set(districts["unit_id"].astype(str)):
            raise ValueError(f"unit_id={unit_id!r} is not in the districts table of {data_dir}")
        keep = unit_subtree(districts, unit_id)
        for t in out.ok().values():
            if "unit_id" in t.frame.columns:
                t.frame = t.frame[t.frame["unit_id"].astype(str).isin(keep)].reset_index(drop=True)
    out.tables = {n: out.tables[n] for n in names}  # back in the order asked for
    return out


def absent(loaded: Loaded) -> list[str]:
    """The tables asked for that the workspace does not hold (no file at all)."""
    return [n for n, t in loaded.tables.items() if t.frame is None and t.problem == "file not found"]


def present(loaded: Loaded) -> dict[str, LoadedTable]:
    """The tables asked for that have a file (read, or that failed to read)."""
    return {n: t for n, t in loaded.tables.items() if not (t.frame is None and t.problem == "file not found")}


def introduction(loaded: Loaded) -> str:
    """The report's first paragraph, written from the tables the workspace holds."""
    held = [TABLE_ZH.get(n, n) for n in present(loaded)]
    text = ("本报告说明从工作区读入了什么:" + ("、".join(held) + "各表" if held else "(没有任何规范表)")
            + "读入、保留和拒绝的行数,覆盖的月份和单位,被拒绝的行按原因的分布,各列缺失值,时间戳顺序错误"
              "(如结案早于上报),没有所属单位的行,以及各表能支持和不能支持的指标。后续各项分析都以这里读入的数据为准。")
    return text


def absent_text(loaded: Loaded) -> str | None:
    """One line naming the tables the workspace does not hold (their indicators cannot be computed)."""
    missing = absent(loaded)
    if not missing:
        return None
    return (f"工作区没有以下 {len(missing)} 张表,本报告不涉及,其指标均不能计算:"
            + "、".join(table_label(n) for n in missing) + "。")


def scope_text(loaded: Loaded) -> str:
    """One Markdown paragraph: which workspace and units the report covers (data text escaped)."""
    found = [n for n, t in loaded.tables.items() if t.frame is not None]
    missing = [n for n, t in loaded.tables.items() if t.frame is None and t.problem != "file not found"]
    text = f"数据 {md_code(loaded.data_dir)}:读入 {len(found)} 张表"
    text += f"({'、'.join(md_escape(n) for n in found)})" if found else ""
    if missing:
        text += f";未能读入 {len(missing)} 张({'、'.join(md_escape(n) for n in missing)},见下表“状态”)"
    if loaded.unit_id is not None:
        districts = loaded.tables.get("districts")
        name = None
        if districts is not None and districts.frame is not None:
            match = districts.frame.loc[districts.frame["unit_id"].astype(str) == str(loaded.unit_id), "name_zh"]
            name = str(match.iloc[0]) if len(match) else None
        unit = md_escape(loaded.unit_id)
        label = f"{md_escape(name)}({unit})" if name else unit
        text += f"。范围:{label}及其下属单位;读入、拒绝行数按整份文件统计,其余按范围内的行统计"
    return text + "。"


def or_note(frame: pd.DataFrame, note: str):
    """``frame``, or a Markdown note when it is empty (an empty table says nothing to a reader)."""
    from IPython.display import Markdown

    from cityanalytics.report.tables import show_table

    return show_table(frame) if len(frame) else Markdown(note)


def _period(period) -> pd.Period:
    """The report period: a month 2025-06, a quarter 2025Q2 or a year 2025."""
    from cityanalytics.compare.data import parse_period

    return parse_period(period)


def _month(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.PeriodDtype):
        return values.dt.asfreq("M")
    return pd.to_datetime(values).dt.to_period("M")


def overview(loaded: Loaded, period: str | None = None) -> pd.DataFrame:
    """One row per table: status, rows read / kept / rejected, rows in scope, months and units covered."""
    rows = []
    for name, t in present(loaded).items():
        row = {"表": name}
        if t.frame is None:
            rows.append({**row, "状态": "未找到文件" if t.problem == "file not found" else f"无法读入:{t.problem}"})
            continue
        rep = t.report
        row.update({"状态": "已读入", "读入行": rep.rows_read, "保留行": rep.rows_kept, "拒绝行": rep.rows_rejected,
                    "范围内行": len(t.frame)})
        col = date_column(name)
        if col is not None and t.frame[col].notna().any():
            months = _month(t.frame[col].dropna())
            row["起始月"], row["截止月"] = str(months.min()), str(months.max())
            if period:
                p = _period(period)
                row["报告期行"] = int(((months >= p.asfreq("M", "start")) & (months <= p.asfreq("M", "end"))).sum())
        if "unit_id" in t.frame.columns:
            row["单位数"] = int(t.frame["unit_id"].nunique())
        rows.append(row)
    out = pd.DataFrame(rows)
    for col in ("读入行", "保留行", "拒绝行", "范围内行", "报告期行", "单位数"):
        if col in out:
            out[col] = out[col].astype("Int64")
    return _for_reading(out, "表")


def rejections_by_reason(loaded: Loaded) -> pd.DataFrame:
    """Rejected rows counted by table, column and reason (most frequent first)."""
    parts = []
    for name, t in loaded.ok().items():
        by = t.report.by_reason()
        if len(by):
            parts.append(by.assign(table=name))
    if not parts:
        return pd.DataFrame(columns=["表", "列", "原因", "行数"])
    out = pd.concat(parts, ignore_index=True)[["table", "column", "reason", "rows"]]
    out.columns = ["表", "列", "原因", "行数"]
    return out.sort_values("行数", ascending=False, ignore_index=True)


def show_rejections(loaded: Loaded) -> pd.DataFrame:
    """``rejections_by_reason`` for the page: labelled, row-less columns shown as 整行."""
    out = rejections_by_reason(loaded)
    out["列"] = out["列"].replace("", "整行")
    return _for_reading(out, "表")


def missing_values(loaded: Loaded) -> pd.DataFrame:
    """Empty cells per column among the rows kept (columns with none are left out)."""
    rows = []
    for name, t in loaded.ok().items():
        n = len(t.frame)
        for col in schemas.table(name).names:
            if col not in t.frame.columns:
                continue
            missing = int(t.frame[col].isna().sum())
            if missing:
                rows.append({"表": name, "列": col, "缺失": missing, "缺失比例": f"{missing / n:.2%}"})
    return _for_reading(pd.DataFrame(rows, columns=["表", "列", "缺失", "缺失比例"]), "表")


def out_of_order(loaded: Loaded) -> pd.DataFrame:
    """For each ordering rule between timestamps (e.g. closed_at >= reported_at): rows the
    loader rejected for breaking it, and rows kept that break it (should be none)."""
    rows = []
    for name, t in loaded.ok().items():
        spec = schemas.table(name)
        reasons = t.report.rejections["reason"].astype(str) if len(t.report.rejections) else pd.Series([], dtype=str)
        for rule in spec.rules:
            if not all(schemas.table(name).col(c).kind in DATE_KINDS for c in rule.columns):
                continue
            if not all(c in t.frame.columns for c in rule.columns):
                continue
            holds = rule.holds(t.frame).fillna(True).astype(bool) | t.frame[list(rule.columns)].isna().any(axis=1)
            kept_bad = int((~holds).sum())  # a rule compares values that exist, as the loader does
            rejected = int(reasons.str.contains(rule.reason, regex=False).sum())
            rows.append({"表": name, "规则": f"{rule.columns[0]} 不早于 {rule.columns[1]}",
                         "拒绝行": rejected, "保留数据中违反": kept_bad})
    return _for_reading(pd.DataFrame(rows, columns=["表", "规则", "拒绝行", "保留数据中违反"]), "表")


def monthly_rows(loaded: Loaded) -> pd.DataFrame:
    """Rows per month (by the table's date column) for every dated table: month x table."""
    series = {}
    for name, t in loaded.ok().items():
        col = date_column(name)
        if col is None or col not in t.frame.columns or not t.frame[col].notna().any():
            continue
        series[name] = _month(t.frame[col].dropna()).value_counts().sort_index()
    if not series:
        return pd.DataFrame()
    out = pd.DataFrame(series).sort_index()
    full = pd.period_range(out.index.min(), out.index.max(), freq="M")
    return out.reindex(full).fillna(0).astype(int)


def plot_monthly_rows(loaded: Loaded, period: str | None = None):
    """Small multiples: rows per month for each dated table, the report month marked."""
    import matplotlib.pyplot as plt

    counts = monthly_rows(loaded)
    if counts.empty:
        return None
    n = counts.shape[1]
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.15 * n + 0.8), sharex=True, squeeze=False)
    x = counts.index.to_timestamp()
    for ax, name in zip(axes[:, 0], counts.columns):
        ax.plot(x, counts[name], lw=1.2)
        ax.set_title(table_label(name), loc="left", fontsize=9)
        ax.set_ylim(bottom=0)
        if period:
            ax.axvline(_period(period).start_time, color="tab:red", lw=0.8, ls="--")
    axes[-1, 0].set_xlabel("月份" + (f"(红色虚线:报告期 {period})" if period else ""))
    fig.suptitle("各表每月行数", x=0.01, ha="left")
    fig.tight_layout()
    return fig


def plot_rejections(loaded: Loaded):
    """Bar chart of rejected rows by table and reason (None when nothing was rejected)."""
    import matplotlib.pyplot as plt

    by = rejections_by_reason(loaded)
    if by.empty:
        return None
    top = by.head(15).iloc[::-1]
    labels = [f"{TABLE_ZH.get(r.表, r.表)} · {r.列 or '整行'}: {r.原因}"[:60] for r in top.itertuples()]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(top) + 1))
    ax.barh(labels, top["行数"])
    ax.set_xlabel("被拒绝行数")
    ax.set_title("读入时被拒绝的行:按原因", loc="left")
    fig.tight_layout()
    return fig


def indicator_support(loaded: Loaded) -> pd.DataFrame:
    """For every indicator of the registry whose table the workspace holds: can it be computed
    from the rows kept, and if not, why (a needed column absent or empty, from the registry's
    ``needs``; see ``cityanalytics.indicators.computable``). Tables the workspace does not hold
    are named once by ``absent_text`` instead of listing each of their indicators."""
    from cityanalytics.indicators.computable import computability

    held = {n: t.frame for n, t in loaded.ok().items()}
    out = computability(held)
    out = out[out["table"].isin(list(present(loaded)))]
    failed = {n for n, t in present(loaded).items() if t.frame is None}
    rows = pd.DataFrame({
        "表": out["table"], "指标": [f"{z}({i})" for z, i in zip(out["name_zh"], out["indicator"])],
        "能否计算": ["能" if c else "不能" for c in out["computable"]],
        "原因": [("该表未能读入" if t in failed else (f"{z}({r})" if r else ""))
               for t, z, r in zip(out["table"], out["reason_zh"], out["reason"])],
    })
    rows.loc[rows["表"].isin(failed), "原因"] = "该表未能读入"
    return _for_reading(rows.reset_index(drop=True), "表")


def unassigned_rows(loaded: Loaded) -> pd.DataFrame:
    """Rows kept with no unit (未归属单位), per table with a unit column: how many and their share.
    They count in the city's totals; the comparison shows them as their own line."""
    rows = []
    for name, t in loaded.ok().items():
        if name == "districts" or "unit_id" not in t.frame.columns or not len(t.frame):
            continue
        u = t.frame["unit_id"]
        n = int((u.isna() | (u.astype("string").str.strip() == "")).sum())
        if n:
            rows.append({"表": name, "未归属单位行": n, "全部行": len(t.frame), "占比": f"{n / len(t.frame):.2%}"})
    return _for_reading(pd.DataFrame(rows, columns=["表", "未归属单位行", "全部行", "占比"]), "表")
