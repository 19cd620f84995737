"""``manifest.json``: what a report was made from, with what, when, and how it went.

It records the parameters, every input file with its sha256 (the notebook and the data
files named by ``*_path`` / ``*_dir`` parameters; files a notebook opens on its own are not
seen), the versions of the packages that shape the numbers, the git commit, start and end
time, status, the error of a failed run, and seconds per phase (``timings``) for the bench.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from cityanalytics.hashing import sha256

PACKAGES = ("cityanalytics", "pandas", "numpy", "scipy", "pyarrow", "pandera", "duckdb", "statsmodels",
            "matplotlib", "papermill", "nbclient", "nbconvert", "ipykernel")
DEMO_MARKER = "truth.json"  # written by cityanalytics.demo beside the tables, with "synthetic": true


MAX_INPUT_FILES = 20_000  # files under one run's data folders; more is not a folder of tables


class InputError(ValueError):
    """An input file or folder that cannot be recorded (unreadable, or far too many files)."""


def input_files(data_paths: list[tuple[str, Path, str]], root: Path) -> list[dict]:
    """One entry per file: the parameter it came from, path (relative to root), size, sha256.
    A ``*_dir`` parameter contributes every file under the directory (at most
    ``MAX_INPUT_FILES``; an unreadable file is an ``InputError`` naming it)."""
    seen, out = set(), []
    for key, path, kind in data_paths:
        files = _files_under(key, path) if kind == "dir" else [path]
        for f in files:
            if f in seen or not f.exists():
                continue
            seen.add(f)
            try:
                out.append({"parameter": key, "path": relative(f, root), "bytes": f.stat().st_size,
                            "sha256": sha256(f)})
            except OSError as exc:
                raise InputError(f"{key}: input file {f} cannot be read: {exc}") from None
    return out


def _files_under(key: str, folder: Path) -> list[Path]:
    files = []
    try:
        for p in folder.rglob("*"):
            if p.is_file():
                files.append(p)
                if len(files) > MAX_INPUT_FILES:
                    raise InputError(f"{key}: {folder} holds more than {MAX_INPUT_FILES:,} files; "
                                     "name the folder of tables itself, not a folder above it")
    except OSError as exc:
        raise InputError(f"{key}: {folder} cannot be listed: {exc}") from None
    return sorted(files)


def demo_truth(data_paths: list[tuple[str, Path, str]]) -> dict | None:
    """The demo's truth.json beside the data (in a data directory, or a data file's
    directory) when it says the data are synthetic; None for any other data."""
    for _, path, kind in data_paths:
        marker = (path if kind == "dir" else path.parent) / DEMO_MARKER
        if marker.is_file():
            try:
                truth = json.loads(marker.read_text(encoding="utf-8"))
            except (ValueError, OSError):
                continue
            if isinstance(truth, dict) and truth.get("synthetic") is True:
                return truth
    return None


def synthetic_data(data_paths: list[tuple[str, Path, str]]) -> bool:
    return demo_truth(data_paths) is not None or any(_built_synthetic(p) for _, p, kind in data_paths if kind == "dir")


def _built_synthetic(folder: Path) -> bool:
    """A workspace's built tables whose recipe says ``synthetic: true`` (tables/build.json)."""
    try:
        return json.loads((folder / "build.json").read_text(encoding="utf-8"))["recipe"]["synthetic"] is True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_info(root: Path) -> dict | None:
    """Commit of the project checkout and whether tracked files differ from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=20, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=20, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "short": commit[:10] + ("+本地修改" if dirty else ""), "dirty": dirty}


def write(path: Path, manifest: dict) -> None:
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


def read(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form (as given if it lies elsewhere)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
