"""The ``cityanalytics`` command.

Each subcommand lives in the module that does its job; that module exposes ``HELP`` (one
line), ``configure(parser)`` to add its arguments and ``run(args) -> int`` (the exit code).
Modules are imported only when their subcommand runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS: dict[str, str] = {
    "validate": "cityanalytics.io.cli",
    "demo": "cityanalytics.demo.cli",
    "targets": "cityanalytics.targets",
    "run": "cityanalytics.report.cli_run",
    "reports": "cityanalytics.report.cli_reports",
    "lab": "cityanalytics.lab",
    "map": "cityanalytics.workspace.draft",
    "init": "cityanalytics.workspace.scaffold",
    "build": "cityanalytics.workspace.build",
    "signoff": "cityanalytics.report.signoff",
    "diff": "cityanalytics.report.cli_diff",
}

SUMMARIES: dict[str, str] = {
    "validate": "Load a file into a canonical table and print the load report.",
    "demo": "Write the synthetic demo city (all canonical tables plus the truth file).",
    "targets": "List the plans' numeric targets from the targets registry.",
    "run": "Execute one report run (params/NAME.yaml) with papermill.",
    "reports": "Execute every scheduled run (params/schedule.yaml): the main job.",
    "lab": "Open JupyterLab on notebooks/ with the project kernel registered.",
    "map": "Read an export and draft its recipe block (column mapping with evidence) and a units.csv.",
    "init": "Make a data workspace (recipe, units.csv, targets.yaml, run files) for your own exports.",
    "build": "Turn a workspace's raw exports into canonical tables (tables/*.parquet) following its recipe.",
    "signoff": "Record a reviewer's approval (已审) or rejection (退回) of a report; --verify checks signed reports.",
    "diff": "Print what changed between two periods of a report (rank moves, lists, targets, estimates).",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cityanalytics",
        description="cityanalytics: policy-analysis workbench for urban management (城市管理).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=SUMMARIES[name], description=SUMMARIES[name])
        if only == name:  # import only the module that will run
            importlib.import_module(module_name).configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(SUBCOMMANDS[args.command])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
