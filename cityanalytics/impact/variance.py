"""Covariance of a time-series GLM: sandwich estimators with a Bartlett (Newey-West) kernel.

Two ways to estimate the middle of the sandwich for a series ordered in time:

- ``newey-west``: sum over lags of the Bartlett-weighted products of the scores s_t s_{t-l}'
  (Newey & West 1987) - what statsmodels' ``cov_type="HAC"`` computes. Robust to
  heteroskedasticity and autocorrelation, but a term that is non-zero on a few periods only
  (a 10-day phase in daily data) gets its variance from those few products and is often far
  too small.
- ``stationary`` (default): the Pearson residuals r_t are taken as a stationary series whose
  autocovariances gamma_l are estimated from the whole series; the middle is
  sum_{t,s} a_t a_s' k(|t-s|) gamma_|t-s| with a_t = sqrt(w_t) J_t. This is Zeger's (1988)
  quasi-likelihood variance for time series of counts with a Bartlett kernel: over-dispersion
  enters through gamma_0 (the Pearson dispersion), autocorrelation through gamma_l, and every
  term, however short, borrows them from the whole series. The residual autocovariances
  are bias-corrected (residuals of a fitted model are negatively autocorrelated even when
  the errors are not: E[gamma_l] = -gamma_0 tr(H L_l) / df, added back).

Beside the sandwiches, two model-based covariances (no lags): ``model`` is the inverse Fisher
information (Poisson with dispersion 1, statsmodels' ``GLM(...).fit()``; for Gaussian OLS the
classic s^2 (X'X)^-1) and ``quasi`` scales it by the Pearson dispersion (quasi-Poisson,
statsmodels' ``scale="X2"``). ``small_sample=True`` multiplies a sandwich by n/(n-k), as
Stata's ``newey`` does (statsmodels' ``use_correction=True``).

J is the Jacobian of the linear predictor: the design matrix, plus the derivative with
respect to log(tau) when the decay rate is estimated, so the intervals of the other
coefficients carry the uncertainty of tau. Lags: Andrews' (1991) AR(1) plug-in bandwidth
for the Bartlett kernel, never fewer than the Newey-West rule floor(4 (n/100)^(2/9)).
"""

from __future__ import annotations

import math

import numpy as np

COVS = ("stationary", "newey-west", "quasi", "model")
SANDWICHES = ("stationary", "newey-west")


def variance_function(family: str, mu: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    if family == "poisson":
        return mu
    if family == "negbin":
        return mu + alpha * mu**2
    return np.ones_like(mu)


def working_weights(family: str, mu: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    """(d mu / d eta)^2 / V(mu): mu / V for the log link, 1 for the identity link."""
    if family == "gaussian":
        return np.ones_like(mu)
    return mu**2 / variance_function(family, mu, alpha)


def andrews_lags(r: np.ndarray) -> int:
    """Andrews (1991) AR(1) plug-in bandwidth for the Bartlett kernel, floored at the
    Newey-West rule of thumb."""
    n = len(r)
    nw = max(1, int(math.floor(4 * (n / 100.0) ** (2.0 / 9.0))))
    if n < 5:
        return nw
    rho = float(np.dot(r[1:], r[:-1]) / np.dot(r[:-1], r[:-1])) if np.dot(r[:-1], r[:-1]) > 0 else 0.0
    rho = min(max(rho, -0.97), 0.97)
    a1 = 4 * rho**2 / ((1 - rho) ** 2 * (1 + rho) ** 2)
    band = 1.1447 * (a1 * n) ** (1.0 / 3.0)
    return int(min(max(nw, math.floor(band)), n // 4))


def autocovariances(r: np.ndarray, lags: int, df: int) -> np.ndarray:
    """gamma_0..gamma_lags of r, each a sum over the available pairs divided by ``df``."""
    return np.array([np.dot(r[l:], r[: len(r) - l]) / df for l in range(lags + 1)])


def sandwich(J: np.ndarray, y: np.ndarray, mu: np.ndarray, family: str, *, alpha: float = 0.0,
             cov: str = "stationary", lags: int | None = None,
             small_sample: bool = False) -> tuple[np.ndarray, dict]:
    """Covariance of the parameters behind J (n x p) and facts about it (lags and how they
    were chosen, dispersion, effective dispersion = long-run variance of the Pearson residuals).

    cov: ``stationary`` or ``newey-west`` (sandwiches with Bartlett weights over ``lags``,
    default Andrews' plug-in), ``quasi`` (Pearson dispersion x inverse information) or
    ``model`` (inverse information, dispersion 1; s^2 (X'X)^-1 for Gaussian).
    small_sample: multiply a sandwich by n/(n - p) (Stata ``newey``)."""
    if cov not in COVS:
        raise ValueError(f"cov must be one of {COVS}, got {cov!r}")
    if small_sample and cov not in SANDWICHES:
        raise ValueError(f"small_sample (n/(n-k)) applies to the sandwich covariances {SANDWICHES}, "
                         f"not to cov={cov!r} (its dispersion already divides by n-k)")
    n, p = J.shape
    w = working_weights(family, mu, alpha)
    V = variance_function(family, mu, alpha)
    r = (y - mu) / np.sqrt(V)  # Pearson residuals
    A = J * np.sqrt(w)[:, None]
    bread = np.linalg.pinv(A.T @ A)
    df = max(n - p, 1)
    if cov in ("quasi", "model"):
        gam0 = float(np.dot(r, r) / df)
        # Gaussian: the model's variance is estimated (s^2); a count model's is fixed at 1.
        scale = gam0 if (cov == "quasi" or family == "gaussian") else 1.0
        info = {"lags": None, "lag_rule": None, "dispersion": gam0, "long_run_dispersion": max(gam0, 1e-12),
                "resid_acf1": float(np.dot(r[1:], r[:-1]) / (df * gam0)) if gam0 > 0 and n > 1 else float("nan"),
                "small_sample": False}
        return scale * bread, info
    L = andrews_lags(r) if lags is None else int(lags)
    L = min(L, n - 1)
    kern = 1.0 - np.arange(L + 1) / (L + 1.0)
    gam = autocovariances(r, L, df)
    if cov == "stationary" and L > 0:
        # Residual autocovariances are biased towards minus gamma_0 tr(H L_l) / df (H the hat
        # matrix of the weighted fit, L_l the lag-l shift): add it back, so white noise gives
        # autocovariances centred on zero rather than negative ones that shrink the variance.
        HA = A @ bread
        for l in range(1, L + 1):
            tr = float(np.sum(HA[l:] * A[: n - l]))
            gam[l] += gam[0] * tr / df
    if cov == "stationary":
        meat = gam[0] * (A.T @ A)
        for l in range(1, L + 1):
            G = A[l:].T @ A[: n - l]
            meat += kern[l] * gam[l] * (G + G.T)
    else:
        S = A * r[:, None]
        meat = S.T @ S
        for l in range(1, L + 1):
            G = S[l:].T @ S[: n - l]
            meat += kern[l] * (G + G.T)
    V_ = bread @ meat @ bread
    if small_sample:
        V_ = V_ * (n / df)
    lrv = float(gam[0] + 2 * np.sum(kern[1:] * gam[1:]))
    info = {"lags": L, "lag_rule": "andrews" if lags is None else "user", "dispersion": float(gam[0]),
            "long_run_dispersion": max(lrv, 1e-12), "small_sample": bool(small_sample),
            "resid_acf1": float(gam[1] / gam[0]) if L >= 1 and gam[0] > 0 else float("nan")}
    return V_, info
