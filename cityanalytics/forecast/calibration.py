"""Checks against the truth: do the intervals and probabilities mean what they say?

The demo city's adoption curves are known (``cityanalytics.demo.communities``), and its
truth file carries each unit's *realised* register coverage month by month through 2026-12,
including the months after the data end. That realised coverage is what the forecast is
for, so the checks compare with it, not with the smooth truth curve: the curve is the
expected share, and the register scatters around it by the binomial noise of a few dozen
communities, which a predictive interval must include.

Many cities are stacked into one series (unit ids prefixed by the seed; each city also gets
a row for its total), cut at each origin, and forecast in one call per origin, exactly as
``forecast_coverage`` runs for a user (backtest, model choice, simulation).

    python -m cityanalytics.forecast.calibration            # prints the figures
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from cityanalytics.forecast.api import DEFAULT_MODELS, forecast_coverage
from cityanalytics.forecast.backtest import level_key
from cityanalytics.forecast.series import coverage_series
from cityanalytics.forecast.target import Target

DEFAULT_SEEDS = tuple(range(101, 121))
DEFAULT_ORIGINS = ("2023-06", "2024-03", "2024-12")
DEFAULT_TARGETS = ((98.0, "2025-12-31"), (95.0, "2025-06-30"), (90.0, "2024-12-31"))


def stacked_cities(seeds) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Communities of several demo cities (unit ids "seed:unit", plus "seed:city" rows holding
    every community of that city again) and their realised coverage by month (long table)."""
    from cityanalytics.demo import communities as demo_communities

    frames, truth_rows = [], []
    for seed in seeds:
        df, truth = demo_communities.generate(seed)
        months = pd.PeriodIndex(truth["months"], freq="M")
        df = df.copy()
        units = df["unit_id"].astype(str)
        frames.append(df.assign(unit_id=f"{seed}:" + units))
        frames.append(df.assign(unit_id=f"{seed}:city", community_id=df["community_id"] + "-c"))
        sizes, covered = [], []
        for unit, d in truth["by_unit"].items():
            real = np.asarray(d["coverage_realized"]) * d["communities"]
            truth_rows.append(pd.DataFrame({"unit_id": f"{seed}:{unit}", "period": months,
                                            "covered": np.round(real), "n": d["communities"]}))
            sizes.append(d["communities"])
            covered.append(np.round(real))
        truth_rows.append(pd.DataFrame({"unit_id": f"{seed}:city", "period": months,
                                        "covered": np.sum(covered, axis=0), "n": sum(sizes)}))
    truth = pd.concat(truth_rows, ignore_index=True)
    truth["share"] = 100 * truth["covered"] / truth["n"]
    return pd.concat(frames, ignore_index=True), truth


def run(seeds=DEFAULT_SEEDS, origins=DEFAULT_ORIGINS, targets=DEFAULT_TARGETS, *, horizon: int = 12,
        levels=(0.8, 0.95), n_paths: int = 400, backtest_paths: int = 100, seed: int = 7,
        models=DEFAULT_MODELS) -> dict:
    """Forecast every city at every origin; return the held-out intervals and target predictions.

    Returns ``{"intervals": one row per (unit, origin, month ahead) forecast by a model,
    "targets": one row per (unit, origin, target) with the predicted probability and whether
    the realised register reached it}``.
    """
    communities, truth = stacked_cities(seeds)
    truth = truth.set_index(["unit_id", "period"])
    iv, tg = [], []
    for origin in origins:
        cut = coverage_series(communities, as_of=pd.Period(origin, freq="M").end_time, include_city=False)
        choice = None  # the backtest runs once per origin; other targets reuse its model choice
        for value, deadline in targets:
            target = Target(value, deadline)
            if target.deadline_month <= pd.Period(origin, freq="M"):
                continue
            res = forecast_coverage(cut, target, models=models, levels=levels, n_paths=n_paths,
                                    backtest_paths=backtest_paths, seed=seed, extra_months=0, choice=choice)
            choice = res.extra["choice"]
            t = res.table
            real = truth.reindex(pd.MultiIndex.from_arrays([t["unit_id"], [target.deadline_month] * len(t)]))
            need = np.ceil(value / 100 * real["n"].to_numpy() - 1e-9)
            tg.append(pd.DataFrame({
                "unit_id": t["unit_id"], "origin": origin, "target": value, "deadline": target.deadline_month,
                "status": t["status"], "model": t["model"], "share": t["share"], "p_reach": t["p_reach"],
                "reached": real["covered"].to_numpy() >= need,
            }))
            if (value, deadline) != tuple(targets[0]):
                continue
            fc = res.fan[res.fan["kind"] == "forecast"].copy()
            fc["origin"] = origin
            fc["h"] = [(p - pd.Period(origin, freq="M")).n for p in fc["period"]]
            fc = fc[fc["h"] <= horizon]
            status = t.set_index("unit_id")["status"]
            fc["status"] = fc["unit_id"].map(status)
            fc["actual"] = truth.reindex(pd.MultiIndex.from_arrays([fc["unit_id"], fc["period"]]))["share"].to_numpy()
            for lv in levels:
                k = level_key(lv)
                fc[f"in{k}"] = (fc["actual"] >= fc[f"lo{k}"] - 1e-9) & (fc["actual"] <= fc[f"hi{k}"] + 1e-9)
            iv.append(fc)
    return {"intervals": pd.concat(iv, ignore_index=True), "targets": pd.concat(tg, ignore_index=True),
            "levels": tuple(levels)}


def interval_coverage(result: dict, only_ok: bool = True) -> pd.DataFrame:
    """Share of held-out months inside each interval, by model and overall."""
    f = result["intervals"]
    if only_ok:
        f = f[f["status"] == "ok"]
    cols = {f"cover_{level_key(lv)}": (f"in{level_key(lv)}", "mean") for lv in result["levels"]}
    by_model = f.groupby("model").agg(points=("h", "size"), units=("unit_id", "nunique"), **cols)
    total = f.agg({f"in{level_key(lv)}": "mean" for lv in result["levels"]})
    total.index = [f"cover_{level_key(lv)}" for lv in result["levels"]]
    all_row = pd.DataFrame([{"points": len(f), "units": f["unit_id"].nunique(), **total.to_dict()}], index=["all"])
    return pd.concat([by_model, all_row])


BINS = (0.0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0)


def reliability(result: dict, only_uncertain: bool = False) -> pd.DataFrame:
    """Predicted probability of reaching the target vs the share that did, by probability bin.

    Rows already at the target when forecast (probability 1 by construction) are left out;
    rows without a probability (too little history) too.
    """
    t = result["targets"].dropna(subset=["p_reach"])
    t = t[t["share"] < t["target"] - 1e-9]
    if only_uncertain:
        t = t[(t["p_reach"] > 0.02) & (t["p_reach"] < 0.98)]
    bins = pd.cut(t["p_reach"], BINS, include_lowest=True)
    out = t.groupby(bins, observed=True).agg(n=("reached", "size"), predicted=("p_reach", "mean"),
                                             observed=("reached", "mean"))
    return out


def bucket(result: dict, low: float, high: float) -> dict:
    """Predictions in [low, high) for units below the target: how many, mean predicted, share reached."""
    t = result["targets"].dropna(subset=["p_reach"])
    t = t[(t["share"] < t["target"] - 1e-9) & (t["p_reach"] >= low) & (t["p_reach"] < high)]
    return {"n": len(t), "predicted": float(t["p_reach"].mean()), "observed": float(t["reached"].mean())}


def brier(result: dict) -> dict:
    t = result["targets"].dropna(subset=["p_reach"])
    t = t[t["share"] < t["target"] - 1e-9]
    p, y = t["p_reach"].to_numpy(), t["reached"].to_numpy(float)
    base = y.mean()
    return {"n": len(t), "brier": float(np.mean((p - y) ** 2)), "brier_climatology": float(np.mean((base - y) ** 2)),
            "mean_predicted": float(p.mean()), "mean_observed": float(base)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cities", type=int, default=len(DEFAULT_SEEDS))
    ap.add_argument("--paths", type=int, default=400)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = run(seeds=range(101, 101 + args.cities), n_paths=args.paths)
    pd.set_option("display.width", 200)
    print(f"{args.cities} simulated cities, origins {', '.join(DEFAULT_ORIGINS)}; {time.perf_counter() - t0:.1f} s")
    print("\nHeld-out interval coverage (units still growing at the origin, horizons 1-12):")
    print(interval_coverage(res).round(3).to_string())
    print("\nReliability of P(reach target) (units below the target when forecast):")
    print(reliability(res).round(3).to_string())
    likely = bucket(res, 0.6, 0.95)
    print(f"\nUnits given 60-95% (mean {likely['predicted']:.3f}): {likely['observed']:.3f} reached "
          f"(n = {likely['n']})")
    print("Brier:", {k: round(v, 4) if isinstance(v, float) else v for k, v in brier(res).items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
