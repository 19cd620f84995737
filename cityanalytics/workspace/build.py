"""``cityanalytics build DIR``: the recipe's exports -> canonical Parquet tables in DIR/tables.

For each table of the recipe every matching file is loaded through ``cityanalytics.io.load``
with the recipe's options (unit names resolved against ``units.csv``), the files are
concatenated (a key found in several files is kept from the last file, the latest export, and
the earlier copies rejected) and the
deadline rule applied. Written, each file replaced atomically:

- ``tables/<table>.parquet``: the canonical table;
- ``tables/<table>.rejections.csv``: every rejected row (file, row, column, value, reason);
- ``tables/build.json``: per source file its sha256 and rows read / kept / rejected, per
  table the totals and the fingerprint that lets the next build skip it;
- ``tables/load_report.md``: the load report a person reads (reasons in Chinese and English).

A table is rebuilt only when a source file's sha256, its recipe block, a lookup file or
``units.csv`` changed (``--force`` rebuilds all). Nothing is replaced unless the whole build
succeeds: an unusable file or recipe (exit 2) or a rejected share above ``--max-rejected``
(exit 2) leaves the previous tables as they were. Exit 0: every record kept (blank and 合计 rows are
set aside and listed, not counted); 1: some records rejected.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cityanalytics import schemas
from cityanalytics.hashing import sha256
from cityanalytics.io.report import REJECTION_COLUMNS, LoadError, spreadsheet_safe
from cityanalytics.workspace.glossary import gloss
from cityanalytics.workspace.recipe import Recipe, RecipeError, TableRecipe, read_recipe

HELP = "Turn a workspace's raw exports into canonical tables (tables/*.parquet) following its recipe."

BUILD_JSON = "build.json"
REPORT_MD = "load_report.md"
FAILED_MD = "load_report.failed.md"


class Unusable(Exception):
    """The build cannot go on: a file or the recipe cannot be used (exit 2)."""


# Rows the loader sets aside that were never records: they do not make a build "some rows rejected".
NOT_RECORD_REASONS = ("blank row", "summary row")


@dataclass
class FileResult:
    path: str  # relative to the workspace
    sha256: str
    rows_read: int
    rows_kept: int
    rows_rejected: int
    notes: list[str]


@dataclass
class TableResult:
    name: str
    fingerprint: dict
    files: list[FileResult] = field(default_factory=list)
    frame: pd.DataFrame | None = None
    rejections: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    skipped: bool = False
    absent: bool = False
    previous: dict | None = None  # build.json entry of a skipped table
    superseded: int = 0  # earlier copies of records a later export holds (rejected, but not bad rows)

    @property
    def rows_read(self) -> int:
        return self.previous["rows_read"] if self.skipped else sum(f.rows_read for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return self.previous["rows_rejected"] if self.skipped else sum(f.rows_rejected for f in self.files)

    @property
    def rows_kept(self) -> int:
        return self.rows_read - self.rows_rejected

    @property
    def bad_rows(self) -> int:
        """Rejected rows that were records: not blank, title-area or 合计 rows, nor earlier copies
        of records a later export holds. These decide the exit code and --max-rejected."""
        if self.skipped:
            return self.previous.get("bad_rows", self.previous["rows_rejected"])
        not_records = 0
        if self.rejections is not None and len(self.rejections):
            r = self.rejections
            not_records = r.loc[r["reason"].astype(str).str.startswith(NOT_RECORD_REASONS), ["file", "row"]] \
                .drop_duplicates().shape[0]
        return self.rows_rejected - self.superseded - not_records

    def entry(self) -> dict:
        if self.skipped:
            return self.previous
        return {
            "fingerprint": self.fingerprint,
            "rows_read": self.rows_read, "rows_kept": self.rows_kept, "rows_rejected": self.rows_rejected,
            "bad_rows": self.bad_rows, "files": [vars(f) for f in self.files],
            "notes": self.notes,
        }


@dataclass
class Build:
    root: Path
    recipe: Recipe
    tables: list[TableResult]
    notes: list[str]
    dropped: list[str] = field(default_factory=list)  # built before, no longer in the recipe

    @property
    def rows_rejected(self) -> int:
        return sum(t.rows_rejected for t in self.tables)

    @property
    def bad_rows(self) -> int:
        return sum(t.bad_rows for t in self.tables)


# --- hashing and fingerprints --------------------------------------------------------------


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def fingerprint(t: TableRecipe, paths: list[Path], root: Path, units_sha: str | None) -> dict:
    block = json.dumps(t.block, sort_keys=True, ensure_ascii=False, default=str)
    files = {_relative(p, root): sha256(p) for p in paths}
    if t.database is not None:
        db = t.database_file()
        # a database server has no checksum: its table is read again on every build
        files = {shown_url(t.database): sha256(db) if db is not None and db.is_file() else uuid.uuid4().hex}
    return {
        "files": files,
        "recipe": hashlib.sha256(block.encode("utf-8")).hexdigest(),
        "lookup_files": {_relative(p, root): sha256(p) for p in t.lookup_files},
        "units": units_sha if _uses_units(t.name) else None,
    }


def shown_url(url: str) -> str:
    """A database URL as it may be printed: without user and password."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('@')[-1]}"


def _uses_units(table: str) -> bool:
    return table != "districts" and "unit_id" in schemas.table(table).names


# --- building ------------------------------------------------------------------------------


def read_units(root: Path) -> tuple[pd.DataFrame | None, str | None, list[str]]:
    """units.csv as a districts table (None when absent or empty), its sha256 and notes."""
    from cityanalytics.io import load

    path = root / "units.csv"
    if not path.is_file():
        return None, None, ["no units.csv: unit names are kept as written, not checked"]
    try:
        result = load(path, "districts")
    except LoadError as exc:
        raise Unusable(f"units.csv: {exc}") from None
    notes = []
    if result.report.rows_rejected:
        first = result.report.rejections.iloc[0]
        raise Unusable(f"units.csv: {result.report.rows_rejected} row(s) rejected (first: row {first['row']}, "
                       f"{first['column']}: {first['reason']}); fix units.csv, every unit must be usable")
    if result.frame.empty:
        return None, sha256(path), ["units.csv has no rows: unit names are kept as written, not checked "
                                    "(`cityanalytics map` proposes a units.csv)"]
    return result.frame, sha256(path), notes


def load_table(t: TableRecipe, paths: list[Path], root: Path, units: pd.DataFrame | None,
               fp: dict) -> TableResult:
    from cityanalytics.io import load

    spec = schemas.table(t.name)
    options = t.load_options()
    if _uses_units(t.name) and units is not None:
        options["units"] = units
    out = TableResult(t.name, fp)
    frames, rejections = [], []
    sources = [(t.database, shown_url(t.database))] if t.database else [(p, _relative(p, root)) for p in paths]
    for path, rel in sources:
        try:
            result = load(path, t.name, **options)
        except TypeError as exc:
            if "unexpected keyword argument" not in str(exc):
                raise
            # the loader of this version lacks an option the recipe uses
            raise Unusable(f"sources.yaml: tables.{t.name}: this version of the loader cannot take it: {exc}") from None
        except LoadError as exc:
            hint = ""
            if exc.column and "missing required column" in str(exc):
                hint = (f"; say in sources.yaml where it comes from: tables.{t.name}.aliases.{exc.column} "
                        f"(a header of the export), constants.{exc.column} or derive.{exc.column}")
            raise Unusable(f"{rel}: {exc}{hint}") from None
        except (OSError, ValueError) as exc:
            raise Unusable(f"{rel}: {exc}") from None
        report = result.report
        rej = report.rejections.copy()
        if not t.database:
            name = Path(path).name
            rej["file"] = [f"{rel}{str(f)[len(name):]}" if str(f).startswith(name) else str(f)
                           for f in rej["file"]]  # "x.xlsx[sheet]" -> "exports/x.xlsx[sheet]"
        frame = result.frame.copy()
        frame["_file"] = rel
        frames.append(frame)
        rejections.append(rej)
        out.files.append(FileResult(rel, fp["files"][rel], report.rows_read, report.rows_kept,
                                    report.rows_rejected, list(report.notes)))
    frame = pd.concat(frames, ignore_index=True) if frames else schemas.empty_frame(t.name)
    rejections = [r for r in rejections if not r.empty]
    if spec.key and len(frames) > 1:
        frame, dup = _cross_file_duplicates(frame, spec, out)
        if not dup.empty:
            rejections.append(dup)
    frame = frame.drop(columns="_file", errors="ignore")
    if t.time_limits is not None and t.time_limits.hours is not None:
        frame = _deadlines(frame, t, out)
    out.frame = frame[spec.names].reset_index(drop=True)
    out.rejections = (pd.concat(rejections, ignore_index=True) if rejections
                      else pd.DataFrame(columns=REJECTION_COLUMNS))
    return out


def _cross_file_duplicates(frame: pd.DataFrame, spec, out: TableResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A key in several files: the copy in the last file (in name order, so the latest export)
    is kept, as the more recent state of the record; earlier copies are rejected, naming it."""
    key = list(spec.key)
    dup = frame.duplicated(key, keep="last").to_numpy()
    if not dup.any():
        return frame, pd.DataFrame(columns=REJECTION_COLUMNS)
    last_file = frame.groupby(key, dropna=False, sort=False)["_file"].transform("last")
    values = frame[key].astype(str).agg(", ".join, axis=1)
    name = "+".join(key)
    rej = pd.DataFrame({
        "file": frame["_file"][dup].to_numpy(),
        "row": pd.array([pd.NA] * int(dup.sum()), dtype="Int64"),  # the loader keeps no row numbers for kept rows
        "column": name,
        "value": values[dup].to_numpy(),
        "reason": [f"duplicate {name}: superseded by the copy in {f} (a later export is the more recent state)"
                   for f in last_file[dup]],
    })
    for fr in out.files:
        n = int((frame["_file"][dup] == fr.path).sum())
        fr.rows_kept -= n
        fr.rows_rejected += n
    out.superseded = int(dup.sum())
    out.notes.append(f"{out.superseded} row(s) repeat a {name} of a later file; the later copy is kept")
    return frame[~dup], rej


def _deadlines(frame: pd.DataFrame, t: TableRecipe, out: TableResult) -> pd.DataFrame:
    """Fill missing due_at from hours per subcategory (working hours on the official calendar)."""
    from cityanalytics.indicators.cases import default_time_limits, with_deadlines

    rule = t.time_limits
    default = rule.default if rule.default is not None else float(default_time_limits().get("default", 24))
    missing = int((frame["due_at"].isna() & frame["reported_at"].notna()).sum())
    if rule.working_hours:
        filled = with_deadlines(frame, {"limits": rule.hours, "default": default})
        years = filled.attrs.get("calendar_fallback_years") or []
        if years:
            out.notes.append(f"deadlines in {', '.join(map(str, years))} count Monday-Friday as working days "
                             "(the official calendar of those years is not shipped)")
    else:
        filled = frame.copy()
        need = filled["due_at"].isna() & filled["reported_at"].notna()
        start = filled["filed_at"].fillna(filled["reported_at"]) if "filed_at" in filled else filled["reported_at"]
        sub = filled["subcategory"] if "subcategory" in filled else pd.Series(pd.NA, index=filled.index)
        hours = sub.map(rule.hours).astype("Float64").fillna(default).astype(float)
        filled.loc[need, "due_at"] = start[need] + pd.to_timedelta(hours[need], unit="h")
    unlisted = sorted(set(frame.loc[frame["due_at"].isna(), "subcategory"].dropna()) - set(rule.hours))
    hours_kind = "working" if rule.working_hours else "clock"
    out.notes.append(f"due_at computed for {missing} row(s) from hours_by_subcategory ({hours_kind} hours)"
                     + (f"; {default:g} h for subcategories not listed ({', '.join(unlisted[:5])})" if unlisted else ""))
    filled["due_at"] = filled["due_at"].astype(schemas.DTYPES["datetime"])
    return filled


def build(root: str | Path, *, force: bool = False) -> Build:
    """Load every table whose inputs changed; nothing is written here (see ``write``)."""
    root = Path(root)
    try:
        recipe = read_recipe(root)
    except RecipeError as exc:
        raise Unusable(str(exc)) from None
    units, units_sha, notes = read_units(root)
    previous = _previous(root)
    tables = []
    for name, t in recipe.tables.items():
        paths = t.paths(root) if t.database is None else []
        fp = fingerprint(t, paths, root, units_sha)
        before = previous.get(name)
        has_table = (root / "tables" / f"{name}.parquet").is_file()
        if not paths and t.database is None:
            tables.append(TableResult(name, fp, absent=True, notes=[
                f"no file matches {', '.join(t.files)}: the {name} table is absent"
                + (" (the table of the previous build is removed)" if has_table else "")]))
            continue
        if not force and before and before.get("fingerprint") == fp and has_table:
            tables.append(_skipped(name, fp, before, root))
            continue
        result = load_table(t, paths, root, units, fp)
        if result.rows_read == 0:  # header-only files (a fresh units.csv): no table rather than an empty one
            result.absent = True
            result.notes.insert(0, f"{', '.join(f.path for f in result.files)}: no data rows; the {name} table is absent"
                                + (" (the table of the previous build is removed)" if has_table else ""))
        tables.append(result)
    dropped = [name for name in previous if name not in recipe.tables]
    notes += [f"{name}: no longer in the recipe; its table of the previous build is removed" for name in dropped]
    return Build(root, recipe, tables, notes, dropped)


def _skipped(name: str, fp: dict, before: dict, root: Path) -> TableResult:
    """A table left as the last build wrote it; its files, notes and rejections are reported again."""
    t = TableResult(name, fp, skipped=True, previous=before, notes=list(before.get("notes") or []))
    try:
        t.files = [FileResult(**f) for f in before.get("files") or []]
    except TypeError:
        t.files = []
    path = root / "tables" / f"{name}.rejections.csv"
    if path.is_file():
        t.rejections = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return t


def _previous(root: Path) -> dict:
    path = root / "tables" / BUILD_JSON
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("tables") or {}
    except (ValueError, AttributeError):
        return {}  # an unreadable build.json only means nothing is skipped


def over_threshold(b: Build, limit: str | None) -> list[str]:
    """Tables whose rejected rows exceed ``limit`` ('1%' of the rows read, or a count). Earlier
    copies of records a later export holds, blank and 合计 rows are not counted: they are not bad rows."""
    if limit is None:
        return []
    text = str(limit).strip()
    share = text.endswith("%")
    value = float(text.rstrip("%"))
    out = []
    for t in b.tables:
        if t.skipped or t.absent or not t.rows_read:
            continue
        bad = t.bad_rows
        got = bad / t.rows_read * 100 if share else bad
        if got > value:
            out.append(f"{t.name}: {bad} of {t.rows_read} rows rejected "
                       f"({bad / t.rows_read:.1%}) > --max-rejected {text}")
    return out


def check_limit(text: str) -> str:
    """argparse type for --max-rejected: '1%', '0.5%' or a count of rows."""
    t = text.strip()
    try:
        value = float(t.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share like 1% or a number of rows, got {text!r}") from None
    if value < 0 or (not t.endswith("%") and value != int(value)) or (t.endswith("%") and value > 100):
        raise argparse.ArgumentTypeError(f"expected a share 0%..100% or a whole number of rows, got {text!r}")
    return t


# --- writing -------------------------------------------------------------------------------


def _replace(path: Path, write) -> None:
    """Write through a temporary file beside ``path`` and rename it into place."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write(b: Build) -> None:
    tables_dir = b.root / "tables"
    tables_dir.mkdir(exist_ok=True)
    gone = [t.name for t in b.tables if t.absent] + [name for name in b.dropped if name in schemas.TABLES]
    for name in gone:
        for suffix in (".parquet", ".rejections.csv"):
            (tables_dir / f"{name}{suffix}").unlink(missing_ok=True)
    for t in b.tables:
        if t.skipped or t.absent:
            continue
        _replace(tables_dir / f"{t.name}.parquet", lambda p, f=t.frame: f.to_parquet(p, index=False))
        _replace(tables_dir / f"{t.name}.rejections.csv",
                 lambda p, r=t.rejections: spreadsheet_safe(r).to_csv(p, index=False, encoding="utf-8-sig"))
    manifest = {
        "built_at": dt.datetime.now().isoformat(timespec="seconds"),
        "recipe": {"name": b.recipe.name, "source": b.recipe.source, "synthetic": b.recipe.synthetic,
                   "as_of": b.recipe.as_of},
        "units_csv": sha256(b.root / "units.csv") if (b.root / "units.csv").is_file() else None,
        "tables": {t.name: t.entry() for t in b.tables if not t.absent},
    }
    text = json.dumps(manifest, ensure_ascii=False, indent=2, default=str)
    _replace(tables_dir / BUILD_JSON, lambda p: p.write_text(text + "\n", encoding="utf-8"))
    _replace(tables_dir / REPORT_MD, lambda p: p.write_text(report_markdown(b), encoding="utf-8"))
    (tables_dir / FAILED_MD).unlink(missing_ok=True)


def report_markdown(b: Build, failed: list[str] | None = None) -> str:
    """The load report: per table and file rows read = kept + rejected, reasons in Chinese and English."""
    title = b.recipe.name or b.root.name
    lines = [f"# 数据载入报告 / Load report: {title}", ""]
    if failed:
        lines += ["**本次构建未替换原有数据表 / This build did NOT replace the previous tables:**", ""]
        lines += [f"- {m}" for m in failed] + [""]
    lines += [f"工作区 / workspace: `{b.root}`  ", f"生成时间 / built: {dt.datetime.now():%Y-%m-%d %H:%M}", ""]
    lines += [f"- {n}" for n in b.notes]
    lines += ["", "| 表 table | 读入 read | 保留 kept | 拒绝 rejected | 状态 status |", "|---|---:|---:|---:|---|"]
    for t in b.tables:
        status = ("无文件 / absent" if t.absent else "未变化,跳过 / unchanged, skipped" if t.skipped
                  else "已构建 / built")
        read, kept, rej = ("", "", "") if t.absent else (t.rows_read, t.rows_kept, t.rows_rejected)
        lines.append(f"| {t.name} | {read} | {kept} | {rej} | {status} |")
    for t in b.tables:
        lines += ["", f"## {t.name}", ""]
        if t.absent:
            lines += [f"- {n}" for n in t.notes]
            continue
        if t.skipped:
            lines += ["源文件、配方与 units.csv 均未变化,沿用上次构建的表 / no source file, recipe block or "
                      "units.csv changed since the last build: its table is kept as it was.", ""]
        lines += ["| 文件 file | sha256 | 读入 read | 保留 kept | 拒绝 rejected |", "|---|---|---:|---:|---:|"]
        lines += [f"| {f.path} | `{f.sha256[:12]}` | {f.rows_read} | {f.rows_kept} | {f.rows_rejected} |"
                  for f in t.files]
        notes = t.notes + [n for f in t.files for n in f.notes]
        if notes:
            lines += ["", "说明 / notes:", ""] + [f"- {n}" for n in dict.fromkeys(notes)]
        if t.rejections is not None and not t.rejections.empty:
            lines += ["", "拒绝原因 / reasons for rejection:", "", "| 行数 rows | 列 column | 原因 reason |", "|---:|---|---|"]
            rej = t.rejections.assign(key=t.rejections["file"].map(str) + "#" + t.rejections["row"].map(str)
                                      + "#" + t.rejections["value"].map(str))  # map(str): an empty value counts
            counts = (rej.assign(general=[_general(r) for r in rej["reason"]])
                      .groupby(["column", "general"], dropna=False)["key"].nunique()
                      .sort_values(ascending=False))
            for (column, reason), n in counts.items():
                zh = gloss(reason)
                lines.append(f"| {n} | {column or '(整行 row)'} | {zh + ' / ' if zh else ''}{reason} |")
            lines += ["", f"每一行的文件、行号、值和原因见 / every rejected row with its file, row, value and reason: "
                          f"`tables/{t.name}.rejections.csv`"]
    return "\n".join(lines) + "\n"


def _general(reason: str) -> str:
    """A reason without the cell's own value, so rows with the same problem count together."""
    import re

    reason = str(reason)
    reason = re.sub(r"found nothing in (\S+) .*$", r"found nothing in \1", reason)
    reason = re.sub(r"^'.*' in (\S+) is not in the lookup", r"value in \1 is not in the lookup", reason)
    reason = re.sub(r"superseded by the copy in .* \(", "superseded by the copy in a later file (", reason)
    reason = re.sub(r"\(first seen at [^;]+; ", "(", reason)
    return reason


# --- the command ---------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", type=Path, help="the workspace folder (made by `cityanalytics init DIR`)")
    parser.add_argument("--max-rejected", type=check_limit, metavar="SHARE",
                        help="fail (exit 2, previous tables kept) when a table rejects more than this: "
                             "a share of its rows read (1%%) or a number of rows (50)")
    parser.add_argument("--force", action="store_true", help="rebuild every table even if nothing changed")


def run(args: argparse.Namespace) -> int:
    root = args.workspace
    if not root.is_dir():
        print(f"error: {root}: not a folder (make a workspace with `cityanalytics init {root}`)", file=sys.stderr)
        return 2
    try:
        b = build(root, force=args.force)
    except Unusable as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was written; the previous tables are unchanged", file=sys.stderr)
        return 2
    for t in b.tables:
        print(_summary_line(t))
    for note in b.notes:
        print(note)
    failed = over_threshold(b, args.max_rejected)
    if failed:
        (root / "tables").mkdir(exist_ok=True)
        text = report_markdown(b, failed)
        (root / "tables" / FAILED_MD).write_text(text, encoding="utf-8")
        for message in failed:
            print(f"error: {message}", file=sys.stderr)
        print(f"the previous tables are unchanged; the failed build's report: {root / 'tables' / FAILED_MD}",
              file=sys.stderr)
        return 2
    write(b)
    print(f"tables and load report written to {root / 'tables'} ({REPORT_MD}, {BUILD_JSON})")
    return 1 if b.bad_rows else 0


def _summary_line(t: TableResult) -> str:
    if t.absent:
        return f"{t.name}: {t.notes[0]}"
    if t.skipped:
        return f"{t.name}: unchanged since the last build (source files, recipe and units.csv), skipped"
    set_aside = t.rows_rejected - t.bad_rows
    why = f" ({set_aside} of them blank, 合计 or superseded rows, not bad records)" if set_aside else ""
    return (f"{t.name}: {len(t.files)} file(s), rows read {t.rows_read}, kept {t.rows_kept}, "
            f"rejected {t.rows_rejected}{why}")

