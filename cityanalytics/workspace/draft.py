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
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cityanalytics import schemas
from cityanalytics.io.headers import canonical_for, lookup, merged_aliases, normalize_header
from cityanalytics.io.parsing import EMPTY_MARKERS, FALSE_WORDS, TRUE_WORDS, ParseFailure, parse_datetime
from cityanalytics.io.report import LoadError

HELP = "Read an export and write a draft recipe block (column mapping with its evidence) and a units.csv proposal."

SAMPLE_ROWS = 2_000  # values profiled per column (evenly spread over the file)
HEADER_SEARCH_ROWS = 30

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
DATETIME_WORDS = ("时间", "日期", "时刻", "date", "time", "dt", "at", "on")
STATUS_HEADER_WORDS = ("状态", "status", "state")
CLOSED_WORDS = {"已结案", "结案", "已办结", "办结", "已关闭", "关闭", "已完成", "完成", "已归档", "归档", "已处理",
                "处理完毕", "closed", "resolved", "completed", "done"}
OPEN_WORDS = {"处置中", "处理中", "办理中", "待处理", "待核查", "已受理", "受理", "未办结", "待办", "缓办", "挂账",
              "open", "pending", "new", "in progress", "inprogress", "assigned"}
CATEGORY_WORDS = {"部件", "事件"}
SOURCE_WORDS = ("监督员", "公众", "举报", "12345", "热线", "视频", "监控", "移交", "网络", "微信", "app", "巡查",
                "call", "phone", "web", "app", "email", "walk", "mobile", "self service", "employee")
# Components (部件) are things; everything else a complaint names is an event (事件).
COMPONENT_WORDS = ("井盖", "路灯", "灯杆", "护栏", "栏杆", "垃圾桶", "垃圾箱", "果皮箱", "消防栓", "消火栓", "电杆", "线杆",
                   "箅子", "雨水口", "座椅", "路牌", "标志牌", "指示牌", "公厕", "报刊亭", "信号灯", "变电箱", "设施",
                   "道路破损", "桥梁", "路面破损", "盲道", "树池", "花箱", "监控",
                   "street light", "streetlight", "manhole", "hydrant", "traffic signal", "sign", "pole",
                   "guardrail", "bench")

PLACE_SUFFIXES = ("街道", "开发区", "新区", "园区", "管委会", "镇", "乡", "区", "县", "市", "旗", "盟")
LEVEL_BY_SUFFIX = (("街道", "街道"), ("开发区", "功能区"), ("新区", "功能区"), ("园区", "功能区"), ("管委会", "功能区"),
                   ("镇", "镇"), ("乡", "乡"), ("区", "区"), ("县", "县"), ("旗", "县"), ("市", "市"))
# strptime formats tried for dates the built-in parser does not read (it reads 2022-08-01,
# 2022/8/1, 2022年8月1日, 20220801 and Excel serials). Month-first and day-first are told
# apart by a field above 12.
DATE_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y",
    "%m-%d-%Y %H:%M:%S", "%m-%d-%Y", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y", "%b %d %Y %I:%M%p", "%d %b %Y %H:%M",
    "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z",
)


# ---- reading ----------------------------------------------------------------------------------


def _grid_head(path: Path, encoding: str | None, sheet) -> list[list[object]]:
    """The first rows of the file as cells (for finding a header no alias names)."""
    from cityanalytics.io import readers

    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        readers._check_zip(path)
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[sheet or 0]
            return [list(r) for r in ws.iter_rows(max_row=HEADER_SEARCH_ROWS + 1, values_only=True)]
        finally:
            wb.close()
    raw = readers._read_bounded(path, readers.MAX_TEXT_BYTES)
    text, _ = readers._decode(path, raw, encoding)
    delimiter = "\t" if suffix == ".tsv" else readers._sniff_delimiter(text)
    return readers._first_records(path, text, delimiter, HEADER_SEARCH_ROWS + 1)


def _looks_like_header(row: list[object]) -> bool:
    cells = [str(x).strip() for x in row if x is not None and str(x).strip()]
    if len(cells) < 2 or len(set(cells)) < len(cells):
        return False
    numeric = sum(bool(re.fullmatch(r"[\d.,:/\- ]+", c)) for c in cells)
    return numeric == 0


def find_header_row(head: list[list[object]]) -> int:
    """The first row that looks like a header: distinct, non-numeric names across most columns."""
    widths = [sum(1 for x in r if x is not None and str(x).strip()) for r in head]
    if not widths:
        return -1
    wide = max(widths)
    for i, row in enumerate(head):
        if widths[i] >= max(2, 0.6 * wide) and _looks_like_header(row):
            return i
    return -1


def read_export(path: str | Path, table: str, aliases: dict, *, sheet=None, encoding: str | None = None):
    """The export's sheets through the project's readers; headers no alias names are found by shape."""
    from cityanalytics.io.readers import read_sheets

    path = Path(path)
    try:
        return read_sheets(path, table, aliases, sheet=sheet, encoding=encoding), None
    except LoadError as exc:
        if "no header row" not in str(exc):
            raise
    head = _grid_head(path, encoding, sheet)
    row = find_header_row(head)
    if row < 0:
        raise LoadError(str(path), "no row in the first 30 looks like a header (distinct, non-numeric names)")
    names = [str(x).strip() for x in head[row] if x is not None and str(x).strip()]
    # Let the reader find this row: every one of its names stands for some canonical column.
    canonical = schemas.table(table).names
    stand_in = {table: {canonical[i % len(canonical)]: [] for i in range(len(names))}}
    for i, name in enumerate(names):
        stand_in[table][canonical[i % len(canonical)]].append(name)
    sheets = read_sheets(path, table, merged_aliases(stand_in), sheet=sheet, encoding=encoding)
    return sheets, f"header on row {row + 1} found by its shape (no header is in the alias table)"


# ---- value profiles ----------------------------------------------------------------------------


@dataclass
class Profile:
    header: str
    n: int  # non-empty values in the whole column
    rows: int
    distinct: int
    examples: list[str]
    top: list[tuple[str, int]]
    date_share: float = 0.0  # read by the built-in parser
    date_format: str | None = None  # a strptime format that reads every sampled value
    date_note: str = ""
    bool_share: float = 0.0
    number_share: float = 0.0
    place_share: float = 0.0
    address_share: float = 0.0
    category_share: float = 0.0
    status_share: float = 0.0
    source_share: float = 0.0
    id_like: bool = False
    row_numbers: bool = False
    values: pd.Series = field(default=None, repr=False)  # all non-empty values (text)

    @property
    def is_datetime(self) -> bool:
        return self.date_share >= 0.9 or self.date_format is not None

    def kind(self) -> str:
        if self.n == 0:
            return "empty"
        if self.row_numbers:
            return "row numbers"
        if self.is_datetime:
            return "datetime"
        if self.category_share >= 0.9:
            return "部件/事件"
        if self.bool_share >= 0.95:
            return "yes/no"
        if self.status_share >= 0.9:
            return "status"
        if self.place_share >= 0.8:
            return "place names"
        if self.address_share >= 0.5:
            return "addresses"
        if self.number_share >= 0.95:
            return "ids" if self.id_like else "numbers"
        if self.id_like:
            return "ids"
        return "text"


def _text(values: pd.Series) -> pd.Series:
    text = values.astype("string").fillna("").str.normalize("NFKC").str.strip()
    return text[~text.str.lower().isin(EMPTY_MARKERS)]


def _sample(values: pd.Series) -> pd.Series:
    if len(values) <= SAMPLE_ROWS:
        return values
    idx = np.linspace(0, len(values) - 1, SAMPLE_ROWS).astype(int)
    return values.iloc[idx]


def _parses(value: str, datey_header: bool) -> bool:
    """Read by the built-in date parser as a plausible date (1980-2100).

    Bare numbers are read as dates by that parser (20220801, Excel serials 44774): a column
    of ids such as 101004100000 is not a date column unless its header says so.
    """
    if value.isdigit() and not datey_header and len(value) not in (8, 14):
        return False
    try:
        return 1980 <= parse_datetime(value).year <= 2100
    except ParseFailure:
        return False


def _date_format(values: list[str]) -> tuple[str | None, str]:
    """A strptime format reading every value, and how month/day order was decided."""
    for fmt in DATE_FORMATS:
        try:
            for v in values:
                datetime.strptime(v, fmt)
        except ValueError:
            continue
        note = ""
        if fmt.startswith(("%m", "%d")):
            sep = fmt[2]
            firsts = [int(v.split(sep)[0]) for v in values if v.split(sep)[0].isdigit()]
            seconds = [int(v.split(sep)[1]) for v in values if len(v.split(sep)) > 1 and v.split(sep)[1].isdigit()]
            month_first = fmt.startswith("%m")
            big = max(seconds if month_first else firsts, default=0)
            if big > 12:
                note = (f"{'month' if month_first else 'day'} first: the {'second' if month_first else 'first'} "
                        f"field reaches {big}")
            else:
                note = "month/day order cannot be told from the values (no field above 12): check"
        return fmt, note
    return None, ""


@lru_cache(maxsize=1)
def divisions() -> pd.DataFrame:
    text = resources.files("cityanalytics").joinpath("data/divisions.csv").read_text(encoding="utf-8")
    from io import StringIO

    return pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)


def _is_place(value: str, known: set[str]) -> bool:
    if value in known:
        return True
    return 2 <= len(value) <= 16 and value.endswith(PLACE_SUFFIXES) and bool(re.search(r"[\u4e00-\u9fff]", value))


ADDRESS_UNIT = re.compile(r"[\u4e00-\u9fff]{2,6}?(?:街道|镇|乡)")
# The street, town or functional zone in an address, as one capture group (a derive rule takes
# the first group): 泰州市海陵区城东街道凤凰路 -> 城东街道, 示范市示范经济技术开发区开元大道 -> the zone.
# Names of 市/区/县 are skipped by leaving those characters out of the name.
ADDRESS_UNIT_PATTERN = r"([^\s市区县]{2,6}?(?:街道|镇|乡)|[^\s市区县]{2,10}?(?:开发区|新区|园区))"
# The county-level name just before the street or town in an address (泰州市海陵区城东街道 -> 海陵区).
ADDRESS_COUNTY = r"([^\s省市区县]{1,5}[区县旗])(?=[^\s省市区县]{2,6}?(?:街道|镇|乡))"


def profile(header: str, values: pd.Series, known_places: set[str]) -> Profile:
    text = _text(values)
    sample = _sample(text)
    uniq = pd.unique(sample)
    counts = text.value_counts()
    p = Profile(header=header, n=len(text), rows=len(values), distinct=int(text.nunique()),
                examples=[str(x) for x in uniq[:3]], top=[(str(k), int(v)) for k, v in counts.head(8).items()],
                values=text)
    if not len(sample):
        return p
    s = sample.astype(str)
    lower = s.str.lower()
    distinct_sample = list(pd.unique(s))[:300]
    datey = bool(_header_hits(header, DATETIME_WORDS))
    p.date_share = float(np.mean([_parses(v, datey) for v in distinct_sample]))
    if p.date_share < 0.9 and s.str.contains(r"\d", regex=True).mean() > 0.9:
        p.date_format, p.date_note = _date_format(distinct_sample)
    p.bool_share = float(lower.isin(TRUE_WORDS | FALSE_WORDS).mean())
    p.number_share = float(pd.to_numeric(s.str.replace(",", "", regex=False), errors="coerce").notna().mean())
    p.place_share = float(np.mean([_is_place(v, known_places) for v in s]))
    p.address_share = float(s.map(lambda v: bool(ADDRESS_UNIT.search(v)) and len(v) > 6).mean())
    p.category_share = float(s.isin(CATEGORY_WORDS).mean())
    p.status_share = float(lower.isin(CLOSED_WORDS | OPEN_WORDS).mean())
    p.source_share = float(lower.map(lambda v: any(w in v for w in SOURCE_WORDS)).mean())
    unique_all = p.distinct == p.n and p.n >= 2
    codes = s.str.fullmatch(r"[A-Za-z0-9_\-./#:]{1,40}").mean() > 0.9  # ids are codes, not sentences
    p.id_like = bool(unique_all and codes and s.str.contains(r"\d", regex=True).mean() > 0.9 and p.date_share < 0.5)
    if p.number_share == 1.0 and unique_all:
        nums = pd.to_numeric(text, errors="coerce")
        p.row_numbers = bool((nums.diff().dropna() == 1).all() and nums.iloc[0] in (0, 1))
    return p


# ---- matching ---------------------------------------------------------------------------------


@dataclass
class Guess:
    column: str  # canonical
    header: str
    score: float
    evidence: list[str]
    by_alias: bool = False


KIND_OF = {"datetime": "datetime", "date": "datetime", "bool": "yes/no"}


def _words(header: str) -> tuple[str, set[str]]:
    norm = unicodedata.normalize("NFKC", header).lower()
    tokens = set(re.findall(r"[a-z]+", norm))
    return norm, tokens


def _header_hits(header: str, words: tuple[str, ...]) -> list[str]:
    norm, tokens = _words(header)
    hits = []
    for w in words:
        if re.search(r"[\u4e00-\u9fff]", w):
            if w in norm:
                hits.append(w)
        elif w in tokens or (len(w) > 3 and any(t.startswith(w) for t in tokens)):
            hits.append(w)
    return hits


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
            hits = _header_hits(p.header, listed)
            if hits:
                # Words earlier in the list are the more specific ones (neighborhood before district).
                score += 4 - 0.1 * min(listed.index(h) for h in hits)
                evidence.append(f"header {p.header!r} has {', '.join(repr(h) for h in hits)}")
            if col.kind in ("datetime", "date") and _header_hits(p.header, DATETIME_WORDS):
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
    return {v: known.get(v) or ("部件" if any(w in v.lower() for w in COMPONENT_WORDS) else "事件") for v in values}


def address_pattern(p: Profile) -> tuple[str, float, list[str]]:
    """A pattern taking the street/town out of an address; the share of values it reads."""
    pattern = ADDRESS_UNIT_PATTERN
    got = p.values.str.extract(pattern)[0]
    missed = p.values[got.isna()]
    return pattern, float(got.notna().mean()) if len(got) else 0.0, [str(x) for x in pd.unique(missed)[:2]]


# ---- units proposal ---------------------------------------------------------------------------


def _level(name: str) -> str:
    for suffix, level in LEVEL_BY_SUFFIX:
        if name.endswith(suffix):
            return level
    return ""


def propose_units(names: list[str], parents: dict[str, str] | None = None) -> pd.DataFrame:
    """A districts table for the place names found: level from the name's ending, codes from GB/T 2260.

    A name that is exactly one real division's name gets its code; a name several divisions
    share gets the one in the prefecture (or province) of the other names matched, when that
    settles it, and is said to be a guess; otherwise the code stays empty and the note lists
    the candidates. ``parents``: name -> the name of the unit above it (e.g. street -> 区).
    """
    parents = parents or {}
    table = divisions()
    by_name = table.groupby("name")["code"].agg(list).to_dict()
    full = {**{p: "" for p in parents.values() if p}, **{n: parents.get(n, "") for n in names}}
    unique_codes = [by_name[n][0] for n in full if len(by_name.get(n, [])) == 1]
    prefectures = Counter(c[:4] for c in unique_codes)
    provinces = Counter(c[:2] for c in unique_codes)
    rows = []
    for name, parent in full.items():
        notes, code = [], ""
        level = _level(name)
        if level:
            notes.append(f"guess: level {level} from the name's ending")
        else:
            notes.append("level unknown: set one of " + "/".join(schemas.UNIT_LEVELS))
        candidates = by_name.get(name, [])
        if len(candidates) == 1:
            code = candidates[0]
            notes.append(f"division_code: the GB/T 2260 division named {name} ({_where(code)})")
        elif candidates:
            pick = ([c for c in candidates if prefectures.get(c[:4])] or [c for c in candidates if provinces.get(c[:2])])
            if len(pick) == 1:
                code = pick[0]
                notes.append(f"guess: division_code {code} ({_where(code)}) of {len(candidates)} divisions named "
                             f"{name}, the one beside the other names found")
            else:
                notes.append(f"division_code left empty: {len(candidates)} divisions are named {name} "
                             f"({'; '.join(f'{c} {_where(c)}' for c in candidates)})")
        elif level in ("街道", "镇", "乡"):
            notes.append("no division_code: streets and towns have 12-digit statistical codes, not in GB/T 2260")
        elif re.search(r"[A-Za-z0-9]", name):
            notes.append("no division_code: the name holds Latin letters or digits (masked or romanised?)")
        else:
            notes.append("no GB/T 2260 division has this name")
        rows.append({"unit_id": code or name, "name_zh": name, "level": level, "parent_id": parent,
                     "division_code": code, "population": "", "households": "", "area_km2": "",
                     "note": "; ".join(notes)})
    frame = pd.DataFrame(rows, columns=["unit_id", "name_zh", "level", "parent_id", "division_code", "population",
                                        "households", "area_km2", "note"])
    ids = dict(zip(frame["name_zh"], frame["unit_id"]))
    frame["parent_id"] = frame["parent_id"].map(lambda p: ids.get(p, p) if p else "")
    return frame


def _where(code: str) -> str:
    names = dict(zip(divisions()["code"], divisions()["name"]))
    chain = [names.get(code[:2] + "0000"), names.get(code[:4] + "00") if code[2:4] != "00" else None]
    return "".join(n for n in chain if n and n != names.get(code)) or "province"


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
    summary = _summary_rows(raw.cells)
    if summary.any():
        how.append(f"{int(summary.sum())} 合计/总计 row(s) left out of the profiles (the loader rejects them as summary rows)")
        raw.cells = raw.cells[~summary]
    if len(sheets) > 1:
        how.append(f"{len(sheets)} sheets with a header; the first ({raw.source}) was profiled")
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
        _header_hits(p.header, STATUS_HEADER_WORDS) and p.distinct <= 12))), None)
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
