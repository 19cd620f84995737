"""Time ``cityanalytics reports`` on the demo data with ``--jobs 1`` and ``--jobs 2``.

    python -m bench reports              # or: python bench/bench_reports.py
    BENCH_REPORTS_JOBS="1 2 4" python -m bench reports

Each batch runs as a child process (the command a user types), into its own temporary
outputs directory, for the period 2025-06. Besides wall time, the manifests give each
report's seconds per phase: kernel start and shutdown (``kernel_overhead``), the cells,
HTML and PDF. Prints figures and ratios against the targets; never fails on timing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PERIOD = "2025-06"
TARGET_TOTAL_S, TARGET_SPEEDUP, TARGET_EXPORT_SHARE = 90.0, 1.6, 1 / 3


def _batch(jobs: int, outputs: Path) -> tuple[float, int, list[dict]]:
    cmd = [sys.executable, "-m", "cityanalytics.cli", "reports", "--jobs", str(jobs), "--period", PERIOD,
           "--outputs", str(outputs), "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
    manifests = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((outputs / PERIOD).rglob("manifest.json"))
                 if "failed" not in p.parts]
    return wall, proc.returncode, manifests


def _mark(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main() -> int:
    job_counts = [int(j) for j in os.environ.get("BENCH_REPORTS_JOBS", "1 2").split()]
    # Build the demo data first (if missing) so no batch is charged for it.
    subprocess.run([sys.executable, "-c", "from pathlib import Path; from cityanalytics.report.cli_run import "
                    f"ensure_demo_data; p = Path({str(ROOT)!r}); "
                    "ensure_demo_data(p, [('data_dir', (p / 'data/demo').resolve(), 'dir')])"], cwd=ROOT, check=True)
    print(f"machine: {os.cpu_count()} cores; period {PERIOD}; schedule {ROOT / 'params' / 'schedule.yaml'}")
    walls: dict[int, float] = {}
    for jobs in job_counts:
        outputs = Path(tempfile.mkdtemp(prefix=f"bench_reports_j{jobs}_"))
        try:
            wall, code, manifests = _batch(jobs, outputs)
        finally:
            shutil.rmtree(outputs, ignore_errors=True)
        walls[jobs] = wall
        print(f"\n--jobs {jobs}: {len(manifests)} reports, exit {code}, wall {wall:.1f} s "
              f"({_mark(wall < TARGET_TOTAL_S)} < {TARGET_TOTAL_S:.0f} s)")
        print(f"  {'report':<36} {'total':>6} {'kernel':>6} {'cells':>6} {'html':>5} {'pdf':>5} "
              f"{'outside':>8} {'export/exec':>11}")
        sums = dict.fromkeys(("total", "kernel_overhead", "cells", "execute", "html", "pdf"), 0.0)
        for m in manifests:
            t = m["timings"]
            for k in sums:
                sums[k] += t.get(k, 0.0)
            outside = (t["total"] - t["cells"]) / t["total"]
            export = (t.get("html", 0) + t.get("pdf", 0)) / t["execute"]
            label = m["run"] + (f"/{m['unit']}" if m.get("unit") else "")
            print(f"  {label:<36} {t['total']:6.1f} {t['kernel_overhead']:6.1f} {t['cells']:6.1f} "
                  f"{t.get('html', 0):5.1f} {t.get('pdf', 0):5.1f} {outside:8.0%} {export:11.0%}")
        if manifests:
            export_share = (sums["html"] + sums["pdf"]) / sums["execute"]
            print(f"  all reports: time outside the cells (kernel start/stop, HTML, PDF) "
                  f"{(sums['total'] - sums['cells']) / sums['total']:.0%} of report time; "
                  f"kernel start/stop {sums['kernel_overhead']:.1f} s, HTML {sums['html']:.1f} s, PDF {sums['pdf']:.1f} s")
            print(f"  export (HTML+PDF) / execution (kernel+cells) = {export_share:.2f} "
                  f"({_mark(export_share < TARGET_EXPORT_SHARE)} < {TARGET_EXPORT_SHARE:.2f})")
    if 1 in walls and 2 in walls:
        speedup = walls[1] / walls[2]
        print(f"\nspeed-up --jobs 2 vs --jobs 1: {speedup:.2f}x ({_mark(speedup >= TARGET_SPEEDUP)} >= {TARGET_SPEEDUP}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
