"""The scheduled batch: read ``params/schedule.yaml``, plan every report, run them, index them.

``schedule.yaml``::

    defaults:
      timeout: 600               # seconds one cell may run (a run file or entry may override)
      memory: 4GiB               # address space of one report kernel
      time_limit: 3600           # seconds for a whole report: kernel, cells, HTML and PDF
    runs:
      - run: data_quality        # params/data_quality.yaml
        every: monthly           # monthly | weekly | daily
      - run: data_quality_districts
        every: monthly
        timeout: 900

Planning happens in this process before any kernel starts: every run file is loaded and
checked, its data folders are prepared (the caller's ``prepare`` hook: the command line
builds missing demo data there), fan-out runs are expanded into one job per unit, and
input files are hashed once per batch. A run file that fails its checks becomes a failed
job (it shows in the index with the message) and the others go on. Jobs then run one after
another, or in ``jobs`` worker processes (each report has its own kernel either way).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import yaml

from cityanalytics.report import execute, export, fanout, layout, manifest, params, runner
from cityanalytics.fonts import require_cjk_font
from cityanalytics.report.runner import Job

FREQUENCIES = ("monthly", "weekly", "daily")


class ScheduleError(ValueError):
    """The schedule file itself is wrong (the batch cannot start)."""


@dataclass(frozen=True)
class Entry:
    run: str
    every: str = "monthly"
    timeout: int | None = None
    memory: int | None = None
    time_limit: int | None = None


@dataclass(frozen=True)
class Schedule:
    path: Path
    entries: tuple[Entry, ...]
    timeout: int = params.DEFAULT_TIMEOUT
    memory: int | None = None
    time_limit: int | None = None


LIMIT_KEYS = ("timeout", "memory", "time_limit")


def _limits(item: dict, where: str) -> dict:
    """``timeout``, ``memory``, ``time_limit`` of a schedule entry or its defaults, checked."""
    try:
        return {"timeout": params.check_timeout(item.get("timeout"), f"{where}timeout"),
                "memory": execute.parse_memory(item.get("memory"), f"{where}memory"),
                "time_limit": params.check_timeout(item.get("time_limit"), f"{where}time_limit")}
    except ValueError as exc:
        raise ScheduleError(str(exc)) from None


def load_schedule(path: Path) -> Schedule:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ScheduleError(f"{path}: cannot read the schedule: {exc}") from None
    unknown = sorted(set(raw) - {"defaults", "runs"}) if isinstance(raw, dict) else ["(not a mapping)"]
    if unknown:
        raise ScheduleError(f"{path}: unknown key {unknown[0]!r}; a schedule has 'defaults' and 'runs'")
    defaults = raw.get("defaults") or {}
    try:
        if not isinstance(defaults, dict) or set(defaults) - set(LIMIT_KEYS):
            raise ScheduleError(f"{path}: defaults: expected a mapping of {', '.join(LIMIT_KEYS)}")
        limits = _limits(defaults, f"{path}: defaults.")
        timeout = limits["timeout"] or params.DEFAULT_TIMEOUT
        entries = []
        for i, item in enumerate(raw.get("runs") or []):
            where = f"{path}: runs[{i}]"
            if not isinstance(item, dict) or "run" not in item:
                raise ScheduleError(f"{where}: expected a mapping with 'run' (the run file's name)")
            bad = sorted(set(item) - {"run", "every", *LIMIT_KEYS})
            if bad:
                raise ScheduleError(f"{where}: unknown key {bad[0]!r}; an entry has run, every, "
                                    f"{', '.join(LIMIT_KEYS)}")
            every = item.get("every", "monthly")
            if every not in FREQUENCIES:
                raise ScheduleError(f"{where}: every: {every!r} is not one of {', '.join(FREQUENCIES)}")
            layout.check_name(item["run"], "run name", where)
            entries.append(Entry(str(item["run"]), every, **_limits(item, f"{where}: ")))
    except (params.ParamError, layout.UnsafeName) as exc:
        raise ScheduleError(str(exc)) from None
    names = [e.run for e in entries]
    if len(set(names)) != len(names):
        raise ScheduleError(f"{path}: a run is listed twice")
    return Schedule(path, tuple(entries), timeout, limits["memory"], limits["time_limit"])


# --- planning -----------------------------------------------------------------------------


class Planner:
    """Turns run files into jobs, sharing what a batch needs once (git, kernel, browser, hashes).

    ``prepare(root, paths)``: called with each run's data paths before they are checked (the
    command line passes one that builds missing demo data); whatever it raises fails the runs
    it was called for, with its message, not the batch.
    """

    def __init__(self, root: Path, outputs: Path, period: str | None, pdf: bool = True,
                 default_timeout: int | None = None,
                 prepare: Callable[[Path, list[tuple[str, Path, str]]], None] | None = None):
        self.root, self.outputs, self.period, self.pdf = Path(root).resolve(), Path(outputs).resolve(), period, pdf
        self.prepare = prepare
        self.default_timeout = default_timeout or params.DEFAULT_TIMEOUT
        require_cjk_font()  # before any kernel: without it every figure would show tofu
        self.git = manifest.git_info(self.root)
        self.kernel = execute.kernel_name()
        self.browser = export.find_browser() if pdf else None
        self._hashes: dict[Path, list[dict]] = {}
        # Limits: the command line's (override) > the schedule entry's > the run file's >
        # the schedule's defaults (default_*) > the built-in ones.
        self.memory: int | None = None
        self.time_limit: int | None = None
        self.default_memory: int | None = None
        self.default_time_limit: int | None = None
        self.unplaced: list[str] = []  # errors of run files whose name cannot be a directory

    def plan(self, run_file: Path, timeout: int | None = None, memory: int | None = None,
             time_limit: int | None = None) -> list[Job]:
        """The run's jobs; a run that cannot be planned becomes one failed job (never raises).
        ``timeout``, ``memory``, ``time_limit``: the schedule entry's."""
        run_file = Path(run_file)
        try:
            return self._plan(run_file, timeout, memory, time_limit)
        except (params.ParamError, layout.UnsafeName, manifest.InputError) as exc:
            return self._failed(run_file, str(exc))
        except Exception as exc:  # unreadable data, a districts table that breaks ...: this run only
            return self._failed(run_file, f"{run_file}: cannot plan this run: {type(exc).__name__}: {exc}")

    def _plan(self, run_file: Path, timeout: int | None, memory: int | None, time_limit: int | None) -> list[Job]:
        try:
            spec = params.load_run(run_file, self.root)
            values = spec.values(period=self.period)
            paths = params.data_paths(spec, values)
            check_data_dirs(spec, paths, self.root, self.outputs)
            if self.prepare is not None:
                try:
                    self.prepare(self.root, paths)
                except Exception as exc:  # a failed preparation fails the runs that need it, not the batch
                    raise params.ParamError(f"{run_file}: {exc}") from exc
            if self.period is None:  # the batch's period, settled by its first run
                self.period = default_period(paths)
                values = spec.values(period=self.period)
            params.check_files(spec, values)
            units = params.unit_list(spec, values) if spec.for_each else [(None, None)]
        except (params.ParamError, layout.UnsafeName) as exc:
            return self._failed(run_file, str(exc))
        inputs = self._inputs([("notebook", spec.notebook, "file"), *paths])
        shown = tuple(_shown(path, kind, self.root, inputs) for _, path, kind in paths)
        common = dict(
            run=spec.name, period=self.period, root=self.root, run_file=manifest.relative(spec.path, self.root),
            notebook=spec.notebook, title=spec.title, source=spec.source, description=spec.description,
            timeout=timeout or spec.timeout or self.default_timeout, inputs=tuple(inputs), inputs_shown=shown,
            synthetic=manifest.synthetic_data(paths), git=self.git, kernel=self.kernel, pdf=self.pdf,
            browser=self.browser,
            memory=self.memory or memory or spec.memory or self.default_memory or execute.DEFAULT_MEMORY,
            time_limit=self.time_limit or time_limit or spec.time_limit or self.default_time_limit
            or runner.DEFAULT_TIME_LIMIT,
        )
        base_injected = dict(spec.parameters)
        if "period" in spec.declared:
            base_injected["period"] = self.period
        shared = (fanout.prepare_shared(self.outputs, self.period, spec.name, inputs, base_injected)
                  if spec.for_each else None)
        shared_key = fanout.batch_key() if shared else ""
        jobs = []
        for unit, name in units:
            injected = dict(base_injected)
            if unit is not None:
                injected[spec.for_each] = unit
            jobs.append(Job(unit=unit, unit_name=name, target=layout.report_dir(self.outputs, self.period, spec.name, unit),
                            parameters={**values, **injected}, injected=injected, shared=shared,
                            shared_key=shared_key, **common))
        if spec.for_each:  # units planned: an earlier run-level failure no longer applies
            shutil.rmtree(layout.report_dir(self.outputs, self.period, spec.name) / layout.FAILED_DIR, ignore_errors=True)
        return jobs

    def _failed(self, run_file: Path, message: str) -> list[Job]:
        self.period = self.period or layout.default_period()
        try:
            target = layout.report_dir(self.outputs, self.period, run_file.stem)
        except (layout.UnsafeName, ValueError):
            self.unplaced.append(message)
            return []
        return [Job(run=run_file.stem, unit=None, unit_name=None, period=self.period, target=target, root=self.root,
                    run_file=manifest.relative(run_file.resolve(), self.root), notebook=run_file, title=run_file.stem,
                    git=self.git, error={"phase": "params", "ename": "ParamError", "evalue": message})]

    def _inputs(self, paths: list[tuple[str, Path, str]]) -> list[dict]:
        out = []
        for key, path, kind in paths:
            if path not in self._hashes:
                self._hashes[path] = manifest.input_files([(key, path, kind)], self.root)
            out.extend({**entry, "parameter": key} for entry in self._hashes[path])
        return out


def check_data_dirs(spec, paths: list[tuple[str, Path, str]], root: Path, outputs: Path) -> None:
    """A data folder must be a folder of data: not the filesystem root (``data_dir: /``,
    ``workspace: /``), not a folder holding the project or its reports (every file under it
    would be hashed into the manifest, the reports being written among them)."""
    for key, path, kind in paths:
        if kind != "dir":
            continue
        origin = f"parameters.{key}" if key in spec.parameters else key
        if path == Path(path.anchor):
            raise params.ParamError(f"{spec.path}: {origin}: {path} is the filesystem root, not a folder of "
                                    "data; name the workspace or folder of tables (e.g. data/demo)")
        for inside, what in ((root, "the project"), (outputs, "the reports folder")):
            if path == inside or path in inside.parents:
                raise params.ParamError(f"{spec.path}: {origin}: {path} holds {what} ({inside}), not only data; "
                                        "name the workspace or folder of tables (e.g. data/demo)")


def _shown(path: Path, kind: str, root: Path, inputs: list[dict]) -> str:
    rel = manifest.relative(path, root)
    if kind == "dir":
        n = sum(1 for i in inputs if i["path"].startswith(rel.rstrip("/") + "/"))
        return f"{rel}/({n} 个文件)"
    return rel


def default_period(paths: list[tuple[str, Path, str]]) -> str:
    """The last complete month the run's data cover (asked of its workspace: the folder, the
    title page and the body then name the same period); on the synthetic demo data without
    that, the last month the demo covers (its truth.json ``window.end``); else today's."""
    from cityanalytics.compare.data import latest_complete_month

    for _, path, kind in paths:
        if kind == "dir" and path.is_dir():
            try:
                return str(latest_complete_month(path))
            except (ValueError, FileNotFoundError, OSError):
                continue  # not a folder of tables, or nothing dated in it
    truth = manifest.demo_truth(paths)
    end = str(((truth or {}).get("window") or {}).get("end", ""))[:7]
    return end if layout.PERIOD_PATTERN.match(end) else layout.default_period()


# --- running --------------------------------------------------------------------------------


def run_jobs(jobs: list[Job], n_jobs: int = 1, progress: bool = True, executor=None,
             task=runner.run_job) -> list[dict]:
    """Run every job; failed ones are reported as they finish and do not stop the others.
    ``executor``: a ``concurrent.futures`` executor to run them on instead of ``n_jobs`` local
    processes (a Dask cluster's, ``cluster.run_jobs``); ``task``: the per-job function."""
    from tqdm import tqdm

    jobs_by_label = {j.label: j for j in jobs}
    ready = [j for j in jobs if j.error is None]
    early = [task(j) for j in jobs if j.error is not None]  # nothing to execute: record the failure
    pool = futures = None
    if executor is not None and ready:
        pool = executor
    elif n_jobs > 1 and len(ready) > 1:
        pool = ProcessPoolExecutor(max_workers=min(n_jobs, len(ready)), mp_context=_pool_context())
    if pool is not None:
        futures = {pool.submit(task, job): job for job in ready}  # workers start here
    # The progress bar starts a monitor thread: only after the workers were forked.
    bar = tqdm(total=len(jobs), desc="reports", unit="report", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    results: list[dict] = []

    def finished(meta: dict) -> None:
        results.append(meta)
        bar.update(1)
        if meta["status"] != "ok":
            bar.write(describe_failure(meta, jobs_by_label[_label(meta)].target), file=sys.stderr)

    try:
        for meta in early:
            finished(meta)
        if pool is None:
            for job in ready:
                bar.set_postfix_str(job.label)
                finished(task(job))
        else:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    meta = future.result()
                except Exception as exc:  # the worker process itself died
                    crash = {"phase": "worker", "ename": type(exc).__name__, "evalue": str(exc) or "worker died"}
                    meta = task(dataclasses.replace(job, error=crash))
                finished(meta)
            pool.shutdown()
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        bar.close()
    order = {j.label: i for i, j in enumerate(jobs)}
    return sorted(results, key=lambda m: order.get(_label(m), len(order)))


def _pool_context():
    """Linux, in a process with no other thread (the command line): fork, so the workers start
    with the pipeline already imported (about 4 s per worker here, nbformat's jsonschema alone
    ~3 s). Otherwise spawn: the safe choice with threads around, on macOS, and on Windows."""
    import threading

    fork = sys.platform.startswith("linux") and threading.active_count() == 1
    return multiprocessing.get_context("fork" if fork else "spawn")


def _label(meta: dict) -> str:
    return meta["run"] + (f"/{meta['unit']}" if meta.get("unit") else "")


def describe_failure(meta: dict, target: Path) -> str:
    err = meta.get("error") or {}
    where = ""
    if err.get("cell_index") is not None:
        count = err.get("execution_count")
        where = f" in cell {err['cell_index']}" + (f" (In [{count}])" if count else "")
    lines = [f"FAILED {_label(meta)} [{err.get('phase', '?')}]{where}: {err.get('ename', 'Error')}: {err.get('evalue', '')}"]
    if err.get("source"):
        lines += ["    | " + line for line in str(err["source"]).splitlines()[:6]]
    failed = target / layout.FAILED_DIR
    if (failed / "report.ipynb").exists():
        lines.append(f"    notebook kept at {failed / 'report.ipynb'}")
    if (target / "report.html").exists():
        lines.append(f"    last good report left in place: {target / 'report.html'}")
    return "\n".join(lines)


def summary(results: list[dict], seconds: float, index_path: Path | None) -> str:
    ok = sum(1 for m in results if m["status"] == "ok")
    lines = [f"{ok} of {len(results)} reports ok, {len(results) - ok} failed, {seconds:.1f} s"]
    if index_path is not None:
        lines.append(f"index: {index_path}")
    return "\n".join(lines)
