"""``cityanalytics diff NEW OLD``: what changed between two periods of a report, in the terminal.

Reads the results both report folders stored (``history``) and prints the same comparison as
the report's change section (``changes``): rank moves beyond the rank intervals (and how many
are noise), units entering and leaving the red and black lists, targets whose status changed,
estimates outside the earlier period's interval. Exit 0; 2 when a folder has no stored results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Print what changed between two periods of a report (rank moves, lists, targets, estimates)."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("new", type=Path, help="the later report folder, e.g. outputs/2025-06/district_comparison")
    parser.add_argument("old", type=Path, help="the earlier report folder, e.g. outputs/2025-05/district_comparison")


def run(args: argparse.Namespace) -> int:
    from cityanalytics.report import changes, history

    loaded = []
    for folder in (args.new, args.old):
        try:
            loaded.append((history.read_index(folder), history.load_all(folder)))
        except history.NoResults as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    (new_index, new), (old_index, old) = loaded
    if (new_index.get("run"), new_index.get("unit")) != (old_index.get("run"), old_index.get("unit")):
        print(f"note: comparing different reports: {new_index.get('run')}/{new_index.get('unit') or ''} with "
              f"{old_index.get('run')}/{old_index.get('unit') or ''}", file=sys.stderr)
    result = changes.compare(new, old, period=new_index.get("period") or str(args.new),
                             previous_period=old_index.get("period") or str(args.old))
    print(result.text())
    return 0
