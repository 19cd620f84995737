"""Synthetic difference-in-differences (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021,
AER 111(12): 4088-4118, Algorithm 1) with its placebo variance (their Algorithm 4).

Y is a units x periods matrix, the controls in the first ``n0`` rows and the pre-periods in
the first ``t0`` columns (the layout of R ``synthdid``). Unit weights omega: regularised
synthetic-control weights with an intercept, zeta_omega = (N_tr T_post)^(1/4) sigma, sigma the
standard deviation of the controls' first differences before the start; time weights lambda:
the same problem across periods with an 'infinitesimal' ridge. The estimate is the weighted
double difference. ``method="sc"`` gives synthetic control (no intercept, lambda = 0, tiny
ridge) and ``method="did"`` plain DiD (uniform weights), as in the paper's Table 1.

The weights are solved exactly (``synth_solve.simplex_ls``), not by R's Frank-Wolfe with
early stopping and sparsification, so estimates agree with R to about the first decimal.

Placebo variance for a single treated unit (the jackknife is undefined there): draw N_tr of
the controls as pseudo-treated, re-estimate on the controls only, and take the standard
deviation of the placebo estimates; the interval is estimate +- z se.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from cityanalytics.impact.synth_solve import simplex_ls

METHODS = ("sdid", "sc", "did")


@dataclass
class SDIDFit:
    estimate: float
    omega: np.ndarray  # control unit weights (n0)
    lam: np.ndarray  # pre-period weights (t0)
    method: str
    curve: np.ndarray = field(default_factory=lambda: np.zeros(0))  # effect by post period


def noise_level(Y: np.ndarray, n0: int, t0: int) -> float:
    d = np.diff(Y[:n0, :t0], axis=1)
    return float(np.std(d, ddof=1)) if d.size > 1 else 0.0


def _collapsed(Y: np.ndarray, n0: int, t0: int) -> np.ndarray:
    """(n0 + 1) x (t0 + 1): controls' pre-periods and post mean; last row the treated mean."""
    top = np.column_stack([Y[:n0, :t0], Y[:n0, t0:].mean(axis=1)])
    bottom = np.append(Y[n0:, :t0].mean(axis=0), Y[n0:, t0:].mean())
    return np.vstack([top, bottom])


def sdid_fit(Y: np.ndarray, n0: int, t0: int, method: str = "sdid") -> SDIDFit:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    Y = np.asarray(Y, dtype=float)
    n, T = Y.shape
    if not (0 < n0 < n and 0 < t0 < T):
        raise ValueError(f"need controls and treated rows, pre and post columns: n0={n0} of {n}, t0={t0} of {T}")
    n1, t1 = n - n0, T - t0
    sigma = noise_level(Y, n0, t0)
    Yc = _collapsed(Y, n0, t0)
    if method == "did":
        omega, lam = np.full(n0, 1.0 / n0), np.full(t0, 1.0 / t0)
    elif method == "sc":
        zeta = 1e-6 * sigma
        A, b = Yc[:, :t0].T[:, :n0], Yc[:, :t0].T[:, n0]
        omega = simplex_ls(A, b, eta=t0 * zeta**2)
        lam = np.zeros(t0)
    else:
        zeta_omega = (n1 * t1) ** 0.25 * sigma
        zeta_lambda = 1e-6 * sigma
        Ylam = Yc[:n0] - Yc[:n0].mean(axis=0)  # intercept: centre each period across controls
        lam = simplex_ls(Ylam[:, :t0], Ylam[:, t0], eta=n0 * zeta_lambda**2)
        Yom = Yc[:, :t0].T
        Yom = Yom - Yom.mean(axis=0)  # intercept: centre each unit across pre-periods
        omega = simplex_ls(Yom[:, :n0], Yom[:, n0], eta=t0 * zeta_omega**2)
    unit_w = np.append(-omega, np.full(n1, 1.0 / n1))
    gap = unit_w @ Y  # treated mean minus synthetic, per period
    curve = gap[t0:] - gap[:t0] @ lam
    return SDIDFit(float(curve.mean()), omega, lam, method, curve)


def placebo_se(Y: np.ndarray, n0: int, t0: int, method: str = "sdid", replications: int = 200,
               seed: int | None = 0) -> float:
    """Algorithm 4: sd of the estimate with random controls as pseudo-treated (x sqrt((B-1)/B))."""
    Y = np.asarray(Y, dtype=float)
    n1 = Y.shape[0] - n0
    if n0 <= n1:
        raise ValueError("the placebo variance needs more control units than treated units")
    rng = np.random.default_rng(seed)
    controls = Y[:n0]
    ests = np.empty(replications)
    for r in range(replications):
        perm = rng.permutation(n0)
        ests[r] = sdid_fit(controls[perm], n0 - n1, t0, method).estimate
    return float(np.sqrt((replications - 1) / replications) * np.std(ests, ddof=1))


@dataclass
class SDIDResult:
    fit: SDIDFit
    se: float
    level: float

    @property
    def interval(self) -> tuple[float, float]:
        z = stats.norm.ppf(0.5 + self.level / 2)
        return self.fit.estimate - z * self.se, self.fit.estimate + z * self.se


def sdid(Y: np.ndarray, n0: int, t0: int, method: str = "sdid", replications: int = 200, level: float = 0.95,
         seed: int | None = 0) -> SDIDResult:
    """Estimate with its placebo standard error and a normal interval at ``level``."""
    fit = sdid_fit(Y, n0, t0, method)
    se = placebo_se(Y, n0, t0, method, replications, seed) if replications else float("nan")
    return SDIDResult(fit, se, level)
