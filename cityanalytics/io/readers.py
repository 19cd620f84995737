"""Read raw tables from CSV, Excel, Parquet and SQL, keeping each row's number in the source.

A reader's only job is to hand over cells: it finds the header (which may sit below title
rows, span merged cells, or differ per sheet) and returns the data cells as they are, with
the row number a person would see in the file. Parsing and validation happen later.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cityanalytics.io.headers import canonical_for, header_score, lookup
from cityanalytics.io.report import LoadError

HEADER_SEARCH_ROWS = 30


@dataclass
class RawSheet:
    source: str  # file name, or "file.xlsx[sheet]"
    headers: list[str]
    cells: pd.DataFrame  # data cells; columns are header positions 0..n-1
    rows: np.ndarray  # 1-based row number of each data row in the source
    notes: list[str] = field(default_factory=list)


def is_sql_url(source: str | Path) -> bool:
    return "://" in str(source)


def read_sheets(
    source: str | Path, table_name: str, aliases: dict, *, sheet: str | int | None = None, sql: str | None = None
) -> list[RawSheet]:
    if is_sql_url(source):
        return [_read_sql(str(source), table_name, sql)]
    path = Path(source)
    if not path.exists():
        raise LoadError(str(path), "file not found")
    if path.is_dir():
        raise LoadError(str(path), "is a folder; expected a CSV, Excel (.xlsx) or Parquet file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return [_read_csv(path, table_name, aliases)]
    if suffix in (".xlsx", ".xlsm"):
        return _read_excel(path, table_name, aliases, sheet)
    if suffix in (".parquet", ".pq"):
        return [_read_parquet(path)]
    if suffix == ".xls":
        raise LoadError(str(path), "old .xls workbooks are not supported; save it as .xlsx or CSV")
    raise LoadError(str(path), f"unknown file type {suffix!r}; expected .csv, .xlsx, .parquet or a SQLAlchemy URL")


# ---- encoding ----


def detect_encoding(raw: bytes) -> str:
    """BOM first, then strict UTF-8, then GB18030 (a superset of GBK and GB2312).

    Strict decoding is decisive for Chinese text: GBK bytes almost never form valid UTF-8.
    Where a file is valid both as GB18030 and as Big5 (traditional-character exports),
    charset-normalizer picks the more coherent reading.
    """
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _decodes(raw, "utf-8"):
        return "utf-8"
    candidates = [enc for enc in ("gb18030", "big5") if _decodes(raw, enc)]
    if len(candidates) == 1:
        return candidates[0]
    from charset_normalizer import from_bytes

    best = from_bytes(raw, cp_isolation=candidates or None).best()
    if best is None:
        raise LoadError("", "cannot tell the text encoding; save the file as UTF-8")
    return best.encoding


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


# ---- header detection ----


def locate_header(grid: list[list[object]], table_name: str, aliases: dict) -> tuple[int, int, list[str]]:
    """Find the header in the first rows: (row index, depth 1 or 2, column names).

    Exports put titles above the header, and Excel headers often span two rows with a
    merged parent cell ("时间" over "上报"/"结案"); a two-row header is used when it names
    more canonical columns than any single row. Among headers naming as many columns,
    the one that ends first wins, and then the single row: a title row above the header
    (or the first data row below it) adds nothing, so it is not made part of the header.
    """
    best = (0, 0, 0, -1, [])  # score, -last header row, -depth, row, names
    table_lookup = lookup(table_name, aliases)
    for r, row in enumerate(grid[:HEADER_SEARCH_ROWS]):
        names = [_cell_text(x) for x in row]
        candidates = [(header_score(names, table_name, aliases), 1, names)]
        if r + 1 < len(grid):
            combined = _combine_header_rows(names, [_cell_text(x) for x in grid[r + 1]], table_lookup)
            candidates.append((header_score(combined, table_name, aliases), 2, combined))
        for score, depth, cand in candidates:
            key = (score, -(r + depth - 1), -depth)
            if score and (best[3] < 0 or key > best[:3]):
                best = (*key, r, cand)
    score, _, neg_depth, row, names = best
    if row < 0:
        return -1, 0, []
    return row, -neg_depth, names


def _combine_header_rows(parent: list[str], child: list[str], table_lookup: dict[str, str]) -> list[str]:
    width = max(len(parent), len(child))
    parent = parent + [""] * (width - len(parent))
    child = child + [""] * (width - len(child))
    # A CSV saved from a merged header keeps the parent ("时间") in its first cell only.
    for i in range(1, width):
        if not parent[i] and child[i] and child[i - 1]:
            parent[i] = parent[i - 1]
    out = []
    for p, c in zip(parent, child):
        options = [c, c + p, p + c, p] if c else [p]
        out.append(next((o for o in options if canonical_for(o, table_lookup)), p + c if p != c else p))
    return out


def _cell_text(x: object) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    return str(x).strip()


# ---- CSV ----


def _read_csv(path: Path, table_name: str, aliases: dict) -> RawSheet:
    raw = path.read_bytes()
    if not raw.strip():
        raise LoadError(str(path), "file is empty")
    if b"\x00" in raw[:65536] and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise LoadError(str(path), "is a binary file, not CSV text (it contains NUL bytes); "
                                   "expected a CSV exported as UTF-8 or GBK text")
    try:
        encoding = detect_encoding(raw)
    except LoadError as exc:
        raise LoadError(str(path), str(exc).lstrip(": ")) from None
    text = raw.decode(encoding)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(text)
    head = _first_records(text, delimiter, HEADER_SEARCH_ROWS + 1)
    h, depth, headers = locate_header(head, table_name, aliases)
    if h < 0:
        raise LoadError(str(path), _no_header_message(table_name, head))
    skip = h + depth
    notes = [f"encoding {encoding}"]
    if h > 0 or depth == 2:
        notes.append(f"header found on row {h + 1}" + (f"-{h + 2} (two rows)" if depth == 2 else "")
                     + (f"; {h} title row(s) above it skipped" if h else ""))
    try:
        cells = pd.read_csv(
            io.StringIO(text), header=None, skiprows=skip, dtype=str, keep_default_na=False,
            skip_blank_lines=False, sep=delimiter, engine="c",
        )
        rows = np.arange(len(cells)) + skip + 1
    except pd.errors.EmptyDataError:
        cells, rows = pd.DataFrame(columns=range(len(headers))), np.array([], dtype=int)
    except pd.errors.ParserError:
        cells, rows = _read_csv_ragged(text, delimiter, skip, len(headers))
    cells = _fit_width(cells, len(headers))
    return RawSheet(path.name, headers, cells, rows, notes)


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:20])
    counts = {d: sample.count(d) for d in (",", "\t", ";", "|")}
    return max(counts, key=counts.get) if max(counts.values()) else ","


def _first_records(text: str, delimiter: str, n: int) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    out = []
    for record in reader:
        out.append(record)
        if len(out) >= n:
            break
    return out


def _read_csv_ragged(text: str, delimiter: str, skip: int, width: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Slow path for files whose rows have more fields than the header.

    Extra fields are kept in extra columns so the row can be rejected with its number
    instead of losing data silently. Rows are numbered by record, as in the fast path (and
    as a spreadsheet shows the file), even where a quoted value spans lines.
    """
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    records, rows = [], []
    for i, record in enumerate(reader):
        if i < skip:
            continue
        records.append(record)
        rows.append(i + 1)
    wide = max([width, *map(len, records)])
    frame = pd.DataFrame([r + [""] * (wide - len(r)) for r in records], columns=range(wide), dtype=object)
    return frame, np.asarray(rows, dtype=int)


def _fit_width(cells: pd.DataFrame, width: int) -> pd.DataFrame:
    cells = cells.copy()
    cells.columns = range(cells.shape[1])
    for j in range(cells.shape[1], width):
        cells[j] = ""
    return cells


# ---- Excel ----


def _read_excel(path: Path, table_name: str, aliases: dict, sheet: str | int | None) -> list[RawSheet]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise LoadError(str(path), f"cannot open as an Excel workbook ({type(exc).__name__}: {exc})") from None
    names = workbook.sheetnames
    if sheet is not None:
        chosen = [names[sheet]] if isinstance(sheet, int) and -len(names) <= sheet < len(names) else [sheet]
        if chosen[0] not in names:
            raise LoadError(str(path), f"no sheet {sheet!r}; sheets are {', '.join(names)}")
    else:
        chosen = names
    required = set(_required(table_name))
    table_lookup = lookup(table_name, aliases)
    sheets, skipped, first_rows = [], [], []
    for name in chosen:
        ws = workbook[name]
        grid, merged = _sheet_grid(ws)
        first_rows += grid[:HEADER_SEARCH_ROWS]
        source = f"{path.name}[{name}]"
        h, depth, headers = locate_header(grid, table_name, aliases)
        found = {canonical_for(x, table_lookup) for x in headers}
        if h < 0 or (sheet is None and not required <= found and len(found - {None}) < 2):
            skipped.append(name)
            continue
        cells = pd.DataFrame(grid[h + depth:], dtype=object)
        cells = _fit_width(cells, len(headers))
        rows = np.arange(len(cells)) + h + depth + 1
        notes = []
        if h > 0 or depth == 2:
            notes.append(f"{source}: header on row {h + 1}" + (f"-{h + 2} (two rows)" if depth == 2 else ""))
        if merged:
            notes.append(f"{source}: {merged} merged cell range(s) filled with their value")
        sheets.append(RawSheet(source, headers, cells, rows, notes))
    if not sheets:
        raise LoadError(str(path), _no_header_message(table_name, first_rows, f" of sheet(s) {', '.join(chosen)}"))
    if skipped:
        sheets[0].notes.append(f"sheet(s) {', '.join(skipped)} hold no {table_name} header; not loaded")
    return sheets


def _sheet_grid(ws) -> tuple[list[list[object]], int]:
    grid = [list(r) for r in ws.iter_rows(values_only=True)]
    ranges = list(ws.merged_cells.ranges)
    for rng in ranges:
        value = grid[rng.min_row - 1][rng.min_col - 1]
        for r in range(rng.min_row - 1, min(rng.max_row, len(grid))):
            for c in range(rng.min_col - 1, rng.max_col):
                grid[r][c] = value
    while grid and all(_cell_text(x) == "" for x in grid[-1]):
        grid.pop()  # openpyxl reports formatted but empty trailing rows
    return grid, len(ranges)


def _required(table_name: str) -> list[str]:
    from cityanalytics.schemas import table

    return table(table_name).required


def _no_header_message(table_name: str, head: list[list[object]], where: str = "") -> str:
    from cityanalytics.schemas import table

    cols = ", ".join(table(table_name).required)
    first = next(([_cell_text(x) for x in r if _cell_text(x)] for r in head if any(map(_cell_text, r))), [])
    return (f"no header row for table {table_name} in the first {HEADER_SEARCH_ROWS} rows{where} "
            f"(expected columns: {cols}; first row found: {', '.join(first) or 'none'}). "
            "If the headers have other names, pass aliases")


# ---- Parquet and SQL ----


def _read_parquet(path: Path) -> RawSheet:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise LoadError(str(path), f"cannot read as Parquet ({type(exc).__name__}: {exc})") from None
    return _from_frame(path.name, frame)


def _read_sql(url: str, table_name: str, sql: str | None) -> RawSheet:
    import sqlalchemy as sa

    shown = url.split("@")[-1] if "@" in url else url  # never print a password
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            frame = pd.read_sql_query(sa.text(sql), conn) if sql else pd.read_sql_table(table_name, conn)
    except Exception as exc:
        what = "query" if sql else f"table {table_name!r}"
        raise LoadError(shown, f"cannot read {what} ({type(exc).__name__}: {exc})") from None
    finally:
        if "engine" in locals():
            engine.dispose()
    source = shown + (f" [{table_name}]" if not sql else " [query]")
    return _from_frame(source, frame)


def _from_frame(source: str, frame: pd.DataFrame) -> RawSheet:
    headers = [str(c) for c in frame.columns]
    cells = frame.copy()
    cells.columns = range(cells.shape[1])
    return RawSheet(source, headers, cells, np.arange(len(frame)) + 1)
