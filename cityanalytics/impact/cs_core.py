"""Callaway & Sant'Anna (2021) on a balanced panel held as arrays, computed as R `did` 2.x does.

``group_time`` gives every ATT(g, t) with its unit-level influence function (R ``att_gt`` with
panel data: DRDID's doubly robust, outcome-regression or standardized IPW 2x2 estimators,
never-treated or not-yet-treated controls, a varying or universal base period, anticipation);
``weighted`` / ``aggregate`` combine cells as R ``aggte`` does (cohort-share weights, with the
influence of estimating the shares); ``pretest`` is the Wald test of all pre-treatment
ATT(g, t) = 0 that ``summary(att_gt)`` prints. Standard errors are sqrt(mean(IF^2) / n), R's
analytic (``bstrap=FALSE``) standard errors.

Indices, not labels: periods are 0..T-1 and a unit's cohort G is the index of its first treated
period (``inf``: never treated); event time is counted in periods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONTROLS = ("nevertreated", "notyettreated")
BASE_PERIODS = ("varying", "universal")
EST_METHODS = ("dr", "reg", "ipw")
ZERO_SE = np.sqrt(np.finfo(float).eps) * 10  # R: a smaller standard error is reported as NA


@dataclass
class Cells:
    """Every ATT(g, t): cohort ``group``, current period ``time`` and ``base`` period (indices),
    ``att``, the n x K influence functions ``inf``, the treated/control counts, and ``reference``
    (the universal base period's own cell, zero by construction). ``G``: each unit's cohort."""

    group: np.ndarray
    time: np.ndarray
    base: np.ndarray
    att: np.ndarray
    inf: np.ndarray
    n_treated: np.ndarray
    n_control: np.ndarray
    reference: np.ndarray
    G: np.ndarray
    n_periods: int

    @property
    def n(self) -> int:
        return len(self.G)

    @property
    def event_time(self) -> np.ndarray:
        return self.time - self.group

    @property
    def se(self) -> np.ndarray:
        return se_of(self.inf)

    def vcov(self) -> np.ndarray:
        """The covariance of the ATT(g, t) estimates, IF'IF / n^2."""
        return self.inf.T @ self.inf / self.n**2


def se_of(inf: np.ndarray) -> np.ndarray:
    """R's analytic standard error of an estimate with influence function ``inf`` (columns):
    sqrt(mean(IF^2) / n); values at machine zero are NaN, as R reports them."""
    n = inf.shape[0]
    se = np.sqrt(np.sum(np.asarray(inf, dtype=float) ** 2, axis=0)) / n
    return np.where(se > ZERO_SE, se, np.nan)


def _logit(X: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logit (Newton-Raphson): fitted probabilities and X'WX."""
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(X @ beta)))
        H = (X * (p * (1 - p))[:, None]).T @ X
        step = np.linalg.solve(H, X.T @ (d - p))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12:
            break
    p = 1 / (1 + np.exp(-(X @ beta)))
    return p, (X * (p * (1 - p))[:, None]).T @ X


def _two_by_two(dy: np.ndarray, d: np.ndarray, X: np.ndarray | None, method: str) -> tuple[float, np.ndarray]:
    """ATT and its influence function (within the treated + control subset) of the 2x2 panel
    DiD: DRDID's ``drdid_panel`` (dr), ``reg_did_panel`` (reg), ``std_ipw_did_panel`` (ipw).
    Without covariates all three are the difference of mean changes."""
    n1 = len(d)
    if X is None:
        t, c = d == 1, d == 0
        mt, mc = dy[t].mean(), dy[c].mean()
        inf = np.where(t, (dy - mt) * n1 / t.sum(), -(dy - mc) * n1 / c.sum())
        return float(mt - mc), inf
    X = np.column_stack([np.ones(n1), X])
    cont = d == 0
    if method in ("dr", "reg"):
        beta = np.linalg.lstsq(X[cont], dy[cont], rcond=None)[0]
        out = X @ beta
        resid_c = np.where(cont, dy - out, 0.0)
        alr_ols = (resid_c[:, None] * X) @ np.linalg.inv(X[cont].T @ X[cont] / n1)
    if method in ("dr", "ipw"):
        ps_raw, H = _logit(X, d)
        ps = np.minimum(ps_raw, 1 - 1e-6)
        trim = np.where(cont, ps < 0.995, True).astype(float)
        alr_ps = ((d - ps_raw)[:, None] * X) @ (np.linalg.inv(H) * n1)
        w_t = trim * d
        w_c = trim * ps * (1 - d) / (1 - ps)
    if method == "reg":
        w_t = d.astype(float)
        eta_t = np.mean(w_t * dy) / w_t.mean()
        eta_c = np.mean(w_t * out) / w_t.mean()
        inf_t = (w_t * dy - w_t * eta_t) / w_t.mean()
        inf_c = (w_t * out - w_t * eta_c + alr_ols @ np.mean(w_t[:, None] * X, axis=0)) / w_t.mean()
        return float(eta_t - eta_c), inf_t - inf_c
    if method == "ipw":
        eta_t = np.mean(w_t * dy) / w_t.mean()
        eta_c = np.mean(w_c * dy) / w_c.mean()
        inf_t = (w_t * dy - w_t * eta_t) / w_t.mean()
        m2 = np.mean((w_c * (dy - eta_c))[:, None] * X, axis=0)
        inf_c = (w_c * dy - w_c * eta_c + alr_ps @ m2) / w_c.mean()
        return float(eta_t - eta_c), inf_t - inf_c
    r = dy - out
    eta_t = np.mean(w_t * r) / w_t.mean()
    eta_c = np.mean(w_c * r) / w_c.mean()
    inf_t = (w_t * r - w_t * eta_t - alr_ols @ np.mean(w_t[:, None] * X, axis=0)) / w_t.mean()
    m2 = np.mean((w_c * (r - eta_c))[:, None] * X, axis=0)
    inf_c = (w_c * r - w_c * eta_c + alr_ps @ m2 - alr_ols @ np.mean(w_c[:, None] * X, axis=0)) / w_c.mean()
    return float(eta_t - eta_c), inf_t - inf_c


def check_choices(control: str, base_period: str, est_method: str) -> None:
    for name, value, allowed in (("control", control, CONTROLS), ("base_period", base_period, BASE_PERIODS),
                                 ("est_method", est_method, EST_METHODS)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def group_time(Y: np.ndarray, G: np.ndarray, *, X: np.ndarray | None = None, control: str = "nevertreated",
               base_period: str = "varying", est_method: str = "dr", anticipation: int = 0,
               base_k: int = 1) -> Cells:
    """Every ATT(g, t) of a balanced panel ``Y`` (n units x T periods) with cohorts ``G``
    (period index of the first treated period, ``inf`` for never treated; units treated in
    the first period must be removed by the caller). ``X``: covariates, n x T x k (each cell
    takes them from its base period, as R `did` does for balanced panels) or n x k.
    ``base_k`` > 1 (universal base only): the base is the mean of the k periods ending at g-1,
    an extension of R's single base period."""
    check_choices(control, base_period, est_method)
    if base_k != 1 and base_period != "universal":
        raise ValueError("base_k > 1 needs base_period='universal'")
    Y = np.asarray(Y, dtype=float)
    G = np.asarray(G, dtype=float)
    n, T = Y.shape
    if X is not None:
        X = np.asarray(X, dtype=float)
        if X.ndim == 2:
            X = np.repeat(X[:, None, :], T, axis=1)
        if X.shape[2] == 0:
            X = None
    a = int(anticipation)
    never = np.isinf(G)
    rows = []
    for g in sorted({int(v) for v in G[np.isfinite(G)]}):
        in_g = G == g
        post_base = g - 1 - a
        if post_base < 0:
            continue  # no period before the start (R: "no pre-treatment periods", cohort skipped)
        lo = max(0, post_base - base_k + 1)
        for c in range(T if base_period == "universal" else T - 1):
            if base_period == "varying":
                c += 1
                b = c - 1 if c < g else post_base
            else:
                b = post_base
            if base_period == "universal" and c == b and base_k == 1:
                rows.append((g, c, b, 0.0, np.zeros(n), int(in_g.sum()), 0, True))
                continue
            if control == "nevertreated":
                ctrl = never
            else:
                ctrl = never | ((G > max(c, b) + a) & ~in_g)
            idx = np.flatnonzero(in_g | ctrl)
            nc = int(ctrl.sum())
            if nc == 0:
                continue
            ybase = Y[:, lo:b + 1].mean(axis=1) if (b == post_base and base_k > 1) else Y[:, b]
            dy = (Y[:, c] - ybase)[idx]
            d = in_g[idx].astype(float)
            try:
                att, inf_sub = _two_by_two(dy, d, None if X is None else X[idx, b, :], est_method)
            except np.linalg.LinAlgError as e:
                raise ValueError(f"ATT(g, t) for cohort period {g}, period {c} (indices): the {est_method} estimator "
                                 f"cannot be computed ({e}): too few treated or control units for the covariates, "
                                 "or covariates that are collinear or separate the groups") from None
            inf = np.zeros(n)
            inf[idx] = n / len(idx) * inf_sub
            rows.append((g, c, b, att, inf, int(in_g.sum()), nc, False))
    if not rows:
        return Cells(*(np.zeros(0),) * 4, np.zeros((n, 0)), np.zeros(0, int), np.zeros(0, int),
                     np.zeros(0, bool), G, T)
    g_, c_, b_, att, inf, nt, nc, ref = zip(*rows)
    return Cells(np.array(g_), np.array(c_), np.array(b_), np.array(att, dtype=float), np.column_stack(inf),
                 np.array(nt), np.array(nc), np.array(ref), G, T)


def subset(cells: Cells, keep: np.ndarray) -> Cells:
    """The cells where ``keep`` is true (same units)."""
    keep = np.asarray(keep, dtype=bool)
    return Cells(cells.group[keep], cells.time[keep], cells.base[keep], cells.att[keep], cells.inf[:, keep],
                 cells.n_treated[keep], cells.n_control[keep], cells.reference[keep], cells.G, cells.n_periods)


def shares(cells: Cells) -> np.ndarray:
    """P(G = g) of each cell's cohort, over all units (R aggte's ``pg``)."""
    return np.array([np.mean(cells.G == g) for g in cells.group])


def weighted(cells: Cells, sel: np.ndarray, weight_influence: bool = True) -> tuple[float, np.ndarray]:
    """Cohort-share weighted mean of the selected cells and its influence function; with
    ``weight_influence`` the influence of estimating the shares is added (R aggte's ``wif``)."""
    sel = np.flatnonzero(sel) if np.asarray(sel).dtype == bool else np.asarray(sel)
    pg = shares(cells)[sel]
    S = pg.sum()
    att = cells.att[sel]
    inf = cells.inf[:, sel] @ (pg / S)
    if weight_influence:
        ind = (cells.G[:, None] == cells.group[sel][None, :]).astype(float) - pg
        wif = ind / S - np.outer(ind.sum(axis=1), pg / S**2)
        inf = inf + wif @ att
    return float(att @ pg / S), inf


@dataclass
class Aggregate:
    """An aggregation: ``overall`` (att, influence function) and ``rows``: [(label, att,
    influence function)] for each cohort / period / event time (none for ``simple``)."""

    kind: str
    overall: tuple[float, np.ndarray]
    rows: list


def aggregate(cells: Cells, kind: str, *, min_e: float = -np.inf, max_e: float = np.inf,
              balance_e: int | None = None) -> Aggregate:
    """R ``aggte``: ``simple`` (all post-treatment cells, cohort-share weights), ``group``
    (each cohort's mean over its post periods, then cohort-share weights), ``calendar`` (each
    period's treated cohorts, then the mean over periods) or ``dynamic`` (each event time,
    leads included; overall: the mean over event times >= 0). ``min_e``/``max_e`` limit event
    times (``max_e`` also the post periods in ``simple`` and ``group``); ``balance_e``: only
    cohorts observed at least that many periods after their start, event times up to it."""
    g, t, att = cells.group, cells.time, cells.att
    post = (g <= t) & (t <= g + max_e)
    if kind == "simple":
        return Aggregate(kind, weighted(cells, post), [])
    if kind == "group":
        rows = []
        for grp in sorted(set(g.tolist())):
            sel = np.flatnonzero(post & (g == grp))
            if len(sel):
                rows.append((grp, float(att[sel].mean()), cells.inf[:, sel].mean(axis=1)))
        pgg = np.array([np.mean(cells.G == r[0]) for r in rows])
        att_g = np.array([r[1] for r in rows])
        S = pgg.sum()
        ind = (cells.G[:, None] == np.array([r[0] for r in rows])[None, :]).astype(float) - pgg
        wif = ind / S - np.outer(ind.sum(axis=1), pgg / S**2)
        inf = np.column_stack([r[2] for r in rows]) @ (pgg / S) + wif @ att_g
        return Aggregate(kind, (float(att_g @ pgg / S), inf), rows)
    if kind == "calendar":
        rows = []
        for period in sorted(set(t[t >= g.min()].tolist())):
            sel = (t == period) & (g <= t)
            if sel.any():
                rows.append((period, *weighted(cells, sel)))
        att_t = np.array([r[1] for r in rows])
        return Aggregate(kind, (float(att_t.mean()), np.column_stack([r[2] for r in rows]).mean(axis=1)), rows)
    if kind == "dynamic":
        e = t - g
        keep = np.ones(len(g), bool)
        eseq = np.unique(e)
        if balance_e is not None:
            keep = (cells.n_periods - 1 - g) >= balance_e
            eseq = np.unique(e[keep])
            eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - cells.n_periods + 1)]
        eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
        rows = [(int(k), *weighted(cells, (e == k) & keep)) for k in eseq]
        pos = [r for r in rows if r[0] >= 0]
        if not pos:
            raise ValueError("no event time >= 0 in the window: the dynamic aggregation has no overall effect")
        overall = (float(np.mean([r[1] for r in pos])), np.column_stack([r[2] for r in pos]).mean(axis=1))
        return Aggregate(kind, overall, rows)
    raise ValueError(f"kind must be simple, group, calendar or dynamic; got {kind!r}")


def pretest(cells: Cells) -> dict:
    """Wald test that every pre-treatment ATT(g, t) is zero (R ``att_gt``'s W and Wpval, from
    the analytic covariance): W = n a' V^-1 a with V = IF'IF / n, chi-square with as many
    degrees of freedom as cells. Cells with zero standard error (the universal base period's
    own cells) are left out. ``statistic`` and ``p_value`` are NaN when there is nothing to
    test or V is singular (``reason`` says which)."""
    pre = np.flatnonzero((cells.group > cells.time) & np.isfinite(cells.se))
    out = {"statistic": np.nan, "df": int(len(pre)), "p_value": np.nan, "reason": ""}
    if not len(pre):
        out["reason"] = "no pre-treatment cells"
        return out
    n = cells.n
    V = cells.inf[:, pre].T @ cells.inf[:, pre] / n
    if 1 / np.linalg.cond(V, 1) <= np.finfo(float).eps:
        out["reason"] = "singular covariance of the pre-treatment cells"
        return out
    a = cells.att[pre]
    W = float(n * a @ np.linalg.solve(V, a))
    out.update(statistic=W, p_value=float(stats.chi2.sf(W, len(pre))))
    return out
