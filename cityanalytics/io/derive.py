"""Constant and derived columns, added to a raw sheet before its headers are mapped.

A recipe (or ``cityanalytics.io.load(constants=..., derive=...)``) can supply a canonical
column the export does not have:

- a **constant**: one value on every row (``{"category": "事件"}``);
- a **derived** column, computed from a source column (named by its header as in the file):

  ``{"column": "地址", "pattern": r"(\\S+?街道)"}``   the first capture group of a regular
      expression (the whole match when it has no group);
  ``{"column": "小类", "lookup": {"道路破损": "部件"}}`` a value looked up in a table
      (``lookup_file``: a CSV with columns ``from,to``);
  ``{"column": "办结时间", "when": {"column": "状态", "in": ["已办结"]}}`` the value only on
      rows whose status column says so (may be combined with a pattern or a lookup);
  ``{"column": "X"}`` alone copies the column.

The new column is added under its canonical name, so it wins over any header that maps to
the same column. A value that cannot be computed (no match, a label not in the lookup)
leaves the cell empty: the row is rejected with the rule's reason only when the column is
required; otherwise the empty cells are counted in a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from cityanalytics import schemas
from cityanalytics.io.headers import normalize_header
from cityanalytics.io.parsing import EMPTY_MARKERS
from cityanalytics.io.readers import RawSheet
from cityanalytics.io.report import LoadError

RULE_KEYS = {"column", "pattern", "lookup", "lookup_file", "when"}
WHEN_KEYS = {"column", "in"}


class DeriveError(ValueError):
    """A derive rule that cannot be used (the message names the column and the key)."""


@dataclass(frozen=True)
class Rule:
    """One checked derive rule for canonical column ``target``."""

    target: str
    column: str
    pattern: re.Pattern | None = None
    lookup: dict[str, str] | None = None
    lookup_name: str | None = None  # the lookup file, for messages
    when_column: str | None = None
    when_in: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.pattern is not None:
            how = f"pattern '{self.pattern.pattern}' over {self.column}"
        elif self.lookup is not None:
            how = f"lookup of {self.column}" + (f" in {self.lookup_name}" if self.lookup_name else "")
        else:
            how = f"copy of {self.column}"
        if self.when_column:
            how += f", only where {self.when_column} is one of {', '.join(self.when_in)}"
        return how


def read_lookup_file(path: str | Path) -> dict[str, str]:
    """A two-column CSV ``from,to`` (UTF-8, or GBK) as a mapping; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise DeriveError(f"lookup_file {str(path)!r} does not exist")
    frame = None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            frame = pd.read_csv(path, dtype=str, encoding=encoding, keep_default_na=False)
            break
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DeriveError(f"lookup_file {str(path)!r} is not a readable CSV: {exc}") from None
    if frame is None:
        raise DeriveError(f"lookup_file {str(path)!r}: neither UTF-8 nor GBK text")
    if list(frame.columns[:2]) != ["from", "to"]:
        raise DeriveError(f"lookup_file {str(path)!r}: expected the header 'from,to', found "
                          f"{','.join(map(str, frame.columns)) or 'nothing'}")
    keys = frame["from"].str.strip()
    dup = keys[keys.duplicated()]
    if not dup.empty:
        raise DeriveError(f"lookup_file {str(path)!r}: {dup.iloc[0]!r} is listed twice")
    return dict(zip(keys, frame["to"].str.strip()))


def check_rule(target: str, rule: Any, table: str | None = None, base: Path | None = None) -> Rule:
    """A checked ``Rule`` from a mapping; ``DeriveError`` names ``target`` and the bad key."""
    where = f"derive.{target}"
    if table is not None and target not in schemas.table(table).names:
        raise DeriveError(f"{where}: {target!r} is not a column of the {table} table "
                          f"(columns: {', '.join(schemas.table(table).names)})")
    if not isinstance(rule, Mapping):
        raise DeriveError(f"{where}: expected a mapping like {{column: 地址, pattern: '(\\S+?街道)'}}, got {rule!r}")
    unknown = sorted(set(rule) - RULE_KEYS)
    if unknown:
        raise DeriveError(f"{where}: unknown key {unknown[0]!r}; a derive rule has {', '.join(sorted(RULE_KEYS))}")
    if not isinstance(rule.get("column"), str) or not rule["column"].strip():
        raise DeriveError(f"{where}.column: expected the header of the source column (text)")
    kinds = [k for k in ("pattern", "lookup", "lookup_file") if rule.get(k) is not None]
    if len(kinds) > 1:
        raise DeriveError(f"{where}: {kinds[0]} and {kinds[1]} together; use one of pattern, lookup, lookup_file")
    pattern = lookup = lookup_name = None
    if rule.get("pattern") is not None:
        try:
            pattern = re.compile(str(rule["pattern"]))
        except re.error as exc:
            raise DeriveError(f"{where}.pattern: {rule['pattern']!r} is not a valid regular expression: {exc}") from None
    if rule.get("lookup") is not None:
        if not isinstance(rule["lookup"], Mapping) or not rule["lookup"]:
            raise DeriveError(f"{where}.lookup: expected a mapping of source value -> value")
        lookup = {str(k).strip(): str(v) for k, v in rule["lookup"].items()}
    if rule.get("lookup_file") is not None:
        path = Path(str(rule["lookup_file"]))
        path = path if path.is_absolute() or base is None else base / path
        try:
            lookup = read_lookup_file(path)
        except DeriveError as exc:
            raise DeriveError(f"{where}.lookup_file: {exc}") from None
        lookup_name = str(rule["lookup_file"])
    when_column, when_in = None, ()
    if rule.get("when") is not None:
        when = rule["when"]
        if not isinstance(when, Mapping):
            raise DeriveError(f"{where}.when: expected {{column: 状态, in: [已办结]}}")
        bad = sorted(set(when) - WHEN_KEYS)
        if bad:
            raise DeriveError(f"{where}.when: unknown key {bad[0]!r}; expected column and in")
        if not isinstance(when.get("column"), str):
            raise DeriveError(f"{where}.when.column: expected the header of the status column (text)")
        values = when.get("in")
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not values:
            raise DeriveError(f"{where}.when.in: expected a list of status values, e.g. [已办结, 已结案]")
        when_column, when_in = when["column"], tuple(str(v).strip() for v in values)
    return Rule(target, rule["column"], pattern, lookup, lookup_name, when_column, when_in)


def _position(raw: RawSheet, header: str, what: str) -> int:
    """The position of ``header`` in the sheet: exact (trimmed) first, then normalised."""
    trimmed = [str(h).strip() if h is not None else "" for h in raw.headers]
    if header.strip() in trimmed:
        return trimmed.index(header.strip())
    key = normalize_header(header)
    for pos, h in enumerate(raw.headers):
        if key and normalize_header(h) == key:
            return pos
    raise LoadError(raw.source, f"{what}: the file has no column {header!r} "
                                f"(headers found: {', '.join(h for h in trimmed if h) or 'none'})")


def _text(cells: pd.Series) -> pd.Series:
    """Cells as trimmed text, with the usual empty markers as <NA>."""
    text = cells.astype("string").str.strip()
    return text.mask(text.str.lower().isin(EMPTY_MARKERS))


def _set_column(raw: RawSheet, name: str, values: pd.Series) -> int:
    """Put ``values`` under the header ``name``: replace a column of that name, or append one."""
    key = normalize_header(name)
    for pos, h in enumerate(raw.headers):
        if normalize_header(h) == key:
            raw.cells[pos] = values.to_numpy()
            return pos
    pos = len(raw.headers)
    # Cells wider than the header (a stray separator) keep their positions: move them one on.
    if pos in raw.cells.columns:
        raw.cells = raw.cells.rename(columns=lambda c: c + 1 if isinstance(c, int) and c >= pos else c)
    raw.headers = [*raw.headers, name]
    raw.cells[pos] = values.to_numpy()
    raw.cells = raw.cells[sorted(raw.cells.columns)]
    return pos


def _filled_rows(raw: RawSheet) -> pd.Series:
    filled = pd.Series(False, index=raw.cells.index)
    for c in raw.cells.columns:
        filled |= _text(raw.cells[c]).notna().to_numpy()
    return filled


def add_columns(raw: RawSheet, table: str, constants: Mapping[str, Any] | None = None,
                derive: Mapping[str, Any] | None = None, base: Path | None = None) -> RawSheet:
    """Add the constant and derived columns to ``raw`` (in place; returned for chaining).

    Values that cannot be computed for a required column become the sheet's problems
    (rejections with the rule's reason); for an optional column they are counted in a note.
    """
    spec = schemas.table(table)
    # Blank rows stay blank (the loader reports them as such): no constant is put on them.
    filled = _filled_rows(raw) if constants else None
    for name, value in (constants or {}).items():
        if name not in spec.names:
            raise LoadError(raw.source, f"constants: {name!r} is not a column of the {table} table")
        column = pd.Series([value] * len(raw.cells), index=raw.cells.index, dtype=object)
        _set_column(raw, name, column.where(filled, None))
        raw.notes.append(f"{raw.source}: {name} is the constant {value!r} on every row")
    for target, rule in (derive or {}).items():
        if not isinstance(rule, Rule):
            try:
                rule = check_rule(target, rule, table, base)
            except DeriveError as exc:
                raise LoadError(raw.source, str(exc), column=target) from None
        _derive_one(raw, spec, rule)
    return raw


def _derive_one(raw: RawSheet, spec: schemas.Table, rule: Rule) -> None:
    what = f"derive {rule.target}"
    pos = _position(raw, rule.column, what)
    original = raw.cells[pos] if pos in raw.cells else pd.Series(None, index=raw.cells.index, dtype=object)
    source = _text(original)
    values = original.astype(object).where(source.notna(), None)  # a copy keeps typed cells (Excel dates)
    failed = pd.Series(False, index=source.index)
    reasons = pd.Series("", index=source.index, dtype=object)
    if rule.pattern is not None:
        found = source.str.extract(rule.pattern, expand=True)
        values = (found.iloc[:, 0] if rule.pattern.groups else source.str.extract(f"({rule.pattern.pattern})")[0])
        values = values.astype("string")
        failed = source.notna() & values.isna()
        reasons[failed] = [f"pattern '{rule.pattern.pattern}' found nothing in {rule.column} {v!r}"
                           for v in source[failed]]
    elif rule.lookup is not None:
        values = source.map(lambda v: rule.lookup.get(v, pd.NA) if isinstance(v, str) else pd.NA).astype("string")
        failed = source.notna() & values.isna()
        where = f" in {rule.lookup_name}" if rule.lookup_name else ""
        reasons[failed] = [f"{v!r} in {rule.column} is not in the lookup{where}" for v in source[failed]]
    if rule.when_column:
        when_pos = _position(raw, rule.when_column, f"{what} (when)")
        status = _text(raw.cells[when_pos]) if when_pos in raw.cells else pd.Series(pd.NA, index=raw.cells.index,
                                                                                     dtype="string")
        applies = status.isin(rule.when_in).fillna(False).astype(bool)
        values = values.where(applies, pd.NA)
        failed &= applies
        dropped = int((source.notna() & ~applies).sum())
        if dropped:
            raw.notes.append(f"{raw.source}: {rule.target} left empty on {dropped} row(s) whose {rule.when_column} "
                             f"is not one of {', '.join(rule.when_in)}")
    pos = _set_column(raw, rule.target, values.astype(object).where(values.notna(), None))
    raw.notes.append(f"{raw.source}: {rule.target} derived ({rule.describe()})")
    n_failed = int(failed.sum())
    if not n_failed:
        return
    if rule.target in spec.required:
        rows = raw.rows[failed.to_numpy()]
        raw.problems.extend((int(r), pos, str(v), reason)
                            for r, v, reason in zip(rows, source[failed], reasons[failed]))
    else:
        raw.notes.append(f"{raw.source}: {rule.target} could not be derived on {n_failed} row(s) and is left "
                         f"empty (e.g. {rule.target}: {reasons[failed].iloc[0]})")
