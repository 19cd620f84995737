"""Results stored beside each report, so later runs and other tools can read them.

A report run keeps its machine-readable results in ``<report_dir>/results/``:
``results.json`` (schema version, run, unit, period, when it was made and, per table, its file,
row count and columns with their dtypes) and one Parquet file per table (or a JSON file for a
small dict of values). The runner writes them into the report's staging folder, so they are
published together with the report, atomically, and only for a report that succeeded (a failed
attempt lands in ``<report_dir>/failed/``, which ``earlier`` never reads).

Inside a notebook::

    from cityanalytics.report import history
    history.save("league", table)            # this run's results folder
    history.earlier("league")                # [(Period('2025-04'), frame), (Period('2025-05'), frame)]

The runner tells the kernel where it runs with environment variables: ``RESULTS_DIR`` (the
staging folder's ``results/``), ``OUTPUTS``, ``RUN``, ``UNIT`` and ``PERIOD``. Without them
(JupyterLab, a plain papermill call) ``save`` does nothing and returns None, so exploring never
writes into ``outputs/``; ``earlier`` then returns [] unless given ``outputs``, ``run``,
``unit`` and ``period`` explicitly. Tools read a report folder with ``load`` / ``load_all``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cityanalytics.text import missing

SCHEMA_VERSION = 1
RESULTS = "results"
INDEX = "results.json"

ENV_RESULTS_DIR = "CITYANALYTICS_RESULTS_DIR"
ENV_OUTPUTS = "CITYANALYTICS_OUTPUTS"
ENV_RUN = "CITYANALYTICS_RUN"
ENV_UNIT = "CITYANALYTICS_UNIT"
ENV_PERIOD = "CITYANALYTICS_PERIOD"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PERIOD_KIND = {"M": re.compile(r"^\d{4}-\d{2}$"), "Q": re.compile(r"^\d{4}Q[1-4]$"), "Y": re.compile(r"^\d{4}$")}


class NoResults(FileNotFoundError):
    """A report folder without stored results (made before they were kept, or a failed run)."""


@dataclass(frozen=True)
class Context:
    """Where the running report keeps its results and which earlier reports are its own."""

    results_dir: Path | None
    outputs: Path | None
    run: str | None
    unit: str | None
    period: str | None


def runner_env(results_dir: Path, outputs: Path, run: str, unit: str | None, period: str) -> dict[str, str]:
    """The environment variables the runner gives a report's kernel."""
    return {ENV_RESULTS_DIR: str(results_dir), ENV_OUTPUTS: str(outputs), ENV_RUN: run, ENV_UNIT: unit or "",
            ENV_PERIOD: str(period)}


def context() -> Context:
    env = os.environ
    path = lambda key: Path(env[key]) if env.get(key) else None  # noqa: E731
    return Context(path(ENV_RESULTS_DIR), path(ENV_OUTPUTS), env.get(ENV_RUN) or None, env.get(ENV_UNIT) or None,
                   env.get(ENV_PERIOD) or None)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"result name {name!r}: use lower-case letters, digits and '_', starting with a letter "
                         "(it becomes a file name)")
    return name


def _period_kind(period: str) -> str | None:
    return next((k for k, rx in _PERIOD_KIND.items() if rx.match(str(period))), None)


def as_period(text: str) -> pd.Period:
    kind = _period_kind(text)
    if kind is None:
        raise ValueError(f"period {text!r} is not a month YYYY-MM, a quarter YYYYQn or a year YYYY")
    return pd.Period(text, freq={"M": "M", "Q": "Q", "Y": "Y"}[kind])


# --- writing ---------------------------------------------------------------------------------


def save(name: str, value, *, results_dir: Path | str | None = None) -> Path | None:
    """Store one result of this run: a DataFrame as ``<name>.parquet``, a dict of JSON values as
    ``<name>.json``; ``results.json`` is rewritten to list it. Returns the file written, or None
    outside a report run (no ``results_dir`` and no runner environment): nothing is written."""
    _check_name(name)
    ctx = context()
    folder = Path(results_dir) if results_dir is not None else ctx.results_dir
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(value, pd.DataFrame):
        frame = _storable(value)
        path = folder / f"{name}.parquet"
        tmp = folder / f".{name}.{uuid.uuid4().hex[:8]}.parquet"
        frame.to_parquet(tmp, index=False)
        entry = {"name": name, "kind": "table", "file": path.name, "rows": int(len(frame)),
                 "columns": [{"name": str(c), "dtype": str(t)} for c, t in frame.dtypes.items()]}
    elif isinstance(value, dict):
        path = folder / f"{name}.json"
        tmp = folder / f".{name}.{uuid.uuid4().hex[:8]}.json"
        tmp.write_text(json.dumps(value, ensure_ascii=False, indent=1, default=_json_default), encoding="utf-8")
        entry = {"name": name, "kind": "values", "file": path.name, "keys": sorted(map(str, value))}
    else:
        raise TypeError(f"history.save({name!r}, ...): expected a DataFrame or a dict, got {type(value).__name__}")
    os.replace(tmp, path)
    index = _read_index(folder) if (folder / INDEX).is_file() else _new_index(ctx)
    index["tables"] = [t for t in index["tables"] if t["name"] != name] + [entry]
    _write_index(folder, index)
    return path


def save_all(results: dict, *, results_dir: Path | str | None = None) -> list[Path]:
    """``save`` every entry of ``{name: frame_or_dict}``; [] outside a report run."""
    written = [save(name, value, results_dir=results_dir) for name, value in results.items()]
    return [p for p in written if p is not None]


def _new_index(ctx: Context) -> dict:
    return {"schema_version": SCHEMA_VERSION, "run": ctx.run, "unit": ctx.unit, "period": ctx.period,
            "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "tables": []}


def _write_index(folder: Path, index: dict) -> None:
    tmp = folder / f".{INDEX}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps(index, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, folder / INDEX)


def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy Parquet can hold: a flat string header, no index that carries nothing, and object
    columns of mixed Python values (dates beside text, bools beside None) made uniform."""
    out = frame.copy()
    if not isinstance(out.index, pd.RangeIndex) or out.index.name is not None:
        out = out.reset_index()
    out.columns = [str(c) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object:
            kinds = {type(v) for v in out[col].dropna()}
            if kinds <= {bool}:
                out[col] = out[col].astype("boolean")
            elif len(kinds) > 1 or not kinds <= {str, int, float}:
                out[col] = out[col].map(lambda v: None if missing(v) else str(v)).astype("string")
    return out


def _json_default(value):
    if isinstance(value, (pd.Period, pd.Timestamp, dt.date)):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# --- reading ---------------------------------------------------------------------------------


def results_dir(report_dir: Path | str) -> Path:
    return Path(report_dir) / RESULTS


def has_results(report_dir: Path | str) -> bool:
    return (results_dir(report_dir) / INDEX).is_file()


def _read_index(folder: Path) -> dict:
    path = folder / INDEX
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoResults(f"{folder.parent}: no stored results ({path} is missing): the report was made before "
                        "results were kept, or did not succeed") from None
    except (OSError, ValueError) as exc:
        raise NoResults(f"{path}: cannot read the results index: {exc}") from None
    version = index.get("schema_version") if isinstance(index, dict) else None
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise NoResults(f"{path}: results schema version {version!r} is not one this version reads "
                        f"(up to {SCHEMA_VERSION}); upgrade cityanalytics")
    return index


def read_index(report_dir: Path | str) -> dict:
    """``results.json`` of a report folder (NoResults when there is none)."""
    return _read_index(results_dir(report_dir))


def load(report_dir: Path | str, name: str):
    """One stored result of a report folder: a DataFrame (table) or a dict (values);
    KeyError naming the stored ones when the report has no result of that name."""
    folder = results_dir(report_dir)
    index = _read_index(folder)
    entry = next((t for t in index["tables"] if t["name"] == name), None)
    if entry is None:
        stored = ", ".join(t["name"] for t in index["tables"]) or "none"
        raise KeyError(f"{report_dir}: no stored result {name!r} (stored: {stored})")
    path = folder / entry["file"]
    if entry["kind"] == "table":
        return pd.read_parquet(path)
    return json.loads(path.read_text(encoding="utf-8"))


def load_all(report_dir: Path | str) -> dict:
    """Every stored result of a report folder, ``{name: frame_or_dict}``."""
    index = read_index(report_dir)
    return {t["name"]: load(report_dir, t["name"]) for t in index["tables"]}


def earlier_dirs(outputs: Path | str, run: str, unit: str | None, period: str) -> list[tuple[pd.Period, Path]]:
    """The same run's (and unit's) report folders of earlier periods with stored results, oldest
    first. Only periods of the same kind (months for a monthly report) count."""
    outputs, current = Path(outputs), as_period(period)
    kind = _period_kind(period)
    found = []
    try:
        folders = [p for p in outputs.iterdir() if p.is_dir() and _period_kind(p.name) == kind]
    except FileNotFoundError:
        return []
    for folder in folders:
        p = as_period(folder.name)
        report = folder / run / unit if unit else folder / run
        if p < current and has_results(report):
            found.append((p, report))
    return sorted(found, key=lambda item: item[0])


def _where(outputs, run, unit, period) -> tuple | None:
    ctx = context()
    outputs = outputs if outputs is not None else ctx.outputs
    run = run if run is not None else ctx.run
    unit = unit if unit is not None else ctx.unit
    period = period if period is not None else ctx.period
    if outputs is None or run is None or not period:
        return None
    return outputs, run, unit or None, str(period)


def earlier(name: str, *, outputs=None, run: str | None = None, unit: str | None = None,
            period: str | None = None) -> list[tuple[pd.Period, object]]:
    """``[(period, result)]`` of the same run's and unit's earlier periods that stored ``name``,
    oldest first. Where to look comes from the runner's environment unless given; [] when
    neither says (an interactive session) or no earlier report kept that result."""
    where = _where(outputs, run, unit, period)
    if where is None:
        return []
    out = []
    for p, report in earlier_dirs(*where):
        try:
            out.append((p, load(report, name)))
        except (KeyError, NoResults):
            continue
    return out


def previous(*, outputs=None, run: str | None = None, unit: str | None = None,
             period: str | None = None) -> tuple[pd.Period, dict] | None:
    """The latest earlier period's stored results, ``(period, {name: result})``, or None."""
    where = _where(outputs, run, unit, period)
    if where is None:
        return None
    for p, report in reversed(earlier_dirs(*where)):
        try:
            return p, load_all(report)
        except NoResults:
            continue
    return None
