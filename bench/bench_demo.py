"""Time ``cityanalytics demo`` on 10 million cases: wall time and peak memory (max RSS).

    python -m bench demo                 # or: python bench/bench_demo.py
    BENCH_DEMO_CASES=2000000 python -m bench demo

Runs the command in a child process under ``/usr/bin/time -v`` when it exists (otherwise
from the child's resource usage) and prints the figures. Never fails on timing.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS, TARGET_GIB = 120, 4.0  # the budget for 10 million cases: two minutes, 4 GiB


def _parse_time_v(stderr: str) -> tuple[float | None, float | None]:
    wall = rss_kb = None
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", stderr)
    if m:
        parts = [float(p) for p in m.group(1).split(":")]
        wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    if m:
        rss_kb = float(m.group(1))
    return wall, rss_kb


def main() -> int:
    n = int(os.environ.get("BENCH_DEMO_CASES", "10000000"))
    out = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    cmd = [sys.executable, "-m", "cityanalytics.cli", "demo", "--out", str(out), "--cases", str(n)]
    timer = Path("/usr/bin/time").exists()
    full = (["/usr/bin/time", "-v"] if timer else []) + cmd
    print("command:", " ".join(full), flush=True)
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(full, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        wall_v, rss_kb = _parse_time_v(proc.stderr) if timer else (None, None)
        if rss_kb is None:
            rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB on Linux
        wall = wall_v or wall
        if proc.returncode != 0:
            print(f"demo exited with {proc.returncode}:\n{proc.stderr[-2000:]}")
            return 0
        size = sum(p.stat().st_size for p in out.iterdir()) / 2**20
        gib = rss_kb / 2**20
        print(f"cases: {n:,}")
        print(f"wall time: {wall:.1f} s (target < {TARGET_SECONDS} s)")
        print(f"peak memory (max RSS): {gib:.2f} GiB (target < {TARGET_GIB} GiB)")
        print(f"rows per second: {n / wall:,.0f}; files: {size:,.0f} MiB")
        print(f"cpu cores: {os.cpu_count()}")
    except Exception as exc:  # a benchmark reports, it does not fail
        print(f"benchmark could not run: {exc!r}")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    main()
