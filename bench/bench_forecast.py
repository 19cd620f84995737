"""Time the sorting-coverage forecast on a national county-level run: 3,000 units with backtests.

    python -m bench forecast                  # or: python bench/bench_forecast.py
    BENCH_FORECAST_UNITS=3000 BENCH_FORECAST_SIZES=500,1000,2000,3000 python -m bench forecast

Makes a synthetic register (about 200 communities per county, logistic adoption with random
ceilings, rates and midpoints, a few data corrections, flat and short histories), builds the
monthly series from it and runs ``forecast_coverage`` with the default models, a four-origin
backtest and 1,000 paths per unit. Prints the wall and CPU time of each step (the machine may
be shared: CPU time is the steadier figure), how the time grows with the number of units and
with the number of months, and the peak memory. Never fails on timing.
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np
import pandas as pd

TARGET_SECONDS = 60
START = pd.Timestamp("2019-01-01")
END = pd.Timestamp("2025-06-30")


def national_register(n_units: int, seed: int = 0) -> pd.DataFrame:
    """A made-up register: one row per community, ``n_units`` counties."""
    rng = np.random.default_rng(seed)
    sizes = np.clip(np.round(rng.lognormal(np.log(150), 0.7, n_units)), 5, 3000).astype(int)
    ceiling = np.where(rng.random(n_units) < 0.7, 1.0, rng.uniform(0.85, 0.99, n_units))
    rate = rng.uniform(0.8, 2.5, n_units)  # per year
    mid = rng.uniform(1.5, 5.5, n_units)  # years after START
    unit = np.repeat(np.arange(n_units), sizes)
    u = rng.random(len(unit))
    k, r, t0 = ceiling[unit], rate[unit], mid[unit]
    x = np.clip(u / k, 1e-9, 1 - 1e-9)
    years = t0 + np.log(x / (1 - x)) / r
    launch = 0.5
    years = np.where(years < launch, launch, years)
    started = START + pd.to_timedelta(np.round(years * 365.25), unit="D")
    started = pd.Series(started).where((u < k) & (started <= END))
    # short histories: a few units only joined the programme in 2025
    late = rng.random(n_units) < 0.01
    started = started.where(~late[unit] | (started >= pd.Timestamp("2025-05-01")))
    frame = pd.DataFrame({
        "community_id": [f"C{i:07d}" for i in range(len(unit))],
        "unit_id": [f"U{j:04d}" for j in unit],
        "area_type": "城市",
        "households": np.clip(np.round(rng.lognormal(np.log(400), 0.5, len(unit))), 20, None).astype(int),
        "sorting_started_on": started,
        "compliant_on": pd.NaT,
    })
    return frame


def run(n_units: int, months: int | None = None, n_paths: int = 1000) -> dict:
    from cityanalytics.forecast import Target, coverage_series, forecast_coverage

    reg = national_register(n_units)
    if months is not None:  # the data begin ``months`` months before the end
        first = (END.to_period("M") - months + 1).start_time
        reg = reg.assign(sorting_started_on=reg["sorting_started_on"].clip(lower=first))
    t0, c0 = time.perf_counter(), time.process_time()
    series = coverage_series(reg, as_of=END)
    t1 = time.perf_counter()
    res = forecast_coverage(series, Target(98, "2025-12-31"), n_paths=n_paths)
    t2, c2 = time.perf_counter(), time.process_time()
    return {"units": n_units, "months": len(series.months), "communities": len(reg), "series_s": t1 - t0,
            "forecast_s": t2 - t1, "total_s": t2 - t0, "cpu_s": c2 - c0, "result": res}


def main() -> int:
    try:
        n = int(os.environ.get("BENCH_FORECAST_UNITS", "3000"))
        sizes = [int(s) for s in os.environ.get("BENCH_FORECAST_SIZES", "250,1000,3000").split(",")]
        month_grid = [int(s) for s in os.environ.get("BENCH_FORECAST_MONTHS", "24,48,72").split(",")]
        print(f"cpu cores: {os.cpu_count()}; paths per unit: 1000; backtest: 4 origins x 12 months x 4 models "
              "(3 simulated, the ensemble mixes two), 200 paths")
        main_run = run(n)
        res = main_run["result"]
        status = res.table["status"].value_counts().to_dict()
        models = res.table["model"].replace("", "—").value_counts().to_dict()
        print(f"\n{n:,} units ({main_run['communities']:,} communities, {main_run['months']} months):")
        print(f"  series from the register: {main_run['series_s']:.1f} s")
        print(f"  backtest + choice + forecast: {main_run['forecast_s']:.1f} s")
        print(f"  total: {main_run['total_s']:.1f} s wall (target < {TARGET_SECONDS} s), "
              f"{main_run['cpu_s']:.1f} s CPU; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"  statuses: {status}; models chosen: {models}")

        print("\ngrowth with units (all months):")
        base = None
        for size in sizes:
            r = main_run if size == n else run(size)
            base = base or r
            print(f"  {size:>6,} units: {r['total_s']:6.1f} s wall, {r['cpu_s']:6.1f} s CPU  "
                  f"({r['cpu_s'] / base['cpu_s']:.2f}x the CPU time for {size / base['units']:.1f}x the units; "
                  f"{1000 * r['cpu_s'] / size:.1f} ms CPU per unit)")
        print(f"\ngrowth with months ({min(1000, n):,} units):")
        base = None
        for m in month_grid:
            r = run(min(1000, n), months=m)
            base = base or r
            print(f"  {r['months']:>3} months: {r['total_s']:6.1f} s wall, {r['cpu_s']:6.1f} s CPU  "
                  f"({r['cpu_s'] / base['cpu_s']:.2f}x the CPU time for "
                  f"{r['months'] / base['months']:.1f}x the months)")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"\npeak memory (max RSS of this process): {rss:.2f} GiB")
    except Exception as exc:  # a benchmark reports, it does not fail
        print(f"benchmark could not run: {exc!r}")
    return 0


if __name__ == "__main__":
    main()
