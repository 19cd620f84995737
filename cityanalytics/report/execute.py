"""Execute a prepared notebook with papermill: one fresh kernel, a time limit per cell.

A cell that raises, a cell that runs past the limit (the kernel is then killed), a kernel
that dies or does not start: each ends the run with an ``Execution`` that says which cell
and what happened, and the partly executed notebook is left at the output path.

Limits, so a hostile or careless input cannot exhaust the machine: the kernel process gets
an address-space limit (``RLIMIT_AS``, ``memory``, default 4 GiB; POSIX only), set in the
child before the kernel starts, so an allocation past it raises ``MemoryError`` in the cell;
and a ``deadline`` (the report's total time limit) kills the kernel when it passes, whatever
cell is running. ``output_sizes`` measures what cells printed, for the runner's output cap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

PREFERRED_KERNEL = "cityanalytics"
FALLBACK_KERNEL = "python3"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
GIB = 1024 ** 3
DEFAULT_MEMORY = 4 * GIB  # address space of one report kernel
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)


def parse_memory(value, where: str) -> int | None:
    """Bytes from ``4GiB``, ``4G``, ``512 MiB``, ``1.5GB`` (powers of 1024) or a plain number of
    MiB; None for None. ValueError naming ``where`` otherwise."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number, unit = float(value), "M"
    else:
        match = _MEMORY.match(str(value)) if isinstance(value, str) else None
        if not match:
            raise ValueError(f"{where}: expected a memory size such as 4GiB, 512MiB or 2048 (MiB), got {value!r}")
        number, unit = float(match.group(1)), match.group(2).upper() or "B"
    size = int(number * {"B": 1, "K": 1024, "M": 1024 ** 2, "G": GIB, "T": 1024 ** 4}[unit])
    if size < 256 * 1024 ** 2:
        raise ValueError(f"{where}: {value!r} is below 256 MiB, too little for a Python kernel to start")
    return size


def describe_memory(size: int) -> str:
    return f"{size / GIB:.1f} GiB" if size >= GIB else f"{size / 1024 ** 2:.0f} MiB"


def _limit_memory(size: int | None):
    """A ``preexec_fn`` for the kernel process: cap its address space at ``size`` bytes."""
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the total time limit still applies
        return None
    if not size:
        return None

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return apply


def output_sizes(notebook: Path) -> list[tuple[int, int | None, int]]:
    """``(cell index, execution count, bytes of its outputs as stored)`` for cells with outputs."""
    nb = nbformat.read(notebook, as_version=4)
    return [(i, cell.get("execution_count"), len(json.dumps(cell.outputs, ensure_ascii=False).encode("utf-8")))
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.get("outputs")]


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


def _logged_kernel_manager(log, memory: int | None = None, started: list | None = None, env: dict | None = None):
    """A kernel manager whose kernel writes its stdout/stderr to ``log``, not the console,
    runs under the ``memory`` limit with ``env`` added to its environment, and is appended to
    ``started`` (for the deadline)."""
    from jupyter_client.manager import AsyncKernelManager

    preexec = _limit_memory(memory)
    env_extra = dict(env or {})

    class LoggedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", log)
            if preexec is not None:
                kw.setdefault("preexec_fn", preexec)
                # The limit counts reserved address space: glibc reserves 64 MB per malloc arena,
                # up to 8 per core, which on a many-core machine alone would eat the limit.
                env = dict(kw.get("env") or os.environ)
                env.setdefault("MALLOC_ARENA_MAX", "4")
                kw["env"] = env
            if env_extra:
                kw["env"] = {**(kw.get("env") or os.environ), **env_extra}
            result = await super().start_kernel(**kw)
            if started is not None:
                started.append(self)
            return result

    return LoggedKernelManager


def _kill(managers: list) -> None:
    """Kill the kernels (and their process groups: a kernel starts its own session)."""
    for km in managers:
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is None:
            continue
        try:
            os.killpg(os.getpgid(process.pid), signal.SIGKILL)
        except (AttributeError, OSError):
            with contextlib.suppress(OSError):
                process.kill()


def execute(notebook: Path, *, kernel: str, cwd: Path, timeout: int, log_path: Path,
            record: dict | None = None, memory: int | None = None, deadline: float | None = None,
            time_limit: int | None = None, env: dict | None = None) -> Execution:
    """Run ``notebook`` in place (papermill reads it, then saves after every cell).

    ``record``: entries to set in the notebook's papermill metadata afterwards (papermill
    writes the staging path as input and output; the runner records the real ones).
    ``memory``: the kernel's address-space limit in bytes. ``deadline``: a
    ``time.perf_counter()`` moment at which the kernel is killed (``time_limit`` seconds
    after the report started, named in the error). ``env``: variables added to the kernel's
    environment (where the report keeps its results, see ``history``).
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
    started: list = []
    expired = threading.Event()
    timer = None
    if deadline is not None:
        def expire() -> None:
            expired.set()
            _kill(started)

        timer = threading.Timer(max(0.0, deadline - start), expire)
        timer.daemon = True
        timer.start()
    with open(log_path, "ab") as log, _quiet("papermill"):
        try:
            papermill.execute_notebook(
                str(notebook), str(notebook), kernel_name=kernel, cwd=str(cwd), progress_bar=False,
                execution_timeout=timeout, start_timeout=120,
                kernel_manager_class=_logged_kernel_manager(log, memory, started, env), shutdown_kernel="immediate",
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
        finally:
            if timer is not None:
                timer.cancel()
    if expired.is_set():
        error = {"phase": "time_limit", "cell_index": current["index"], "ename": "TimeLimitExceeded",
                 "evalue": f"the report ran past its total time limit of {time_limit} s (time_limit); "
                           "the kernel was stopped"}
    elif error is not None and memory and (error["ename"] == "MemoryError" or error["phase"] == "kernel"):
        cause = "" if error["ename"] == "MemoryError" else "possibly "
        note = (f"{cause}the report kernel's memory limit of {describe_memory(memory)} was reached "
                "(memory: in the run file or schedule, or --memory)")
        error["evalue"] = f"{error['evalue']}: {note}" if error["evalue"] else note
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
