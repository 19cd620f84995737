"""Where reports go: ``outputs/<period>/<run>/[<unit>/]``, and the checks that keep them there.

Run names (the run file's stem) and unit ids become directory names, so they are checked
before anything is written: letters (any script, so 城关街道 is fine), digits, ``_``, ``-``
and ``.``, not starting with a dot, no path separators, and not a reserved name. Every
directory is also resolved and checked to lie inside the outputs directory.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

PERIOD_PATTERN = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|Q[1-4])?$")  # a month, a quarter (2025Q2) or a year
NAME_PATTERN = re.compile(r"^[^\W][\w.\-]{0,99}$")  # \w is Unicode-aware: 城关街道 passes
# "failed" holds a failed attempt inside a report directory; the rest are Windows device names.
RESERVED = {"failed", "index.html", "con", "prn", "aux", "nul", "com1", "lpt1"}
FAILED_DIR = "failed"


class UnsafeName(ValueError):
    """A run or unit name that could write outside its report directory."""


def check_name(name: object, what: str, source: str | Path | None = None) -> str:
    """Return ``name`` as a string if it is safe as one directory name, else raise UnsafeName."""
    text = str(name)
    where = f"{source}: " if source else ""
    if not NAME_PATTERN.match(text) or ".." in text or text.lower() in RESERVED:
        raise UnsafeName(
            f"{where}{what} {text!r} cannot be used as a directory name: use letters, digits, "
            "'_', '-' or '.', no path separators or '..', not starting with '.', "
            f"not one of {sorted(RESERVED)}"
        )
    return text


def check_period(period: str) -> str:
    if not PERIOD_PATTERN.match(str(period)):
        raise ValueError(f"period {period!r} is not a month YYYY-MM (e.g. 2025-06), a quarter (2025Q2) or a year (2025)")
    return str(period)


def default_period(today: dt.date | None = None) -> str:
    """The last complete month: a monthly report made on 1 July covers June."""
    today = today or dt.date.today()
    first = today.replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def period_dir(outputs: Path, period: str) -> Path:
    return _inside(Path(outputs), Path(outputs) / check_period(period))


def report_dir(outputs: Path, period: str, run: str, unit: str | None = None) -> Path:
    """``outputs/<period>/<run>`` or, for one unit of a fan-out run, ``.../<run>/<unit>``."""
    path = period_dir(outputs, period) / check_name(run, "run name")
    if unit is not None:
        path = path / check_name(unit, "unit id")
    return _inside(Path(outputs), path)


def _inside(outputs: Path, path: Path) -> Path:
    root = outputs.resolve()
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise UnsafeName(f"{path} lies outside the outputs directory {root}")
    return resolved


def project_root(start: Path) -> Path:
    """The project a run file belongs to: the nearest directory above it with ``notebooks/``.

    Falls back to the current directory, so a run file kept elsewhere still resolves
    notebook and data paths against the directory the command was started from.
    """
    for folder in [Path(start).resolve().parent, *Path(start).resolve().parents]:
        if (folder / "notebooks").is_dir():
            return folder
    return Path.cwd().resolve()
