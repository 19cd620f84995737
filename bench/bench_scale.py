"""Case indicators by unit and month on 100 million demo cases, larger than this machine's memory.

    python -m bench scale                          # 100M cases (about 11 GB of Parquet)
    python -m bench scale --cases 20000000         # smaller
    python bench/bench_scale.py --data DIR         # reuse a demo directory (cases.parquet)
    python bench/bench_scale.py --keep DIR         # write the data to DIR and keep it

The demo's cases are written chunk by chunk (``cityanalytics.demo.write_demo`` streams about
1.5M rows per Parquet row group; the whole table is never in memory). Then, each in its own
child process as in ``bench indicators`` (timed inside the child; peak memory is the child's
max RSS from ``os.wait4``, DuckDB's native memory included):

- ``ours``: ``case_indicators(parquet, freq="M", indicators=[counts and rates])`` through Ibis
  on DuckDB, the IndicatorFrame with its intervals (the Kaplan-Meier durations need every
  case's hours in memory and are left out at this size);
- ``sql``: the hand-written DuckDB query over the same file.

Their counts are checked to be identical. Target: peak memory under 4 GiB. Never fails on
timing; prints the load average, since the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.bench_indicators import measure  # noqa: E402  (one child runner for both benchmarks)

TARGET_GIB = 4.0
VARIANTS = ("ours", "sql")


def write_cases(out: Path, n: int) -> Path:
    from cityanalytics.demo import write_demo

    t0, cpu0 = time.perf_counter(), time.process_time()
    path = write_demo(out, n_cases=n)["cases"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"wrote {n:,} demo cases in {time.perf_counter() - t0:,.0f} s ({time.process_time() - cpu0:,.0f} s CPU), "
          f"{path.stat().st_size / 2**30:.2f} GiB of Parquet; writer's peak memory {peak:.2f} GiB", flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=float, default=float(os.environ.get("BENCH_SCALE_CASES", "100000000")),
                        help="demo cases to write (default 100M)")
    parser.add_argument("--data", help="a demo directory with cases.parquet (skips writing)")
    parser.add_argument("--keep", help="write the demo to this directory and keep it")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--write", nargs=2, metavar=("DIR", "N"), help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)  # ``python -m bench scale`` leaves "scale" in argv
    if args.write:
        write_cases(Path(args.write[0]), int(args.write[1]))
        return 0

    import pandas as pd
    import pyarrow.parquet as pq

    print(f"cpu cores: {os.cpu_count()}; load average at the start: {os.getloadavg()[0]:.1f}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        if args.data:
            path = Path(args.data) / "cases.parquet"
        else:
            out = Path(args.keep) if args.keep else tmp / "demo"
            free = shutil.disk_usage(out.parent if out.parent.exists() else tmp).free / 2**30
            need = args.cases * 120 / 2**30  # about 120 bytes per case in zstd Parquet
            if need > free * 0.9:
                print(f"not enough disk: {args.cases:,.0f} cases need about {need:.0f} GiB, {free:.0f} GiB free")
                return 1
            # In a child process: a child's peak RSS counts its parent's from before the fork,
            # so the parent that later starts the measured children must stay small.
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--write", str(out), str(int(args.cases))],
                           check=True, cwd=str(ROOT))
            path = out / "cases.parquet"
        rows, size = pq.ParquetFile(path).metadata.num_rows, path.stat().st_size
        best: dict[str, dict] = {}
        for r in range(args.repeat):
            for variant in VARIANTS:
                info = measure(variant, path, tmp / f"{variant}.parquet")
                info["max_rss_gib"] = max(info["max_rss_gib"], info.get("hwm_gib", 0))
                print(f"  run {r + 1} {variant:<5} {info['seconds']:8.1f} s wall {info['cpu']:8.1f} s CPU  "
                      f"peak {info['max_rss_gib']:.2f} GiB  (load average {os.getloadavg()[0]:.1f})", flush=True)
                b = best.setdefault(variant, dict(info))
                b["seconds"], b["cpu"] = min(b["seconds"], info["seconds"]), min(b["cpu"], info["cpu"])
                b["max_rss_gib"] = max(b["max_rss_gib"], info["max_rss_gib"])
        tables = {v: pd.read_parquet(tmp / f"{v}.parquet") for v in VARIANTS}
        same = tables["ours"].equals(tables["sql"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ours, sql = best["ours"], best["sql"]
    print(f"\ncases: {rows:,} ({size / 2**30:.2f} GiB); unit-month rows: {len(tables['sql']):,}")
    for v, b in best.items():
        print(f"{v:<5} wall {b['seconds']:8.1f} s  CPU {b['cpu']:8.1f} s  peak memory {b['max_rss_gib']:.2f} GiB")
    print(f"ours (Ibis on DuckDB)/SQL = {ours['seconds'] / sql['seconds']:.2f} wall, {ours['cpu'] / sql['cpu']:.2f} CPU; "
          f"ours peak {ours['max_rss_gib']:.2f} GiB (target < {TARGET_GIB} GiB: "
          f"{'met' if ours['max_rss_gib'] < TARGET_GIB else 'NOT met'})")
    print(f"counts identical to the SQL query: {'yes' if same else 'NO'}; "
          f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as exc:  # a benchmark reports, it does not fail
        print(f"benchmark could not run: {exc!r}")
