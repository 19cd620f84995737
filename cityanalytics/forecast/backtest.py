"""Rolling-origin backtest per unit, and the model choice it leads to.

For each unit the series is cut at ``origins`` earlier months (every ``step`` months back
from its last month), each model forecasts ``horizon`` months from each cut, and the
forecasts are compared with what the register later showed. Per unit and model:

- mae: mean absolute error of the median forecast, in percentage points;
- cover_80, cover_95 ...: share of held-out months inside the interval at that level;
- wis: weighted interval score (Bracher et al. 2021) over the median and the intervals, in
  percentage points: it rewards narrow intervals and penalises misses by how far they miss,
  so it judges accuracy and calibration together. Lower is better.

Model choice: the model with the lowest mean WIS on the held-out months where every
candidate model has a forecast. A few origins are a noisy judge, so a unit keeps the model
that is best over all units pooled unless its own best beats it by more than one standard
error of the per-origin difference ("kept" otherwise). A unit with fewer than ``MIN_POINTS``
such months takes the pooled best; with no backtest anywhere, the first candidate that can
be fitted (ensemble, logistic, ar_logit, naive).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityanalytics.forecast.models import get as get_model, take
from cityanalytics.forecast.history import prepare

MIN_POINTS = 6
PREFERENCE = ("ensemble", "logistic", "ar_logit", "naive")  # ties and defaults go to the first


def level_key(level: float) -> str:
    return f"{round(level * 100):d}"


def interval_probs(levels) -> list[float]:
    """[0.5, lo_1, hi_1, lo_2, hi_2, ...] for the given central interval levels."""
    probs = [0.5]
    for lv in levels:
        probs += [(1 - lv) / 2, 1 - (1 - lv) / 2]
    return probs


def wis(y, median, bounds: dict, levels) -> np.ndarray:
    """Weighted interval score; ``bounds[level] = (low, high)``. Same units as ``y``."""
    total = 0.5 * np.abs(y - median)
    for lv in levels:
        lo, hi = bounds[lv]
        alpha = 1 - lv
        score = (hi - lo) + 2 / alpha * np.maximum(lo - y, 0) + 2 / alpha * np.maximum(y - hi, 0)
        total = total + alpha / 2 * score
    return total / (len(levels) + 0.5)


def backtest(series, models=PREFERENCE, *, origins: int = 4, step: int = 3, horizon: int = 12,
             n_paths: int = 200, levels=(0.8, 0.95), seed: int = 0) -> pd.DataFrame:
    """One row per (unit, model, origin, months ahead) with the forecast and what happened."""
    levels = tuple(levels)
    eff, n = series.effective, series.n_eff
    last = series.last
    unit_rows, ends = [], []
    for u in range(len(n)):
        for k in range(1, origins + 1):
            e = last[u] - k * step
            if e >= 0:
                unit_rows.append(u)
                ends.append(e)
    columns = ["unit_id", "model", "origin", "h", "period", "actual", "median"]
    for lv in levels:
        columns += [f"lo{level_key(lv)}", f"hi{level_key(lv)}"]
    if not unit_rows:
        return pd.DataFrame(columns=columns)
    unit_rows, ends = np.array(unit_rows), np.array(ends)
    rows = prepare(eff, n, ends, integer=series.integer, unit_rows=unit_rows)
    ok = rows.status == "ok"
    probs = interval_probs(levels)
    held_out = np.clip(last[unit_rows] - ends, 0, horizon)  # months each origin can be checked on
    quantiles = _simulate(rows, ok, list(models), horizon, held_out, n_paths, probs, np.random.default_rng(seed))
    share = series.share
    frames = []
    for name, q_all in quantiles.items():
        r_idx = np.nonzero(~np.isnan(q_all[:, 0, 0]))[0]
        if not len(r_idx):
            continue
        q = q_all[r_idx]  # B x H x Q
        h = np.arange(1, horizon + 1)
        tgt = ends[r_idx, None] + h[None, :]
        inside = tgt <= last[unit_rows[r_idx], None]
        actual = np.where(inside, share[unit_rows[r_idx, None], np.minimum(tgt, share.shape[1] - 1)], np.nan)
        b, hh = np.nonzero(inside & ~np.isnan(actual))
        data = {
            "unit_id": series.unit_ids[unit_rows[r_idx[b]]],
            "model": name,
            "origin": series.months[ends[r_idx[b]]],
            "h": h[hh],
            "period": series.months[tgt[b, hh]],
            "actual": 100 * actual[b, hh],
            "median": 100 * q[b, hh, 0],
        }
        for i, lv in enumerate(levels):
            data[f"lo{level_key(lv)}"] = 100 * q[b, hh, 1 + 2 * i]
            data[f"hi{level_key(lv)}"] = 100 * q[b, hh, 2 + 2 * i]
        frames.append(pd.DataFrame(data))
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _simulate(rows, ok, models, horizon, held_out, n_paths, probs, rng) -> dict:
    """Quantiles (rows x horizon x probs, NaN where a model does not apply) per model.

    Each base model is fitted once on all its rows and simulated chunk by chunk, each row
    only as far as it has held-out months (``held_out``); the ensemble is the equal mixture
    of the logistic and ar_logit paths already drawn for the same rows (half of each), so it
    costs no simulation of its own.
    """
    from cityanalytics.forecast.engine import MAX_CELLS

    wanted = [m for m in PREFERENCE if m in models]
    bases = [m for m in ("logistic", "ar_logit", "naive")
             if m in wanted or ("ensemble" in wanted and m in ("logistic", "ar_logit"))]
    use = {m: ok & get_model(m).eligible(rows) for m in set(bases) | set(wanted)}
    members = {m: np.nonzero(use[m])[0] for m in bases}
    fits = {m: get_model(m).fit(rows.take(members[m])) for m in bases if len(members[m])}
    out = {m: np.full((len(rows), horizon, len(probs)), np.nan) for m in wanted}
    half = n_paths // 2
    for h in np.unique(held_out[ok]):
        if h < 1:
            continue
        chunk = max(1, MAX_CELLS // max(1, n_paths * h))
        rows_h = np.nonzero(ok & (held_out == h))[0]
        for lo in range(0, len(rows_h), chunk):
            idx = rows_h[lo:lo + chunk]
            drawn = {}
            for m in bases:
                sel = idx[use[m][idx]]
                if not len(sel) or m not in fits:
                    continue
                local = np.searchsorted(members[m], sel)
                sub = rows.take(sel)
                shares = get_model(m).simulate(take(fits[m], local), sub, h, n_paths, rng) / sub.n[:, None, None]
                drawn[m] = (sel, shares)
                if m in out:
                    out[m][sel, :h] = np.moveaxis(np.quantile(shares, probs, axis=1), 0, -1)
            if "ensemble" in out and "logistic" in drawn and "ar_logit" in drawn:
                sel = idx[use["ensemble"][idx]]
                if len(sel):
                    (a_sel, a), (b_sel, b) = drawn["logistic"], drawn["ar_logit"]
                    mix = np.concatenate([a[np.searchsorted(a_sel, sel), :half],
                                          b[np.searchsorted(b_sel, sel), half:]], axis=1)
                    out["ensemble"][sel, :h] = np.moveaxis(np.quantile(mix, probs, axis=1), 0, -1)
    return out


def add_scores(points: pd.DataFrame, levels) -> pd.DataFrame:
    """Per-point error, interval hits and WIS columns."""
    p = points.copy()
    y = p["actual"].to_numpy(float)
    p["abs_err"] = np.abs(y - p["median"].to_numpy(float))
    bounds = {}
    for lv in levels:
        k = level_key(lv)
        lo, hi = p[f"lo{k}"].to_numpy(float), p[f"hi{k}"].to_numpy(float)
        p[f"in{k}"] = (y >= lo - 1e-9) & (y <= hi + 1e-9)
        bounds[lv] = (lo, hi)
    p["wis"] = wis(y, p["median"].to_numpy(float), bounds, levels)
    return p


def scores(points: pd.DataFrame, levels) -> pd.DataFrame:
    """Per unit and model: points, origins, MAE, bias, interval coverage and mean WIS."""
    cols = ["unit_id", "model", "points", "origins", "mae", "bias", "wis"] + [f"cover_{level_key(lv)}" for lv in levels]
    if points.empty:
        return pd.DataFrame(columns=cols)
    p = add_scores(points, levels)
    p["err"] = p["median"] - p["actual"]
    agg = {"points": ("h", "size"), "origins": ("origin", "nunique"), "mae": ("abs_err", "mean"),
           "bias": ("err", "mean"), "wis": ("wis", "mean")}
    agg.update({f"cover_{level_key(lv)}": (f"in{level_key(lv)}", "mean") for lv in levels})
    return p.groupby(["unit_id", "model"], as_index=False, sort=False).agg(**agg)[cols]


def choose(points: pd.DataFrame, candidates: dict, levels) -> dict:
    """unit_id -> (model, how, {model: mean WIS on the unit's common held-out months}).

    candidates: unit_id -> models that can be fitted on the unit's full history, in
    preference order. how: "backtest" (own held-out months), "kept" (own best not clearly
    better than the pooled best), "pooled", "default", "only" or "none". Vectorised over
    units: a few pandas passes for thousands of units.
    """
    out: dict = {}
    multi = {u: c for u, c in candidates.items() if len(c) > 1}
    for unit, cands in candidates.items():
        if not cands:
            out[unit] = ("", "none", {})
        elif len(cands) == 1:
            out[unit] = (cands[0], "only", {})
    if not multi:
        return out
    own = pd.DataFrame()
    if not points.empty:
        allowed = pd.DataFrame([(u, m) for u, c in multi.items() for m in c], columns=["unit_id", "model"])
        n_cands = pd.Series({u: len(c) for u, c in multi.items()}, name="n_cands")
        p = points.merge(allowed, on=["unit_id", "model"])
        if not p.empty:
            k = p.groupby(["unit_id", "origin", "h"])["model"].transform("nunique")
            p = p[k.to_numpy() == p["unit_id"].map(n_cands).to_numpy()]
            own = add_scores(p, levels)
    pooled_rank: list = []
    means: dict = {}
    best, enough = {}, {}
    if not own.empty:
        # pooled: held-out months where every model asked for anywhere has a forecast
        all_models = {m for c in multi.values() for m in c}
        full = own["unit_id"].map({u: len(c) == len(all_models) for u, c in multi.items()})
        pool = own[full.to_numpy(dtype=bool)]
        if not pool.empty:
            pooled_rank = list(pool.groupby("model")["wis"].mean().sort_values(kind="stable").index)
        stats = own.groupby(["unit_id", "model"], sort=False)["wis"].agg(["mean", "size"]).reset_index()
        for u, m, v in zip(stats["unit_id"], stats["model"], stats["mean"]):
            means.setdefault(u, {})[m] = float(v)
        stats["rank"] = stats["model"].map(PREFERENCE.index)
        ordered = stats.sort_values(["unit_id", "mean", "rank"], kind="stable")
        best = dict(zip(*ordered.drop_duplicates("unit_id")[["unit_id", "model"]].to_numpy().T))
        enough = (stats.groupby("unit_id")["size"].min() >= MIN_POINTS).to_dict()
    reference = {u: next((m for m in pooled_rank if m in c), None) for u, c in multi.items()}
    contest = {u: (best[u], reference[u]) for u in multi
               if enough.get(u) and reference[u] is not None and best[u] != reference[u]}
    wins = _clearly_better(own, contest) if contest else {}
    for unit, cands in multi.items():
        if enough.get(unit):
            if unit in contest and not wins.get(unit, False):
                out[unit] = (reference[unit], "kept", means.get(unit, {}))
            else:
                out[unit] = (best[unit], "backtest", means.get(unit, {}))
        elif reference[unit] is not None:
            out[unit] = (reference[unit], "pooled", means.get(unit, {}))
        else:
            out[unit] = (cands[0], "default", means.get(unit, {}))
    return out


def _clearly_better(own: pd.DataFrame, contest: dict) -> dict:
    """unit -> whether its own best beats the pooled choice by more than one standard error of
    the per-origin WIS difference (origins, not months: months from one origin move together)."""
    wide = own.groupby(["unit_id", "origin", "model"])["wis"].mean().unstack("model")
    units = wide.index.get_level_values(0)
    keep = units.isin(list(contest))
    wide, units = wide[keep], units[keep]
    col = {m: i for i, m in enumerate(wide.columns)}
    values = wide.to_numpy()
    rows = np.arange(len(wide))
    mine = values[rows, [col[contest[u][0]] for u in units]]
    theirs = values[rows, [col[contest[u][1]] for u in units]]
    d = pd.Series(mine - theirs, index=units).dropna()
    g = d.groupby(level=0)
    mean, sd, n = g.mean(), g.std(ddof=1), g.size()
    better = (n >= 2) & (mean + sd / np.sqrt(n) < 0)
    return better.to_dict()
