"""``cityanalytics map EXPORT --table cases``: a draft recipe block for an export never seen before.

The export is read through ``cityanalytics.io.readers`` (encodings, title rows, merged
headers). Each column is matched to a canonical column by three kinds of evidence: the alias
table (the built-in one and the workspace recipe's), words in the header (Chinese and English:
上报/受理/留言 -> reported_at, "open"/"created" -> reported_at ...) and the values (dates and
their format, distinct ids, place names, 部件/事件, status words, 是/否). The draft is YAML
with comments: every mapping says what it rests on, and every guess says it is one. Required
columns without a match are listed with what could supply them (a derive from an address, a
lookup of subcategories, a constant). Distinct place names become a proposed units.csv with
GB/T 2260 codes (``cityanalytics/data/divisions.csv``) where a name is a real division's.

Nothing is written into the recipe: the user reads the draft, edits it and pastes it.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cityanalytics import schemas
from cityanalytics.io.headers import canonical_for, lookup, merged_aliases, normalize_header
from cityanalytics.io.report import LoadError
from cityanalytics.workspace.draft_units import divisions, propose_units
from cityanalytics.workspace.draft_values import (ADDRESS_COUNTY, ADDRESS_UNIT_PATTERN, CLOSED_WORDS, DATETIME_WORDS,
                                                  Profile, header_hits, profile, read_export)

__all__ = ["HELP", "Draft", "configure", "divisions", "make_draft", "month_glob", "propose_units", "render", "run"]

HELP = "Read an export and write a draft recipe block (column mapping with its evidence) and a units.csv proposal."


# Words in a header that suggest a canonical column (matched on the normalised header).
# Chinese words are substrings; English words are whole tokens of the header.
HEADER_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "cases": {
        "case_id": ("编号", "单号", "工单号", "流水号", "案卷号", "id", "number", "no", "ticket", "enquiry", "request"),
        "unit_id": ("街道", "镇", "乡", "区县", "辖区", "区域", "地区", "网格", "所属区", "neighborhood",
                    "neighbourhood", "district", "ward", "borough", "area", "community", "precinct"),
        "source": ("来源", "渠道", "方式", "source", "channel", "origin"),
        "category": ("类型", "类别", "大类", "category", "class"),
        "subcategory": ("小类", "分类", "问题类型", "诉求类型", "事项", "type", "subject", "reason", "subtype"),
        "reported_at": ("上报", "受理", "发现", "来电", "登记", "留言", "提交", "创建", "发起", "反映", "诉求时间",
                        "open", "opened", "created", "reported", "received", "requested", "submitted", "start"),
        "filed_at": ("立案", "filed"),
        "dispatched_at": ("派遣", "派单", "转办", "交办", "分派", "dispatched", "assigned"),
        "disposed_at": ("处置", "办结", "处理", "完成", "答复", "回复", "办理", "disposed", "completed", "resolved",
                        "done", "fixed"),
        "checked_at": ("核查", "回访", "核实", "checked", "verified"),
        "closed_at": ("结案", "关闭", "归档", "办毕", "closed", "close", "end"),
        "due_at": ("时限", "期限", "截止", "到期", "应办结", "target", "due", "sla", "deadline"),
        "reopened": ("返工", "重办", "reopened", "reopen"),
        "suspended": ("缓办", "挂账", "暂缓", "suspended", "onhold"),
        "description": ("描述", "内容", "诉求", "标题", "主题", "详情", "description", "descriptor", "details", "title",
                        "detail", "text"),
    },
}
STATUS_HEADER_WORDS = ("状态", "status", "state")
# Components (部件) are things; everything else a complaint names is an event (事件).
COMPONENT_WORDS = ("井盖", "路灯", "灯杆", "护栏", "栏杆", "垃圾桶", "垃圾箱", "果皮箱", "消防栓", "消火栓", "电杆", "线杆",
                   "箅子", "雨水口", "座椅", "路牌", "标志牌", "指示牌", "公厕", "报刊亭", "信号灯", "变电箱", "设施",
                   "道路破损", "桥梁", "路面破损", "盲道", "树池", "花箱", "监控",
                   "street light", "streetlight", "manhole", "hydrant", "traffic signal", "sign", "pole",
                   "guardrail", "bench")

# ---- matching ---------------------------------------------------------------------------------


@dataclass
class Guess:
    column: str  # canonical
    header: str
    score: float
    evidence: list[str]
    by_alias: bool = False


KIND_OF = {"datetime": "datetime", "date": "datetime", "bool": "yes/no"}


def _value_fit(col: schemas.Col, p: Profile) -> tuple[float, str | None]:
    """(score, evidence) of the values for a canonical column; negative rules it out."""
    kind = p.kind()
    if kind == "empty":
        return -10, None
    if col.kind in ("datetime", "date"):
        if p.is_datetime:
            how = (f"{p.date_share:.0%} of sampled values read as dates" if p.date_share >= 0.9
                   else f"every sampled value reads with the format {p.date_format!r}")
            return 3, f"{how} (e.g. {p.examples[0]!r})"
        return -10, None
    if p.is_datetime or kind == "row numbers":
        return -10, None
    if col.kind == "bool":
        return (3, f"values are yes/no words ({', '.join(k for k, _ in p.top[:2])})") if kind == "yes/no" else (-10, None)
    if col.name == "category":
        if kind == "部件/事件":
            return 6, f"{p.category_share:.0%} of values are 部件/事件"
        return -10, None
    if col.name == "case_id" or col.name.endswith("_id") and col.unique:
        if p.id_like:
            return 3, f"all {p.n} values distinct, id-like (e.g. {p.examples[0]!r})"
        return -10, None
    if col.name == "unit_id":
        if kind == "place names":
            return 4, f"{p.place_share:.0%} of sampled values are place names ({', '.join(k for k, _ in p.top[:3])})"
        if p.id_like or kind in ("yes/no", "部件/事件", "status", "numbers"):
            return -10, None
        if p.distinct <= max(60, p.n // 20):
            codes = float(p.values.str.fullmatch(r"[A-Za-z0-9]{1,3}").mean())
            return 0.5 - codes, f"{p.distinct} distinct values ({', '.join(k for k, _ in p.top[:3])})"
        return -10, None
    if col.name == "source":
        if p.source_share >= 0.5 and p.distinct <= 30:
            return 3, f"{p.source_share:.0%} of values are source words ({', '.join(k for k, _ in p.top[:3])})"
        return (0, None) if p.distinct <= 30 else (-10, None)
    if col.name == "subcategory":
        length = float(p.values.str.len().mean())
        if kind == "text" and length <= 30 and 2 <= p.distinct <= max(200, p.n // 2):
            # the finer of several label columns is the subcategory
            return 1 + min(1.0, p.distinct / 50), f"{p.distinct} distinct labels ({', '.join(k for k, _ in p.top[:3])})"
        return -10, None
    if col.name == "description":
        if kind == "text" and p.distinct >= max(2, p.n // 2):
            length = float(p.values.str.len().mean())
            return 1 + min(1.0, length / 40), f"free text, {p.distinct} distinct values of {p.n}, {length:.0f} characters on average"
        return -2, None
    if col.kind in ("int", "float", "percent"):
        return (2, "numeric values") if p.number_share >= 0.95 else (-10, None)
    return 0, None


def guesses(table: str, profiles: list[Profile], alias_table: dict) -> list[Guess]:
    """Every plausible (canonical column, header) pair with its score and evidence."""
    spec = schemas.table(table)
    table_lookup = lookup(table, alias_table)
    words = HEADER_WORDS.get(table, {})
    out = []
    for p in profiles:
        alias = canonical_for(p.header, table_lookup)
        for col in spec.columns:
            evidence, score, by_alias = [], 0.0, False
            if alias == col.name:
                score += 10
                by_alias = True
                evidence.append("header is in the alias table")
            listed = words.get(col.name, ())
            hits = header_hits(p.header, listed)
            if hits:
                # Words earlier in the list are the more specific ones (neighborhood before district).
                score += 4 - 0.1 * min(listed.index(h) for h in hits)
                evidence.append(f"header {p.header!r} has {', '.join(repr(h) for h in hits)}")
            if col.kind in ("datetime", "date") and header_hits(p.header, DATETIME_WORDS):
                score += 1
            fit, why = _value_fit(col, p)
            if fit <= -10:
                continue
            score += fit
            if why:
                evidence.append(why)
            if score >= 3 and (by_alias or hits or fit >= 3):
                out.append(Guess(col.name, p.header, score, evidence, by_alias))
    return out


def assign(found: list[Guess]) -> tuple[dict[str, Guess], dict[str, list[Guess]]]:
    """Best header per canonical column, each header used once; the runners-up per column."""
    chosen: dict[str, Guess] = {}
    used: set[str] = set()
    for g in sorted(found, key=lambda g: -g.score):
        if g.column in chosen or g.header in used:
            continue
        chosen[g.column] = g
        used.add(g.header)
    others = {c: [g for g in found if g.column == c and g.header != chosen[c].header] for c in chosen}
    return chosen, others


# ---- proposals for what no header supplies ----------------------------------------------------


def category_lookup(values: list[str]) -> dict[str, str]:
    """部件 or 事件 for each subcategory: the demo's known subcategories, else component words."""
    from cityanalytics.demo.cases import SUBCATEGORIES

    known = {name: cat for name, cat, *_ in SUBCATEGORIES}
    return {v: known.get(v) or ("部件" if header_hits(v, COMPONENT_WORDS) else "事件") for v in values}


def address_pattern(p: Profile) -> tuple[str, float, list[str]]:
    """A pattern taking the street/town out of an address; the share of values it reads."""
    pattern = ADDRESS_UNIT_PATTERN
    got = p.values.str.extract(pattern)[0]
    missed = p.values[got.isna()]
    return pattern, float(got.notna().mean()) if len(got) else 0.0, [str(x) for x in pd.unique(missed)[:2]]


# ---- the draft ------------------------------------------------------------------------------


@dataclass
class Draft:
    table: str
    export: Path
    files_glob: str
    encoding: str | None
    how_read: list[str]
    profiles: list[Profile]
    chosen: dict[str, Guess]
    others: dict[str, list[Guess]]
    builtin: dict[str, str]  # header -> canonical, matched by the alias table alone
    date_formats: dict[str, tuple[str, str, str]]  # canonical -> (format, header, note)
    derive: dict[str, tuple[dict, str]]  # canonical -> (rule, comment)
    constants: dict[str, tuple[str, str]]
    missing: dict[str, str]  # required canonical -> what could supply it
    unused: list[Profile]
    units: pd.DataFrame | None
    unit_source: str


def make_draft(export: str | Path, table: str = "cases", *, workspace: str | Path | None = None,
               sheet=None, encoding: str | None = None) -> Draft:
    export = Path(export)
    spec = schemas.table(table)
    ws_aliases, known_places, glob = {}, set(), str(export)
    if workspace is not None:
        root = Path(workspace)
        recipe = root / "sources.yaml"
        if recipe.is_file():
            spec_tables = (yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}).get("tables") or {}
            ws_aliases = {table: (spec_tables.get(table) or {}).get("aliases") or {}}
        if (root / "units.csv").is_file():
            known_places = set(pd.read_csv(root / "units.csv", dtype=str)["name_zh"].dropna())
        try:
            glob = export.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            glob = str(export.resolve())
    alias_table = merged_aliases(ws_aliases)
    sheets, found_by_shape = read_export(export, table, alias_table, sheet=sheet, encoding=encoding)
    raw = sheets[0]
    how = [n for n in raw.notes if n] + ([found_by_shape] if found_by_shape else [])
    same = [r for r in sheets[1:] if r.headers == raw.headers]
    if same:  # sheets with the same header (one per district, one per month) are profiled together
        raw.cells = pd.concat([raw.cells, *(r.cells for r in same)], ignore_index=True)
        how.append(f"{len(same) + 1} sheets with the same header, profiled together")
    if len(sheets) > len(same) + 1:
        how.append(f"{len(sheets) - len(same) - 1} sheet(s) with another header were not profiled: map them with --sheet")
    summary = _summary_rows(raw.cells)
    if summary.any():
        how.append(f"{int(summary.sum())} 合计/总计 row(s) left out of the profiles (the loader rejects them as summary rows)")
        raw.cells = raw.cells[~summary]
    how.append(f"{len(raw.cells):,} data rows, {len(raw.headers)} columns")
    detected = next((n.split()[1] for n in raw.notes if n.startswith("encoding ")), None)
    profiles = [profile(h, raw.cells[i] if i in raw.cells else pd.Series([], dtype=object), known_places)
                for i, h in enumerate(raw.headers) if normalize_header(h)]
    chosen, others = assign(guesses(table, profiles, alias_table))
    by_header = {p.header: p for p in profiles}

    date_formats = {c: (by_header[g.header].date_format, g.header, by_header[g.header].date_note)
                    for c, g in chosen.items() if by_header[g.header].date_format
                    and by_header[g.header].date_share < 0.9}
    builtin = {g.header: c for c, g in chosen.items() if g.by_alias}
    derive, constants, missing = {}, {}, {}
    used = {g.header for g in chosen.values()}
    for column in spec.required:
        if column in chosen:
            continue
        derive_rule, text = _supply(column, chosen, profiles, used)
        missing[column] = text
        if derive_rule:
            derive[column] = (derive_rule, text)
    if "category" in missing and "category" not in derive:
        constants["category"] = ("事件", "guess: hotline and complaint systems record events (事件); "
                                         "use 部件 if they are components")
    status = next((p for p in profiles if p.header not in used and (p.kind() == "status" or (
        header_hits(p.header, STATUS_HEADER_WORDS) and p.distinct <= 12))), None)
    if status is not None and "closed_at" in chosen:
        closed = [k for k, _ in status.top if k.lower() in CLOSED_WORDS]
        if closed:
            rule = {"column": chosen["closed_at"].header, "when": {"column": status.header, "in": closed}}
            derive["closed_at"] = (rule, f"guess: {status.header!r} holds "
                                         f"{', '.join(f'{k} ({v})' for k, v in status.top[:4])}; count a closure only "
                                         f"when it says {', '.join(closed)}")
            used.add(status.header)
    unused = [p for p in profiles if p.header not in used and p.header not in {r[0].get("column") for r in derive.values()}]

    units, unit_source = None, ""
    place_cols = [p for p in profiles if p.kind() == "place names"]
    unit_col = by_header.get(chosen["unit_id"].header) if "unit_id" in chosen else None
    if unit_col is None and "unit_id" in derive:
        p = by_header[derive["unit_id"][0]["column"]]
        names = p.values.str.extract(derive["unit_id"][0]["pattern"])[0]
        counties = p.values.str.extract(ADDRESS_COUNTY)[0]
        pairs = pd.DataFrame({"u": names, "p": counties}).dropna(subset=["u"]).drop_duplicates()
        parents = {}
        if pairs["p"].notna().any() and not pairs["u"].duplicated().any():
            parents = {u: c for u, c in zip(pairs["u"], pairs["p"]) if isinstance(c, str)}
        units = propose_units(sorted(pd.unique(names.dropna())), parents)
        unit_source = f"names taken out of {p.header!r} by the pattern" + (
            ", with the district or county named before them" if parents else "")
    elif unit_col is not None:
        parents = {}
        higher = [p for p in place_cols if p.header != unit_col.header and p.distinct < unit_col.distinct]
        if higher:
            pairs = pd.DataFrame({"u": unit_col.values, "p": higher[0].values}).dropna().drop_duplicates()
            if not pairs["u"].duplicated().any():
                parents = {u: p for u, p in zip(pairs["u"], pairs["p"]) if u != p}
        names = sorted(pd.unique(unit_col.values))
        units = propose_units(names, parents)
        unit_source = f"the {len(names)} distinct values of {unit_col.header!r}" + (
            f", with their parent from {higher[0].header!r}" if parents else "")
    return Draft(table, export, glob, detected if encoding is None else encoding, how, profiles, chosen, others,
                 builtin, date_formats, derive, constants, missing, unused, units, unit_source)


def _summary_rows(cells: pd.DataFrame) -> np.ndarray:
    """Rows whose first non-empty cell is 合计/总计/小计 (as the loader judges them)."""
    from cityanalytics.io.load import SUMMARY_WORDS

    if cells.empty:
        return np.zeros(0, dtype=bool)
    text = cells.astype("string").fillna("").apply(lambda c: c.str.normalize("NFKC").str.replace(r"\s+", "", regex=True))
    filled = (text != "").to_numpy()
    first = np.argmax(filled, axis=1)
    firsts = text.to_numpy()[np.arange(len(text)), first]
    return np.array([str(v).rstrip(":") in SUMMARY_WORDS for v in firsts]) & filled.any(axis=1)


def _supply(column: str, chosen: dict[str, Guess], profiles: list[Profile], used: set[str]) -> tuple[dict | None, str]:
    """What could supply a required column no header matched: a derive rule (or None) and why."""
    free = [p for p in profiles if p.header not in used]
    if column == "unit_id":
        addresses = [p for p in free if p.kind() == "addresses" or p.address_share >= 0.3]
        if addresses:
            p = max(addresses, key=lambda p: p.address_share)
            pattern, share, missed = address_pattern(p)
            rule = {"column": p.header, "pattern": pattern}
            more = f"; not read from e.g. {', '.join(repr(m) for m in missed)}" if share < 1 and missed else ""
            return rule, (f"guess: no header matched; {p.header!r} holds addresses (e.g. {p.examples[0]!r}): "
                          f"the pattern reads a street/town from {share:.0%} of them{more}")
        places = [p for p in free if p.place_share >= 0.3]
        if places:
            return None, ("no header matched; could be " + ", ".join(f"{p.header!r} ({p.place_share:.0%} place names)"
                                                                    for p in places) + " - add it under aliases")
        return None, "no header matched and no column holds place names or addresses; rows would carry no unit"
    if column == "category":
        sub = chosen.get("subcategory")
        if sub is not None:
            p = next(p for p in profiles if p.header == sub.header)
            values = [k for k in pd.unique(p.values)][:200]
            table = category_lookup(values)
            if "部件" not in table.values():
                return None, (f"no header holds 部件/事件; no {p.header!r} value names a component (部件) "
                              f"({len(table)} values looked at): a constant is proposed")
            return ({"column": p.header, "lookup": table},
                    f"guess: no header holds 部件/事件; each {p.header!r} value is classed by its words "
                    f"({sum(v == '部件' for v in table.values())} 部件, {sum(v == '事件' for v in table.values())} 事件): check each")
        return None, "no header holds 部件/事件 and no subcategory column to classify: set a constant"
    if column == "case_id":
        ids = [p for p in free if p.id_like]
        if ids:
            return None, "no header matched; distinct id-like values in " + ", ".join(repr(p.header) for p in ids)
        return None, "no header matched and no column has distinct values for every row"
    if column in ("reported_at",):
        dates = [p for p in free if p.is_datetime]
        if dates:
            return None, "no header matched; date columns: " + ", ".join(repr(p.header) for p in dates)
        return None, "no header matched and no column holds dates"
    return None, "no header matched"


def _flow(value) -> str:
    text = yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=10_000, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _q(text: str) -> str:
    return _flow(text)


# A date in a file name (2019年04月, 2019-04, 201904, 2019_04_30): the part that changes every month.
_DATE_IN_NAME = re.compile(r"(?<!\d)(?:19|20)\d{2}(?:[-_.年]?\d{1,2}月?(?:[-_.]?\d{1,2}日?)?)?(?!\d)")


def month_glob(path: str) -> str | None:
    """``exports/案件明细_2019年04月.csv`` -> ``exports/案件明细_*.csv``; None when the name has no date."""
    folder, _, name = path.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    if not dot or not _DATE_IN_NAME.search(stem):
        return None
    return (folder + "/" if folder else "") + _DATE_IN_NAME.sub("*", stem) + "." + suffix


def _files_lines(d: Draft) -> list[str]:
    glob = month_glob(d.files_glob)
    lines = []
    if glob:
        lines.append(f"  files: [{_q(glob)}]   # guess: the date in the file name made a wildcard, so that the next "
                     f"month's file is picked up; this file alone: {d.files_glob}")
    else:
        lines.append(f"  files: [{_q(d.files_glob)}]")
    if Path(d.files_glob).is_absolute():
        lines.append("  # the export is outside the workspace: copy it into exports/ and write the path relative to it")
    return lines


def render(d: Draft) -> str:
    """The draft recipe block as commented YAML (valid YAML: it parses to {table: {...}})."""
    spec = schemas.table(d.table)
    out = [f"# Draft recipe block for table {d.table!r}, written by `cityanalytics map` from {d.export.name}.",
           "# Every entry says what it rests on; \"guess\" marks what you must check. Edit, then paste the",
           "# block under `tables:` in the workspace's sources.yaml.",
           *[f"#   read: {h}" for h in d.how_read],
           f"{d.table}:",
           *_files_lines(d)]
    if d.encoding and d.encoding.lower().replace("-", "") not in ("utf8", "utf8sig", "ascii"):
        out.append(f"  encoding: {d.encoding}   # detected")
    aliases = {c: g for c, g in d.chosen.items() if not g.by_alias}
    if aliases:
        out.append("  aliases:")
        for c, g in aliases.items():
            alt = d.others.get(c) or []
            more = f"; also possible: {', '.join(repr(a.header) for a in alt[:3])}" if alt else ""
            out.append(f"    {c}: [{_q(g.header)}]   # guess: {'; '.join(g.evidence)}{more}")
    if d.builtin:
        out.append("  # matched by the alias table (nothing to add): "
                   + ", ".join(f"{h} -> {c}" for h, c in d.builtin.items()))
    if d.date_formats:
        out.append("  date_formats:")
        for c, (fmt, header, note) in d.date_formats.items():
            p = next(p for p in d.profiles if p.header == header)
            out.append(f"    {c}: {_q(fmt)}   # guess: every sampled {header!r} value reads with it "
                       f"(e.g. {p.examples[0]!r}){'; ' + note if note else ''}")
    if d.constants:
        out.append("  constants:")
        for c, (value, why) in d.constants.items():
            prefix = "# " if c in d.derive else ""
            out.append(f"    {prefix}{c}: {value}   # {why}" + (" (alternative to the derive below)" if prefix else ""))
    if d.derive:
        out.append("  derive:")
        for c, (rule, why) in d.derive.items():
            out.append(f"    {c}: {_flow(rule)}   # {why}")
    out.append("# Required columns:")
    for c in spec.required:
        if c in d.chosen:
            g = d.chosen[c]
            out.append(f"#   {c}: {g.header!r}" + (" (alias table)" if g.by_alias else " (guess, see above)"))
        else:
            supplied = "derive above" if c in d.derive else "constant above" if c in d.constants else "still to supply"
            out.append(f"#   {c}: NOT MATCHED ({supplied}) - {d.missing.get(c, 'no header matched')}")
    optional = [c.name for c in spec.columns if not c.required and c.name not in d.chosen and c.name not in d.derive]
    if optional:
        out.append(f"# Optional columns not found: {', '.join(optional)}")
    if d.unused:
        out.append("# Columns left out (not part of the table):")
        for p in d.unused:
            shown = ", ".join(f"{k} ({v})" for k, v in p.top[:3]) if p.distinct <= 30 else ", ".join(p.examples[:2])
            out.append(f"#   {p.header}: {p.kind()}; {shown}")
    if d.units is not None:
        out.append(f"# units.csv proposal ({len(d.units)} units from {d.unit_source}):")
        for r in d.units.itertuples():
            out.append(f"#   {r.unit_id},{r.name_zh},{r.level},{r.parent_id},{r.division_code}   # {r.note}")
    return "\n".join(out) + "\n"


# ---- command ----------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export", metavar="EXPORT", help="the export to map (CSV, .xlsx)")
    parser.add_argument("--table", default="cases", choices=list(schemas.TABLES), help="canonical table (default cases)")
    parser.add_argument("--workspace", metavar="DIR", default=None,
                        help="workspace whose recipe aliases and units.csv names are used as evidence; the draft "
                             "goes to DIR/drafts/ unless --out says otherwise")
    parser.add_argument("--out", metavar="FILE", default=None,
                        help="write the draft here (default: DIR/drafts/<export>.<table>.yaml with --workspace, "
                             "else print it)")
    parser.add_argument("--sheet", default=None, help="Excel: one sheet (name or index)")
    parser.add_argument("--encoding", default=None, help="override the detected text encoding")


def run(args: argparse.Namespace) -> int:
    sheet = int(args.sheet) if args.sheet is not None and str(args.sheet).isdigit() else args.sheet
    try:
        draft = make_draft(args.export, args.table, workspace=args.workspace, sheet=sheet, encoding=args.encoding)
    except (LoadError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 2
    text = render(draft)
    out = Path(args.out) if args.out else (
        Path(args.workspace) / "drafts" / f"{Path(args.export).stem}.{args.table}.yaml" if args.workspace else None)
    if out is None:
        print(text, end="")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"draft recipe block: {out}")
    if draft.units is not None and out is not None:
        units_path = out.with_name(out.stem.split(".")[0] + ".units.csv")
        draft.units.to_csv(units_path, index=False, encoding="utf-8")
        print(f"units.csv proposal: {units_path} ({len(draft.units)} units; the note column says what each rests on)")
    missing = [c for c in schemas.table(args.table).required if c not in draft.chosen and c not in draft.derive
               and c not in draft.constants]
    if missing:
        print(f"required columns still to supply: {', '.join(missing)}")
    return 0
