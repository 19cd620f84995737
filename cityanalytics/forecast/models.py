"""Forecasting models for a coverage count process, each fitted and simulated in batch.

Every model takes ``Rows`` (effective covered counts ``c`` out of a register of ``n``, usable
months ``start..end``) and returns simulated future paths of the covered count, shape
(rows, paths, horizon): non-decreasing, never below today's count and never above ``n``.
Coverage therefore stays in [0, 100%] and never falls, as a register's coverage does.

logistic  Saturating growth. Each community's start date is a draw from a defective
          logistic distribution F(t) = K / (1 + exp(-r (t - t0))) (K < 1: some never start).
          The monthly counts are then multinomial: c_start ~ F(start), each later month's
          increment ~ F(t) - F(t-1), and the communities not started by the end ~ 1 - F(end).
          Fitted by maximum likelihood (Fisher scoring, vectorised over rows) with weak priors
          on logit K ~ N(logit 0.97, 2^2), log r ~ N(log 0.12/month, 1.5^2), t0 ~ N(end, 60^2),
          which only matter when the data cannot pin a parameter down (early in the curve).
          Uncertainty: parameters drawn from N(MAP, phi I^-1); each path then lets the
          communities not yet started start month by month with the conditional hazard
          (F(t) - F(t-1)) / (1 - F(t-1)): binomial draws on the register (beta-binomial when
          the deviance shows overdispersion phi > 1, as with batched adoption).
ar_logit  statsmodels AutoReg: ARIMA(1,1,0) with drift on the empirical logit
          log((c + 0.5) / (n - c + 0.5)) of the last ``window`` months, fitted by conditional
          least squares (``statsmodels.tsa.ar_model.AutoReg(dy, lags=1, trend="c")``). A logistic
          curve with K = 1 is a straight line on this scale; the AR term lets momentum change.
          Paths: parameters drawn from their posterior under a flat prior (sigma^2 from a
          scaled inverse chi-square, coefficients normal), AR recursion with normal shocks,
          back-transformed, then a running maximum and clip to [today, n].
          For many rows the same least squares run vectorised in numpy (``engine="numpy"``;
          ``"auto"`` switches above ``STATSMODELS_MAX_ROWS``); tests check both give
          statsmodels' numbers.
ensemble  Equal mixture of the logistic and ar_logit paths (half each).
naive     Recent pace continued: the mean monthly increment of the last ``window`` (6) months.
          Uncertainty: the pace drawn from N(mean, sd^2) (cut at 0) with sd the larger of the
          mean's standard error s/sqrt(k) and the spread of the paces of the earlier 6-month
          blocks (how much the pace has moved before, when at least three blocks exist); then
          monthly increments N(pace, s^2) cut at 0, s^2 the variance of the recent increments
          (at least the mean, as for Poisson counts). Ignores saturation except the register's
          size.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields

import numpy as np
from scipy.special import expit

from cityanalytics.forecast.history import Rows

STATSMODELS_MAX_ROWS = 300


def _sig(z):
    return expit(z)


def _shift(a, fill):
    """``a`` moved one step along the last axis, ``fill`` in front."""
    out = np.empty_like(a)
    out[..., 0] = fill
    out[..., 1:] = a[..., :-1]
    return out


def _steps(z, first=None):
    """sigma(z_t) - sigma(z_{t-1}) along the last axis (just sigma(z_t) where ``first``), without
    cancellation when both are close to 1; also returns sigma(z) and sigma(-z)."""
    sp, sn = expit(z), expit(-z)
    sp_prev, sn_prev, z_prev = _shift(sp, 0.0), _shift(sn, 1.0), _shift(z, -np.inf)
    if first is not None:
        sp_prev, sn_prev = np.where(first, 0.0, sp_prev), np.where(first, 1.0, sn_prev)
        z_prev = np.where(first, -np.inf, z_prev)
    return np.where(z_prev > 0, sn_prev - sn, sp - sp_prev), sp, sn


def _window(rows: Rows, first: np.ndarray) -> np.ndarray:
    """Rows x months mask: each row's months from ``first`` through its last usable month."""
    cols = np.arange(rows.c.shape[1])[None, :]
    return (cols >= first[:, None]) & (cols <= rows.end[:, None])


def _round_paths(paths: np.ndarray, rows: Rows) -> np.ndarray:
    return np.round(paths) if rows.integer else paths


def take(fitted, idx):
    """Rows ``idx`` of a fit (a dataclass of arrays whose first axis is rows, or of such fits)."""
    return type(fitted)(**{f.name: (take(v, idx) if hasattr(v, "__dataclass_fields__") else v[idx])
                           for f in fields(fitted) for v in [getattr(fitted, f.name)]})


@dataclass
class Model:
    name: str = ""
    label_zh: str = ""
    min_months: int = 3

    def eligible(self, rows: Rows) -> np.ndarray:
        return (rows.status == "ok") & (rows.months_used >= self.min_months)

    def fit(self, rows: Rows):  # pragma: no cover - interface
        raise NotImplementedError

    def simulate(self, fitted, rows: Rows, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def paths(self, rows: Rows, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        """Fit and simulate: (rows, paths, horizon) effective covered counts."""
        return self.simulate(self.fit(rows), rows, horizon, n_paths, rng)


# --------------------------------------------------------------------------- logistic


@dataclass
class LogisticFit:
    theta: np.ndarray  # R x 3: logit K, log r (per month), t0 (month index relative to the row's
    # last month at whose end the curve is half-way: F(month t) = K / (1 + exp(-r (t - end - t0))))
    cov: np.ndarray  # R x 3 x 3, already times phi
    phi: np.ndarray  # R overdispersion (>= 1)
    loglik: np.ndarray
    converged: np.ndarray

    @property
    def K(self):
        return _sig(self.theta[:, 0])

    @property
    def r(self):
        return np.exp(self.theta[:, 1])

    @property
    def t0(self):
        return self.theta[:, 2]


@dataclass
class Logistic(Model):
    name: str = "logistic"
    label_zh: str = "逻辑斯蒂增长(饱和曲线)"
    min_months: int = 6
    prior_mean: tuple = (float(np.log(0.995 / 0.005)), float(np.log(0.12)), 0.0)
    prior_sd: tuple = (1.5, 1.5, 60.0)
    max_iter: int = 100
    max_proposals: int = 200  # importance-sampling proposals per row (half the paths, 100 to 200)

    def _cells(self, rows: Rows):
        r, t = rows.c.shape
        cols = np.arange(t)[None, :]
        valid = _window(rows, rows.start)
        first = cols == rows.start[:, None]
        c = np.where(valid, rows.c, 0.0)
        prev = np.concatenate([np.zeros((r, 1)), c[:, :-1]], axis=1)
        w = np.where(valid, np.where(first, c, np.maximum(c - prev, 0.0)), 0.0)
        cur = rows.current
        w_rest = np.maximum(rows.n - cur, 0.0)
        x = (cols - rows.end[:, None]).astype(float)
        return valid, first, w, w_rest, x

    def _evaluate(self, theta, cells, n, want_derivs=True):
        valid, first, w, w_rest, x = cells
        a, b, t0 = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
        K, r = _sig(a), np.exp(b)
        z = r * (x - t0)
        with np.errstate(invalid="ignore", over="ignore"):
            step, sp, sn = _steps(z, first)
            p = K * step
        p = np.where(valid, np.maximum(p, 1e-300), 1.0)
        ze = r[:, 0] * (0.0 - t0[:, 0])  # the row's end month has x = 0
        p_rest = np.maximum(_sig(-a[:, 0]) + K[:, 0] * _sig(-ze), 1e-300)
        mu, sd = np.array(self.prior_mean), np.array(self.prior_sd)
        ll = (np.where(w > 0, w * np.log(p), 0.0).sum(axis=1)
              + np.where(w_rest > 0, w_rest * np.log(p_rest), 0.0)
              - (((theta - mu) / sd) ** 2).sum(axis=1) / 2)
        if not want_derivs:
            return ll, None, None, p, p_rest
        ss = sp * sn
        q = K * ss * r  # dF/dt at each month
        q = np.where(valid, q, 0.0)
        xq = q * (x - t0)
        q_prev = np.where(first, 0.0, np.concatenate([np.zeros((len(q), 1)), q[:, :-1]], axis=1))
        xq_prev = np.where(first, 0.0, np.concatenate([np.zeros((len(q), 1)), xq[:, :-1]], axis=1))
        one_k = 1 - K
        dp = np.stack([np.where(valid, one_k * p, 0.0), xq - xq_prev, -(q - q_prev)], axis=-1)  # R x T x 3
        se = _sig(ze) * _sig(-ze)
        de = np.stack([K[:, 0] * one_k[:, 0] * _sig(ze), K[:, 0] * se * r[:, 0] * (0.0 - t0[:, 0]),
                       -K[:, 0] * se * r[:, 0]], axis=-1)  # dF(end)/dtheta
        dp_rest = -de
        g = (np.where(valid, w / p, 0.0)[..., None] * dp).sum(axis=1) + (w_rest / p_rest)[:, None] * dp_rest
        g -= (theta - mu) / sd ** 2
        scaled = dp * np.where(valid, 1 / np.sqrt(p), 0.0)[..., None]
        info = np.matmul(scaled.transpose(0, 2, 1), scaled)
        info += (dp_rest[:, :, None] * dp_rest[:, None, :]) / p_rest[:, None, None]
        info *= n[:, None, None]
        info += np.diag(1 / sd ** 2)[None]
        return ll, g, info, p, p_rest

    def _start(self, rows: Rows, cells, k0: np.ndarray) -> np.ndarray:
        valid, _, _, _, x = cells
        n = rows.n[:, None]
        c = np.where(valid, rows.c, np.nan)
        zk = np.log((c + 0.5) / np.maximum(k0[:, None] * n - c + 0.5, 0.5))
        m = valid.sum(axis=1).clip(1)
        xm = np.where(valid, x, 0).sum(axis=1) / m
        zm = np.nansum(zk, axis=1) / m
        sxx = np.where(valid, (x - xm[:, None]) ** 2, 0).sum(axis=1)
        sxz = np.nansum(np.where(valid, (x - xm[:, None]) * (zk - zm[:, None]), np.nan), axis=1)
        slope = np.where(sxx > 0, sxz / np.where(sxx > 0, sxx, 1), 0.1)
        slope = np.clip(slope, 0.02, 1.0)
        t0 = np.clip(xm - zm / slope, -120, 120)
        return np.column_stack([np.log(k0 / (1 - k0)), np.log(slope), t0])

    def fit(self, rows: Rows) -> LogisticFit:
        cells = self._cells(rows)
        cur = rows.current / np.where(rows.n > 0, rows.n, 1)
        best = None
        for k0 in (np.full(len(rows), 0.995), np.clip(cur + 0.03, 0.3, 0.97)):
            theta = self._start(rows, cells, k0)
            out = self._newton(theta, cells, rows.n)
            if best is None:
                best = out
            else:
                better = out[1] > best[1]
                best = tuple(np.where(better.reshape((-1,) + (1,) * (b.ndim - 1)), o, b) for o, b in zip(out, best))
        theta, ll, converged = best
        _, g, info, p, p_rest = self._evaluate(theta, cells, rows.n)
        phi = self._dispersion(cells, rows.n, p, p_rest)
        cov = np.linalg.inv(info) * phi[:, None, None]
        return LogisticFit(theta=theta, cov=cov, phi=phi, loglik=ll, converged=converged)

    def _newton(self, theta, cells, n):
        """Fisher scoring with step halving; each iteration works only on the rows still moving."""
        theta = theta.copy()
        ll = np.empty(len(theta))
        converged = np.zeros(len(theta), bool)
        cap = np.array([3.0, 1.0, 24.0])
        active = np.arange(len(theta))
        for _ in range(self.max_iter):
            if not len(active):
                break
            sub = tuple(c[active] for c in cells)
            th, nn = theta[active], n[active]
            cur_ll, g, info, _, _ = self._evaluate(th, sub, nn)
            ll[active] = cur_ll
            step = np.linalg.solve(info, g[..., None])[..., 0]
            step /= np.max(np.abs(step) / cap, axis=1).clip(1)[:, None]
            lam = np.ones(len(active))
            todo = np.ones(len(active), bool)
            new_th, new_ll = th.copy(), cur_ll.copy()
            for _half in range(30):
                idx = np.nonzero(todo)[0]
                trial = th[idx] + lam[idx, None] * step[idx]
                trial_ll = self._evaluate(trial, tuple(c[idx] for c in sub), nn[idx], want_derivs=False)[0]
                ok = np.isfinite(trial_ll) & (trial_ll >= cur_ll[idx] - 1e-10)
                new_th[idx[ok]], new_ll[idx[ok]] = trial[ok], trial_ll[ok]
                todo[idx[ok]] = False
                if not todo.any():
                    break
                lam[todo] /= 2
            done = (np.abs(new_th - th).max(axis=1) < 1e-6) | (np.abs(new_ll - cur_ll) < 1e-7)
            theta[active], ll[active] = new_th, new_ll
            converged[active[done]] = True
            active = active[~done]
        return theta, ll, converged

    @staticmethod
    def _dispersion(cells, n, p, p_rest) -> np.ndarray:
        """Deviance / df of the multinomial cells, at least 1; 1 when there are < 8 df."""
        valid, _, w, w_rest, _ = cells
        e = n[:, None] * p
        with np.errstate(divide="ignore", invalid="ignore"):
            dev = np.where(valid, np.where(w > 0, w * np.log(w / e), 0.0) - (w - e), 0.0).sum(axis=1)
            er = n * p_rest
            dev += np.where(w_rest > 0, w_rest * np.log(w_rest / er), 0.0) - (w_rest - er)
        df = valid.sum(axis=1) + 1 - 3
        phi = np.where(df >= 8, 2 * dev / np.maximum(df, 1), 1.0)
        phi = np.nan_to_num(phi, nan=1.0)
        # only clear overdispersion counts: deviance/df above its ~97.5% point under the model
        significant = phi > 1 + 2 * np.sqrt(2 / np.maximum(df, 1))
        return np.where(significant, np.clip(phi, 1.0, 50.0), 1.0)

    def log_posterior(self, theta: np.ndarray, cells, phi: np.ndarray) -> np.ndarray:
        """Log posterior (likelihood tempered by phi, plus the priors) of draws theta (R x S x 3)."""
        valid, first, w, w_rest, x = cells
        used = np.nonzero(valid.any(axis=0))[0]
        if len(used):  # months before every row's start carry no weight
            keep = slice(used[0], used[-1] + 1)
            first, w, x = first[:, keep], w[:, keep], x[:, keep]
        a, b, t0 = theta[..., 0:1], theta[..., 1:2], theta[..., 2:3]
        K, r = _sig(a), np.exp(np.clip(b, -12, 3))
        z = r * (x[:, None, :] - t0)  # R x S x T
        sp, sn = expit(z), expit(-z)
        step = np.empty_like(z)
        step[..., 0] = sp[..., 0]
        step[..., 1:] = np.where(z[..., :-1] > 0, sn[..., :-1] - sn[..., 1:], sp[..., 1:] - sp[..., :-1])
        fr, fc = np.nonzero(first)  # a row's first month: everything started by its end
        step[fr, :, fc] = sp[fr, :, fc]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            ll = (w[:, None, :] * np.log(np.maximum(K * step, 1e-300))).sum(axis=2)
        ze = -r[..., 0] * t0[..., 0]
        p_rest = np.maximum(_sig(-a[..., 0]) + K[..., 0] * _sig(-ze), 1e-300)
        ll += np.where(w_rest[:, None] > 0, w_rest[:, None] * np.log(p_rest), 0.0)
        mu, sd = np.array(self.prior_mean), np.array(self.prior_sd)
        return ll / phi[:, None] - (((theta - mu) / sd) ** 2).sum(axis=2) / 2

    def draw(self, fitted: LogisticFit, rows: Rows, n_paths: int, rng) -> np.ndarray:
        """Parameter draws (R x S x 3) from the posterior by importance sampling.

        The Laplace approximation N(MAP, phi I^-1) is a poor posterior when K is weakly
        identified: the likelihood is steep below (K cannot be much under today's coverage)
        and flat above. Proposals come from a multivariate t (4 df, scale 1.5 x the Laplace
        covariance); each is weighted by posterior / proposal density and S draws are
        resampled (systematic resampling) by those weights from half as many proposals (100 to
        ``max_proposals``): the binomial noise of each path adds the rest of the spread.
        """
        r = len(rows)
        nu, inflate = 4.0, 1.5
        m_draws = min(self.max_proposals, max(100, n_paths // 2), n_paths)
        cov = fitted.cov * inflate ** 2 + 1e-12 * np.eye(3)[None]
        chol = np.linalg.cholesky(cov)
        out = np.empty((r, n_paths, 3))
        cells_all = self._cells(rows)
        t_len = rows.c.shape[1]
        step = max(1, 400_000 // max(1, m_draws * t_len))
        for lo in range(0, r, step):
            sl = slice(lo, min(r, lo + step))
            m = sl.stop - sl.start
            z = rng.standard_normal((m, m_draws, 3))
            g = np.sqrt(nu / rng.chisquare(nu, size=(m, m_draws, 1)))
            dev = np.einsum("rij,rsj->rsi", chol[sl], z) * g
            th = fitted.theta[sl, None, :] + dev
            maha = np.einsum("rsi,rsi->rs", z, z) * g[..., 0] ** 2
            log_q = -(nu + 3) / 2 * np.log1p(maha / nu)
            cells = tuple(c[sl] for c in cells_all)
            log_w = self.log_posterior(th, cells, fitted.phi[sl]) - log_q
            log_w = np.where(np.isfinite(log_w), log_w, -np.inf)
            log_w -= log_w.max(axis=1, keepdims=True)
            wgt = np.exp(log_w)
            cw = np.cumsum(wgt, axis=1)
            cw /= cw[:, -1:]
            pos = (rng.random((m, 1)) + np.arange(n_paths)[None, :]) / n_paths
            offs = np.arange(m)[:, None]
            idx = np.searchsorted((cw + offs).ravel(), (pos + offs).ravel()).reshape(m, n_paths) - offs * m_draws
            idx = np.clip(idx, 0, m_draws - 1)
            out[sl] = np.take_along_axis(th, idx[..., None], axis=1)
        return out

    def simulate(self, fitted: LogisticFit, rows: Rows, horizon: int, n_paths: int, rng) -> np.ndarray:
        r = len(rows)
        th = self.draw(fitted, rows, n_paths, rng)
        a, rate, t0 = th[..., 0], np.exp(np.clip(th[..., 1], -12, 3)), th[..., 2]
        K = _sig(a)
        k = np.arange(horizon + 1, dtype=float)[:, None, None]
        zz = rate[None] * (k - t0[None])  # (H+1) x R x S: month-major, each month contiguous
        sp, sn = expit(zz), expit(-zz)
        step = np.where(zz[:-1] > 0, sn[:-1] - sn[1:], sp[1:] - sp[:-1])
        surv = _sig(-a)[None] + K[None] * sn[:-1]  # 1 - F at the start of each month
        with np.errstate(invalid="ignore", divide="ignore"):
            hazard = K[None] * step / np.maximum(surv, 1e-300)
        hazard = np.clip(np.nan_to_num(hazard, nan=0.0), 0.0, 1.0)
        cur = rows.current
        remaining = np.round(np.maximum(rows.n - cur, 0)).astype(np.int64)
        rem = np.repeat(remaining[:, None], n_paths, axis=1)
        phi = fitted.phi
        rho = np.where(phi > 1.0001, (phi - 1) / np.maximum(remaining - 1, 1), 0.0).clip(0, 0.95)
        over = rho > 0
        out = np.empty((horizon, r, n_paths))
        for h in range(horizon):
            p = hazard[h]
            if over.any():
                pr = p[over].clip(1e-9, 1 - 1e-9)
                scale = (1 / rho[over] - 1)[:, None]
                p = p.copy()
                p[over] = rng.beta(pr * scale, (1 - pr) * scale)
            rem = rem - rng.binomial(rem, p)
            out[h] = remaining[:, None] - rem
        paths = np.minimum(cur[None, :, None] + out, rows.n[None, :, None])
        return np.moveaxis(paths, 0, 2)


# --------------------------------------------------------------------------- AR on the logit


@dataclass
class ARFit:
    beta: np.ndarray  # R x 2: const, AR(1) coefficient on the differenced logit
    xtx_inv: np.ndarray  # R x 2 x 2
    ssr: np.ndarray  # R
    nobs: np.ndarray  # R
    last_y: np.ndarray  # R logit at the end
    last_dy: np.ndarray  # R last difference

    @property
    def sigma2(self):
        """statsmodels' AutoReg.sigma2: SSR / nobs."""
        return self.ssr / np.maximum(self.nobs, 1)

    @property
    def cov_params(self):
        """statsmodels' AutoReg.cov_params(): sigma2 (X'X)^-1."""
        return self.sigma2[:, None, None] * self.xtx_inv


def empirical_logit(c, n):
    return np.log((c + 0.5) / (n - c + 0.5))


def inverse_empirical_logit(y, n):
    e = np.exp(np.clip(y, -50, 50))
    return (e * (n + 0.5) - 0.5) / (1 + e)


@dataclass
class ARLogit(Model):
    name: str = "ar_logit"
    label_zh: str = "logit变换ARIMA(1,1,0)含漂移"
    min_months: int = 12
    window: int = 24
    engine: str = "auto"

    def _design(self, rows: Rows):
        r = len(rows)
        ws = np.maximum(rows.start, rows.end - self.window + 1)
        inside = _window(rows, ws)
        y = np.where(inside, empirical_logit(np.where(inside, rows.c, 0), rows.n[:, None]), np.nan)
        dy = np.concatenate([np.full((r, 1), np.nan), np.diff(y, axis=1)], axis=1)  # valid for t in (ws, end]
        x = np.concatenate([np.full((r, 1), np.nan), dy[:, :-1]], axis=1)  # lagged difference
        ok = ~np.isnan(dy) & ~np.isnan(x)
        return y, dy, x, ok, ws

    def fit(self, rows: Rows) -> ARFit:
        engine = self.engine
        if engine == "auto":
            engine = "statsmodels" if len(rows) <= STATSMODELS_MAX_ROWS else "numpy"
        return self._fit_statsmodels(rows) if engine == "statsmodels" else self._fit_numpy(rows)

    def _fit_numpy(self, rows: Rows) -> ARFit:
        y, dy, x, ok, _ = self._design(rows)
        x0, y0 = np.where(ok, x, 0.0), np.where(ok, dy, 0.0)
        m = ok.sum(axis=1).astype(float)
        sx, sy, sxx, sxy = x0.sum(1), y0.sum(1), (x0 * x0).sum(1), (x0 * y0).sum(1)
        xtx = np.stack([np.stack([m, sx], -1), np.stack([sx, sxx], -1)], -2)
        xtx_reg = xtx + 1e-10 * np.eye(2)[None]
        xtx_inv = np.linalg.inv(xtx_reg)
        beta = np.einsum("rij,rj->ri", xtx_inv, np.stack([sy, sxy], -1))
        resid = np.where(ok, y0 - beta[:, :1] - beta[:, 1:] * x0, 0.0)
        ssr = (resid ** 2).sum(1)
        e = rows.end
        i = np.arange(len(rows))
        return ARFit(beta, xtx_inv, ssr, m, y[i, e], dy[i, e])

    def _fit_statsmodels(self, rows: Rows) -> ARFit:
        from statsmodels.tsa.ar_model import AutoReg

        y, dy, _, _, ws = self._design(rows)
        r = len(rows)
        beta, xtx_inv = np.zeros((r, 2)), np.zeros((r, 2, 2))
        ssr, nobs = np.zeros(r), np.zeros(r)
        fallback = []
        for i in range(r):
            d = dy[i, ws[i] + 1:rows.end[i] + 1]
            if len(d) < 4 or np.ptp(d[:-1]) == 0:
                fallback.append(i)  # constant regressor: statsmodels cannot separate drift and AR
                continue
            res = AutoReg(d, lags=1, trend="c").fit()
            if not res.sigma2 > 0:
                fallback.append(i)  # an exact fit: (X'X)^-1 cannot be read off cov_params
                continue
            beta[i] = res.params
            nobs[i] = res.nobs
            ssr[i] = res.sigma2 * res.nobs
            xtx_inv[i] = res.cov_params() / res.sigma2
        if fallback:
            fb = self._fit_numpy(rows.take(fallback))
            beta[fallback], xtx_inv[fallback], ssr[fallback], nobs[fallback] = fb.beta, fb.xtx_inv, fb.ssr, fb.nobs
        i = np.arange(r)
        return ARFit(beta, xtx_inv, ssr, nobs, y[i, rows.end], dy[i, rows.end])

    def simulate(self, fitted: ARFit, rows: Rows, horizon: int, n_paths: int, rng) -> np.ndarray:
        r = len(rows)
        df = np.maximum(fitted.nobs - 2, 1)
        sigma2 = fitted.ssr[:, None] / rng.chisquare(df[:, None], size=(r, n_paths))
        chol = np.linalg.cholesky(fitted.xtx_inv + 1e-14 * np.eye(2)[None])
        z = rng.standard_normal((r, n_paths, 2))
        beta = fitted.beta[:, None, :] + np.sqrt(sigma2)[..., None] * np.einsum("rij,rsj->rsi", chol, z)
        const, ar = beta[..., 0], np.clip(beta[..., 1], -0.95, 0.95)
        sd = np.sqrt(sigma2)
        y = np.repeat(fitted.last_y[:, None], n_paths, axis=1)
        dprev = np.repeat(np.nan_to_num(fitted.last_dy)[:, None], n_paths, axis=1)
        out = np.empty((r, n_paths, horizon))
        for h in range(horizon):
            dprev = const + ar * dprev + sd * rng.standard_normal((r, n_paths))
            y = y + dprev
            out[..., h] = inverse_empirical_logit(y, rows.n[:, None])
        cur = rows.current[:, None, None]
        paths = np.maximum.accumulate(np.maximum(out, cur), axis=2)
        return _round_paths(np.minimum(paths, rows.n[:, None, None]), rows)


# --------------------------------------------------------------------------- naive


@dataclass
class NaiveFit:
    mean: np.ndarray  # R recent mean monthly increment (effective counts)
    var: np.ndarray  # R variance of the monthly increments
    k: np.ndarray  # R months behind the mean
    pace_sd: np.ndarray  # R uncertainty of the pace itself


@dataclass
class Naive(Model):
    name: str = "naive"
    label_zh: str = "近期进度延续(基准)"
    min_months: int = 3
    window: int = 6
    blocks: int = 3  # earlier blocks of ``window`` months whose paces show how much the pace moves

    def eligible(self, rows: Rows) -> np.ndarray:
        return np.isin(rows.status, ("ok", "flat")) & (rows.months_used >= self.min_months)

    def fit(self, rows: Rows) -> NaiveFit:
        r = len(rows)
        # the increments of the last ``window`` months (an increment needs the month before it)
        inside = _window(rows, np.maximum(rows.start, rows.end - self.window) + 1)
        d = np.concatenate([np.full((r, 1), np.nan), np.diff(rows.c, axis=1)], axis=1)
        d = np.where(inside, d, np.nan)
        k = inside.sum(1).astype(float)
        mean = np.nansum(d, 1) / np.maximum(k, 1)
        var = np.nansum((d - mean[:, None]) ** 2, 1) / np.maximum(k - 1, 1)
        var = np.maximum(var, mean)  # at least Poisson: counts of communities
        # how much the pace itself moved: spread of the earlier block means of the same length
        blocks = []
        for j in range(1, self.blocks + 1):
            hi = rows.end - j * self.window
            lo_j = hi - self.window
            ok = lo_j >= rows.start
            lo_c = rows.c[np.arange(r), np.clip(lo_j, 0, None)]
            hi_c = rows.c[np.arange(r), np.clip(hi, 0, None)]
            blocks.append(np.where(ok, (hi_c - lo_c) / self.window, np.nan))
        b = np.column_stack([mean] + blocks)
        nb = (~np.isnan(b)).sum(axis=1)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # rows with too few blocks
            drift = np.where(nb >= 3, np.nanstd(b, axis=1, ddof=1), 0.0)
        pace_sd = np.maximum(np.sqrt(var / np.maximum(k, 1)), np.nan_to_num(drift))
        return NaiveFit(mean, var, k, pace_sd)

    def simulate(self, fitted: NaiveFit, rows: Rows, horizon: int, n_paths: int, rng) -> np.ndarray:
        r = len(rows)
        sd = np.sqrt(fitted.var)[:, None]
        pace = fitted.mean[:, None] + fitted.pace_sd[:, None] * rng.standard_normal((r, n_paths))
        pace = np.maximum(pace, 0)
        inc = np.maximum(pace[..., None] + sd[..., None] * rng.standard_normal((r, n_paths, horizon)), 0)
        paths = rows.current[:, None, None] + np.cumsum(inc, axis=2)
        return _round_paths(np.minimum(paths, rows.n[:, None, None]), rows)


@dataclass
class EnsembleFit:
    logistic: LogisticFit
    ar: ARFit


@dataclass
class Ensemble(Model):
    """Half the paths from the logistic model, half from ar_logit: an equal-weight mixture.

    The two fail in opposite directions (the logistic hedges on the ceiling K and is
    pessimistic for units that will reach 100%; the logit drift does not saturate and is
    optimistic for units that stop short), and on the demo cities the mixture's target
    probabilities are the best calibrated of the four.
    """

    name: str = "ensemble"
    label_zh: str = "逻辑斯蒂与logit-ARIMA等权组合"
    min_months: int = 12

    def fit(self, rows: Rows) -> EnsembleFit:
        return EnsembleFit(MODELS["logistic"].fit(rows), MODELS["ar_logit"].fit(rows))

    def simulate(self, fitted: EnsembleFit, rows: Rows, horizon: int, n_paths: int, rng) -> np.ndarray:
        half = n_paths // 2
        a = MODELS["logistic"].simulate(fitted.logistic, rows, horizon, half, rng)
        b = MODELS["ar_logit"].simulate(fitted.ar, rows, horizon, n_paths - half, rng)
        return np.concatenate([a, b], axis=1)


MODELS = {m.name: m for m in (Logistic(), ARLogit(), Naive(), Ensemble())}
LABELS_ZH = {name: m.label_zh for name, m in MODELS.items()}


def get(name: str) -> Model:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}") from None
