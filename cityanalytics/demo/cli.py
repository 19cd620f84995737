"""``cityanalytics demo``: write the synthetic demo city to a directory."""

from __future__ import annotations

import argparse
import sys
import time

HELP = ("Write the synthetic demo city (示范市, all canonical tables plus truth.json) to a directory; "
        "with --workspace, also as a bureau would send it (raw exports and a workspace whose recipe maps them).")


def _count(text: str) -> int:
    n = int(text.replace("_", ""))
    if n < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return n


def configure(parser: argparse.ArgumentParser) -> None:
    from . import DEFAULT_CASES, DEFAULT_SEED

    parser.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--cases", type=_count, default=None, metavar="N",
                        help=f"number of cases (default {DEFAULT_CASES:,}); other tables do not change")
    parser.add_argument("--units", type=_count, default=None, metavar="N",
                        help="current units (streets, towns, the zone) of a bigger city for scale tests (default: "
                             "the demo's ten): each unit but the zone is split into parts with generated names")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                        help="file format of the tables (default parquet; csv is UTF-8)")
    parser.add_argument("--workspace", metavar="DIR", default=None,
                        help="also write the demo city as raw exports (GBK CSV and Excel, Chinese headers, "
                             "title rows, 合计 rows, unit names, one file per month) into DIR/exports, with "
                             "the workspace that maps them (sources.yaml, units.csv, targets.yaml); "
                             "`cityanalytics build DIR` turns them back into the canonical tables")


def run(args: argparse.Namespace) -> int:
    from . import write_demo
    from .truth import LABEL_ZH

    if args.units is not None and args.workspace:
        print("error: --units and --workspace cannot be combined (the raw exports are of the ten-unit city)",
              file=sys.stderr)
        return 2
    if args.units is not None and args.units < 10:
        print(f"error: --units: at least 10 (the demo city's own units), got {args.units}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    files = write_demo(args.out, seed=args.seed, n_cases=args.cases, fmt=args.format)
    from .boundaries import write_boundaries

    files["boundaries"] = write_boundaries(args.out)  # synthetic unit polygons for the maps
    if args.units is not None:
        from .scaled import scale_demo

        files = scale_demo(args.out, files, args.units, args.seed, args.format)
    print(f"{LABEL_ZH} (synthetic demo data) seed={args.seed}")
    for name, path in files.items():
        print(f"  {name:<13} {path}")
    if args.workspace:
        from .exports import write_exports

        t1 = time.perf_counter()
        written = write_exports(args.out, args.workspace)
        n = sum(len(v) for k, v in written.items() if k != "workspace")
        print(f"  workspace     {args.workspace} ({n} raw export files, sources.yaml, units.csv, targets.yaml;"
              f" {time.perf_counter() - t1:.1f} s)")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
