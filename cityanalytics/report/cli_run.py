"""``cityanalytics run params/NAME.yaml``: one run file (and its units, if it fans out).

Also what ``cityanalytics reports`` shares with it: the options, the planner (which builds
the demo data a run needs when it is missing: the batch itself knows nothing of the demo)
and running the planned jobs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

HELP = "Execute one report run (params/NAME.yaml) with papermill."
DEMO_DIR = Path("data") / "demo"  # the run files' default data, built on first use


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_file", type=Path, help="the run file, e.g. params/data_quality.yaml")
    add_common(parser)


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``cityanalytics reports``."""
    parser.add_argument("--period", help="report period YYYY-MM (default: the last complete month; "
                        "on the demo data, the demo's last month)")
    from cityanalytics.report.cluster import outputs_argument

    parser.add_argument("--outputs", type=outputs_argument, metavar="DIR_OR_URL",
                        help="outputs directory (default: outputs/ in the project); with --cluster also an fsspec "
                        "URL, e.g. s3://bucket/outputs")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run the reports on a Dask distributed cluster, e.g. tcp://scheduler:8786 (each report "
                        "one task; needs the 'cluster' extra; --jobs is then ignored)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="reports run at the same time, each in its own process and kernel "
                        "(default: 1 for run; the number of cores, at most 4, for reports)")
    parser.add_argument("--no-pdf", action="store_true", help="make the HTML only (no browser needed)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--memory", metavar="SIZE",
                        help="memory limit of each report's kernel, e.g. 4GiB or 512MiB (default: the run file's or "
                             "schedule's memory:, else 4GiB)")
    parser.add_argument("--time-limit", type=float, metavar="SECONDS",
                        help="total time for each report, kernel, cells, HTML and PDF (default: the run file's or "
                             "schedule's time_limit:, else 3600)")


def run(args: argparse.Namespace) -> int:
    from cityanalytics.report import layout

    root = layout.project_root(args.run_file)
    from cityanalytics.workspace.runs import workspace_run

    in_workspace = workspace_run(args.run_file, args.outputs)  # DIR/params/NAME.yaml: reports in DIR/outputs
    if in_workspace:
        root, args.outputs = in_workspace
    planner = make_planner(args, root)
    if planner is None:
        return 2
    jobs = planner.plan(args.run_file)
    errors = planner.unplaced + [j.error["evalue"] for j in jobs if j.error is not None]
    if errors:  # a single run with bad parameters: say so, start nothing, write nothing
        for message in errors:
            print(f"error: {message}", file=sys.stderr)
        return 2
    return execute_jobs(planner, jobs, args.jobs or 1, not args.no_progress, order=None, cluster=args.cluster)


def make_planner(args: argparse.Namespace, root: Path):
    """A Planner for the options (building missing demo data), or None after printing why the
    reports cannot be made (a bad option, no CJK font, no browser for the PDFs)."""
    try:
        return _planner(args, root)
    except ValueError as exc:  # a bad --period, --memory, --time-limit
        print(f"error: {exc}", file=sys.stderr)
        return None


def _planner(args: argparse.Namespace, root: Path):
    from cityanalytics.report import batch, layout
    from cityanalytics.report.export import ExportError
    from cityanalytics.fonts import MissingFont

    period = layout.check_period(args.period) if args.period else None  # None: settled by the first run
    outputs = args.outputs if args.outputs else root / "outputs"
    from cityanalytics.report.cluster import remote_url

    if remote_url(outputs) and not getattr(args, "cluster", None):
        print(f"error: --outputs {remote_url(outputs)}: a URL is written by --cluster runs only; give a folder",
              file=sys.stderr)
        return None
    from cityanalytics.report import execute, params

    memory = execute.parse_memory(getattr(args, "memory", None), "--memory")  # ValueError: exit 2
    time_limit = params.check_timeout(getattr(args, "time_limit", None), "--time-limit")
    try:
        planner = batch.Planner(root, outputs, period, pdf=not args.no_pdf, prepare=ensure_demo_data)
    except (MissingFont, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    planner.memory, planner.time_limit = memory, time_limit
    return planner


def ensure_demo_data(root: Path, paths: list[tuple[str, Path, str]]) -> None:
    """Build ``data/demo`` (``cityanalytics.demo.write_demo``) when a run needs it and it is missing.

    Written into a temporary directory beside it and renamed into place, so an interrupted
    build never leaves a half-written demo that looks complete.
    """
    from cityanalytics.report import manifest

    demo = (Path(root) / DEMO_DIR).resolve()
    wanted = any(p == demo or demo in p.parents for _, p, _ in paths)
    if not wanted or (demo / manifest.DEMO_MARKER).is_file():
        return
    from cityanalytics.demo import write_demo

    print(f"[reports] building the demo data in {demo} (first run only) ...", file=sys.stderr, flush=True)
    tmp = demo.parent / f".demo-building-{uuid.uuid4().hex[:8]}"
    try:
        write_demo(tmp)
        if demo.exists():
            shutil.rmtree(demo)
        os.replace(tmp, demo)
    except Exception as exc:
        raise RuntimeError(f"building the demo data failed: {type(exc).__name__}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def execute_jobs(planner, jobs, n_jobs: int, progress: bool, order: list[str] | None,
                 cluster: str | None = None) -> int:
    """``cluster``: a Dask scheduler's address; the reports then run there, one task each."""
    from cityanalytics.report import batch
    from cityanalytics.report.cluster import ClusterError

    from cityanalytics.report import layout

    planner.period = planner.period or layout.default_period()
    start = time.perf_counter()
    try:
        if cluster:
            from cityanalytics.report import cluster as dask_cluster

            results = dask_cluster.run_jobs(jobs, cluster, progress, dask_cluster.remote_url(planner.outputs))
        else:
            results = batch.run_jobs(jobs, n_jobs, progress)
    except ClusterError as exc:  # before any report started: the extra is missing, no scheduler
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished reports are published, unfinished ones left the previous ones in place",
              file=sys.stderr)
        _index(planner, order)
        return 130
    path = _index(planner, order)
    for message in planner.unplaced:
        print(f"FAILED (not run): {message}", file=sys.stderr)
    print(batch.summary(results, time.perf_counter() - start, path))
    failed = planner.unplaced or path is None or any(m["status"] != "ok" for m in results)
    return 1 if failed else 0


def _index(planner, order: list[str] | None):
    """Write the period's index; when the outputs folder cannot be written, say so (exit 1 follows)."""
    from cityanalytics.report import index
    from cityanalytics.report.cluster import remote_url, write_remote_index

    url = remote_url(planner.outputs)
    if url:
        try:
            return write_remote_index(url, planner.period, order, planner.unplaced)
        except Exception as exc:  # fsspec back ends raise their own errors (credentials, network, ...)
            print(f"error: the index of {planner.period} cannot be written to {url}: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return None
    try:
        return index.write_index(planner.outputs, planner.period, order, notes=planner.unplaced)
    except OSError as exc:
        print(f"error: the index of {planner.period} cannot be written in {planner.outputs}: {exc}", file=sys.stderr)
        return None
