"""A batch's reports on a Dask distributed cluster (``--cluster ADDRESS``).

Each report is one task: the worker runs ``runner.run_job``, the same function a ``--jobs``
worker process runs (parameters injected, kernel, HTML, PDF, manifest, atomic publish, lock,
failure page), and returns its manifest. The batch collects the manifests as ``--jobs`` does
(``batch.run_jobs`` with the cluster as its executor): a failed report is reported and does
not stop the others; a worker that dies (``KilledWorker`` after the scheduler's retries) fails
that report alone, its failure page written from this process.

Where the reports go:

- a folder (``--outputs /shared/outputs``) that every worker and this process see at the same
  path (NFS, SMB, a cluster file system): the workers publish into it directly, exactly as a
  local run does, and this process writes the period's index.
- an fsspec URL (``s3://bucket/outputs``, ``file:///shared/outputs``, ``memory://...``): each
  worker makes the report in a local staging folder (``stage_dir``) and uploads the finished
  report folder; the index is made from the manifests downloaded from the URL and uploaded.
  Object storage has no atomic rename and no lock: a report's new files are uploaded over the
  old ones first and only then are files the new report does not have removed, so a reader
  never finds a report folder without its files; two batches writing the same period at the
  same time are not detected.

Every worker needs the project (notebooks, run files, data) at the same path as this process,
the same Python environment (with this package) and, for PDFs, Chromium and the CJK font.
``dask`` and ``distributed`` are imported only here, only when ``--cluster`` is given.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line imports this module to read --outputs: keep it light
    from concurrent.futures import Executor

    from cityanalytics.report.runner import Job

EXTRA = "cluster"
INSTALL = f"pip install 'cityanalytics[{EXTRA}]' (dask and distributed)"
CONNECT_TIMEOUT = 30  # seconds to reach the scheduler
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# Files of a report folder the index reads: its manifest (a good report's or the failed
# attempt's) and the PDF whose hash a sign-off compares; plus the period's sign-off records.
_INDEX_INPUTS = ("manifest.json", "report.pdf")


class ClusterError(RuntimeError):
    """The cluster cannot be used: the extra is missing, or the scheduler cannot be reached."""


# --- where the reports go ------------------------------------------------------------------


def is_url(text: str | Path) -> bool:
    return isinstance(text, str) and bool(_URL.match(text))


_REMOTE: dict[str, str] = {}  # stage folder -> the URL its reports are uploaded to


def outputs_argument(text: str) -> Path:
    """``--outputs``: a folder, or an fsspec URL, which becomes its local stage folder (``stage_dir``;
    ``remote_url`` gives the URL back), so planning works on a folder either way."""
    if not is_url(text):
        return Path(text)
    stage = stage_dir(text)
    _REMOTE[str(stage.resolve())] = text
    return stage


def remote_url(outputs: Path) -> str | None:
    """The URL reports made in ``outputs`` go to, when ``--outputs`` named one."""
    return _REMOTE.get(str(Path(outputs).resolve()))


def stage_dir(url: str) -> Path:
    """The local folder where reports bound for ``url`` are made before upload: the same path
    on this machine and on every worker (a local temporary folder, one per URL)."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"cityanalytics-stage-{digest}"


def _filesystem(url: str):
    try:
        import fsspec
    except ImportError:
        raise ClusterError(f"outputs {url}: writing to a URL needs fsspec: {INSTALL}") from None
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path.rstrip("/")


def _relative(target: Path, stage: Path) -> str:
    return target.relative_to(stage).as_posix()


def upload_folder(local: Path, fs, remote: str) -> None:
    """Copy the finished folder ``local`` to ``remote``: every file first, then remove the remote
    files the new folder does not have (a reader sees the old or the new file, never none)."""
    local = Path(local)
    wanted = set()
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        rel = path.relative_to(local).as_posix()
        wanted.add(rel)
        fs.makedirs(f"{remote}/{rel}".rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(path), f"{remote}/{rel}")
    if not fs.exists(remote):
        return
    for name in fs.find(remote):
        if _inside(name, remote) not in wanted:
            fs.rm_file(name)


def _inside(name: str, folder: str) -> str:
    """``name`` (as ``fs.find`` lists it) relative to ``folder`` (as ``url_to_fs`` gave it)."""
    name, folder = name.lstrip("/"), folder.strip("/")
    if not name.startswith(folder + "/"):
        raise ValueError(f"{name} is not inside {folder}")
    return name[len(folder) + 1:]


def fetch_earlier_results(job: Job, url: str) -> None:
    """Copy the stored results (``results/``) of the same run and unit in the other periods at
    ``url`` into the stage, so the report's comparison with earlier periods
    (``history.earlier``) finds what it would find in a shared folder."""
    from cityanalytics.report import history, layout

    fs, root = _filesystem(url)
    stage = stage_dir(url)
    report = _relative(job.target, stage).split("/", 1)[1]  # <run>[/<unit>]
    if not fs.exists(root):
        return
    for entry in fs.ls(root, detail=False):
        period = entry.rstrip("/").rsplit("/", 1)[-1]
        remote = f"{entry.rstrip('/')}/{report}/{history.RESULTS}"
        if period == job.period or not layout.PERIOD_PATTERN.match(period) or not fs.exists(remote):
            continue
        local = stage / period / report / history.RESULTS
        shutil.rmtree(local, ignore_errors=True)
        for name in fs.find(remote):
            path = local / _inside(name, remote)
            path.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(name, str(path))


def run_and_upload(job: Job, url: str) -> dict:
    """Make one report in the local stage (with the earlier periods' results fetched from
    ``url``), then upload what ``run_job`` published there: the report folder (replacing the
    remote one) or, for a failed attempt, its ``failed`` folder (the last good report stays).
    A fetch or upload that fails makes the report failed (phase output)."""
    from cityanalytics.report import layout, runner

    if job.error is None:
        try:
            fetch_earlier_results(job, url)
        except Exception as exc:
            job = dataclasses.replace(job, error={"phase": "output", "ename": type(exc).__name__,
                                                  "evalue": f"reading earlier periods' results from {url} failed: {exc}"})
    meta = runner.run_job(job)
    stage = stage_dir(url)
    folder = job.target if meta["status"] == "ok" else job.target / layout.FAILED_DIR
    if not folder.is_dir():  # nothing was written (a lock held, an unsafe folder): nothing to upload
        return meta
    try:
        fs, root = _filesystem(url)
        upload_folder(folder, fs, f"{root}/{_relative(folder, stage)}")
    except Exception as exc:
        meta.update(status="failed", error={"phase": "output", "ename": type(exc).__name__,
                                            "evalue": f"the report was made but uploading it to {url} failed: {exc}"})
    return meta


def write_remote_index(url: str, period: str, order: list[str] | None, notes: list[str] | None) -> str:
    """Build the period's index from the manifests (and sign-off records, PDFs) at ``url`` and
    upload it; returns the index's URL."""
    from cityanalytics.report import index, signoff

    fs, root = _filesystem(url)
    remote_period = f"{root}/{period}"
    with tempfile.TemporaryDirectory(prefix="cityanalytics-index-") as tmp:
        mirror = Path(tmp)
        if fs.exists(remote_period):
            for name in fs.find(remote_period):
                rel = _inside(name, remote_period)
                base = rel.rsplit("/", 1)[-1]
                if base in _INDEX_INPUTS or rel == signoff.RECORDS:
                    local = mirror / period / rel
                    local.parent.mkdir(parents=True, exist_ok=True)
                    fs.get_file(name, str(local))
        path = index.write_index(mirror, period, order, notes=notes)
        fs.makedirs(remote_period, exist_ok=True)
        fs.put_file(str(path), f"{remote_period}/index.html")
    return f"{url.rstrip('/')}/{period}/index.html"


# --- the cluster -----------------------------------------------------------------------------


def connect(address: str):
    """A ``distributed.Client`` on the scheduler at ``address`` (``tcp://host:8786``)."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(f"--cluster needs the optional '{EXTRA}' extra: {INSTALL}") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"--cluster {address}: cannot reach the Dask scheduler: {exc}") from None


def _executor(client) -> Executor:
    """The client as a ``concurrent.futures`` executor whose ``shutdown`` takes
    ``cancel_futures`` as ``ProcessPoolExecutor``'s does (``batch.run_jobs`` calls it so)."""
    from distributed.cfexecutor import ClientExecutor

    class _Tasks(ClientExecutor):
        def shutdown(self, wait=True, *, cancel_futures=False):
            super().shutdown(wait=wait and not cancel_futures)

    # pure=False: two reports with equal arguments are still two runs, never one cached result
    return _Tasks(client, pure=False)


def run_jobs(jobs: list[Job], address: str, progress: bool, url: str | None = None) -> list[dict]:
    """Every job as one task on the cluster; manifests in the jobs' order, as ``batch.run_jobs``."""
    from cityanalytics.report import batch, runner

    task = runner.run_job if url is None else functools.partial(run_and_upload, url=url)
    if url is not None:
        try:  # before any report: a URL whose file system is not installed or not reachable
            fs, root = _filesystem(url)
            fs.makedirs(root, exist_ok=True)
        except ClusterError:
            raise
        except Exception as exc:
            raise ClusterError(f"--outputs {url}: cannot be written: {type(exc).__name__}: {exc}") from None
    client = connect(address)
    try:
        return batch.run_jobs(jobs, progress=progress, executor=_executor(client), task=task)
    finally:
        client.close()

