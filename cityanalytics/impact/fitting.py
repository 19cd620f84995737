"""Small numerical helpers shared by the models: a lean Poisson IRLS for profiling a decay
parameter over a grid (hundreds of fits), the profile-likelihood interval, Newey-West lags."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import linalg, optimize, stats


def poisson_irls(X: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None, beta0: np.ndarray | None = None,
                 tol: float = 1e-10, maxiter: int = 100) -> tuple[np.ndarray, float, np.ndarray]:
    """Poisson GLM with log link by iteratively reweighted least squares.

    Returns (beta, deviance, mu). Used where the same model is fitted many times (profiles,
    simulations); the reported fits are statsmodels' GLM on the same matrix.
    """
    off = np.zeros(len(y)) if offset is None else offset
    if beta0 is None:
        eta = np.log(np.maximum(y, 0.5)) if np.all(np.isfinite(y)) else off
        eta = 0.5 * eta + 0.5 * (np.log(max(y.mean(), 1e-9)) + off - off.mean())
    else:
        eta = X @ beta0 + off
    beta = beta0
    dev_old = np.inf
    for _ in range(maxiter):
        mu = np.exp(eta)
        z = eta - off + (y - mu) / mu
        beta = wls(X, z, mu)
        eta = X @ beta + off
        mu = np.exp(eta)
        dev = poisson_deviance(y, mu)
        if abs(dev - dev_old) <= tol * (abs(dev) + 0.1):
            break
        dev_old = dev
    return beta, dev, mu


def wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares by the normal equations (Cholesky), lstsq if singular."""
    Xw = X * w[:, None]
    try:
        c = linalg.cho_factor(Xw.T @ X, check_finite=False)
        return linalg.cho_solve(c, Xw.T @ y, check_finite=False)
    except linalg.LinAlgError:
        sw = np.sqrt(w)
        return np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]


def poisson_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(2 * np.sum(term - (y - mu)))


def pearson_dispersion(y: np.ndarray, mu: np.ndarray, p: int) -> float:
    return float(np.sum((y - mu) ** 2 / mu) / max(len(y) - p, 1))


def newey_west_lags(n: int) -> int:
    """The Newey-West (1994) rule of thumb: floor(4 (n/100)^(2/9))."""
    return max(1, int(math.floor(4 * (n / 100.0) ** (2.0 / 9.0))))


def memoise(f: Callable[[float], float]) -> Callable[[float], float]:
    if getattr(f, "_memo", None) is not None:
        return f
    cache: dict[float, float] = {}

    def g(x: float) -> float:
        if x not in cache:
            cache[x] = f(x)
        return cache[x]

    g._memo = cache
    return g


@dataclass
class Profile:
    """Profile of a criterion over the half-life of the post-campaign decay."""

    half_lives: np.ndarray  # days; inf = no decay
    lr: np.ndarray  # likelihood-ratio statistic against the best
    best: float
    low: float
    high: float
    level: float

    @property
    def persistent(self) -> bool:
        """The data cannot reject 'no decay at all' (the upper bound is infinite)."""
        return math.isinf(self.high)


def profile_half_life(criterion: Callable[[float], float], post_days: float, level: float = 0.95,
                      grid_size: int = 20, scale: float = 1.0, interval: bool = True) -> Profile:
    """Minimise ``criterion(half_life)`` (deviance, -2 loglik or n log RSS) over a log grid of
    half-lives from 2 days to 20 x the post-campaign length plus infinity; refine the best
    with Brent; the interval is where (criterion - min) / scale <= chi2_1 quantile."""
    criterion = memoise(criterion)
    hi = max(20.0 * post_days, 365.0)
    grid = np.geomspace(2.0, hi, grid_size)
    values = np.array([criterion(h) for h in grid])
    inf_value = criterion(math.inf)
    i = int(np.argmin(values))
    best_h, best_v = grid[i], values[i]
    if 0 < i < grid_size - 1:
        res = optimize.minimize_scalar(lambda lh: criterion(math.exp(lh)),
                                       bounds=(math.log(grid[i - 1]), math.log(grid[i + 1])),
                                       method="bounded", options={"xatol": 1e-3})
        if res.fun < best_v:
            best_h, best_v = math.exp(res.x), float(res.fun)
    if inf_value <= best_v:
        best_h, best_v = math.inf, inf_value
    crit = stats.chi2.ppf(level, 1)
    lr = (values - best_v) / scale
    lr_inf = (inf_value - best_v) / scale
    if not interval:
        return Profile(np.append(grid, math.inf), np.append(lr, lr_inf), best_h, math.nan, math.nan, level)

    def f(lh: float) -> float:
        return (criterion(math.exp(lh)) - best_v) / scale - crit

    # Lower bound: last grid point below the best with lr > crit, then root-find.
    finite_best = best_h if math.isfinite(best_h) else grid[-1]
    below = [k for k in range(grid_size) if grid[k] < finite_best and lr[k] > crit]
    if below:
        k = below[-1]
        upper_end = math.log(finite_best) if grid[k + 1] > finite_best else math.log(grid[k + 1])
        low = math.exp(optimize.brentq(f, math.log(grid[k]), upper_end, xtol=1e-3)) if f(upper_end) < 0 else grid[k + 1]
    else:
        low = grid[0]
    above = [k for k in range(grid_size) if grid[k] > finite_best and lr[k] > crit]
    if math.isinf(best_h) or (not above and lr_inf <= crit):
        high = math.inf
    elif above:
        k = above[0]
        lower_end = math.log(finite_best) if grid[k - 1] < finite_best else math.log(grid[k - 1])
        high = math.exp(optimize.brentq(f, lower_end, math.log(grid[k]), xtol=1e-3)) if f(lower_end) < 0 else grid[k - 1]
    else:  # lr beyond the grid rises only at infinity
        high = grid[-1]
    return Profile(np.append(grid, math.inf), np.append(lr, lr_inf), best_h, low, high, level)
