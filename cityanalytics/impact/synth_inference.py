"""Inference for a synthetic control (``synth.synth_control``).

- In-space placebos (ADH 2010, sec. 4): every donor in turn is treated as if it had the
  campaign, with the other donors (never the treated unit) as its pool; the post/pre RMSPE
  ratio of the treated unit is ranked among all of them, and rank / (donors + 1) is the
  permutation p-value (one-sided in size, not sign). With predictors, V is re-chosen for
  each placebo as in ADH.
- In-time placebo (Abadie, Diamond & Hainmueller 2015): a fake start inside the pre-period,
  fitted on the periods before it only (outcome path; predictors are pre-period aggregates
  that would leak across the fake start), and its gap up to the real start.
- Leave-one-donor-out (ADH 2015): the fit again without each donor that has weight.
- Synthetic DiD (Arkhangelsky et al. 2021) on the same panel, with its placebo standard
  error and a normal interval: the interval a reviewer can quote.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityanalytics.impact import synth_sdid
from cityanalytics.impact.synth import _scale_rows, fit_sc

MIN_LOO_WEIGHT = 1e-3  # donors with less weight change nothing when left out


def _predictor_arrays(res, treated, donors):
    P = res.options["predictors"]
    if P is None:
        return None, None
    Xs = _scale_rows(P[[treated] + donors].to_numpy(float))
    return Xs[:, 0], Xs[:, 1:]


def in_space(res) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Placebo table (unit, pre/post RMSPE, ratio), gaps (periods x units) and the p-value."""
    o = res.options
    Y, treated, donors, t0, v = o["Y"], o["treated"], o["donors"], o["t0"], o["v"]
    rows, gaps = [], {}
    for j, unit in enumerate([treated] + donors):
        if unit == treated:
            f = res.fit
        else:
            pool = [d for d in donors if d != unit]
            X1, X0 = _predictor_arrays(res, unit, pool)
            f = fit_sc(Y[unit].to_numpy(float), Y[pool].to_numpy(float), t0, X1, X0, v)
        gaps[unit] = f.gap
        pre, post = f.pre_rmspe, f.post_rmspe
        rows.append({"unit": unit, "treated": unit == treated, "pre_rmspe": pre, "post_rmspe": post,
                     "ratio": post / pre if pre > 0 else np.inf, "att": float(f.gap[t0:].mean())})
    tbl = pd.DataFrame(rows)
    ratio = tbl["ratio"].to_numpy()
    rank = int(np.sum(ratio >= ratio[0]))  # 1 = the treated unit's ratio is the largest
    n = len(tbl)
    # ADH's second reading: only placebos fitted no worse than 5x the treated pre-MSPE
    good = tbl["pre_rmspe"] ** 2 <= 5 * tbl.loc[0, "pre_rmspe"] ** 2
    rank5 = int(np.sum(ratio[good.to_numpy()] >= ratio[0]))
    summary = {"rank": rank, "n": n, "p_value": rank / n, "rank_fit5": rank5, "n_fit5": int(good.sum()),
               "p_value_fit5": rank5 / int(good.sum())}
    return tbl, pd.DataFrame(gaps, index=Y.index), summary


def in_time(res, shift: int | None = None) -> dict:
    """A fake start ``shift`` periods before the real one (default: min(post length, t0 // 2))."""
    o = res.options
    Y, treated, donors, t0 = o["Y"], o["treated"], o["donors"], o["t0"]
    post_len = len(Y) - t0
    shift = shift or max(1, min(post_len, t0 // 2))
    fake_t0 = t0 - shift
    if fake_t0 < 2:
        return {"available": False, "reason": f"活动前仅 {t0} 期,不足以做时间安慰剂检验"}
    pre = Y.iloc[:t0]
    f = fit_sc(pre[treated].to_numpy(float), pre[donors].to_numpy(float), fake_t0)
    return {"available": True, "fake_start": Y.index[fake_t0], "shift": shift, "att": float(f.gap[fake_t0:].mean()),
            "pre_rmspe": f.pre_rmspe, "post_rmspe": f.post_rmspe,
            "ratio": f.post_rmspe / f.pre_rmspe if f.pre_rmspe > 0 else np.inf,
            "gap": pd.Series(f.gap, index=pre.index)}


def leave_one_out(res) -> pd.DataFrame:
    o = res.options
    Y, treated, donors, t0, v = o["Y"], o["treated"], o["donors"], o["t0"], o["v"]
    rows = []
    for d, w in zip(donors, res.fit.w):
        if w < MIN_LOO_WEIGHT or len(donors) < 3:
            continue
        pool = [x for x in donors if x != d]
        X1, X0 = _predictor_arrays(res, treated, pool)
        f = fit_sc(Y[treated].to_numpy(float), Y[pool].to_numpy(float), t0, X1, X0, v)
        rows.append({"dropped": d, "weight": float(w), "att": float(f.gap[t0:].mean()), "pre_rmspe": f.pre_rmspe})
    return pd.DataFrame(rows, columns=["dropped", "weight", "att", "pre_rmspe"])


def sdid_interval(res, replications: int = 200, seed: int = 0, level: float = 0.95) -> dict:
    o = res.options
    Y, treated, donors, t0 = o["Y"], o["treated"], o["donors"], o["t0"]
    M = Y[donors + [treated]].to_numpy(float).T  # controls first, treated last (units x periods)
    n0 = len(donors)
    r = synth_sdid.sdid(M, n0, t0, "sdid", replications, level, seed)
    lo, hi = r.interval
    return {"estimate": r.fit.estimate, "se": r.se, "lo": lo, "hi": hi, "level": level,
            "replications": replications, "omega": pd.Series(r.fit.omega, index=donors),
            "lambda": pd.Series(r.fit.lam, index=Y.index[:t0]),
            "sc": synth_sdid.sdid_fit(M, n0, t0, "sc").estimate, "did": synth_sdid.sdid_fit(M, n0, t0, "did").estimate}


def infer(res, replications: int = 200, seed: int = 0, level: float = 0.95) -> dict:
    placebos, gaps, p = in_space(res)
    return {"placebos": placebos, "placebo_gaps": gaps, "permutation": p, "in_time": in_time(res),
            "leave_one_out": leave_one_out(res), "sdid": sdid_interval(res, replications, seed, level)}
