"""The campaign analysis's inputs: the workspace's tables, the outcome a run names, and the
unit x period panel with any exposure and covariates joined to it.

An outcome is either a case measure (``count``: cases of the targeted subcategories, a
Poisson/negative binomial outcome; ``disposal_hours``: mean hours to disposal, Gaussian) or an
indicator id of the ``observations`` table (rates, per-capita values: Gaussian). A name that is
neither is read as a case subcategory. Exposures and covariates are panel columns, indicators
of the observations table (by unit and period), or columns of the districts table (by unit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cityanalytics.impact.panel import case_panel, value_panel

CASE_MEASURES = {"": "count", "count": "count", "cases": "count", "案件数": "count",
                 "disposal_hours": "disposal_hours", "处置时长": "disposal_hours"}
OPTIONAL = ("districts", "unit_changes", "campaigns", "observations")


@dataclass
class Outcome:
    """What the models analyse: ``kind`` count (Poisson/NB) or value (Gaussian)."""

    kind: str
    column: str  # the panel column: count, disposal_hours or value
    source: str  # cases or observations
    indicator: str = ""  # the observations indicator id
    subcategories: tuple = ()
    label: str = ""
    unit: str = ""  # the value's unit of measure, when the source gives it

    @property
    def is_count(self) -> bool:
        return self.kind == "count"


@dataclass
class Inputs:
    tables: dict
    summary: pd.DataFrame
    workspace: str
    notes: list = field(default_factory=list)


def load_inputs(workspace, outcome: str = "") -> tuple[dict, pd.DataFrame]:
    """The tables the analysis may need, loaded (validated) through the workspace, and a
    small table of rows read / kept / rejected per table. The cases table, the large one, is
    loaded only when the outcome is a case measure or a subcategory."""
    from cityanalytics.workspace import open_workspace

    ws = open_workspace(workspace)
    tables: dict = {}
    rows = []
    districts = None
    for name in OPTIONAL + ("cases",):
        if name == "cases" and not needs_cases(outcome, tables.get("observations")):
            tables[name] = None
            continue
        if not ws.has(name):
            tables[name] = None
            continue
        result = ws.load(name, units=districts) if name != "districts" else ws.load(name)
        frame, rep = result.frame, result.report
        if name == "districts":
            districts = frame
        tables[name] = frame
        rows.append({"表": name, "文件": Path(str(ws.path(name))).name, "读入行": rep.rows_read,
                     "保留行": len(frame), "拒绝行": rep.rows_rejected})
    if all(tables.get(t) is None for t in ("cases", "observations")):
        hint = f"; build the tables first: cityanalytics build {ws.root}" if ws.is_recipe else ""
        raise FileNotFoundError(f"{ws.root}: no cases or observations table to take an outcome from "
                                f"(tables present: {', '.join(ws.present) or 'none'}{hint})")
    return tables, pd.DataFrame(rows)


def needs_cases(outcome: str, observations: pd.DataFrame | None) -> bool:
    o = str(outcome or "").strip()
    if o in CASE_MEASURES:
        return True
    return observations is None or o not in set(observations["indicator"].astype(str))


def resolve_outcome(outcome, tables: dict, subcategories=()) -> Outcome:
    """The outcome a run names (see the module docstring); an unknown name is an error listing
    what the workspace has."""
    o = str(outcome or "").strip()
    obs = tables.get("observations")
    cases = tables.get("cases")
    if not o and obs is not None:  # the campaign's own outcomes may be indicators ("or indicators it targets")
        indicators = set(obs["indicator"].astype(str))
        named = [s for s in subcategories if str(s) in indicators]
        if named:
            o = str(named[0])
    if o not in CASE_MEASURES and obs is not None and o in set(obs["indicator"].astype(str)):
        rows = obs[obs["indicator"].astype(str) == o]
        unit = ""
        if "unit" in rows.columns and rows["unit"].notna().any():
            unit = str(rows["unit"].dropna().astype(str).mode().iloc[0])
        return Outcome("value", "value", "observations", indicator=o, label=o, unit=unit)
    if cases is None:
        have = sorted(set(obs["indicator"].astype(str))) if obs is not None else []
        raise ValueError(f"outcome {o or '(cases)'!r}: the workspace has no cases table, and it is not an indicator "
                         f"of the observations table (indicators: {', '.join(have) or 'none'})")
    measure = CASE_MEASURES.get(o)
    subs = tuple(subcategories)
    if measure is None:  # a subcategory named directly
        known = set(cases["subcategory"].dropna().astype(str)) if "subcategory" in cases.columns else set()
        names = [s for s in re.split(r"[、,,;;]\s*", o) if s]
        missing = [s for s in names if s not in known]
        if missing:
            have = sorted(set(obs["indicator"].astype(str))) if obs is not None else []
            raise ValueError(f"outcome {o!r} is neither a case measure ({', '.join(k for k in CASE_MEASURES if k)}), "
                             f"an observations indicator ({', '.join(have) or 'none'}) nor a case subcategory "
                             f"(no cases of {', '.join(missing)})")
        measure, subs = "count", tuple(names)
    if measure == "count":
        return Outcome("count", "count", "cases", subcategories=subs,
                       label=("、".join(subs) + " 案件数") if subs else "案件数")
    return Outcome("value", "disposal_hours", "cases", indicator="disposal_hours", subcategories=subs,
                   label=("、".join(subs) + " " if subs else "") + "平均处置时长", unit="小时")


def infer_freq(periods: pd.Series, asked: str) -> str:
    """Monthly for periods written YYYY-MM, quarterly for 2024Q1 / 2024年第1季度, yearly for
    YYYY; otherwise (dates) the run's."""
    text = periods.dropna().astype(str)
    if len(text) and text.str.fullmatch(r"\d{4}-\d{1,2}").all():
        return "M"
    if len(text) and text.str.fullmatch(r"\d{4}").all():
        return "Y"
    if len(text) and text.str.fullmatch(r"\d{4}\s*-?\s*[Qq][1-4]|\d{4}\s*年\s*第?\s*[1-4一二三四]\s*季度?").all():
        return "Q"
    return asked


def build_panel(tables: dict, outcome: Outcome, freq: str) -> tuple[pd.DataFrame, str]:
    """(panel, freq actually used) for the outcome."""
    changes = tables.get("unit_changes")
    if outcome.source == "observations":
        obs = tables["observations"]
        rows = obs[obs["indicator"].astype(str) == outcome.indicator]
        freq = infer_freq(rows["period"], freq)
        panel = value_panel(rows, "value", freq=freq, unit_changes=changes)
        return panel, freq
    panel = case_panel(tables["cases"], list(outcome.subcategories), freq=freq, unit_changes=changes,
                       value="count" if outcome.is_count else "disposal_hours")
    return panel, freq


def join_columns(panel: pd.DataFrame, names, tables: dict, what: str) -> pd.DataFrame:
    """Add each of ``names`` to the panel (``what``: 协变量 or 暴露量, for the error): a panel
    column as it is, an observations indicator by unit and period, a districts column by unit."""
    out = panel
    attrs = dict(panel.attrs)
    obs = tables.get("observations")
    districts = tables.get("districts")
    freq = attrs.get("freq", "M")
    for name in names:
        if name in out.columns:
            continue
        if obs is not None and name in set(obs["indicator"].astype(str)):
            rows = obs[obs["indicator"].astype(str) == name]
            extra = value_panel(rows, "value", freq=freq, unit_changes=tables.get("unit_changes"))
            extra = extra[["unit_id", "period", "value"]].rename(columns={"value": name})
            out = out.merge(extra, on=["unit_id", "period"], how="left")
        elif districts is not None and name in districts.columns:
            d = districts[["unit_id", name]].copy()
            d["unit_id"] = d["unit_id"].astype(str)
            d[name] = pd.to_numeric(d[name], errors="coerce")
            out = out.merge(d.drop_duplicates("unit_id"), on="unit_id", how="left")
        else:
            have = sorted(set(obs["indicator"].astype(str))) if obs is not None else []
            cols = [c for c in (districts.columns if districts is not None else []) if c not in ("unit_id", "name_zh")]
            raise ValueError(f"{what} {name!r} is not a panel column, an observations indicator "
                             f"({', '.join(have) or 'none'}) or a districts column ({', '.join(cols) or 'none'})")
    out.attrs.update(attrs)
    return out


def unit_names(tables: dict) -> dict:
    """unit_id -> name: the districts table, else the names the observations give."""
    d = tables.get("districts")
    if d is not None:
        return dict(zip(d["unit_id"].astype(str), d["name_zh"].astype(str)))
    obs = tables.get("observations")
    if obs is not None and "unit_name" in obs.columns:
        named = obs.dropna(subset=["unit_name"])
        return dict(zip(named["unit_id"].astype(str), named["unit_name"].astype(str)))
    return {}
