"""Two-way fixed-effects DiD on a national town-level panel: 40,000 units x 60 months.

    python -m bench did                  # or: python bench/bench_did.py
    BENCH_DID_UNITS=10000 BENCH_DID_PERIODS=60 python -m bench did

Times ``cityanalytics.impact.within.ols_fe`` (unit and month effects swept out with
np.bincount, errors clustered by unit) and, in the same run on the same panel, pyfixest's
``feols("y ~ d | unit + month", vcov={"CRV1": "unit"})``. Prints the best of a few repeats
for each, their ratio (target: ours within 1.5x of pyfixest), the largest coefficient and
standard-error differences (target 1e-6; both with the "full" small-sample count, since
pyfixest's default count of nested fixed effects depends on PYTHONHASHSEED in 0.60), and
the peak memory of each, measured in a child process (max RSS). Never fails on timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

TARGET_RATIO, TARGET_DIFF = 1.5, 1e-6
CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
which, U, T, repeats, drop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
rng = np.random.default_rng(20250601)
unit = np.repeat(np.arange(U, dtype=np.int64), T)
month = np.tile(np.arange(T, dtype=np.int64), U)
treated = rng.random(U) < 0.3
start = rng.integers(T // 3, T - 6, U)
d = (treated[unit] & (month >= start[unit])).astype(float)
y = -0.05 * d + rng.normal(0, 0.3, U)[unit] + 0.02 * np.sin(month / 3.0) + rng.normal(0, 0.5, U * T)
if drop > 0:  # an unbalanced panel: some unit-months missing
    keep = rng.random(U * T) >= drop
    unit, month, d, y = unit[keep], month[keep], d[keep], y[keep]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
if which == "ours":
    from cityanalytics.impact.within import ols_fe
    for _ in range(repeats):
        t0 = time.perf_counter()
        f = ols_fe(y, d[:, None], [unit, month], cluster=unit, names=["d"], ssc="full")
        times.append(time.perf_counter() - t0)
    coef, se = float(f.params[0]), float(f.se[0])
else:
    import pandas as pd
    import pyfixest as pf
    df = pd.DataFrame({{"y": y, "d": d, "unit": unit, "month": month}})
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pf.feols("y ~ d | unit + month", data=df.iloc[:1000], vcov={{"CRV1": "unit"}})  # warm-up (JIT)
    for _ in range(repeats):
        t0 = time.perf_counter()
        m = pf.feols("y ~ d | unit + month", data=df, vcov={{"CRV1": "unit"}}, ssc=pf.ssc(k_fixef="full"))
        times.append(time.perf_counter() - t0)
    coef, se = float(m.coef().iloc[0]), float(m.se().iloc[0])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"times": times, "coef": coef, "se": se, "peak_kb": peak, "before_kb": base}}))
"""


def _run(which: str, units: int, periods: int, repeats: int, drop: float = 0.0) -> dict | None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = CHILD.format(root=root)
    proc = subprocess.run([sys.executable, "-c", code, which, str(units), str(periods), str(repeats), str(drop)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"{which}: failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1] if proc.stderr else ''}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _report(ours: dict | None, theirs: dict | None) -> None:
    if ours:
        print(f"cityanalytics ols_fe: {min(ours['times']):.3f} s (runs {', '.join(f'{t:.2f}' for t in ours['times'])}); "
              f"peak memory {ours['peak_kb'] / 2**20:.2f} GiB (data alone {ours['before_kb'] / 2**20:.2f} GiB)")
    if theirs:
        print(f"pyfixest feols:       {min(theirs['times']):.3f} s (runs {', '.join(f'{t:.2f}' for t in theirs['times'])}); "
              f"peak memory {theirs['peak_kb'] / 2**20:.2f} GiB (data + frame {theirs['before_kb'] / 2**20:.2f} GiB)")
    if ours and theirs:
        ratio = min(ours["times"]) / min(theirs["times"])
        dc, ds = abs(ours["coef"] - theirs["coef"]), abs(ours["se"] - theirs["se"])
        print(f"ratio ours / pyfixest: {ratio:.2f} (target <= {TARGET_RATIO}) -> "
              f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}")
        print(f"coefficient {ours['coef']:.8f} vs {theirs['coef']:.8f} (|diff| {dc:.1e}); "
              f"se {ours['se']:.8f} vs {theirs['se']:.8f} (|diff| {ds:.1e}); target {TARGET_DIFF:g} -> "
              f"{'met' if max(dc, ds) <= TARGET_DIFF else 'NOT met'}", flush=True)


def main() -> int:
    units = int(os.environ.get("BENCH_DID_UNITS", "40000"))
    periods = int(os.environ.get("BENCH_DID_PERIODS", "60"))
    repeats = int(os.environ.get("BENCH_DID_REPEATS", "3"))
    try:
        print(f"panel: {units:,} units x {periods} months = {units * periods:,} rows; one treatment dummy; "
              f"unit and month fixed effects; errors clustered by unit; best of {repeats}", flush=True)
        t0 = time.perf_counter()
        for label, drop in (("balanced", 0.0), ("unbalanced, 5% of unit-months missing", 0.05)):
            print(f"-- {label}", flush=True)
            ours = _run("ours", units, periods, repeats, drop)
            theirs = _run("pyfixest", units, periods, repeats, drop)
            _report(ours, theirs)
        print(f"cpu cores: {os.cpu_count()}; total bench time {time.perf_counter() - t0:.0f} s")
    except Exception as exc:  # a benchmark reports, it does not fail
        print(f"benchmark could not run: {exc!r}")
    return 0


if __name__ == "__main__":
    main()
