"""Execute a prepared notebook with papermill: one fresh kernel, a time limit per cell.

A cell that raises, a cell that runs past the limit (the kernel is then killed), a kernel
that dies or does not start: each ends the run with an ``Execution`` that says which cell
and what happened, and the partly executed notebook is left at the output path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

PREFERRED_KERNEL = "cityanalytics"
FALLBACK_KERNEL = "python3"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Execution:
    ok: bool
    seconds: float  # papermill wall time: kernel start, cells, shutdown
    cells_seconds: float  # the cells alone (papermill's per-cell durations)
    error: dict | None = None  # phase, cell_index, execution_count, ename, evalue, traceback, source


def kernel_name() -> str:
    """The project kernel if it is registered (``dev.sh`` registers it), else ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    return PREFERRED_KERNEL if PREFERRED_KERNEL in specs else FALLBACK_KERNEL


def _logged_kernel_manager(log):
    """A kernel manager whose kernel writes its stdout/stderr to ``log``, not the console."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", log)
            return await super().start_kernel(**kw)

    return LoggedKernelManager


def execute(notebook: Path, *, kernel: str, cwd: Path, timeout: int, log_path: Path,
            record: dict | None = None) -> Execution:
    """Run ``notebook`` in place (papermill reads it, then saves after every cell).

    ``record``: entries to set in the notebook's papermill metadata afterwards (papermill
    writes the staging path as input and output; the runner records the real ones).
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    current = {"index": None}

    def on_cell_execute(cell, cell_index, **_):
        current["index"] = cell_index

    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiets ipykernel's debugger notice
    os.environ["CITYANALYTICS_REPORT"] = "1"  # notebooks can tell a report run from JupyterLab
    error = None
    start = time.perf_counter()
    with open(log_path, "ab") as log, _quiet("papermill"):
        try:
            papermill.execute_notebook(
                str(notebook), str(notebook), kernel_name=kernel, cwd=str(cwd), progress_bar=False,
                execution_timeout=timeout, start_timeout=120,
                kernel_manager_class=_logged_kernel_manager(log), shutdown_kernel="immediate",
                on_cell_execute=on_cell_execute,
            )
        except PapermillExecutionError as exc:
            error = {"phase": "execute", "cell_index": exc.cell_index, "execution_count": exc.exec_count,
                     "ename": exc.ename, "evalue": exc.evalue, "traceback": _clean(exc.traceback),
                     "source": exc.source}
        except CellTimeoutError:
            error = {"phase": "timeout", "cell_index": current["index"], "ename": "CellTimeoutError",
                     "evalue": f"the cell ran longer than {timeout} s; the kernel was stopped"}
        except DeadKernelError as exc:
            error = {"phase": "kernel", "cell_index": current["index"], "ename": "DeadKernelError",
                     "evalue": f"the kernel died: {exc}"}
        except Exception as exc:  # kernel did not start, notebook unreadable ...
            error = {"phase": "kernel", "cell_index": current["index"], "ename": type(exc).__name__,
                     "evalue": str(exc)}
    seconds = time.perf_counter() - start
    cells_seconds = 0.0
    if notebook.exists():
        nb = nbformat.read(notebook, as_version=4)
        cells_seconds = sum(float(c.metadata.get("papermill", {}).get("duration") or 0) for c in nb.cells)
        if error is not None and error.get("cell_index") is not None and "source" not in error:
            cell = nb.cells[error["cell_index"]]
            error["source"] = cell.source
            error["execution_count"] = cell.get("execution_count")
        if record:
            nb.metadata.setdefault("papermill", {}).update(record)
            nbformat.write(nb, notebook)
    return Execution(error is None, seconds, cells_seconds, error)


def _clean(traceback: list[str] | str | None) -> str:
    if not traceback:
        return ""
    text = "\n".join(traceback) if isinstance(traceback, list) else str(traceback)
    return _ANSI.sub("", text)


@contextlib.contextmanager
def _quiet(name: str):
    """Keep a library's log lines (nbclient's "Timeout waiting for execute reply") off the
    console while it runs: the runner reports failures itself."""
    logger = logging.getLogger(name)
    saved = logger.propagate, logger.handlers[:]
    logger.propagate, logger.handlers = False, [logging.NullHandler()]
    try:
        yield
    finally:
        logger.propagate, logger.handlers = saved
