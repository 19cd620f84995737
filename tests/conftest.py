"""Fixtures shared by the test modules.

``demo_city``: the demo city as ``cityanalytics demo`` writes it by default (seed 2025,
468,000 cases), written once per test session. Under pytest-xdist the workers share the
session's temporary folder: the first to ask builds the city there under a file lock, the
others wait for it and read the same files. Its files are read-only; a module that needs to
write makes its own copy (``demo_city.copy(dest)``).

``project_demo``: the project's own ``data/demo`` (the run files' and notebooks' default
data), built by the command line's hook when it is missing, under the same lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DemoCity:
    """A demo city written to disk once per session: its folder, its tables and truth file."""

    path: Path

    def tables(self, *names: str) -> dict:
        """Fresh frames of the named tables (all when none are named), equal to what
        ``cityanalytics.demo.generate`` returns for the same seed and cases."""
        import pandas as pd

        from cityanalytics.demo import TABLES

        out = {}
        for name in names or TABLES:
            frame = pd.read_parquet(self.path / f"{name}.parquet")
            if name == "assessments":  # months are stored as text YYYY-MM
                frame["period"] = pd.PeriodIndex(frame["period"].astype(object), freq="M")
            out[name] = frame
        return out

    def truth(self) -> dict:
        """truth.json, equal to ``cityanalytics.demo.generate_truth`` for the same arguments."""
        return json.loads((self.path / "truth.json").read_text(encoding="utf-8"))

    def copy(self, dest: Path) -> Path:
        """A writable copy of the folder at ``dest``."""
        shutil.copytree(self.path, dest, copy_function=shutil.copyfile)
        for folder, _, _ in os.walk(dest):
            os.chmod(folder, 0o755)
        return Path(dest)


def session_dir(tmp_path_factory) -> Path:
    """A folder of this test session shared by its xdist workers (each worker's own temporary
    folder is a sub-folder of the session's); without xdist, the session's own."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def locked(lock_file: Path):
    """Hold an exclusive lock on ``lock_file`` (created if missing) across processes."""
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_only(folder: Path) -> None:
    for parent, dirs, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(parent, name), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    for parent, _, _ in os.walk(folder, topdown=False):
        os.chmod(parent, 0o555)


def shared_demo(tmp_path_factory, name: str, **options) -> Path:
    """``cityanalytics.demo.write_demo(**options)`` into the session folder's ``name``, once per
    session: built beside it and renamed into place under the lock, then made read-only."""
    from cityanalytics.demo import write_demo

    base = session_dir(tmp_path_factory)
    out = base / name
    with locked(base / f"{name}.lock"):
        if not out.is_dir():
            partial = base / f".{name}-{uuid.uuid4().hex[:8]}"
            write_demo(partial, **options)
            _read_only(partial)
            os.replace(partial, out)
    return out


@pytest.fixture(scope="session")
def demo_city(tmp_path_factory) -> DemoCity:
    """The default demo city (seed 2025, 468,000 cases), read-only, built once per session."""
    return DemoCity(shared_demo(tmp_path_factory, "demo-city"))


@pytest.fixture(scope="session")
def project_demo(tmp_path_factory) -> Path:
    """The project's ``data/demo``, built as ``cityanalytics run``/``reports`` build it when it is
    missing (one process at a time: the lock lives in the session folder)."""
    from cityanalytics.report.cli_run import DEMO_DIR, ensure_demo_data

    demo = ROOT / DEMO_DIR
    with locked(session_dir(tmp_path_factory) / "project-demo.lock"):
        ensure_demo_data(ROOT, [("data_dir", demo.resolve(), "dir")])
    return demo
