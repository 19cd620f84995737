"""Reading an unknown export and profiling its columns, for ``cityanalytics map``.

The export goes through ``cityanalytics.io.readers`` (encodings, title rows, merged headers);
a header no alias names is found by its shape. Each column's values are then described:
how many read as dates (and with which strptime format when the built-in parser cannot),
yes/no words, numbers, ids, place names, addresses, 部件/事件, status and source words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cityanalytics import schemas
from cityanalytics.io.headers import merged_aliases
from cityanalytics.io.parsing import EMPTY_MARKERS, FALSE_WORDS, TRUE_WORDS, ParseFailure, parse_datetime
from cityanalytics.io.report import LoadError

SAMPLE_ROWS = 2_000  # values profiled per column (evenly spread over the file)
HEADER_SEARCH_ROWS = 30

DATETIME_WORDS = ("时间", "日期", "时刻", "date", "time", "dt", "at", "on")
CLOSED_WORDS = {"已结案", "结案", "已办结", "办结", "已关闭", "关闭", "已完成", "完成", "已归档", "归档", "已处理",
                "处理完毕", "closed", "resolved", "completed", "done"}
OPEN_WORDS = {"处置中", "处理中", "办理中", "待处理", "待核查", "已受理", "受理", "未办结", "待办", "缓办", "挂账",
              "open", "pending", "new", "in progress", "inprogress", "assigned"}
CATEGORY_WORDS = {"部件", "事件"}
SOURCE_WORDS = ("监督员", "公众", "举报", "12345", "热线", "视频", "监控", "移交", "网络", "微信", "app", "巡查",
                "call", "phone", "web", "app", "email", "walk", "mobile", "self service", "employee")
PLACE_SUFFIXES = ("街道", "开发区", "新区", "园区", "管委会", "镇", "乡", "区", "县", "市", "旗", "盟")
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


def _words(header: str) -> tuple[str, set[str]]:
    norm = unicodedata.normalize("NFKC", header).lower()
    tokens = set(re.findall(r"[a-z]+", norm))
    return norm, tokens


def header_hits(text: str, listed: tuple[str, ...]) -> list[str]:
    """The listed words found in ``text``: Chinese as substrings, English as whole words
    (or the start of a longer one: "open" in "opened"), phrases as they stand."""
    norm, tokens = _words(text)
    hits = []
    for w in listed:
        if re.search(r"[\u4e00-\u9fff]", w):
            found = w in norm
        elif " " in w:
            found = re.search(rf"\b{re.escape(w)}\b", norm) is not None
        else:
            found = w in tokens or (len(w) > 3 and any(t.startswith(w) for t in tokens))
        if found:
            hits.append(w)
    return hits


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
    datey = bool(header_hits(header, DATETIME_WORDS))
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
