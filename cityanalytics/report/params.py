"""Run files: load ``params/NAME.yaml``, check it against the notebook, inject the values.

A run file names a notebook and the values of its parameters::

    notebook: notebooks/data_quality.ipynb
    title: 数据质量报告            # optional; default: the notebook's first "# " heading
    source: 示范市数字城管平台导出    # optional; the data source named on the title page
    timeout: 600                   # optional; seconds any one cell may run
    for_each: unit_id              # optional; one report per unit ...
    units: {level: 区}             # ... units from the districts table in data_dir, or a list
    workspace: ../my_city          # optional; the data workspace the notebook reads
    parameters:
      data_dir: data/demo
      tables: [cases, districts]

Everything is checked before a kernel starts, against the notebook's cell tagged
``parameters`` (read with ``ast``, so multi-line lists and annotations work):

- every key must be a parameter of the notebook;
- a value must have the type of the parameter's annotation or, without one, of its default
  (an int is accepted where a float is expected; a ``None`` default accepts anything);
- values are literals only: scalars, lists of scalars, mappings of scalars (dates written
  unquoted in YAML become ISO strings);
- data files: a parameter whose name ends in ``_path`` names a file (or a list of files),
  one ending in ``_dir`` a directory, relative to the project root; it must exist. This
  holds for the notebook's defaults too, since those are what run when a key is left out.

Workspaces. ``workspace: DIR`` sets the notebook parameter ``workspace`` (a workspace made
by ``cityanalytics init``, or a folder of canonical tables). While notebooks move from
``data_dir`` to ``workspace``, either name is accepted for the other: a notebook that still
declares ``data_dir`` gets the workspace's built tables (``DIR/tables``). A run file kept in a
workspace's ``params/`` folder reads its relative data paths (``workspace: .``, ``*_path``,
``*_dir``) against the workspace folder, not the project; its notebook still comes from the
project. The manifest's inputs are the workspace's built tables. The recipe's ``source`` and
``as_of`` apply unless the run file sets them.

Errors name the run file and the key (``ParamError``).
"""

from __future__ import annotations

import ast
import copy
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

from cityanalytics.report import layout

RUN_KEYS = {"notebook", "title", "source", "description", "timeout", "for_each", "units", "parameters", "workspace",
            "memory", "time_limit"}
WORKSPACE_PARAMETER = "workspace"
LEGACY_WORKSPACE_PARAMETER = "data_dir"  # the notebooks' former name; accepted as a synonym
DEFAULT_TIMEOUT = 600
RUNNER_PARAMETERS = ("period",)  # set by the runner from --period, not by run files
NO_DEFAULT = object()  # the parameter's default is an expression, not a literal

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "tuple": (list,),
    "dict": (dict,),
    "None": (type(None),),
}


class ParamError(ValueError):
    """A run file that cannot run: the message names the file and the key."""


@dataclass(frozen=True)
class Param:
    """One parameter declared in a notebook's ``parameters`` cell."""

    name: str
    types: tuple[str, ...] | None  # accepted type names; None accepts anything
    default: Any  # the literal default, or NO_DEFAULT
    source: str  # the assignment as written


@dataclass(frozen=True)
class RunSpec:
    """A run file, loaded and checked."""

    name: str
    path: Path
    root: Path
    notebook: Path
    declared: dict[str, Param]
    parameters: dict[str, Any]  # values set by the run file
    title: str
    source: str | None = None
    description: str | None = None
    timeout: int | None = None  # None: the schedule's default, else DEFAULT_TIMEOUT
    for_each: str | None = None
    units: list[str] | dict[str, Any] | None = None
    data_root: Path | None = None  # where the run file's relative data paths were read (default: root)
    memory: int | None = None  # bytes for the kernel (report.execute.parse_memory); None: the default
    time_limit: int | None = None  # seconds for the whole report; None: the default

    def values(self, **runner_values: Any) -> dict[str, Any]:
        """Every parameter the notebook will run with: its literal defaults, then the run
        file's values, then the runner's (period, unit) where the notebook declares them."""
        out = {p.name: p.default for p in self.declared.values() if p.default is not NO_DEFAULT}
        out.update(self.parameters)
        out.update({k: v for k, v in runner_values.items() if k in self.declared})
        return out


# --- reading the notebook ------------------------------------------------------------------


def parameters_cell(nb: nbformat.NotebookNode) -> int:
    """Index of the first cell tagged ``parameters`` (-1 if there is none)."""
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    return -1


def notebook_parameters(notebook: Path, nb: nbformat.NotebookNode | None = None) -> dict[str, Param]:
    """The parameters declared in the notebook's cell tagged ``parameters``."""
    nb = nbformat.read(notebook, as_version=4) if nb is None else nb
    index = parameters_cell(nb)
    if index < 0:
        raise ParamError(f"{notebook}: no cell is tagged 'parameters'")
    source = nb.cells[index].source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParamError(f"{notebook}: the parameters cell is not valid Python: {exc}") from None
    declared = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, annotation, value = node.targets[0].id, None, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, annotation, value = node.target.id, node.annotation, node.value
        else:
            continue
        try:
            default = ast.literal_eval(value) if value is not None else NO_DEFAULT
        except ValueError:
            default = NO_DEFAULT
        types = _annotation_types(annotation) if annotation is not None else _default_types(default)
        declared[name] = Param(name, types, default, ast.get_source_segment(source, node) or name)
    return declared


def _annotation_types(node: ast.expr) -> tuple[str, ...] | None:
    if isinstance(node, ast.Constant) and node.value is None:
        return ("None",)
    if isinstance(node, ast.Name):
        return (node.id,) if node.id in _TYPES else None
    if isinstance(node, ast.Attribute):  # typing.List
        return _annotation_types(ast.Name(node.attr.lower()))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # str | None
        left, right = _annotation_types(node.left), _annotation_types(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.Subscript):
        outer = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
        if outer == "Optional":
            inner = _annotation_types(node.slice)
            return None if inner is None else inner + ("None",)
        return _annotation_types(ast.Name(outer.lower()))  # list[str], Dict[str, int]
    return None


def _default_types(default: Any) -> tuple[str, ...] | None:
    if default is NO_DEFAULT or default is None:
        return None
    name = type(default).__name__
    return (name,) if name in _TYPES else None


def notebook_title(nb: nbformat.NotebookNode) -> str | None:
    """The first ``# `` heading of the notebook's first markdown cell."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
            return None
    return None


# --- reading and checking the run file -----------------------------------------------------


def load_run(path: str | Path, root: Path | None = None) -> RunSpec:
    """Read a run file and check its structure, names and values against the notebook.

    Data files are checked separately (``check_files``), after missing demo data is built.
    """
    path = Path(path)
    if not path.is_file():
        raise ParamError(f"{path}: no such run file")
    root = Path(root).resolve() if root else layout.project_root(path)
    data_root = workspace_of(path)
    if data_root is not None and not (root / "notebooks").is_dir() and (PROJECT / "notebooks").is_dir():
        root = PROJECT  # a workspace outside the project: the notebooks are the project's
    data_root = data_root or root
    try:
        name = layout.check_name(path.stem, "run name", path)
    except layout.UnsafeName as exc:
        raise ParamError(str(exc)) from None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParamError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ParamError(f"{path}: expected a mapping with 'notebook' and 'parameters'")
    unknown = sorted(set(raw) - RUN_KEYS)
    if unknown:
        raise ParamError(f"{path}: unknown key {unknown[0]!r}; a run file has {', '.join(sorted(RUN_KEYS))}")
    if "notebook" not in raw:
        raise ParamError(f"{path}: key 'notebook' is missing (e.g. notebook: notebooks/data_quality.ipynb)")
    notebook = (root / str(raw["notebook"])).resolve()
    if notebook.suffix != ".ipynb" or not notebook.is_file() or root not in notebook.parents:
        raise ParamError(f"{path}: notebook: {raw['notebook']!r} is not a notebook under {root}")
    nb = nbformat.read(notebook, as_version=4)
    declared = notebook_parameters(notebook, nb)

    values = raw.get("parameters") or {}
    if not isinstance(values, dict):
        raise ParamError(f"{path}: parameters: expected a mapping of name: value")
    checked = {}
    for key, value in values.items():
        where = f"{path}: parameters.{key}"
        key = _synonym(key, declared)
        if key not in declared:
            raise ParamError(
                f"{where}: unknown parameter; {notebook.name} declares {', '.join(declared) or 'none'}"
            )
        if key in RUNNER_PARAMETERS or key == raw.get("for_each"):
            raise ParamError(f"{where}: set by the runner (--period, for_each), not by the run file")
        checked[key] = _check_value(literal(value, where), declared[key], where)
    checked = _workspace_parameters(path, raw, checked, declared, notebook, root, data_root)
    recipe = _recipe_defaults(path, checked, declared, root)

    timeout = check_timeout(raw.get("timeout"), f"{path}: timeout")
    time_limit = check_timeout(raw.get("time_limit"), f"{path}: time_limit")
    try:
        from cityanalytics.report.execute import parse_memory

        memory = parse_memory(raw.get("memory"), f"{path}: memory")
    except ValueError as exc:
        raise ParamError(str(exc)) from None
    for_each = raw.get("for_each")
    if for_each is not None and for_each not in declared:
        raise ParamError(f"{path}: for_each: {for_each!r} is not a parameter of {notebook.name}")
    units = raw.get("units")
    if units is not None and for_each is None:
        raise ParamError(f"{path}: units: only meaningful with for_each")
    if units is not None and not isinstance(units, (list, dict)):
        raise ParamError(f"{path}: units: expected a list of unit ids or a mapping like {{level: 区}}")
    for key in ("title", "source", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise ParamError(f"{path}: {key}: expected text")
    title = raw.get("title") or notebook_title(nb) or name
    return RunSpec(
        name=name, path=path, root=root, notebook=notebook, declared=declared,
        parameters=checked, title=title, source=raw.get("source") or (recipe.source if recipe else None),
        description=raw.get("description"),
        timeout=timeout, for_each=for_each, units=units, data_root=data_root, memory=memory, time_limit=time_limit,
    )


PROJECT = Path(__file__).resolve().parents[2]  # the source checkout (holds notebooks/)


def workspace_of(run_file: Path) -> Path | None:
    """The workspace a run file belongs to (``DIR/params/NAME.yaml`` beside ``DIR/sources.yaml``)."""
    folder = Path(run_file).resolve().parent
    if folder.name == "params" and (folder.parent / "sources.yaml").is_file():
        return folder.parent
    return None


def _synonym(key: str, declared: dict) -> str:
    """``data_dir`` and ``workspace`` stand for each other while the notebooks are renamed."""
    pair = {WORKSPACE_PARAMETER: LEGACY_WORKSPACE_PARAMETER, LEGACY_WORKSPACE_PARAMETER: WORKSPACE_PARAMETER}
    if key in pair and key not in declared and pair[key] in declared:
        return pair[key]
    return key


def _is_path_key(key: str) -> bool:
    return key.endswith(("_path", "_dir")) or key == WORKSPACE_PARAMETER


def _tables_of(folder: Path) -> Path:
    """A workspace's built tables (``DIR/tables``); a plain folder of tables is its own."""
    return folder / "tables" if (folder / "sources.yaml").is_file() else folder


def _recipe_defaults(path: Path, checked: dict, declared: dict, root: Path):
    """The run's workspace recipe (None for a plain folder of tables); its ``as_of`` becomes the
    notebook's ``as_of`` when the run file leaves it out. The recipe's ``source`` is the
    title page's data source line unless the run file has one (see ``load_run``)."""
    param = declared.get(WORKSPACE_PARAMETER)
    value = checked.get(WORKSPACE_PARAMETER, param.default if param is not None else None)
    if not isinstance(value, str) or not value or not ((root / value) / "sources.yaml").is_file():
        return None
    from cityanalytics.workspace.recipe import RecipeError, read_recipe

    try:
        recipe = read_recipe(root / value)
    except RecipeError as exc:
        raise ParamError(f"{path}: workspace: {exc}") from None
    if recipe.as_of and "as_of" in declared and "as_of" not in checked:
        checked["as_of"] = recipe.as_of
    return recipe


def _workspace_parameters(path: Path, raw: dict, checked: dict, declared: dict, notebook: Path,
                          root: Path, data_root: Path) -> dict:
    """Apply ``workspace:`` and the workspace/data_dir synonyms; make workspace-relative paths absolute."""
    out = dict(checked)
    if data_root != root:  # read against the workspace folder, run from the project
        for key, value in out.items():
            if _is_path_key(key) and isinstance(value, str) and value:
                out[key] = str((data_root / value).resolve())
            elif _is_path_key(key) and isinstance(value, list):
                out[key] = [str((data_root / str(v)).resolve()) for v in value]
    if LEGACY_WORKSPACE_PARAMETER in out and LEGACY_WORKSPACE_PARAMETER in declared and out[LEGACY_WORKSPACE_PARAMETER]:
        folder = (root / str(out[LEGACY_WORKSPACE_PARAMETER])).resolve()
        if (folder / "sources.yaml").is_file():  # a notebook reading tables, given a workspace
            out[LEGACY_WORKSPACE_PARAMETER] = str(_tables_of(folder))
    if "workspace" not in raw:
        return out
    value = raw["workspace"]
    if not isinstance(value, str) or not value.strip():
        raise ParamError(f"{path}: workspace: expected a folder (a workspace or a folder of canonical tables)")
    for key in (WORKSPACE_PARAMETER, LEGACY_WORKSPACE_PARAMETER):
        if key in (raw.get("parameters") or {}):
            raise ParamError(f"{path}: workspace: also set as parameters.{key}; name the workspace once")
    folder = (data_root / value).resolve()
    if WORKSPACE_PARAMETER in declared:
        out[WORKSPACE_PARAMETER] = str(folder)
    elif LEGACY_WORKSPACE_PARAMETER in declared:
        out[LEGACY_WORKSPACE_PARAMETER] = str(_tables_of(folder))
    else:
        raise ParamError(f"{path}: workspace: {notebook.name} has no workspace (or data_dir) parameter")
    return out


def check_timeout(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ParamError(f"{where}: expected a number of seconds > 0, got {value!r}")
    return math.ceil(value)


def literal(value: Any, where: str) -> Any:
    """``value`` if it is a literal papermill can inject: a scalar, or a list or mapping of scalars."""
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ParamError(f"{where}: mapping keys must be text, got {bad[0]!r}")
        return {k: _scalar(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scalar(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return _scalar(value, where)


def _scalar(value: Any, where: str) -> Any:
    if isinstance(value, dt.datetime):  # YAML reads 2025-06-01 12:00 as a datetime
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(f"{where}: {value!r} is not a finite number")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ParamError(
        f"{where}: {type(value).__name__} values are not allowed; parameters are text, numbers, "
        "true/false, null, or one level of list or mapping of those"
    )


def _check_value(value: Any, param: Param, where: str) -> Any:
    if param.types is None:
        return value
    if value is None and "None" in param.types:
        return value
    accepted = tuple(t for name in param.types for t in _TYPES[name])
    if isinstance(value, bool) and bool not in accepted:
        ok = False  # True is an int in Python, but not an int here
    else:
        ok = isinstance(value, accepted)
    if not ok:
        raise ParamError(
            f"{where}: expected {' or '.join(param.types)} (the notebook has `{param.source}`), "
            f"got {type(value).__name__} {value!r}"
        )
    return float(value) if "float" in param.types and isinstance(value, int) and "int" not in param.types else value


# --- data files ----------------------------------------------------------------------------


def data_paths(spec: RunSpec, values: dict[str, Any] | None = None) -> list[tuple[str, Path, str]]:
    """``(key, absolute path, "file" | "dir")`` for every ``*_path``, ``*_dir`` and ``workspace``
    parameter. A workspace with a recipe stands for its built tables (``DIR/tables``): they are
    the run's inputs, not the raw exports or the outputs beside them."""
    values = spec.values() if values is None else values
    out = []
    for key, value in values.items():
        kind = "file" if key.endswith("_path") else "dir" if key.endswith("_dir") or key == WORKSPACE_PARAMETER else None
        if kind is None or value in (None, ""):
            continue
        for item in value if isinstance(value, list) else [value]:
            path = (spec.root / str(item)).resolve()
            if key == WORKSPACE_PARAMETER:
                path = _tables_of(path)
            out.append((key, path, kind))
    return out


def check_files(spec: RunSpec, values: dict[str, Any] | None = None) -> None:
    """Raise ParamError for the first ``*_path`` / ``*_dir`` parameter that does not exist."""
    for key, path, kind in data_paths(spec, values):
        origin = f"parameters.{key}" if key in spec.parameters else f"{key} (the notebook's default)"
        if key in (WORKSPACE_PARAMETER, LEGACY_WORKSPACE_PARAMETER) and path.name == "tables" \
                and (path.parent / "sources.yaml").is_file() and not (path / "build.json").is_file():
            raise ParamError(f"{spec.path}: {origin}: the workspace {path.parent} has no built tables yet; "
                             f"run `cityanalytics build {path.parent}` first")
        exists = path.is_file() if kind == "file" else path.is_dir()
        if not exists:
            raise ParamError(f"{spec.path}: {origin}: {kind} {path} does not exist")


# --- fan-out units ----------------------------------------------------------------------------

UNIT_KEYS = {"path", "level", "parent"}


def unit_list(spec: RunSpec, values: dict[str, Any] | None = None) -> list[tuple[str, str | None]]:
    """``(unit_id, name)`` for each report of a fan-out run (``for_each``).

    ``units`` is a list of unit ids, or a mapping read against the districts table:
    ``path`` (default: the districts file in the run's ``data_dir``), ``level`` (one level
    or a list, e.g. ``[区, 功能区]``) and ``parent`` (only units directly under it). Without
    ``units`` every unit in the districts table except the city itself is used.
    """
    from cityanalytics.workspace import open_workspace

    values = spec.values() if values is None else values
    where = f"{spec.path}: units"
    cfg = spec.units if isinstance(spec.units, dict) else {}
    unknown = sorted(set(cfg) - UNIT_KEYS)
    if unknown:
        raise ParamError(f"{where}: unknown key {unknown[0]!r}; expected {', '.join(sorted(UNIT_KEYS))}")
    if cfg.get("path"):
        path = (spec.root / str(cfg["path"])).resolve()
    elif values.get("workspace") or values.get("data_dir"):
        folder = spec.root / str(values.get("workspace") or values["data_dir"])
        path = open_workspace(folder).path("districts") if folder.is_dir() else None
    else:
        path = None
    districts = _districts(path, where) if path is not None and path.is_file() else None
    names = {} if districts is None else dict(zip(districts["unit_id"].astype(str), districts["name_zh"].astype(str)))

    if isinstance(spec.units, list):
        ids = [str(u) for u in spec.units]
    else:
        if districts is None:
            raise ParamError(f"{where}: no districts table to take units from (set units.path, or a data_dir "
                             "holding districts.parquet/.csv/.xlsx, or list the unit ids)")
        rows = _current(districts, path.parent, where)
        if cfg.get("level"):
            levels = cfg["level"] if isinstance(cfg["level"], list) else [cfg["level"]]
            rows = rows[rows["level"].isin(levels)]
        elif not cfg.get("parent"):
            rows = rows[rows["level"] != "市"]
        if cfg.get("parent"):
            rows = rows[rows["parent_id"].astype("string") == str(cfg["parent"])]
        ids = sorted(rows["unit_id"].astype(str))
        if not ids:
            raise ParamError(f"{where}: no unit in {path} matches {cfg}")
    out = []
    for unit in ids:
        try:
            layout.check_name(unit, "unit id", spec.path)
        except layout.UnsafeName as exc:
            raise ParamError(str(exc)) from None
        out.append((unit, names.get(unit)))
    if len(set(ids)) != len(ids):
        raise ParamError(f"{where}: a unit is listed twice")
    return out


def _current(districts, folder: Path, where: str):
    from cityanalytics.io import LoadError, load
    from cityanalytics.units import current_units
    from cityanalytics.workspace import open_workspace

    changes = open_workspace(folder).path("unit_changes")
    if changes is None:
        return districts
    try:
        return current_units(districts, load(changes, "unit_changes").frame)
    except LoadError as exc:
        raise ParamError(f"{where}: cannot read the unit_changes table: {exc}") from None


def _districts(path: Path, where: str):
    from cityanalytics.io import LoadError, load

    try:
        return load(path, "districts").frame
    except LoadError as exc:
        raise ParamError(f"{where}: cannot read the districts table: {exc}") from None


# --- injecting ------------------------------------------------------------------------------


def inject(nb: nbformat.NotebookNode, values: dict[str, Any], setup: str | None = None) -> nbformat.NotebookNode:
    """A copy of ``nb`` with a cell tagged ``injected-parameters`` after the parameters cell
    (as papermill makes it) and, if given, a hidden ``setup`` cell after that.

    The values are written with ``repr`` and read back with ``ast.literal_eval``: the
    injected cell holds literal assignments and nothing else.
    """
    lines = ["# Parameters"]
    for key, value in values.items():
        if not key.isidentifier():
            raise ParamError(f"parameter name {key!r} is not a Python identifier")
        text = repr(value)
        if ast.literal_eval(text) != value:
            raise ParamError(f"parameter {key}: {value!r} does not survive as a literal")
        lines.append(f"{key} = {text}")
    nb = copy.deepcopy(nb)
    index = parameters_cell(nb)
    cells = [nbformat.v4.new_code_cell("\n".join(lines) + "\n", metadata={"tags": ["injected-parameters"]})]
    if setup:
        cells.append(nbformat.v4.new_code_cell(setup, metadata={"tags": ["report-setup"]}))
    nb.cells[index + 1:index + 1] = cells
    return nb
