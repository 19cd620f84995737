"""One report: inject parameters -> execute -> HTML -> PDF -> manifest -> publish.

A ``Job`` is everything one report needs, worked out in advance by ``batch.plan`` (and
picklable, so it can run in a worker process). ``run_job`` never raises for a failed
report: it returns the manifest, whose ``status`` is ``ok`` or ``failed``. A good report
replaces ``<target>``; a failed attempt goes to ``<target>/failed`` and leaves the previous
good report where it was.
"""

from __future__ import annotations

import datetime as dt
import errno
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from cityanalytics.report import execute, export, fanout, history, layout, manifest, params, publish

OUTPUT_FILES = ("report.ipynb", "report.html", "report.pdf", "kernel.log")
SETUP_CELL = (
    "# Added by the report runner, hidden in the report: a font with Chinese glyphs for figures.\n"
    "from cityanalytics.plotting import use_cjk_font as _use_cjk_font\n"
    "_use_cjk_font()\n"
)

DEFAULT_TIME_LIMIT = 3600
MAX_OUTPUT_BYTES = 20 * 1024 ** 2  # a 60 MB output took 374 s in the PDF step


class LimitError(RuntimeError):
    """A report went past one of its limits (time, output size)."""


@dataclass(frozen=True)
class Job:
    run: str
    unit: str | None
    unit_name: str | None
    period: str
    target: Path  # outputs/<period>/<run>[/<unit>]
    root: Path
    run_file: str  # relative to root, for the title page and manifest
    notebook: Path
    title: str
    source: str | None = None
    description: str | None = None
    parameters: dict = field(default_factory=dict)  # every value the notebook runs with
    injected: dict = field(default_factory=dict)  # the values written into the notebook
    timeout: int = params.DEFAULT_TIMEOUT
    memory: int | None = execute.DEFAULT_MEMORY  # bytes of address space for the kernel
    time_limit: int = DEFAULT_TIME_LIMIT  # seconds for the whole report: kernel, cells, HTML, PDF
    max_output: int = MAX_OUTPUT_BYTES  # bytes of cell output a report may carry into HTML/PDF
    inputs: tuple = ()  # manifest.input_files entries
    inputs_shown: tuple = ()  # data paths as the title page lists them
    synthetic: bool = False
    git: dict | None = None
    kernel: str = execute.PREFERRED_KERNEL
    pdf: bool = True
    browser: str | None = None
    error: dict | None = None  # set when the run cannot start (bad parameters)
    shared: str | None = None  # a fan-out batch's folder for what its units share (compare.shared)
    shared_key: str = ""  # the batch's secret: a bundle in that folder is read only if signed with it

    @property
    def label(self) -> str:
        return self.run + (f"/{self.unit}" if self.unit else "")

    @property
    def unit_label(self) -> str | None:
        if self.unit is None:
            return None
        return f"{self.unit_name}({self.unit})" if self.unit_name else self.unit


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def run_job(job: Job) -> dict:
    """Make one report; return its manifest (``status`` ok / failed). Never raises for a
    failed report, whatever failed (a cell, the disk, the outputs folder, another run holding
    the report's lock): the batch goes on, and the last good report is left as it was."""
    started, t0 = _now(), time.perf_counter()
    meta = _base_manifest(job, started)
    moved = _moved(job.target)
    if moved:  # written nowhere: the folder (or one above it) now points out of outputs/
        return _finish(meta, t0, {"phase": "output", "ename": "UnsafeOutput", "evalue": moved}, [])
    try:
        with publish.lock(job.target):
            try:
                return _attempt(job, meta, t0)
            except Exception as exc:  # the outputs could not be written (disk full, read-only, ...)
                _finish(meta, t0, _output_error(job, exc), [])
                _record_failure(job, meta)
                return meta
    except publish.Busy as exc:
        return _finish(meta, t0, {"phase": "lock", "ename": "Busy", "evalue": str(exc)}, [])
    except OSError as exc:  # not even the lock file could be made: nothing was written
        return _finish(meta, t0, _output_error(job, exc), [])


def _attempt(job: Job, meta: dict, t0: float) -> dict:
    staging = publish.prepare(job.target)
    timings: dict[str, float] = {}
    error = job.error
    try:
        if error is None:
            error = _make(job, staging, meta, timings)
        timings["total"] = round(time.perf_counter() - t0, 3)
        meta["timings"] = timings
        _finish(meta, t0, error, [name for name in OUTPUT_FILES if (staging / name).exists()] + ["manifest.json"]
                + ([f"{history.RESULTS}/{history.INDEX}"] if history.has_results(staging) else []))
        if error is not None and (staging / "report.ipynb").exists() and error.get("phase") != "output_limit" \
                and _output_bytes(staging / "report.ipynb") <= job.max_output:
            try:  # a readable page of the failed notebook, code shown, for whoever fixes it
                export.to_html(staging / "report.ipynb", staging / "report.html", meta, hide_code=False)
                meta["files"].insert(0, "report.html")
            except Exception:
                pass
        manifest.write(staging / "manifest.json", meta)
        publish.publish(staging, job.target if error is None else job.target / layout.FAILED_DIR)
    except BaseException:  # interrupted or unwritable: the previous report stays as it was
        publish.discard(staging)
        raise
    return meta


def _finish(meta: dict, t0: float, error: dict | None, files: list[str]) -> dict:
    timings = meta.get("timings") or {}
    timings["total"] = round(time.perf_counter() - t0, 3)
    meta.update(status="ok" if error is None else "failed", ended_at=_now(), error=error, timings=timings,
                files=files)
    return meta


def _moved(target: Path) -> str | None:
    """Why ``target`` can no longer be written safely: planned as a resolved path inside
    outputs/, it (or a folder above it) has since become a symlink to somewhere else."""
    try:
        resolved = target.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        return f"report folder {target} cannot be resolved: {exc}"
    if resolved != target:
        return (f"report folder {target} is a symlink to {resolved}, outside the place planned for it in "
                "outputs/: nothing was written; remove the symlink")
    return None


def _output_error(job: Job, exc: BaseException) -> dict:
    evalue = str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        evalue = f"the disk is full while writing the report in {job.target.parent}: {exc}"
    elif isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        evalue = f"the outputs folder {job.target.parent} cannot be written: {exc}"
    return {"phase": "output", "ename": type(exc).__name__, "evalue": evalue}


def _record_failure(job: Job, meta: dict) -> None:
    """Best effort: leave the failure's manifest in ``<target>/failed`` (the index shows it).
    When even that cannot be written, the message is still in the returned manifest."""
    staging = None
    try:
        staging = publish.prepare(job.target)
        meta["files"] = ["manifest.json"]
        manifest.write(staging / "manifest.json", meta)
        publish.publish(staging, job.target / layout.FAILED_DIR)
    except Exception:
        meta["files"] = []
        if staging is not None:
            publish.discard(staging)


def _output_bytes(notebook: Path) -> int:
    try:
        return sum(size for _, _, size in execute.output_sizes(notebook))
    except Exception:
        return 0


def check_output_size(notebook: Path, limit: int) -> None:
    """Refuse a notebook whose cells printed more than ``limit`` bytes, before any export
    (HTML and PDF time grow with it), naming the biggest cells."""
    sizes = execute.output_sizes(notebook)
    total = sum(size for _, _, size in sizes)
    if total <= limit:
        return
    biggest = sorted(sizes, key=lambda s: -s[2])[:3]
    cells = ", ".join(f"cell {i}" + (f" (In [{n}])" if n else "") + f" {size / 1e6:.1f} MB" for i, n, size in biggest)
    raise LimitError(f"the cells printed {total / 1e6:.1f} MB of output, over the report's limit of "
                     f"{limit / 1e6:.1f} MB (max_output); biggest: {cells}. Print a summary (df.head(), "
                     "a figure) instead of the whole table; the executed notebook is kept")


def _check_deadline(job: Job, deadline: float, phase: str) -> None:
    if time.perf_counter() > deadline:
        raise LimitError(f"the report ran past its total time limit of {job.time_limit} s (time_limit) "
                         f"by the end of the {phase} step; nothing was published")


def _make(job: Job, staging: Path, meta: dict, timings: dict) -> dict | None:
    phase = "prepare"
    deadline = time.perf_counter() + job.time_limit
    try:
        t = time.perf_counter()
        nb = params.inject(nbformat.read(job.notebook, as_version=4), job.injected, setup=SETUP_CELL)
        nb.metadata["kernelspec"] = {"name": job.kernel, "display_name": job.kernel, "language": "python"}
        notebook = staging / "report.ipynb"
        nbformat.write(nb, notebook)
        timings["prepare"] = round(time.perf_counter() - t, 3)

        phase = "execute"
        run = execute.execute(
            notebook, kernel=job.kernel, cwd=job.root, timeout=job.timeout, log_path=staging / "kernel.log",
            record={"input_path": manifest.relative(job.notebook, job.root),
                    "output_path": manifest.relative(job.target / "report.ipynb", job.root),
                    "parameters": job.injected},
            memory=job.memory, deadline=deadline, time_limit=job.time_limit,
            env={**history.runner_env(staging / history.RESULTS, job.target.parents[2 if job.unit else 1], job.run,
                                      job.unit, job.period), **fanout.kernel_env(job)},
        )
        timings["execute"] = round(run.seconds, 3)
        timings["cells"] = round(run.cells_seconds, 3)
        timings["kernel_overhead"] = round(run.seconds - run.cells_seconds, 3)
        if not run.ok:
            return run.error

        phase = "output_limit"
        check_output_size(notebook, job.max_output)
        phase = "html"
        t = time.perf_counter()
        export.to_html(notebook, staging / "report.html", meta)
        timings["html"] = round(time.perf_counter() - t, 3)
        _check_deadline(job, deadline, "HTML")
        if job.pdf:
            phase = "pdf"
            t = time.perf_counter()
            export.to_pdf(staging / "report.html", staging / "report.pdf", job.browser)
            timings["pdf"] = round(time.perf_counter() - t, 3)
            _check_deadline(job, deadline, "PDF")
        return None
    except LimitError as exc:
        return {"phase": "time_limit" if phase in ("html", "pdf") else phase, "ename": type(exc).__name__,
                "evalue": str(exc)}
    except Exception as exc:
        return {**_output_error(job, exc), "phase": phase}


def _base_manifest(job: Job, started: str) -> dict:
    packages = manifest.package_versions()
    return {
        "run": job.run,
        "unit": job.unit,
        "unit_name": job.unit_name,
        "unit_label": job.unit_label,
        "title": job.title,
        "period": job.period,
        "run_file": job.run_file,
        "notebook": manifest.relative(job.notebook, job.root),
        "source": job.source,
        "description": job.description,
        "parameters": job.parameters,
        "injected": job.injected,
        "inputs": list(job.inputs),
        "inputs_shown": list(job.inputs_shown),
        "synthetic": job.synthetic,
        "timeout": job.timeout,
        "limits": {"memory": job.memory, "time_limit": job.time_limit, "max_output": job.max_output},
        "kernel": job.kernel,
        "git": job.git,
        "packages": packages,
        "version": packages.get("cityanalytics", "?"),
        "started_at": started,
        "produced_at": started.replace("T", " "),
        "status": "running",
    }
