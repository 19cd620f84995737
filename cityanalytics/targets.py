"""The plans' numeric targets and the real figures the plans report.

Two YAML files ship with the package:

* ``data/targets.yaml``: the targets registry, one entry per numeric target in five
  local-government plans (海陵区, 淄博市, 余杭区, 扎兰屯市, 常州市; named in its header),
  with exactly the fields of the ``targets`` canonical table (plus an optional ``note``).
  ``load_targets`` turns it into that table.
* ``data/plan_facts.yaml``: figures the plans report (case counts and rates, dust
  samples ...), the 以克论净 dust limits by lane type and the phases of the 100-day
  campaign. ``load_facts``, ``road_dust_limits`` and ``campaign_phases`` read it.

``cityanalytics targets`` lists the registry (``HELP``, ``configure`` and ``run`` below).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml
from pandera.errors import SchemaError, SchemaErrors

from cityanalytics.schemas import DTYPES, LANE_TYPES, pandera_schema, table

HELP = "List the plans' numeric targets from the targets registry."

DATA_DIR = resources.files("cityanalytics") / "data"
TARGETS_YAML = DATA_DIR / "targets.yaml"
FACTS_YAML = DATA_DIR / "plan_facts.yaml"

TARGETS = table("targets")
EXTRA_FIELDS = ("note",)  # optional fields kept after the schema columns
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster

FACT_FIELDS = ("fact_id", "label", "value", "unit", "period", "scope", "source_file", "quote")
FACT_OPTIONAL = ("numerator", "denominator", "indicator", "note")
PHASE_FIELDS = ("phase", "phase_order", "start", "end", "source_file", "quote")


# --------------------------------------------------------------------------- loading


def meets(value, target: float, comparison: str) -> bool:
    """Whether ``value`` meets a target read as ``>=``, ``<=`` or ``==`` (a missing value never
    does); 1e-9 of slack so a share computed as 98.0000000001% meets 98%."""
    if value is None or pd.isna(value):
        return False
    if comparison == ">=":
        return value >= target - 1e-9
    if comparison == "<=":
        return value <= target + 1e-9
    return abs(value - target) < 1e-9


def _read(path: str | Path | None, default) -> tuple[str, object]:
    """The file's name (for messages) and its parsed YAML."""
    source = default if path is None else Path(path)
    name = str(source)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{name}: cannot read the file ({exc})") from None
    try:
        return name, yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ValueError(f"{name}: not valid YAML ({exc})") from None


def _as_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _as_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _check_target(entry: object, number: int, file: str) -> dict:
    """One registry entry, checked field by field; raises ValueError naming file, id and field."""
    if not isinstance(entry, dict):
        raise ValueError(f"{file}: entry {number} is not a mapping of field: value")
    tid = entry.get("target_id")
    where = f"{file}: target {tid!r}" if isinstance(tid, str) and tid else f"{file}: entry {number}"

    def fail(field: str, problem: str) -> ValueError:
        return ValueError(f"{where}, field {field!r}: {problem}")

    for name in TARGETS.names:
        if name not in entry:
            raise fail(name, "missing")
    for name in entry:
        if name not in TARGETS.names and name not in EXTRA_FIELDS:
            raise fail(name, f"unknown field; expected {', '.join(TARGETS.names + list(EXTRA_FIELDS))}")

    row: dict = {}
    for col in TARGETS.columns:
        value = entry[col.name]
        if col.kind in ("float", "percent"):
            number_value = _as_number(value)
            if number_value is None:
                raise fail(col.name, f"expected a number, got {value!r}")
            row[col.name] = number_value
        elif col.kind == "date":
            date = _as_date(value)
            if date is None:
                raise fail(col.name, f"expected an ISO date (YYYY-MM-DD), got {value!r}")
            row[col.name] = pd.Timestamp(date)
        else:
            if not isinstance(value, str) or not value.strip():
                raise fail(col.name, f"expected non-empty text, got {value!r}")
            if col.allowed is not None and value not in col.allowed:
                raise fail(col.name, f"expected one of {'/'.join(col.allowed)}, got {value!r}")
            if col.name in ("target_id", "indicator") and not SNAKE_CASE.match(value):
                raise fail(col.name, f"expected a snake_case id, got {value!r}")
            row[col.name] = value
    note = entry.get("note")
    if note is not None and not isinstance(note, str):
        raise fail("note", f"expected text, got {note!r}")
    row["note"] = note
    return row


def load_targets(path: str | Path | None = None) -> pd.DataFrame:
    """The targets registry as the ``targets`` canonical table.

    ``path`` is a YAML file with a top-level ``targets:`` list (default: the packaged
    registry). Columns are the schema's, in its order, then ``note``; ``value`` is Float64,
    ``deadline`` datetime64[ns]. A malformed entry raises ValueError naming the file, the
    entry's target_id and the field.
    """
    file, data = _read(path, TARGETS_YAML)
    entries = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{file}: expected a top-level 'targets:' list of entries")
    rows, seen = [], {}
    for number, entry in enumerate(entries, start=1):
        row = _check_target(entry, number, file)
        tid = row["target_id"]
        if tid in seen:
            raise ValueError(
                f"{file}: target {tid!r}, field 'target_id': duplicate (also entry {seen[tid]})"
            )
        seen[tid] = number
        rows.append(row)

    columns = TARGETS.names + list(EXTRA_FIELDS)
    frame = pd.DataFrame(rows, columns=columns)
    for col in TARGETS.columns:
        frame[col.name] = frame[col.name].astype(DTYPES[col.kind])
    frame["note"] = frame["note"].astype("string")
    try:
        pandera_schema("targets").validate(frame)
    except (SchemaError, SchemaErrors) as exc:
        raise ValueError(f"{file}: the registry does not fit the targets table: {exc}") from None
    return frame


@dataclass(frozen=True)
class PlanFacts:
    """What plan_facts.yaml holds: facts by id, the dust limits and the campaign phases."""

    facts: dict[str, dict]
    road_dust_limits_g_m2: dict[str, float]
    road_dust_limits_source: dict
    campaign_100day_phases: list[dict]

    def table(self) -> pd.DataFrame:
        """The facts as a frame, one row per fact, fields in file order."""
        columns = list(FACT_FIELDS[:3]) + ["numerator", "denominator"] + list(FACT_FIELDS[3:])
        columns += ["indicator", "note"]
        return pd.DataFrame([{c: f.get(c) for c in columns} for f in self.facts.values()], columns=columns)


def _check_fact(entry: object, number: int, file: str) -> dict:
    if not isinstance(entry, dict):
        raise ValueError(f"{file}: fact entry {number} is not a mapping of field: value")
    fid = entry.get("fact_id")
    where = f"{file}: fact {fid!r}" if isinstance(fid, str) and fid else f"{file}: fact entry {number}"
    for name in FACT_FIELDS:
        if name not in entry:
            raise ValueError(f"{where}, field {name!r}: missing")
    for name in entry:
        if name not in FACT_FIELDS + FACT_OPTIONAL:
            raise ValueError(f"{where}, field {name!r}: unknown field")
    fact = dict(entry)
    for name in ("value", "numerator", "denominator"):
        if name == "value" or fact.get(name) is not None:
            number_value = _as_number(fact.get(name))
            if number_value is None:
                raise ValueError(f"{where}, field {name!r}: expected a number, got {fact.get(name)!r}")
            fact[name] = number_value
        else:
            fact[name] = None
    if (fact["numerator"] is None) != (fact["denominator"] is None):
        raise ValueError(f"{where}, field 'denominator': give both numerator and denominator, or neither")
    for name in ("fact_id", "label", "unit", "period", "scope", "source_file", "quote"):
        if not isinstance(fact[name], str) or not fact[name].strip():
            raise ValueError(f"{where}, field {name!r}: expected non-empty text, got {fact[name]!r}")
    return fact


def _check_limits(data: dict, file: str) -> dict[str, float]:
    limits = data.get("road_dust_limits_g_m2")
    if not isinstance(limits, dict) or set(limits) != set(LANE_TYPES):
        raise ValueError(f"{file}: road_dust_limits_g_m2 must give a limit for each of {'/'.join(LANE_TYPES)}")
    out = {}
    for lane in LANE_TYPES:
        value = _as_number(limits[lane])
        if value is None or value <= 0:
            raise ValueError(f"{file}: road_dust_limits_g_m2, lane {lane!r}: expected a positive number")
        out[lane] = value
    return out


def _check_phases(data: dict, file: str) -> list[dict]:
    phases = data.get("campaign_100day_phases")
    if not isinstance(phases, list) or not phases:
        raise ValueError(f"{file}: campaign_100day_phases must be a non-empty list")
    out = []
    for number, phase in enumerate(phases, start=1):
        where = f"{file}: campaign_100day_phases entry {number}"
        if not isinstance(phase, dict) or any(f not in phase for f in PHASE_FIELDS):
            raise ValueError(f"{where}: expected the fields {', '.join(PHASE_FIELDS)}")
        start, end = _as_date(phase["start"]), _as_date(phase["end"])
        if start is None or end is None or end < start:
            raise ValueError(f"{where} ({phase['phase']}): start and end must be ISO dates, end not before start")
        if phase["phase_order"] != number:
            raise ValueError(f"{where} ({phase['phase']}): phase_order should be {number}")
        out.append({**phase, "start": start, "end": end})
    return out


def load_facts(path: str | Path | None = None) -> PlanFacts:
    """The plans' figures, dust limits and campaign phases (default: the packaged file)."""
    file, data = _read(path, FACTS_YAML)
    if not isinstance(data, dict) or not isinstance(data.get("facts"), list):
        raise ValueError(f"{file}: expected a top-level 'facts:' list")
    facts: dict[str, dict] = {}
    for number, entry in enumerate(data["facts"], start=1):
        fact = _check_fact(entry, number, file)
        if fact["fact_id"] in facts:
            raise ValueError(f"{file}: fact {fact['fact_id']!r}, field 'fact_id': duplicate")
        facts[fact["fact_id"]] = fact
    source = data.get("road_dust_limits_source")
    if not isinstance(source, dict) or not {"source_file", "quote"} <= set(source):
        raise ValueError(f"{file}: road_dust_limits_source needs source_file and quote")
    return PlanFacts(
        facts=facts,
        road_dust_limits_g_m2=_check_limits(data, file),
        road_dust_limits_source=source,
        campaign_100day_phases=_check_phases(data, file),
    )


def road_dust_limits() -> dict[str, float]:
    """以克论净 dust limits in g/m2 by lane type (机动车道, 非机动车道, 人行道, 背街小巷)."""
    return load_facts().road_dust_limits_g_m2


def campaign_phases() -> list[dict]:
    """The 100-day campaign's phases in order: phase, phase_order, start, end (dates), source."""
    return load_facts().campaign_100day_phases


# --------------------------------------------------------------------------- command line

COLUMNS_ZH = {"target_id": "编号", "indicator": "指标", "scope": "范围", "target": "目标",
              "deadline": "期限", "binding": "属性"}
WIDTH = 100
SHRINK = (("scope", 10), ("indicator", 20), ("target_id", 16))  # shrink order, minimum width


def _cols(text: str) -> int:
    """Terminal columns: CJK wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int) -> str:
    if _cols(text) > width:
        while _cols(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - _cols(text))


def _target_text(row) -> str:
    value = f"{row.value:.15g}"
    unit = row.unit if row.unit == "%" else f" {row.unit}"
    return f"{row.comparison} {value}{unit}"


def _widths(cells: pd.DataFrame, gap: int) -> dict[str, int]:
    """Column widths that fit WIDTH: natural widths, then the SHRINK columns cut down in turn."""
    widths = {c: max([_cols(COLUMNS_ZH[c])] + [_cols(v) for v in cells[c]]) for c in cells}
    for column, minimum in SHRINK:
        excess = sum(widths.values()) + gap * (len(widths) - 1) - WIDTH
        if excess <= 0:
            break
        widths[column] = max(minimum, widths[column] - excess)
    return widths


def _render_table(frame: pd.DataFrame) -> str:
    """One block per plan (heading, then a row per target), columns sized per block."""
    cells = pd.DataFrame({
        "target_id": frame["target_id"],
        "indicator": frame["indicator"],
        "scope": frame["scope"],
        "target": [_target_text(r) for r in frame.itertuples()],
        "deadline": frame["deadline"].dt.strftime("%Y-%m-%d"),
        "binding": frame["binding"],
    }).astype(str)
    gap = "  "
    out = []
    for plan, group in cells.groupby(frame["plan"], sort=False):
        widths = _widths(group, len(gap))

        def line(values: dict) -> str:
            return gap.join(_fit(values[c], widths[c]) for c in widths).rstrip()

        files = ", ".join(frame.loc[group.index, "source_file"].unique())
        out += [f"{plan} ({files}, {len(group)} 项)", line(COLUMNS_ZH)]
        out += [line(row) for row in group.to_dict("records")]
        out.append("")
    out.append(f"共 {len(frame)} 项目标")
    return "\n".join(out) + "\n"


def _to_yaml(frame: pd.DataFrame) -> str:
    records = []
    for row in frame.to_dict("records"):
        row["deadline"] = row["deadline"].date()
        row["value"] = float(row["value"])
        if pd.isna(row.get("note")):
            row.pop("note")
        records.append(row)
    return yaml.safe_dump({"targets": records}, allow_unicode=True, sort_keys=False, width=1000)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", metavar="TEXT", help="only plans whose name contains TEXT (e.g. 海陵)")
    parser.add_argument("--indicator", metavar="ID", help="only this indicator id (e.g. green_space_rate)")
    parser.add_argument("--format", choices=("table", "csv", "yaml"), default="table",
                        help="output format (default: table)")
    parser.add_argument("--file", metavar="PATH", help="a targets YAML file of your own (default: the packaged registry)")


def run(args: argparse.Namespace) -> int:
    try:
        frame = load_targets(getattr(args, "file", None))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "plan", None):
        frame = frame[frame["plan"].str.contains(args.plan, regex=False)]
    if getattr(args, "indicator", None):
        frame = frame[frame["indicator"] == args.indicator]
    if frame.empty:
        print("没有符合条件的目标 (no target matches the filters).", file=sys.stderr)
        return 1
    fmt = getattr(args, "format", "table")
    if fmt == "csv":
        sys.stdout.write(frame.to_csv(index=False, date_format="%Y-%m-%d"))
    elif fmt == "yaml":
        sys.stdout.write(_to_yaml(frame))
    else:
        sys.stdout.write(_render_table(frame))
    return 0
