"""Synthetic control (Abadie & Gardeazabal 2003; Abadie, Diamond & Hainmueller 2010) for one
treated place and a pool of untreated donor places.

    r = synth_control(Y, treated="示范市", start="2024-03-01")        # Y: periods x units
    r = synth_control(Y, "California", 1989, predictors=X)             # X: predictors x units
    r.table, r.weights, r.phases, r.sentences, r.plot(), r.plot(kind="path")

Donor weights W (non-negative, summing to one) minimise (X1 - X0 W)' V (X1 - X0 W):

- without predictors (the default rule) X is the pre-campaign outcome path itself and V the
  identity, so W minimises the pre-period mean squared prediction error (MSPE) directly, the
  quantity the ADH nested criterion targets;
- with predictors, each predictor row is divided by its standard deviation across units (as
  R ``Synth`` and pysyncon do) and the diagonal V is chosen by the nested optimisation of ADH:
  the outer problem minimises the pre-period outcome MSPE of W(V) over V on the simplex
  (Nelder-Mead from equal weights and from the regression-based start of ``Synth``, the
  better kept); the inner problem is the simplex QP of ``synth_solve``.

The gap is observed minus synthetic per period; after the start it is reported per period,
averaged and summed over each campaign phase. Pre-period fit: RMSPE. Inference lives in
``synth_inference`` (placebos in space and time, leave-one-donor-out, synthetic DiD with its
placebo interval); warnings in ``synth_warnings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from cityanalytics.impact.synth_solve import simplex_ls
from cityanalytics.results import AnalysisResult


@dataclass
class SCFit:
    """Weights and paths of one synthetic control (arrays, no labels: used in placebo loops)."""

    w: np.ndarray  # donor weights
    v: np.ndarray | None  # predictor weights (None: pre-period outcomes, identity)
    synthetic: np.ndarray  # synthetic path over all periods
    gap: np.ndarray  # treated - synthetic over all periods
    t0: int

    @property
    def pre_rmspe(self) -> float:
        return float(np.sqrt(np.mean(self.gap[: self.t0] ** 2)))

    @property
    def post_rmspe(self) -> float:
        return float(np.sqrt(np.mean(self.gap[self.t0:] ** 2)))


def _scale_rows(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=1, ddof=1, keepdims=True)
    return X / np.where(sd > 0, sd, 1.0)


def weights_given_v(X1: np.ndarray, X0: np.ndarray, v: np.ndarray | None, w0: np.ndarray | None = None) -> np.ndarray:
    """W on the simplex minimising sum_k v_k (X1_k - X0_k W)^2 (v None: all ones; w0: warm start)."""
    if v is None:
        return simplex_ls(X0, X1, w0=w0)
    s = np.sqrt(np.asarray(v, dtype=float))
    return simplex_ls(X0 * s[:, None], X1 * s, w0=w0)


def choose_v(X1: np.ndarray, X0: np.ndarray, Z1: np.ndarray, Z0: np.ndarray) -> np.ndarray:
    """ADH nested optimisation: v on the simplex minimising the pre-period outcome MSPE of W(v)."""
    k = X1.size
    last = [None]  # the previous W: its support is a good start for the next V (few active-set steps)

    def loss(x):
        v = np.abs(x) / max(np.abs(x).sum(), 1e-300)
        w = weights_given_v(X1, X0, v, last[0])
        last[0] = w
        return float(np.mean((Z1 - Z0 @ w) ** 2))

    starts = [np.full(k, 1.0 / k)]
    # Synth's regression-based start: squared coefficients of the outcomes on the predictors
    Xall = np.column_stack([X0, X1]).T  # units x predictors
    Zall = np.column_stack([Z0, Z1]).T  # units x periods
    design = np.column_stack([np.ones(len(Xall)), Xall])
    beta = np.linalg.lstsq(design, Zall, rcond=None)[0][1:]
    reg = np.sum(beta**2, axis=1)
    if np.all(np.isfinite(reg)) and reg.sum() > 0:
        starts.append(reg / reg.sum())
    best = None
    scale = float(np.mean(Z1**2)) or 1.0
    for x0 in starts:  # at most 1000 iterations per start, as pysyncon (R Synth's optim: 500)
        res = minimize(loss, x0, method="Nelder-Mead",
                       options={"maxiter": 1000, "xatol": 1e-6, "fatol": 1e-8 * scale, "adaptive": k > 4})
        if best is None or res.fun < best.fun:
            best = res
    return np.abs(best.x) / np.abs(best.x).sum()


def fit_sc(y1: np.ndarray, Y0: np.ndarray, t0: int, X1: np.ndarray | None = None,
           X0: np.ndarray | None = None, v: np.ndarray | str | None = "auto") -> SCFit:
    """One synthetic control. y1: treated path (T); Y0: donor paths (T x J); t0 pre-periods.

    X1/X0: predictors (k, k x J) already scaled, or None for the pre-period path. v: "auto"
    (ADH nested choice when there are predictors), an array of predictor weights, or None.
    """
    if isinstance(v, str) and v != "auto":
        raise ValueError(f"v must be 'auto', None or an array of predictor weights, got {v!r}")
    Z1, Z0 = y1[:t0], Y0[:t0]
    if X1 is None:
        w, vv = weights_given_v(Z1, Z0, None), None
    else:
        vv = choose_v(X1, X0, Z1, Z0) if isinstance(v, str) else (None if v is None else np.asarray(v, float))
        w = weights_given_v(X1, X0, vv)
    synthetic = Y0 @ w
    return SCFit(w, vv, synthetic, y1 - synthetic, t0)


@dataclass
class SynthResult(AnalysisResult):
    """table: periods with observed, synthetic, gap and phase; weights: donors; phases: sums."""

    weights: pd.DataFrame = field(default_factory=pd.DataFrame)
    predictor_weights: pd.Series | None = None
    phases: pd.DataFrame = field(default_factory=pd.DataFrame)
    balance: pd.DataFrame | None = None
    pre_rmspe: float = float("nan")
    post_rmspe: float = float("nan")
    att: float = float("nan")  # average gap over the post periods
    inference: dict = field(default_factory=dict, repr=False)  # placebo tables, SDID interval
    warnings: list = field(default_factory=list)
    options: dict = field(default_factory=dict, repr=False)
    fit: SCFit | None = field(default=None, repr=False)
    method_zh: str = "合成控制"


def _phase_labels(periods: pd.Index, start, phases) -> np.ndarray:
    """'活动前' before the start, then each phase's name for periods in [start, end]; '活动后' after."""
    labels = np.where(periods < start, "活动前", "活动后").astype(object)
    for name, p_start, p_end in phases or [("活动期", start, None)]:
        inside = periods >= p_start
        if p_end is not None:
            inside &= periods <= p_end
        labels[inside & (periods >= start)] = name
    return labels


def prepare(Y: pd.DataFrame, treated, start, donors=None, predictors: pd.DataFrame | None = None):
    """Check the wide panel (periods x units) and split it; clear errors, no silent drops."""
    if not isinstance(Y, pd.DataFrame):
        raise TypeError("Y must be a DataFrame with one row per period and one column per unit")
    if treated not in Y.columns:
        raise ValueError(f"treated unit {treated!r} is not a column of the panel (units: {list(Y.columns)[:10]}...)")
    Y = Y.sort_index()
    if Y.index.has_duplicates:
        raise ValueError(f"duplicate periods in the panel: {list(Y.index[Y.index.duplicated()][:5])}")
    donors = [c for c in Y.columns if c != treated] if donors is None else list(donors)
    missing = [d for d in donors if d not in Y.columns]
    if missing:
        raise ValueError(f"donor(s) not in the panel: {missing}")
    if treated in donors:
        raise ValueError(f"the treated unit {treated!r} cannot also be a donor")
    if len(donors) < 2:
        raise ValueError(f"a synthetic control needs at least 2 donor units, got {len(donors)}")
    sub = Y[[treated] + donors]
    bad = sub.isna()
    if bad.any().any():
        col = bad.any()[lambda s: s].index[0]
        row = bad.index[bad[col]][0]
        raise ValueError(f"missing outcome for unit {col!r} in period {row}: a synthetic control needs a balanced "
                         "panel (drop that unit from the donors or fill the period explicitly)")
    t0 = int((Y.index < start).sum())
    if t0 < 2 or t0 >= len(Y):
        raise ValueError(f"need at least 2 periods before the start {start} and 1 after: {t0} before, "
                         f"{len(Y) - t0} from the start")
    if predictors is not None:
        absent = [u for u in [treated] + donors if u not in predictors.columns]
        if absent:
            raise ValueError(f"predictors lack unit(s) {absent} (predictors: one row per predictor, one column per unit)")
        P = predictors[[treated] + donors].astype(float)
        if P.isna().any().any():
            r, c = next((r, c) for r in P.index for c in P.columns if pd.isna(P.at[r, c]))
            raise ValueError(f"predictor {r!r} is missing for unit {c!r}")
        predictors = P
    return Y, donors, t0, predictors


def synth_control(Y: pd.DataFrame, treated, start, *, donors=None, predictors: pd.DataFrame | None = None,
                  v: np.ndarray | str | None = "auto", phases=None, inference: bool = True, level: float = 0.95,
                  sdid_replications: int = 200, seed: int = 0, unit_label: str = "单位",
                  outcome_zh: str = "结果") -> SynthResult:
    """Synthetic control of ``treated`` from ``donors`` (default: every other column of Y).

    Y: wide panel, one row per period (sorted index: dates, years or any ordered labels) and
    one column per unit. start: the first campaign period. predictors: optional frame, one
    row per predictor and one column per unit. phases: optional [(name_zh, first, last)] of
    the campaign (last None: to the end). inference: run placebos, leave-one-out and the
    synthetic DiD interval (``synth_inference.infer``).
    """
    from cityanalytics.impact import synth_inference, synth_sentences, synth_warnings

    Y, donors, t0, P = prepare(Y, treated, start, donors, predictors)
    y1 = Y[treated].to_numpy(float)
    Y0 = Y[donors].to_numpy(float)
    X1 = X0 = None
    if P is not None:
        Xs = _scale_rows(P.to_numpy(float))
        X1, X0 = Xs[:, 0], Xs[:, 1:]
    f = fit_sc(y1, Y0, t0, X1, X0, v)
    periods = Y.index
    table = pd.DataFrame({"period": periods, "observed": y1, "synthetic": f.synthetic, "gap": f.gap,
                          "phase": _phase_labels(periods, start, phases)})
    weights = pd.DataFrame({"donor": donors, "weight": f.w}).sort_values("weight", ascending=False, kind="stable")
    weights = weights.reset_index(drop=True)
    post = table.iloc[t0:]
    by_phase = post.groupby("phase", sort=False)["gap"].agg(periods="size", mean_gap="mean", sum_gap="sum")
    by_phase = by_phase.reset_index()
    total = pd.DataFrame({"phase": ["合计(活动开始后)"], "periods": [len(post)], "mean_gap": [post["gap"].mean()],
                          "sum_gap": [post["gap"].sum()]})
    phases_tbl = pd.concat([by_phase, total], ignore_index=True)
    balance = None
    vw = None
    if P is not None:
        balance = pd.DataFrame({"predictor": P.index, "treated": P[treated].to_numpy(),
                                "synthetic": P[donors].to_numpy(float) @ f.w,
                                "donor_mean": P[donors].mean(axis=1).to_numpy()})
        vw = pd.Series(f.v, index=P.index, name="v") if f.v is not None else None
    res = SynthResult(table=table, weights=weights, predictor_weights=vw, phases=phases_tbl, balance=balance,
                      pre_rmspe=f.pre_rmspe, post_rmspe=f.post_rmspe, att=float(post["gap"].mean()), fit=f,
                      options={"treated": treated, "donors": donors, "start": start, "t0": t0, "v": v,
                               "predictors": P, "Y": Y, "phases": phases, "level": level,
                               "unit_label": unit_label, "outcome_zh": outcome_zh})
    if inference:
        res.inference = synth_inference.infer(res, replications=sdid_replications, seed=seed, level=level)
    res.warnings = synth_warnings.synth_warnings(res)
    res.sentences = synth_sentences.sentences(res)
    res.spec = synth_sentences.spec(res)
    from cityanalytics.impact.synth_plots import plot_synth

    res.plotter = plot_synth
    return res
