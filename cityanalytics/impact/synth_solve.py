"""Weights on the unit simplex: min ||A w - b||^2 + eta ||w||^2 subject to w >= 0, sum(w) = 1.

Every synthetic-control weight in this package is one such problem (donor weights on a
pre-period path, predictor-weighted donor weights, the time weights of synthetic DiD). It is
a small convex QP, solved exactly by a primal active-set method (Nocedal & Wright 2006,
Algorithm 16.3) on the Gram form ``1/2 w'Gw - c'w``: start at the best single donor (a
vertex of the simplex), solve the equality-constrained problem on the free set, step back
to the boundary when a weight would turn negative, free the donor whose gradient most
improves the objective when none would. It ends at the KKT point (to rounding), so two
solvers agree to the precision of their own stopping rules, not of ours.
"""

from __future__ import annotations

import numpy as np

MAX_ITER = 500


def simplex_qp(G: np.ndarray, c: np.ndarray, w0: np.ndarray | None = None) -> np.ndarray:
    """Minimise 1/2 w'Gw - c'w over the unit simplex (G symmetric positive semi-definite)."""
    G = np.asarray(G, dtype=float)
    c = np.asarray(c, dtype=float)
    n = c.size
    if n == 1:
        return np.ones(1)
    scale = max(float(np.abs(np.diag(G)).max()), float(np.abs(c).max()), 1e-300)
    tol = 1e-11 * scale
    if w0 is None:
        vertex_obj = 0.5 * np.diag(G) - c
        w = np.zeros(n)
        w[int(np.argmin(vertex_obj))] = 1.0
    else:
        w = np.clip(np.asarray(w0, dtype=float), 0.0, None)
        w = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
    free = w > 0
    for _ in range(MAX_ITER * max(1, n // 20)):
        S = np.flatnonzero(free)
        z = _equality_solution(G, c, S)
        if np.all(z >= -1e-14):
            w = np.zeros(n)
            w[S] = np.clip(z, 0.0, None)
            w /= w.sum()
            g = G @ w - c
            nu = float(g[S].mean())
            out = np.flatnonzero(~free)
            if out.size == 0:
                return w
            j = out[int(np.argmin(g[out]))]
            if g[j] >= nu - tol:
                return w
            free[j] = True
            continue
        # step from w towards z until the first free weight reaches zero
        ws = w[S]
        shrinking = z < ws
        ratios = np.where(shrinking, ws / np.where(shrinking, ws - z, 1.0), np.inf)
        k = int(np.argmin(ratios))
        alpha = min(1.0, float(ratios[k]))
        w_new = np.zeros(n)
        w_new[S] = ws + alpha * (z - ws)
        w_new[S[k]] = 0.0
        w_new = np.clip(w_new, 0.0, None)
        w = w_new / w_new.sum()
        free = w > 0
    raise RuntimeError("simplex_qp: the active-set method did not converge")


def _equality_solution(G: np.ndarray, c: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Minimiser of 1/2 w'Gw - c'w on the free set S with sum(w_S) = 1 (min-norm if singular)."""
    k = S.size
    K = np.zeros((k + 1, k + 1))
    K[:k, :k] = G[np.ix_(S, S)]
    K[:k, k] = 1.0
    K[k, :k] = 1.0
    rhs = np.append(c[S], 1.0)
    try:
        sol = np.linalg.solve(K, rhs)
        if not np.all(np.isfinite(sol)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        sol = np.linalg.lstsq(K, rhs, rcond=None)[0]
    return sol[:k]


def simplex_ls(A: np.ndarray, b: np.ndarray, eta: float = 0.0, w0: np.ndarray | None = None) -> np.ndarray:
    """Weights on the simplex minimising ||A w - b||^2 + eta ||w||^2 (A: rows x candidates)."""
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    G = A.T @ A
    if eta:
        G = G + eta * np.eye(G.shape[0])
    return simplex_qp(G, A.T @ b, w0)
