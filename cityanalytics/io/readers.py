"""Read raw tables from CSV, Excel, Parquet and SQL, keeping each row's number in the source.

A reader's only job is to hand over cells: it finds the header (which may sit below title
rows, span merged cells, or differ per sheet) and returns the data cells as they are, with
the row number a person would see in the file. Parsing and validation happen later.

Hostile or broken files must not exhaust the machine: only regular files are opened, text is
read up to ``MAX_TEXT_BYTES``, workbooks are checked as zip archives before opening (total
and per-member decompressed size, compression ratio) and read in streaming mode with a bound
on columns and cells. Each limit breached is a ``LoadError`` naming the file and the limit.
Rows the reader itself cannot vouch for (a quoted value that swallowed following records, a
formula without a cached value) are handed on as ``RawSheet.problems`` and become rejections.
Hidden sheets are not loaded unless named with ``sheet=`` (a person opening the workbook does
not see their rows); a note says which were skipped. Numbers in a workbook's text columns
(ids, codes) become their exact digits; CSV cells are always read as text.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cityanalytics.io.headers import canonical_for, header_score, lookup
from cityanalytics.io.report import REJECTION_COLUMNS, LoadError

HEADER_SEARCH_ROWS = 30

# ---- limits (module constants so a caller or test can tighten them) ----
MAX_TEXT_BYTES = 1 << 30  # a CSV/text file larger than 1 GiB is refused before reading
MAX_FIELD_CHARS = 131_072  # csv.field_size_limit(); no export has a longer cell
MAX_XLSX_UNCOMPRESSED = 1 << 30  # all members of a workbook, decompressed
MAX_XLSX_RATIO = 200  # decompressed/compressed size of one member (zip bombs run 1000x and more)
RATIO_CHECKED_ABOVE = 8 << 20  # small members may compress better than that; they are harmless
MAX_SHEET_COLUMNS = 1_000  # a cell further right is refused, naming it
MAX_SHEET_CELLS = 10_000_000  # rows x columns of one sheet's grid (a larger table: save it as CSV)
MAX_BLANK_RUN = 10_000  # empty rows inside a sheet before more cells: a stray cell far below the table

FORMULA_NOT_CACHED = "formula without a cached value; open and save the file in Excel"


@dataclass
class RawSheet:
    source: str  # file name, or "file.xlsx[sheet]"
    headers: list[str]
    cells: pd.DataFrame  # data cells; columns are header positions 0..n-1
    rows: np.ndarray  # 1-based row number of each data row in the source
    notes: list[str] = field(default_factory=list)
    # Rows the reader rejects itself: (row, header position or None for the whole row, value, reason).
    problems: list[tuple[int, int | None, str, str]] = field(default_factory=list)


def reader_rejections(raw: RawSheet, mapping: dict[int, str]) -> pd.DataFrame:
    """``raw.problems`` as rejections; the column is the canonical name the position maps to.

    A problem in a column that is not loaded is still the row's problem only when it is
    about the whole row (position None); a cell nobody reads rejects nothing.
    """
    records = []
    for row, position, value, reason in raw.problems:
        if position is None:
            records.append((raw.source, row, "", value, reason))
        elif position in mapping:
            records.append((raw.source, row, mapping[position], value, reason))
    frame = pd.DataFrame(records, columns=REJECTION_COLUMNS)
    return frame.astype({"file": object, "row": int, "column": object, "value": object, "reason": object})


def is_sql_url(source: str | Path) -> bool:
    return "://" in str(source)


def read_sheets(
    source: str | Path, table_name: str, aliases: dict, *, sheet: str | int | None = None, sql: str | None = None,
    encoding: str | None = None,
) -> list[RawSheet]:
    """Read ``source``; ``encoding`` overrides detection for CSV and text files."""
    if is_sql_url(source):
        return [_read_sql(str(source), table_name, sql)]
    path = Path(source)
    if not path.exists():
        raise LoadError(str(path), "file not found")
    if path.is_dir():
        raise LoadError(str(path), "is a folder; expected a CSV, Excel (.xlsx) or Parquet file")
    _refuse_special_file(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return [_read_csv(path, table_name, aliases, encoding)]
    if suffix in (".xlsx", ".xlsm"):
        return _read_excel(path, table_name, aliases, sheet)
    if suffix in (".parquet", ".pq"):
        return [_read_parquet(path)]
    if suffix == ".xls":
        raise LoadError(str(path), "old .xls workbooks are not supported; save it as .xlsx or CSV")
    raise LoadError(str(path), f"unknown file type {suffix!r}; expected .csv, .xlsx, .parquet or a SQLAlchemy URL")


def _refuse_special_file(path: Path) -> None:
    """A FIFO, device or socket is never opened: reading one can block or never end."""
    mode = os.stat(path).st_mode  # follows symlinks: a link to /dev/zero is a device
    if stat.S_ISREG(mode):
        return
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
            else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")
    raise LoadError(str(path), f"is {kind}, not a regular file; expected a CSV, Excel (.xlsx) or Parquet file")


def _read_bounded(path: Path, limit: int) -> bytes:
    size = os.stat(path).st_size
    if size > limit:
        raise LoadError(str(path), f"is {size:,} bytes; the limit for a text file is {limit:,} bytes "
                                   "(split the export, or load it from a database)")
    with open(path, "rb") as f:
        raw = f.read(limit + 1)  # the file may grow while it is read
    if len(raw) > limit:
        raise LoadError(str(path), f"is larger than the limit for a text file ({limit:,} bytes)")
    return raw


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


def detect_utf16_without_bom(raw: bytes) -> str | None:
    """UTF-16 text saved without a byte-order mark: "utf-16-le", "utf-16-be" or None.

    ASCII characters (separators, digits, line ends) are a zero byte beside their code in
    UTF-16, so zeros pile up at odd offsets (little-endian) or even ones (big-endian);
    CJK characters rarely contain a zero byte. The whole text must then decode strictly.
    """
    sample = raw[:65536]
    zeros = sample.count(0)
    if len(raw) % 2 or len(sample) < 4 or zeros < len(sample) // 20:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    encoding = "utf-16-le" if odd > 4 * even else "utf-16-be" if even > 4 * odd else None
    if encoding is None or not _decodes(raw, encoding):
        return None
    text = raw[:65536].decode(encoding, errors="replace")
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\r\n")
    return encoding if controls <= len(text) // 100 else None


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


def _read_csv(path: Path, table_name: str, aliases: dict, encoding: str | None = None) -> RawSheet:
    raw = _read_bounded(path, MAX_TEXT_BYTES)
    if not raw.strip():
        raise LoadError(str(path), "file is empty")
    text, encoding_note = _decode(path, raw, encoding)
    if "\x00" in text:
        raise LoadError(str(path), "is a binary file, not CSV text (it contains NUL bytes); "
                                   "expected a CSV exported as UTF-8 or GBK text")
    notes = [encoding_note]
    if "\r" in text and "\n" not in text:
        # Old Mac "CSV (Macintosh)" exports end lines with CR alone.
        text = text.replace("\r", "\n")
        notes.append("line ends were CR only (old Mac format); read as line breaks")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(text)
    _refuse_too_many_fields(path, text, delimiter)
    head = _first_records(path, text, delimiter, HEADER_SEARCH_ROWS + 1)
    h, depth, headers = locate_header(head, table_name, aliases)
    if h < 0:
        raise LoadError(str(path), _no_header_message(table_name, head))
    skip = h + depth
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
        cells, rows = pd.DataFrame(columns=range(len(headers)), dtype=object), np.array([], dtype=int)
    except pd.errors.ParserError:
        cells, rows = _read_csv_ragged(path, text, delimiter, skip, len(headers))
    if skip + len(cells) < _physical_lines(text):
        # A record spans lines: read the rows with the same parser that finds which ones, so
        # that the rows it rejects are exactly the rows read.
        cells, rows = _read_csv_ragged(path, text, delimiter, skip, len(headers))
        problems = _swallowed_records(path, text, delimiter, skip, len(headers))
    else:
        problems = []
    cells = _fit_width(cells, len(headers))
    if len(text) > MAX_FIELD_CHARS:
        _refuse_oversized_fields(path, cells, rows)
    if cells.empty:
        notes.append(f"header only: no data rows below the header on row {skip}")
    return RawSheet(path.name, headers, cells, rows, notes, problems)


def _decode(path: Path, raw: bytes, encoding: str | None) -> tuple[str, str]:
    """The text and a note saying which encoding read it (the recipe's, or detected)."""
    if encoding:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise LoadError(str(path), f"unknown encoding {encoding!r} (try utf-8, gbk, gb18030 or big5)") from None
        if name == "utf-8" and raw.startswith(codecs.BOM_UTF8):
            name = "utf-8-sig"
        try:
            return raw.decode(name), f"encoding {name} (as set, not detected)"
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise LoadError(str(path), f"is not {encoding} text: byte 0x{raw[exc.start]:02x} on line {line} "
                                       f"cannot be decoded; remove the encoding setting to detect it") from None
    if b"\x00" in raw[:65536] and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        found = detect_utf16_without_bom(raw)
        if found is None:
            raise LoadError(str(path), "is a binary file, not CSV text (it contains NUL bytes); "
                                       "expected a CSV exported as UTF-8 or GBK text")
        return raw.decode(found), f"encoding {found} (UTF-16 without a byte-order mark)"
    try:
        found = detect_encoding(raw)
        return raw.decode(found), f"encoding {found}"
    except LoadError as exc:
        raise LoadError(str(path), str(exc).lstrip(": ")) from None
    except UnicodeDecodeError as exc:  # a best guess (or a BOM) that the rest of the bytes contradict
        line = raw[:exc.start].count(b"\n") + 1
        raise LoadError(str(path), f"is not valid {exc.encoding} text (bytes {exc.start}-{exc.end - 1}, near line "
                                   f"{line}: {exc.reason}); the file is damaged or truncated, or save it as UTF-8") from None


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text[:65536].splitlines()[:20])
    counts = {d: sample.count(d) for d in (",", "\t", ";", "|")}
    return max(counts, key=counts.get) if max(counts.values()) else ","


def _csv_records(path: Path, text: str, delimiter: str):
    """csv.reader over ``text`` yielding (record, last physical line); an over-long field is a LoadError."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    n = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise LoadError(str(path), _csv_error_message(exc, n + 1, reader.line_num)) from None
        n += 1
        yield record, reader.line_num


def _csv_error_message(exc: csv.Error, record: int, line: int) -> str:
    if "field larger than field limit" in str(exc):
        return (f"record {record} (from line {line}) has a field longer than {MAX_FIELD_CHARS:,} characters, "
                "the limit for one cell; is a quote left open above it?")
    return f"cannot read record {record} (line {line}) as CSV: {exc}"


def _first_records(path: Path, text: str, delimiter: str, n: int) -> list[list[str]]:
    out = []
    for record, _ in _csv_records(path, text, delimiter):
        out.append(record)
        if len(out) >= n:
            break
    return out


def _read_csv_ragged(path: Path, text: str, delimiter: str, skip: int, width: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Slow path for files whose rows have more fields than the header.

    Extra fields are kept in extra columns so the row can be rejected with its number
    instead of losing data silently. Rows are numbered by record, as in the fast path (and
    as a spreadsheet shows the file), even where a quoted value spans lines.
    """
    records, rows = [], []
    for i, (record, _) in enumerate(_csv_records(path, text, delimiter)):
        if i < skip:
            continue
        records.append(record)
        rows.append(i + 1)
    wide = max([width, *map(len, records)])
    frame = pd.DataFrame([r + [""] * (wide - len(r)) for r in records], columns=range(wide), dtype=object)
    return frame, np.asarray(rows, dtype=int)


def _refuse_oversized_fields(path: Path, cells: pd.DataFrame, rows: np.ndarray) -> None:
    for c in cells.columns:
        lengths = cells[c].astype("string").str.len().fillna(0).to_numpy()
        if len(lengths) and lengths.max() > MAX_FIELD_CHARS:
            i = int(np.argmax(lengths))
            raise LoadError(str(path), f"row {rows[i]}, field {c + 1} is {int(lengths[i]):,} characters long; "
                                       f"the limit for one cell is {MAX_FIELD_CHARS:,} (is a quote left open?)")


def _refuse_too_many_fields(path: Path, text: str, delimiter: str) -> None:
    """A record of more than MAX_SHEET_COLUMNS fields is refused before a frame that wide is built.

    Counting separators per line is cheap and only an upper bound (quoted values may hold
    separators), so a line over the limit is confirmed with the csv parser.
    """
    if text.count(delimiter) <= MAX_SHEET_COLUMNS:
        return
    if max(map(lambda line: line.count(delimiter), text.split("\n"))) < MAX_SHEET_COLUMNS:
        return
    for n, (record, line) in enumerate(_csv_records(path, text, delimiter), start=1):
        if len(record) > MAX_SHEET_COLUMNS:
            raise LoadError(str(path), f"record {n} (line {line}) has {len(record):,} fields; the limit for a table "
                                       f"is {MAX_SHEET_COLUMNS:,} columns (a runaway separator?)")


def _physical_lines(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def _swallowed_records(path: Path, text: str, delimiter: str, skip: int,
                       width: int) -> list[tuple[int, int | None, str, str]]:
    """Rows whose quoted value runs over lines that look like records of their own.

    An unclosed quote makes the parser read on, through the following lines, to the next
    quote: several records become one description and the row count drops without an error.
    Records are counted against physical lines (cheap); only when a record spans lines is
    the file re-read to find which. A row is rejected when one of the further lines it spans
    holds at least half as many fields as the header (and two or more), naming the lines it
    swallowed; a description broken over lines rarely holds the separator at all.
    """
    problems = []
    least = max(2, (width + 1) // 2)
    lines = text.split("\n")
    previous_line = 0
    for i, (record, line) in enumerate(_csv_records(path, text, delimiter)):
        first_line, previous_line = previous_line + 1, line
        if i < skip or line == first_line:
            continue
        like_records = [s for s in lines[first_line:line] if len(s.split(delimiter)) >= least]
        if not like_records:
            continue
        position = next((p for p, v in enumerate(record) if "\n" in v), None)
        firsts = ", ".join(s.split(delimiter)[0].strip('"') for s in like_records[:3])
        reason = (f"a quoted value runs from line {first_line} to line {line} and holds "
                  f"{len(like_records)} line(s) that look like records of their own ({firsts}"
                  f"{' ...' if len(like_records) > 3 else ''}); is a quote left open? The row is "
                  "rejected so that those records are not merged into it silently")
        value = record[position] if position is not None else delimiter.join(record)
        shown = value if len(value) <= 200 else value[:200] + " ..."
        problems.append((i + 1, position if position is not None and position < width else None, shown, reason))
    return problems


def _fit_width(cells: pd.DataFrame, width: int) -> pd.DataFrame:
    cells = cells.copy()
    cells.columns = range(cells.shape[1])
    for j in range(cells.shape[1], width):
        cells[j] = ""
    return cells


# ---- Excel ----


def _read_excel(path: Path, table_name: str, aliases: dict, sheet: str | int | None) -> list[RawSheet]:
    import openpyxl

    _check_zip(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise LoadError(str(path), f"cannot open as an Excel workbook ({type(exc).__name__}: {exc})") from None
    try:
        return _read_workbook(path, workbook, table_name, aliases, sheet)
    finally:
        workbook.close()


def _check_zip(path: Path) -> None:
    """Refuse a workbook whose archive would decompress beyond the limits, before opening it.

    The sizes are the ones the archive declares; Python's zipfile never inflates a member
    beyond its declared size (and fails its CRC check if the data disagree), so they bound
    what opening the workbook can cost.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except Exception as exc:  # BadZipFile, NotImplementedError (zip version), OSError, ValueError ...
        raise LoadError(str(path), f"cannot open as an Excel workbook (not a valid .xlsx zip archive: {exc})") from None
    total = sum(m.file_size for m in members)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise LoadError(str(path), f"decompresses to {total:,} bytes; the limit for a workbook is "
                                   f"{MAX_XLSX_UNCOMPRESSED:,} bytes (save the table alone, or as CSV)")
    for m in members:
        if m.file_size > RATIO_CHECKED_ABOVE and m.file_size > MAX_XLSX_RATIO * max(m.compress_size, 1):
            raise LoadError(str(path), f"member {m.filename} would expand {m.file_size // max(m.compress_size, 1):,}-fold "
                                       f"({m.compress_size:,} -> {m.file_size:,} bytes; the limit is "
                                       f"{MAX_XLSX_RATIO}-fold): a zip bomb, not an export")


def _read_workbook(path: Path, workbook, table_name: str, aliases: dict, sheet: str | int | None) -> list[RawSheet]:
    names = workbook.sheetnames
    missing = _declared_sheets(path, workbook) - set(names)
    if not names:
        raise LoadError(str(path), "the workbook holds no sheet data"
                                   + (f" (sheet(s) {', '.join(sorted(missing))} listed but missing)" if missing else "")
                                   + "; the file is damaged (open and save it in Excel)")
    if sheet is not None:
        chosen = [names[sheet]] if isinstance(sheet, int) and -len(names) <= sheet < len(names) else [sheet]
        if chosen[0] not in names:
            raise LoadError(str(path), f"no sheet {sheet!r}; sheets are {', '.join(names)}")
    else:
        chosen = names
    required = set(_required(table_name))
    table_lookup = lookup(table_name, aliases)
    text_columns = _text_columns(table_name)
    sheets, skipped, hidden, first_rows = [], [], [], []
    charts = []
    for name in chosen:
        ws = workbook[name]
        if not hasattr(ws, "_get_source"):
            charts.append(name)  # a chart sheet holds no cells
            continue
        is_hidden = getattr(ws, "sheet_state", "visible") != "visible"
        if is_hidden and sheet is None:
            hidden.append(name)  # a person opening the file does not see these rows
            continue
        source = f"{path.name}[{name}]"
        grid, merged, formulas = _stream_sheet(path, workbook, ws, source)
        first_rows += grid[:HEADER_SEARCH_ROWS]
        h, depth, headers = locate_header(grid, table_name, aliases)
        found = {canonical_for(x, table_lookup) for x in headers}
        if h < 0 or (sheet is None and not required <= found and len(found - {None}) < 2):
            skipped.append(name)
            continue
        # As in Excel, every row is as wide as the sheet: a value right of the named headers
        # sits in an unnamed column (noted), not in an extra field of its row.
        headers = headers + [""] * (max(map(len, grid)) - len(headers))
        body = grid[h + depth:]
        cells = _fit_width(_frame(body, len(headers)), len(headers))
        rows = np.arange(len(cells)) + h + depth + 1
        notes = []
        if is_hidden:
            notes.append(f"{source}: the sheet is hidden in the workbook; loaded because it was asked for")
        if h > 0 or depth == 2:
            notes.append(f"{source}: header on row {h + 1}" + (f"-{h + 2} (two rows)" if depth == 2 else ""))
        if merged:
            notes.append(f"{source}: {merged} merged cell range(s) filled with their value")
        notes += _numbers_as_text(cells, headers, table_lookup, text_columns, source)
        problems = [(r + 1, c, value, FORMULA_NOT_CACHED) for r, c, value in formulas if r >= h + depth]
        if cells.empty:
            notes.append(f"{source}: header only: no data rows below the header on row {h + depth}")
        sheets.append(RawSheet(source, headers, cells, rows, notes, problems))
    if not sheets:
        where = f" of sheet(s) {', '.join(n for n in chosen if n not in hidden and n not in charts) or 'none'}"
        message = _no_header_message(table_name, first_rows, where)
        if hidden:
            message += f"; hidden sheet(s) {', '.join(hidden)} not searched (name one with sheet= to load it)"
        raise LoadError(str(path), message)
    if skipped:
        sheets[0].notes.append(f"sheet(s) {', '.join(skipped)} hold no {table_name} header; not loaded")
    if hidden:
        sheets[0].notes.append(f"sheet(s) {', '.join(hidden)} are hidden in the workbook; not loaded "
                               "(name one with sheet= to load it)")
    if charts:
        sheets[0].notes.append(f"chart sheet(s) {', '.join(charts)} hold no cells; not loaded")
    if missing:
        sheets[0].notes.append(f"sheet(s) {', '.join(sorted(missing))} are listed in the workbook but their data "
                               "is missing from the file (damaged); nothing could be loaded from them")
    return sheets


def _declared_sheets(path: Path, workbook) -> set[str]:
    """Sheet names xl/workbook.xml lists; openpyxl silently drops a sheet whose part is missing."""
    import html
    import re

    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.lower() == "xl/workbook.xml"), None)
            data = archive.read(name) if name else b""
    except Exception:
        return set()
    found = re.findall(rb'<(?:\w+:)?sheet\b[^>]*?\bname="([^"]*)"', data)
    return {html.unescape(n.decode("utf-8", errors="replace")) for n in found}


class _UncachedFormula(str):
    """A formula cell the file holds no computed value for (saved by a program that does not calculate)."""


def _sheet_parser(workbook, ws, src):
    """openpyxl's streaming sheet parser, also marking formulas that carry no cached value.

    This is the parser openpyxl's read-only worksheets use; it is driven directly so that
    rows are never padded to the sheet's declared (or a stray cell's) dimension, and so that
    the <mergeCells> it collects at the end of the sheet can fill merged ranges, which
    read-only worksheets do not offer.
    """
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class Parser(WorkSheetParser):
        def parse_cell(self, element):
            cell = super().parse_cell(element)
            if cell["value"] is None and element.find(FORMULA_TAG) is not None:
                cell["value"] = _UncachedFormula("=" + (element.findtext(FORMULA_TAG) or "").lstrip("="))
            return cell

    return Parser(src, ws._shared_strings, data_only=True, epoch=workbook.epoch,
                  date_formats=workbook._date_formats, timedelta_formats=workbook._timedelta_formats)


_EMPTY_ROW: tuple = ()


def _stream_sheet(path: Path, workbook, ws, source: str) -> tuple[list, int, list[tuple[int, int, str]]]:
    """Rows of one sheet as lists (gaps as empty rows), merged ranges filled, within the limits.

    Returns (grid, number of merged ranges, uncached formulas as (grid row, column, formula)).
    """
    from openpyxl.utils import get_column_letter, range_boundaries

    grid: list = []
    width = 0
    formulas = []
    try:
        src = ws._get_source()
    except Exception as exc:  # a member that cannot be decompressed
        raise LoadError(str(path), f"cannot read sheet {ws.title!r} ({type(exc).__name__}: {exc}); "
                                   "the file is damaged (open and save it in Excel)") from None
    with src:
        parser = _sheet_parser(workbook, ws, src)
        try:
            for idx, cells in parser.parse():
                if idx <= len(grid) or idx > 1_048_576:
                    raise LoadError(str(path), f"sheet {ws.title!r}: row {idx} is out of order or beyond Excel's "
                                               "last row; the file is damaged (open and save it in Excel)")
                row: list = []
                for cell in cells:
                    col, value = cell["column"], cell["value"]
                    if value is None or value == "":
                        continue
                    if col > MAX_SHEET_COLUMNS:
                        raise LoadError(str(path), f"sheet {ws.title!r}: cell {get_column_letter(min(col, 16384))}{idx} "
                                                   f"lies beyond column {MAX_SHEET_COLUMNS:,}, the limit for a table; "
                                                   "delete the stray cells right of the table")
                    if col > len(row):
                        row.extend([None] * (col - len(row)))
                    if isinstance(value, _UncachedFormula):
                        formulas.append((idx - 1, col - 1, str(value)))
                        value = None
                    row[col - 1] = value
                if not row:
                    continue  # an empty (formatted) row: only a row with cells after it makes it a row
                if idx - 1 - len(grid) > MAX_BLANK_RUN:
                    first = next((i for i, v in enumerate(row) if v is not None), 0) + 1
                    raise LoadError(str(path), f"sheet {ws.title!r}: rows {len(grid) + 1:,}-{idx - 1:,} are empty and "
                                               f"cell {get_column_letter(first)}{idx} follows them; more than "
                                               f"{MAX_BLANK_RUN:,} empty rows inside a table is a stray cell far below "
                                               "it: delete it")
                grid.extend([_EMPTY_ROW] * (idx - 1 - len(grid)))
                grid.append(row)
                width = max(width, len(row))
                if len(grid) * width > MAX_SHEET_CELLS:
                    raise LoadError(str(path), f"sheet {ws.title!r}: cells reach row {idx:,} and column "
                                               f"{get_column_letter(width)} ({len(grid) * width:,} cells); the limit "
                                               f"is {MAX_SHEET_CELLS:,} cells (delete stray cells outside the table)")
        except LoadError:
            raise
        except Exception as exc:  # malformed XML, bad shared-string index, bad coordinates ...
            raise LoadError(str(path), f"cannot read sheet {ws.title!r} ({type(exc).__name__}: {exc}); "
                                       "the file is damaged (open and save it in Excel)") from None
    ranges = []
    merged_cells = getattr(parser, "merged_cells", None)
    for merged in getattr(merged_cells, "mergeCell", None) or []:
        try:
            ranges.append(range_boundaries(merged.ref))
        except (TypeError, ValueError):
            continue  # a damaged range names no cells: nothing to fill
    _fill_merged(grid, ranges, width, path, ws.title)
    formula_rows = {r for r, _, _ in formulas}
    while grid and len(grid) - 1 not in formula_rows and all(_cell_text(x) == "" for x in grid[-1]):
        grid.pop()  # rows that are formatted but empty (a row whose formula has no value is kept)
    return grid, len(ranges), formulas


def _fill_merged(grid: list, ranges: list[tuple[int, int, int, int]], width: int, path: Path, title: str) -> None:
    """Give every cell of a merged range the value of its top-left cell (clipped to the grid)."""
    work = 0
    for min_col, min_row, max_col, max_row in ranges:
        if min_row > len(grid) or min_col > width:
            continue
        max_row, max_col = min(max_row, len(grid)), min(max_col, width)
        work += (max_row - min_row + 1) * (max_col - min_col + 1)
        if work > 2 * MAX_SHEET_CELLS:
            raise LoadError(str(path), f"sheet {title!r}: merged cell ranges cover more than "
                                       f"{2 * MAX_SHEET_CELLS:,} cells; the file is damaged")
        top = grid[min_row - 1]
        value = top[min_col - 1] if min_col - 1 < len(top) else None
        for r in range(min_row - 1, max_row):
            row = grid[r]
            if not isinstance(row, list):
                row = grid[r] = list(row)
            if len(row) < max_col:
                row.extend([None] * (max_col - len(row)))
            row[min_col - 1:max_col] = [value] * (max_col - min_col + 1)


def _frame(body: list, width: int) -> pd.DataFrame:
    """Ragged rows as an object frame at least ``width`` wide, missing cells None."""
    wide = max([width, *map(len, body)]) if body else width
    grid = np.empty((len(body), wide), dtype=object)
    for i, row in enumerate(body):
        if row:
            grid[i, :len(row)] = row
    return pd.DataFrame(grid)


def _text_columns(table_name: str) -> set[str]:
    from cityanalytics.schemas import table

    return {c.name for c in table(table_name).columns if c.kind == "str"}


def _numbers_as_text(cells: pd.DataFrame, headers: list[str], table_lookup: dict, text_columns: set[str],
                     source: str) -> list[str]:
    """Numbers in text columns (ids, codes) become their exact digits, never a float like 3.2e+17.

    Excel stores every number as a double and keeps 15 significant digits: a longer id
    typed as a number has already lost its last digits, which is said in a note.
    """
    notes = []
    for p, header in enumerate(headers):
        column = canonical_for(header, table_lookup)
        if column not in text_columns:
            continue
        values = cells[p]
        numeric = values.map(lambda v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool))
        if not numeric.any():
            continue
        lossy = 0
        converted = []
        for v in values[numeric]:
            text, lost = _number_text(v)
            lossy += lost
            converted.append(text)
        cells.loc[numeric, p] = pd.Series(converted, index=values.index[numeric.to_numpy()], dtype=object)
        if lossy:
            notes.append(f"{source}: {lossy} {column} value(s) are numbers of more than 15 digits; Excel keeps "
                         "15 significant digits, so their last digits may differ from the original (store ids as text)")
    return notes


def _number_text(v) -> tuple[object, bool]:
    """(exact text of an integral number, whether Excel may have cut its digits); other numbers stay."""
    if isinstance(v, (int, np.integer)):
        return str(int(v)), False
    v = float(v)
    if not np.isfinite(v) or not v.is_integer():
        return v, False
    if abs(v) < 1e15:
        return str(int(v)), False
    from decimal import Decimal

    return str(int(Decimal(format(v, ".15g")))), True


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
