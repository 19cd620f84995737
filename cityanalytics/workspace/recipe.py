"""The recipe (``sources.yaml``): which raw exports feed which canonical table, and how.

``read_recipe(DIR)`` reads and checks the whole file before anything is loaded; a
``RecipeError`` names the file, the table and the key (``sources.yaml: tables.cases.derive.
unit_id.pattern: ...``). Each table's options become the keyword arguments of
``cityanalytics.io.load`` (``TableRecipe.load_options``). The full reference is
docs/workspace.md.
"""

from __future__ import annotations

import codecs
import datetime as dt
import glob
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cityanalytics import schemas
from cityanalytics.io.derive import DeriveError, Rule, check_rule

RECIPE_KEYS = ("name", "source", "synthetic", "as_of", "tables", "boundaries", "engine")
TABLE_KEYS = ("files", "database", "sql", "encoding", "sheet", "aliases", "constants", "derive", "date_formats",
              "decimal", "value_fixes", "time_limits")
TIME_LIMIT_KEYS = ("column", "hours_by_subcategory", "working_hours", "default")


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file, the table and the key."""


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (YAML
    itself keeps the last one silently: a second ``cases:`` block would replace the first)."""


def _strict_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping (first on line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


@dataclass(frozen=True)
class TimeLimits:
    """The deadline rule: the export's own column, or hours per subcategory."""

    column: str | None = None  # a header of the export (or due_at) holding each case's deadline
    hours: dict[str, float] | None = None  # subcategory -> hours
    default: float | None = None  # hours for a subcategory not listed (None: the shipped default)
    working_hours: bool = True  # count working hours on the official calendar, else clock hours


@dataclass
class TableRecipe:
    name: str
    files: list[str]
    database: str | None = None  # a SQLAlchemy URL instead of files (sqlite paths resolved against the workspace)
    sql: str | None = None  # with database: a query instead of reading the table of the same name
    encoding: str | None = None
    sheet: str | int | None = None
    aliases: dict[str, list[str]] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    derive: dict[str, Rule] = field(default_factory=dict)
    date_formats: dict[str, str] = field(default_factory=dict)
    decimal: str | None = None
    value_fixes: dict[str, str] = field(default_factory=dict)
    time_limits: TimeLimits | None = None
    block: dict = field(default_factory=dict)  # as written, for the build's fingerprint
    lookup_files: list[Path] = field(default_factory=list)

    def database_file(self) -> Path | None:
        """The file of a SQLite database (hashed like an export); None for a server."""
        if self.database and self.database.startswith("sqlite:///"):
            return Path(self.database[len("sqlite:///"):])
        return None

    def paths(self, root: Path) -> list[Path]:
        """The files the globs match (relative to ``root``), each once, in natural name order
        across all globs (案件_2025-03.csv, 案件_2025-04.xlsx, 案件_2025-05.csv)."""
        found: set[Path] = set()
        for pattern in self.files:
            full = pattern if Path(pattern).is_absolute() else str(Path(root) / pattern)
            for hit in glob.glob(full, recursive=True):
                path = Path(hit)
                if path.is_file() and not path.name.startswith(("~$", ".")):  # Excel lock files, hidden files
                    found.add(path.resolve())
        return sorted(found, key=lambda p: (_natural(p.stem), _natural(str(p))))

    def load_options(self) -> dict[str, Any]:
        """Keyword arguments for ``cityanalytics.io.load`` (only the options the recipe sets)."""
        aliases = dict(self.aliases)
        if self.time_limits and self.time_limits.column and self.time_limits.column != "due_at":
            aliases["due_at"] = [self.time_limits.column, *aliases.get("due_at", [])]
        options: dict[str, Any] = {}
        if aliases:
            options["aliases"] = {self.name: aliases}
        for key in ("sql", "encoding", "sheet", "decimal"):
            if getattr(self, key) is not None:
                options[key] = getattr(self, key)
        for key in ("constants", "derive", "date_formats", "value_fixes"):
            if getattr(self, key):
                options[key] = dict(getattr(self, key))
        return options


@dataclass
class Recipe:
    path: Path
    root: Path
    name: str | None
    source: str | None
    synthetic: bool
    as_of: str | None
    tables: dict[str, TableRecipe]
    boundaries: str | None = None  # GeoJSON of the units for maps, relative to the workspace
    engine: Any = None  # where indicator queries run (cityanalytics.engines.Engine); None: DuckDB


def _natural(text: str) -> list:
    """Sort key: 案件_2025-2 before 案件_2025-10."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def read_recipe(path: str | Path) -> Recipe:
    """Read and check ``sources.yaml`` (or the workspace folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "sources.yaml"
    if not path.is_file():
        raise RecipeError(f"{path}: no recipe (make a workspace with `cityanalytics init DIR`)")
    root = path.parent
    shown = str(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except UnicodeDecodeError:
        raise RecipeError(f"{shown}: not UTF-8 text; save the recipe as UTF-8") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{shown}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{shown}: expected a mapping with {', '.join(RECIPE_KEYS)}")

    def fail(key: str, problem: str) -> RecipeError:
        return RecipeError(f"{shown}: {key}: {problem}")

    unknown = [k for k in raw if k not in RECIPE_KEYS]
    if unknown:
        raise fail(str(unknown[0]), f"unknown key; a recipe has {', '.join(RECIPE_KEYS)}")
    for key in ("name", "source", "boundaries"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise fail(key, f"expected text, got {raw[key]!r}")
    if not isinstance(raw.get("synthetic", False), bool):
        raise fail("synthetic", f"expected true or false, got {raw['synthetic']!r}")
    as_of = raw.get("as_of")
    if as_of is not None:
        as_of = _check_moment(as_of, lambda p: fail("as_of", p))
    engine = None
    if raw.get("engine") is not None:
        from cityanalytics.engines import engine_of

        try:
            engine = engine_of(raw["engine"], where="engine")
        except ValueError as exc:
            raise RecipeError(f"{shown}: {exc}") from None
    tables_raw = raw.get("tables")
    if not isinstance(tables_raw, dict) or not tables_raw:
        raise fail("tables", "expected a mapping of canonical table -> {files: [...], ...}")
    tables = {}
    for name, block in tables_raw.items():
        if name not in schemas.TABLES:
            raise fail(f"tables.{name}", f"not a canonical table; the tables are {', '.join(schemas.TABLES)}")
        tables[name] = _check_table(name, block, root, lambda key, problem, n=name: fail(f"tables.{n}{key}", problem))
    return Recipe(path=path, root=root, name=raw.get("name"), source=raw.get("source"),
                  synthetic=bool(raw.get("synthetic", False)), as_of=as_of, tables=tables,
                  boundaries=raw.get("boundaries"), engine=engine)


def _check_moment(value: Any, fail) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    try:
        return dt.datetime.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise fail(f"expected a date or time like 2025-06-30 or 2025-06-30 18:00, got {value!r}") from None


def _text_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, (str, int)) for v in value):
        return [str(v) for v in value]
    return None


def _check_table(name: str, block: Any, root: Path, fail) -> TableRecipe:
    spec = schemas.table(name)
    if not isinstance(block, dict):
        raise fail("", "expected a mapping with files: [...] and options")
    unknown = [k for k in block if k not in TABLE_KEYS]
    if unknown:
        raise fail(f".{unknown[0]}", f"unknown key; a table has {', '.join(TABLE_KEYS)}")
    database = block.get("database")
    if database is not None:
        if "files" in block:
            raise fail(".database", "give files or database, not both")
        if not isinstance(database, str) or "://" not in database:
            raise fail(".database", "expected a SQLAlchemy URL such as sqlite:///exports/平台.db or "
                                    "postgresql://user@host/db")
        if database.startswith("sqlite:///") and not database.startswith("sqlite:////"):
            database = f"sqlite:///{(root / database[len('sqlite:///'):]).resolve()}"  # relative to the workspace
        files = []
    else:
        files = _text_list(block.get("files"))
        if files is None:
            raise fail(".files", "expected a list of file names or globs relative to the workspace "
                                 "(e.g. [exports/案件*.csv]), or database: a SQLAlchemy URL")
    if block.get("sql") is not None and (database is None or not isinstance(block["sql"], str)):
        raise fail(".sql", "a query (text), only with database:")
    t = TableRecipe(name=name, files=files, database=database, sql=block.get("sql"), block=block)

    def columns_of(key: str, mapping: Any, kinds: tuple[str, ...] | None = None) -> dict:
        if not isinstance(mapping, dict):
            raise fail(f".{key}", "expected a mapping of canonical column -> value")
        for column in mapping:
            if column not in spec.names:
                raise fail(f".{key}.{column}", f"not a column of the {name} table ({', '.join(spec.names)})")
            if kinds and spec.col(column).kind not in kinds:
                raise fail(f".{key}.{column}", f"{column} is a {spec.col(column).kind} column, not a date or time")
        return mapping

    if block.get("encoding") is not None:
        try:
            codecs.lookup(str(block["encoding"]))
        except LookupError:
            raise fail(".encoding", f"{block['encoding']!r} is not a known text encoding (e.g. gbk, utf-8)") from None
        t.encoding = str(block["encoding"])
    if block.get("sheet") is not None:
        if not isinstance(block["sheet"], (str, int)) or isinstance(block["sheet"], bool):
            raise fail(".sheet", f"expected a sheet name or a 0-based index, got {block['sheet']!r}")
        t.sheet = block["sheet"]
    if block.get("aliases") is not None:
        for column, names in columns_of("aliases", block["aliases"]).items():
            listed = _text_list(names)
            if listed is None:
                raise fail(f".aliases.{column}", f"expected a header or a list of headers, got {names!r}")
            t.aliases[column] = listed
    if block.get("constants") is not None:
        for column, value in columns_of("constants", block["constants"]).items():
            if isinstance(value, (dict, list)) or value is None:
                raise fail(f".constants.{column}", f"expected one value, got {value!r}")
            t.constants[column] = value
    if block.get("derive") is not None:
        for column, rule in columns_of("derive", block["derive"]).items():
            try:
                t.derive[column] = check_rule(column, rule, name, root)
            except DeriveError as exc:
                raise fail("." + str(exc).split(": ", 1)[0], str(exc).split(": ", 1)[1]) from None
            if isinstance(rule, dict) and rule.get("lookup_file"):
                t.lookup_files.append(root / str(rule["lookup_file"]))
        both = sorted(set(t.derive) & set(t.constants))
        if both:
            raise fail(f".derive.{both[0]}", "is also a constant; give a column one rule")
    if block.get("date_formats") is not None:
        for column, fmt in columns_of("date_formats", block["date_formats"], ("datetime", "date")).items():
            if not isinstance(fmt, str) or "%" not in fmt:
                raise fail(f".date_formats.{column}", f"expected a strptime format like '%m/%d/%Y %I:%M:%S %p', got {fmt!r}")
            try:
                dt.datetime.now().strftime(fmt)
            except ValueError as exc:
                raise fail(f".date_formats.{column}", f"{fmt!r} is not a valid format: {exc}") from None
            t.date_formats[column] = fmt
    if block.get("decimal") is not None:
        if block["decimal"] not in (".", ","):
            raise fail(".decimal", f"expected '.' or ',', got {block['decimal']!r}")
        t.decimal = block["decimal"]
    if block.get("value_fixes") is not None:
        fixes = block["value_fixes"]
        if not isinstance(fixes, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in fixes.items()):
            raise fail(".value_fixes", "expected a mapping of wrong text -> right text")
        t.value_fixes = dict(fixes)
    if block.get("time_limits") is not None:
        t.time_limits = _check_time_limits(name, block["time_limits"], fail)
    return t


def _check_time_limits(name: str, value: Any, fail) -> TimeLimits:
    if "due_at" not in schemas.table(name).names:
        raise fail(".time_limits", f"the {name} table has no deadlines (due_at); time_limits is for cases")
    if not isinstance(value, dict):
        raise fail(".time_limits", "expected {column: due_at} or {hours_by_subcategory: {暴露垃圾: 2}, working_hours: true}")
    unknown = [k for k in value if k not in TIME_LIMIT_KEYS]
    if unknown:
        raise fail(f".time_limits.{unknown[0]}", f"unknown key; time_limits has {', '.join(TIME_LIMIT_KEYS)}")
    column, hours = value.get("column"), value.get("hours_by_subcategory")
    if (column is None) == (hours is None):
        raise fail(".time_limits", "give either column (the export's deadline column) or hours_by_subcategory")
    if column is not None:
        if not isinstance(column, str) or not column.strip():
            raise fail(".time_limits.column", "expected the header of the export's deadline column")
        extra = [k for k in ("working_hours", "default") if k in value]
        if extra:
            raise fail(f".time_limits.{extra[0]}", "only with hours_by_subcategory")
        return TimeLimits(column=column.strip())
    if not isinstance(hours, dict) or not hours:
        raise fail(".time_limits.hours_by_subcategory", "expected a mapping of subcategory -> hours")
    checked = {}
    for sub, h in hours.items():
        if isinstance(h, bool) or not isinstance(h, (int, float)) or not h > 0:
            raise fail(f".time_limits.hours_by_subcategory.{sub}", f"expected a number of hours > 0, got {h!r}")
        checked[str(sub)] = float(h)
    default = value.get("default")
    if default is not None and (isinstance(default, bool) or not isinstance(default, (int, float)) or not default > 0):
        raise fail(".time_limits.default", f"expected a number of hours > 0, got {default!r}")
    working = value.get("working_hours", True)
    if not isinstance(working, bool):
        raise fail(".time_limits.working_hours", f"expected true or false, got {working!r}")
    return TimeLimits(hours=checked, default=None if default is None else float(default), working_hours=working)
