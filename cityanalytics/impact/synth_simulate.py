"""Panels with a known effect for checking synthetic control and synthetic DiD intervals.

A linear factor model in the spirit of Arkhangelsky et al. (2021, sec. 3): units x periods,

    Y_it = alpha_i + beta_t + sum_k u_ik f_tk + eps_it,   eps_it ~ AR(1)(rho) N(0, sigma^2),

with unit effects, a common trend, ``factors`` random-walk factors and their loadings; the
treated unit is drawn from the same distribution as the donors (the exchangeability the
placebo variance relies on) and gets ``effect`` added in every period from ``t0`` on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cityanalytics.impact import synth_sdid


def factor_panel(rng: np.random.Generator, n0: int = 30, T: int = 40, t0: int = 30, effect: float = 2.0,
                 factors: int = 2, sigma: float = 1.0, rho: float = 0.3) -> np.ndarray:
    """(n0 + 1) x T matrix: donors in the first n0 rows, the treated unit last."""
    n = n0 + 1
    alpha = rng.normal(0, 5, size=(n, 1))
    beta = np.cumsum(rng.normal(0.1, 0.5, size=T))[None, :]
    f = np.cumsum(rng.normal(0, 1, size=(T, factors)), axis=0)
    u = rng.normal(0, 1, size=(n, factors))
    eps = np.empty((n, T))
    eps[:, 0] = rng.normal(0, sigma / np.sqrt(1 - rho**2), n)
    for t in range(1, T):
        eps[:, t] = rho * eps[:, t - 1] + rng.normal(0, sigma, n)
    Y = alpha + beta + u @ f.T + eps
    Y[-1, t0:] += effect
    return Y


@dataclass
class Coverage:
    panels: int
    coverage: float  # share of intervals containing the true effect
    mean_width: float
    bias: float
    rmse: float
    mc_se: float  # binomial Monte Carlo standard error of the coverage


def sdid_coverage(panels: int = 200, seed: int = 2021, effect: float = 2.0, level: float = 0.95,
                  replications: int = 200, method: str = "sdid", **dgp) -> Coverage:
    rng = np.random.default_rng(seed)
    n0, t0 = dgp.get("n0", 30), dgp.get("t0", 30)
    hit, widths, errs = [], [], []
    for i in range(panels):
        Y = factor_panel(rng, effect=effect, **dgp)
        r = synth_sdid.sdid(Y, n0, t0, method, replications, level, seed=seed + i)
        lo, hi = r.interval
        hit.append(lo <= effect <= hi)
        widths.append(hi - lo)
        errs.append(r.fit.estimate - effect)
    cov = float(np.mean(hit))
    errs = np.asarray(errs)
    return Coverage(panels, cov, float(np.mean(widths)), float(errs.mean()), float(np.sqrt(np.mean(errs**2))),
                    float(np.sqrt(cov * (1 - cov) / panels)))


def permutation_rejection(panels: int = 200, seed: int = 2021, effect: float = 0.0, alpha: float = 0.05,
                          **dgp) -> float:
    """Share of panels where the in-space placebo p-value (post/pre RMSPE ratio rank) is <= alpha:
    the test's size when ``effect`` is 0, its power otherwise (pre-period outcome path, V = I)."""
    import pandas as pd

    from cityanalytics.impact.synth import synth_control
    from cityanalytics.impact.synth_inference import in_space

    rng = np.random.default_rng(seed)
    t0 = dgp.get("t0", 30)
    hits = 0
    for _ in range(panels):
        M = factor_panel(rng, effect=effect, **dgp)
        Y = pd.DataFrame(M.T, columns=[f"d{j}" for j in range(M.shape[0] - 1)] + ["treated"])
        r = synth_control(Y, "treated", t0, inference=False)
        hits += in_space(r)[2]["p_value"] <= alpha
    return hits / panels
