"""``cityanalytics reports``: every scheduled run (``params/schedule.yaml``), the main job."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cityanalytics.report.cli_run import add_common, execute_jobs

HELP = "Execute every scheduled run (params/schedule.yaml): the main job."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this run (params/NAME.yaml); repeat for several")
    parser.add_argument("--every", choices=("monthly", "weekly", "daily"),
                        help="only the runs scheduled this often (one cron line per frequency)")
    parser.add_argument("--schedule", type=Path, default=Path("params/schedule.yaml"),
                        help="schedule file (default: params/schedule.yaml)")
    parser.add_argument("--workspace", type=Path, metavar="DIR",
                        help="run DIR/params/schedule.yaml on a data workspace (paths read against DIR, "
                             "reports in DIR/outputs)")
    add_common(parser)


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def run(args: argparse.Namespace) -> int:
    from cityanalytics.report import batch, layout
    from cityanalytics.report.cli_run import make_planner

    schedule_path = args.schedule.resolve()
    root = layout.project_root(schedule_path)
    try:
        if getattr(args, "workspace", None) is not None:
            from cityanalytics.workspace.runs import workspace_batch

            schedule_path, root, args.outputs = workspace_batch(args.workspace, args.outputs)
        schedule = batch.load_schedule(schedule_path)
    except ValueError as exc:  # no such workspace, a broken schedule
        print(f"error: {exc}", file=sys.stderr)
        return 2
    planner = make_planner(args, root)
    if planner is None:
        return 2
    planner.default_timeout = schedule.timeout
    planner.default_memory, planner.default_time_limit = schedule.memory, schedule.time_limit
    entries = [e for e in schedule.entries if args.every is None or e.every == args.every]
    if args.only:
        known = {e.run: e for e in schedule.entries}
        entries = []
        for name in args.only:
            try:
                layout.check_name(name, "--only")
            except layout.UnsafeName as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            if name not in known and not (schedule_path.parent / f"{name}.yaml").is_file():
                print(f"error: --only {name}: not in {schedule_path} and no {name}.yaml beside it", file=sys.stderr)
                return 2
            entries.append(known.get(name) or batch.Entry(name))
    if not entries:
        print("nothing to run", file=sys.stderr)
        return 0
    jobs = []
    for entry in entries:
        jobs += planner.plan(schedule_path.parent / f"{entry.run}.yaml", timeout=entry.timeout, memory=entry.memory,
                             time_limit=entry.time_limit)
    order = [e.run for e in schedule.entries]
    return execute_jobs(planner, jobs, args.jobs or default_jobs(), not args.no_progress, order, cluster=args.cluster)
