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

from cityanalytics.forecast import models as M
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
    quantiles = _simulate(rows, ok, list(models), horizon, n_paths, probs, np.random.default_rng(seed))
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


def _simulate(rows, ok, models, horizon, n_paths, probs, rng) -> dict:
    """Quantiles (rows x horizon x probs, NaN where a model does not apply) per model.

    Each base model is fitted once on all its rows and simulated chunk by chunk; the ensemble
    is the equal mixture of the logistic and ar_logit paths already drawn for the same rows
    (half of each), so it costs no simulation of its own.
    """
    from cityanalytics.forecast.engine import MAX_CELLS

    wanted = [m for m in PREFERENCE if m in models]
    bases = [m for m in ("logistic", "ar_logit", "naive")
             if m in wanted or ("ensemble" in wanted and m in ("logistic", "ar_logit"))]
    use = {m: ok & M.get(m).eligible(rows) for m in set(bases) | set(wanted)}
    members = {m: np.nonzero(use[m])[0] for m in bases}
    fits = {m: M.get(m).fit(rows.take(members[m])) for m in bases if len(members[m])}
    out = {m: np.full((len(rows), horizon, len(probs)), np.nan) for m in wanted}
    chunk = max(1, MAX_CELLS // max(1, n_paths * horizon))
    rows_ok = np.nonzero(ok)[0]
    half = n_paths // 2
    for lo in range(0, len(rows_ok), chunk):
        idx = rows_ok[lo:lo + chunk]
        drawn = {}
        for m in bases:
            sel = idx[use[m][idx]]
            if not len(sel) or m not in fits:
                continue
            local = np.searchsorted(members[m], sel)
            sub = rows.take(sel)
            shares = M.get(m).simulate(M.take(fits[m], local), sub, horizon, n_paths, rng) / sub.n[:, None, None]
            drawn[m] = (sel, shares)
            if m in out:
                out[m][sel] = np.moveaxis(np.quantile(shares, probs, axis=1), 0, -1)
        if "ensemble" in out and "logistic" in drawn and "ar_logit" in drawn:
            sel = idx[use["ensemble"][idx]]
            if len(sel):
                (a_sel, a), (b_sel, b) = drawn["logistic"], drawn["ar_logit"]
                mix = np.concatenate([a[np.searchsorted(a_sel, sel), :half],
                                      b[np.searchsorted(b_sel, sel), half:]], axis=1)
                out["ensemble"][sel] = np.moveaxis(np.quantile(mix, probs, axis=1), 0, -1)
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


def common_points(points: pd.DataFrame, models) -> pd.DataFrame:
    """Only the (unit, origin, h) where every one of ``models`` has a forecast."""
    if points.empty:
        return points
    p = points[points["model"].isin(models)]
    counts = p.groupby(["unit_id", "origin", "h"])["model"].transform("nunique")
    return p[counts == len(models)]


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
    """unit_id -> (model, how, per-model scores on the unit's common points).

    candidates: unit_id -> models that can be fitted on the unit's full history, in
    preference order. how: "backtest" (own held-out months), "pooled", "default", "only"
    or "none". Vectorised over units: one pass of pandas for thousands of units.
    """
    out: dict = {}
    multi = {u: c for u, c in candidates.items() if len(c) > 1}
    for unit, cands in candidates.items():
        if not cands:
            out[unit] = ("", "none", pd.DataFrame())
        elif len(cands) == 1:
            out[unit] = (cands[0], "only", pd.DataFrame())
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
    if not own.empty:
        # pooled: held-out months where every model asked for anywhere has a forecast
        all_models = sorted({m for c in multi.values() for m in c}, key=PREFERENCE.index)
        pool = own[own["unit_id"].map(lambda u: len(multi[u]) == len(all_models))]
        if not pool.empty:
            pooled_rank = list(pool.groupby("model")["wis"].mean().sort_values(kind="stable").index)
    stats = (own.groupby(["unit_id", "model"], sort=False)["wis"].agg(["mean", "size"]).reset_index()
             if not own.empty else pd.DataFrame(columns=["unit_id", "model", "mean", "size"]))
    by_unit = dict(tuple(stats.groupby("unit_id", sort=False))) if not stats.empty else {}
    per_origin = {}
    if not own.empty:
        wide = own.groupby(["unit_id", "origin", "model"])["wis"].mean().unstack("model")
        per_origin = {u: g.droplevel(0) for u, g in wide.groupby(level=0, sort=False)}
    for unit, cands in multi.items():
        st = by_unit.get(unit)
        reference = next((m for m in pooled_rank if m in cands), None)
        if st is not None and st["size"].min() >= MIN_POINTS:
            order = st.assign(rank=st["model"].map(PREFERENCE.index)).sort_values(["mean", "rank"], kind="stable")
            best = order.iloc[0]["model"]
            if reference is None or best == reference or _clearly_better(per_origin, unit, best, reference):
                out[unit] = (best, "backtest", st)
            else:
                out[unit] = (reference, "kept", st)
        elif reference is not None:
            out[unit] = (reference, "pooled", st)
        else:
            out[unit] = (cands[0], "default", st)
    return out


def _clearly_better(per_origin: dict, unit, model, reference) -> bool:
    """The unit's own backtest beats the pooled choice by more than one standard error of the
    per-origin WIS difference (origins, not months: months from one origin move together)."""
    w = per_origin.get(unit)
    if w is None or model not in w or reference not in w:
        return False
    d = (w[model] - w[reference]).dropna()
    if len(d) < 2:
        return False
    return bool(d.mean() + d.std(ddof=1) / np.sqrt(len(d)) < 0)
