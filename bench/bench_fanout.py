"""Time a fan-out batch: the comparison report for every unit of a bigger demo city, with PDFs.

    python -m bench fanout                         # 300 units, all of them reported, --jobs 2
    BENCH_FANOUT_LIMIT=40 python -m bench fanout   # report the first 40 units only, extrapolate
    BENCH_FANOUT_UNITS=1300 BENCH_FANOUT_JOBS=4 python -m bench fanout

Builds ``cityanalytics demo --units N`` in a temporary folder, writes a run file like
``params/district_report.yaml`` on it, then runs ``cityanalytics run`` twice as child
processes: one unit alone (the first report's time, the city-wide bundle computed in it),
then the batch (every unit, or the first ``BENCH_FANOUT_LIMIT``). The marginal time of an
extra unit is (batch wall - first report's wall) / (units - 1). Prints the breakdown per
report from the manifests (kernel start/stop, cells, HTML, PDF) and the batch's
``uptime`` load. Never fails on timing.
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

import yaml

ROOT = Path(__file__).resolve().parents[1]
PERIOD = "2025-06"
TARGET_MARGINAL_SHARE, TARGET_BATCH_S = 0.15, 300.0
PHASES = ("kernel_overhead", "cells", "html", "pdf", "total")


def _run(run_file: Path, outputs: Path, jobs: int) -> tuple[float, int, list[dict]]:
    cmd = [sys.executable, "-m", "cityanalytics.cli", "run", str(run_file), "--jobs", str(jobs), "--period", PERIOD,
           "--outputs", str(outputs), "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print((proc.stdout + proc.stderr)[-3000:], file=sys.stderr)
    manifests = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((outputs / PERIOD).rglob("manifest.json"))
                 if "failed" not in p.parts]
    return wall, proc.returncode, manifests


def _run_file(folder: Path, workspace: Path, units: list[str]) -> Path:
    spec = yaml.safe_load((ROOT / "params" / "district_report.yaml").read_text(encoding="utf-8"))
    spec["parameters"]["workspace"] = str(workspace)
    spec["units"] = units
    path = folder / "params" / "fanout.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _breakdown(manifests: list[dict]) -> dict[str, float]:
    n = max(len(manifests), 1)
    return {k: sum(m["timings"].get(k, 0.0) for m in manifests) / n for k in PHASES}


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    n_units = int(os.environ.get("BENCH_FANOUT_UNITS", "300"))
    limit = int(os.environ.get("BENCH_FANOUT_LIMIT", "0")) or n_units
    jobs = int(os.environ.get("BENCH_FANOUT_JOBS", "2"))
    work = Path(tempfile.mkdtemp(prefix="bench_fanout_"))
    try:
        demo = work / "demo"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cityanalytics.cli", "demo", "--out", str(demo), "--units", str(n_units)],
                       cwd=ROOT, check=True, capture_output=True)
        import pandas as pd

        districts = pd.read_parquet(demo / "districts.parquet")
        units = districts.loc[districts["level"].isin(["街道", "镇", "功能区"])
                              & ~districts["unit_id"].isin(["990102101000"]), "unit_id"].tolist()  # not the retired town
        print(f"machine: {os.cpu_count()} cores; demo city of {len(units)} units built in {time.perf_counter() - t0:.1f} s; "
              f"period {PERIOD}; --jobs {jobs}")
        print(f"load before: {_load()}")
        first_wall, code1, first = _run(_run_file(work / "one", demo, units[:1]), work / "out_one", 1)
        batch_units = units[:limit]
        wall, code, manifests = _run(_run_file(work / "batch", demo, batch_units), work / "out_batch", jobs)
        print(f"load after:  {_load()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = sum(m["status"] == "ok" for m in manifests)
    marginal = (wall - first_wall) / max(len(batch_units) - 1, 1)
    whole = wall if limit >= len(units) else first_wall + marginal * (len(units) - 1)
    print(f"\nfirst report (one unit, own process, bundle computed): {first_wall:.1f} s wall, exit {code1}")
    print(f"batch of {len(batch_units)} units: {wall:.1f} s wall, {ok} ok, exit {code}")
    share = marginal / first_wall if first_wall else float("nan")
    print(f"marginal time per extra unit: {marginal:.2f} s = {share:.0%} of the first report "
          f"({'meets' if share <= TARGET_MARGINAL_SHARE else 'MISSES'} target <= {TARGET_MARGINAL_SHARE:.0%})")
    label = "measured" if limit >= len(units) else f"extrapolated from {len(batch_units)} units"
    print(f"whole batch of {len(units)} units: {whole:.0f} s ({label}; "
          f"{'meets' if whole <= TARGET_BATCH_S else 'MISSES'} target <= {TARGET_BATCH_S:.0f} s)")
    for name, ms in (("first report", first), ("batch, mean per report", manifests)):
        b = _breakdown(ms)
        print(f"  {name:<24} kernel start/stop {b['kernel_overhead']:5.1f} s, cells {b['cells']:5.1f} s, "
              f"HTML {b['html']:4.1f} s, PDF {b['pdf']:4.1f} s, report total {b['total']:5.1f} s")
    if manifests:
        b = _breakdown(manifests)
        print(f"  PDFs alone for {len(units)} units at --jobs {jobs}: about {b['pdf'] * len(units) / jobs:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
