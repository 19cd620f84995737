"""Difference-in-differences with the units a campaign did not cover as controls.

Two-way fixed effects (unit and period), errors clustered by unit (CR1, t(G-1) intervals):

- the static model: treated x campaign terms (one per phase, or one level) and, after the
  end, treated x exp(-(day - end)/tau) with tau profiled as in the ITS (the intervals of
  the other terms include tau's uncertainty through the Jacobian);
- the event study: treated x one dummy per period relative to the start (leads and lags,
  endpoints binned, the period before the start is the reference);
- two tests of parallel pre-trends: the joint F-test that all leads are zero (when there
  are enough clusters for it), and a test of a treated-specific linear trend before the
  campaign (pre-campaign data only).

Counts: Poisson PML with the fixed effects absorbed and log(days) as offset (``model=
"poisson"``, the default), so coefficients are log rate ratios; or OLS on log(count/days)
(``model="ols"``). Continuous outcomes: OLS on the outcome itself. A staggered roll-out
(units starting on different dates) gets each unit's terms from its own start date: this
is the plain TWFE that ``staggered.callaway_santanna`` should be read against.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.impact import fitting
from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.design import DayAxis, campaign_columns, post_column, post_column_dlogtau, tau_of
from cityanalytics.impact.its import _label, _window
from cityanalytics.impact.panel import check_freq, exposure_offset
from cityanalytics.impact.sentences import outcome_zh
from cityanalytics.impact.within import FEFit, RankDeficientError, factorize, ols_fe, poisson_fe
from cityanalytics.results import AnalysisResult, Coefficients

DEFAULT_WINDOW = {"D": (14, 60), "W": (8, 26), "M": (6, 12), "Q": (4, 8), "Y": (3, 5)}


@dataclass
class DiDResult(AnalysisResult):
    """table: the static effects; event_study: leads and lags; pretrend: the two tests."""

    event_study: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    pretrend: dict = field(default_factory=dict)
    fit: FEFit | None = field(default=None, repr=False)
    es_fit: FEFit | None = field(default=None, repr=False)
    profile: fitting.Profile | None = field(default=None, repr=False)
    diagnostics: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    data: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    method_zh: str = "双向固定效应(TWFE)"
    es_coefs: Coefficients | None = field(default=None, repr=False)

    def vcov(self, event_study: bool = False) -> pd.DataFrame:
        """Covariance of the static model's coefficients (campaign terms, then covariates), or
        with ``event_study=True`` of the event-study model's (e-6 ... e+12, covariates)."""
        if event_study:
            if self.es_coefs is None:
                raise ValueError("this result has no event study (did(..., event_study=True))")
            return self.es_coefs.vcov_frame()
        return super().vcov()

    def tidy(self, level: float | None = None, event_study: bool = False) -> pd.DataFrame:
        if event_study:
            if self.es_coefs is None:
                raise ValueError("this result has no event study (did(..., event_study=True))")
            return self.es_coefs.tidy(level)
        return super().tidy(level)


@dataclass
class Prepared:
    df: pd.DataFrame  # unit_id, period, days, y, treated, t (period index), offset
    axis: DayAxis
    treated: list
    controls: list
    model: str
    log_scale: bool
    freq: str
    window: tuple
    covariates: tuple = ()  # names; their values are the df columns "cov:<name>"
    exposure: str | None = None
    weights: str | None = None  # a column name; its values are the df column "w"
    _groups: tuple | None = None

    @property
    def cov_columns(self) -> list[str]:
        return [f"cov:{c}" for c in self.covariates]

    def groups(self) -> dict:
        """unit_id -> row positions in ``df`` (cached for the current df)."""
        if self._groups is None or self._groups[0] is not self.df:
            self._groups = (self.df, self.df.groupby("unit_id").indices)
        return self._groups[1]


def prepare(panel: pd.DataFrame, campaign: Campaign, *, outcome: str = "count", treated=None, control_units=None,
            model: str | None = None, freq: str | None = None, covariates=None,
            exposure: str | None = None, weights: str | None = None) -> Prepared:
    freq = check_freq(freq or panel.attrs.get("freq") or "M")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or [])
    missing = [c for c in covariates if c not in panel.columns]
    if missing:
        raise ValueError(f"covariate(s) {missing} not in the panel (columns: {', '.join(map(str, panel.columns))})")
    count = outcome == "count"
    model = model or ("poisson" if count else "ols")
    if model not in ("poisson", "ols"):
        raise ValueError(f"model must be 'poisson' or 'ols', got {model!r}")
    if model == "poisson" and not count:
        raise ValueError("model='poisson' is for counts; use model='ols' for a continuous outcome")
    units = sorted(panel["unit_id"].astype(str).unique())
    tr = [u for u in (treated if treated is not None else campaign.units) if u in units]
    if control_units is None:
        co = [u for u in units if u not in set(campaign.units)]
    else:
        co = [str(u) for u in control_units if str(u) in units]
    if not tr:
        raise ValueError("no treated unit of the campaign is in the panel")
    if not co:
        raise ValueError("no control unit: every unit in the panel is covered by the campaign")
    overlap = set(tr) & set(co)
    if overlap:
        raise ValueError(f"units both treated and control: {sorted(overlap)}")
    window = _window(panel)
    df = panel[panel["unit_id"].isin(tr + co)].copy()
    df.attrs = {}  # pandas deep-copies attrs on every operation
    df = df.dropna(subset=[outcome])
    for c in covariates:
        v = pd.to_numeric(df[c], errors="coerce")
        if v.isna().any():
            rows = df.loc[v.isna(), ["unit_id", "period"]].head(5)
            where = "; ".join(f"{u} {pd.Timestamp(t):%Y-%m-%d}" for u, t in rows.itertuples(index=False))
            raise ValueError(f"covariate {c!r} is missing or not a number on {int(v.isna().sum())} rows ({where})")
        df[f"cov:{c}"] = v.astype(float)
    df["unit_id"] = df["unit_id"].astype(str)
    periods = pd.DataFrame({"period": np.sort(df["period"].unique())})
    grid = panel.drop_duplicates("period").set_index("period").loc[periods["period"], ["period_end"]].reset_index()
    axis = DayAxis(grid, window)
    df["t"] = np.searchsorted(periods["period"].to_numpy(), df["period"].to_numpy())
    df["treated"] = df["unit_id"].isin(tr)
    log_scale = count
    if exposure and not count:
        raise ValueError("exposure is an offset for counts; a continuous outcome has none")
    if weights:
        if model != "ols":
            raise ValueError("weights are for the least-squares models (model='ols'); Poisson weighs by the counts")
        if weights not in df.columns:
            raise ValueError(f"weights {weights!r} is not a column of the panel")
        wv = pd.to_numeric(df[weights], errors="coerce")
        bad = wv.isna() | (wv <= 0)
        if bad.any():
            rows = df.loc[bad, ["unit_id", "period"]].head(5)
            where = "; ".join(f"{u} {pd.Timestamp(t):%Y-%m-%d}" for u, t in rows.itertuples(index=False))
            raise ValueError(f"weights {weights!r} must be positive on every row: {int(bad.sum())} rows missing "
                             f"or <= 0 ({where})")
        df["w"] = wv.astype(float)
    if count:
        log_exposure = exposure_offset(df, exposure)
        if model == "poisson":
            df["y"] = df[outcome].astype(float)
            df["offset"] = log_exposure
        else:
            c = df[outcome].to_numpy(dtype=float)
            df["y"] = np.log(np.where(c > 0, c, 0.5)) - log_exposure
            df["offset"] = 0.0
            df.attrs["zeros"] = int((c == 0).sum())
    else:
        df["y"] = df[outcome].astype(float)
        df["offset"] = 0.0
    df = df.sort_values(["unit_id", "t"], ignore_index=True)
    df["u_code"] = pd.factorize(df["unit_id"], sort=True)[0].astype(np.int64)
    return Prepared(df, axis, tr, co, model, log_scale, freq, window, tuple(covariates), exposure or None,
                    weights or None)


def _unit_terms(prep: Prepared, campaign: Campaign, effect: str, slope: bool) -> tuple[np.ndarray, list[str]]:
    """Campaign columns per observation: treated units get their own (possibly shifted) terms
    (a staggered roll-out shifts every phase by the unit's start minus the campaign's)."""
    df = prep.df
    cache: dict = {}
    names = list(campaign_columns(prep.axis, campaign, effect=effect, slope=slope, freq=prep.freq).columns)
    blocks = []
    for u, idx in prep.groups().items():
        if u not in prep.treated:
            continue
        start = campaign.adoption.get(u, campaign.start)
        key = pd.Timestamp(start)
        if key not in cache:
            cache[key] = campaign_columns(prep.axis, campaign, effect=effect, slope=slope, start=start,
                                            freq=prep.freq)
        cols = cache[key]
        names = list(cols.columns)
        blocks.append((idx, cols.to_numpy()[df["t"].to_numpy()[idx]]))
    out = np.zeros((len(df), len(names)))
    for idx, vals in blocks:
        out[idx] = vals
    return out, names


def _unit_post(prep: Prepared, campaign: Campaign, tau: float, deriv: bool = False) -> np.ndarray:
    df = prep.df
    out = np.zeros(len(df))
    cache: dict = {}
    t = df["t"].to_numpy()
    for u, idx in prep.groups().items():
        if u not in prep.treated:
            continue
        shift = float((pd.Timestamp(campaign.adoption.get(u, campaign.start)) - campaign.start).days)
        if shift not in cache:
            cache[shift] = (post_column_dlogtau(prep.axis, campaign.end, tau, shift) if deriv
                            else post_column(prep.axis, campaign.end, tau, shift))
        out[idx] = cache[shift][t[idx]]
    return out


def _fit(prep: Prepared, X: np.ndarray, names, ssc: str, extra=None, mu_start=None) -> FEFit:
    """The FE regression of prep's outcome on X and the covariates (after X's columns, so the
    first X.shape[1] coefficients are X's)."""
    df = prep.df
    u = df["u_code"].to_numpy()
    fes = [factorize(u), factorize(df["t"].to_numpy())]
    names = list(names) if names is not None else [f"x{j}" for j in range(X.shape[1])]
    if prep.covariates:
        X = np.column_stack([X, df[prep.cov_columns].to_numpy(dtype=float)])
        names = names + list(prep.covariates)
    if prep.model == "poisson":
        return poisson_fe(df["y"].to_numpy(), X, fes, cluster=u, offset=df["offset"].to_numpy(),
                          names=names, ssc=ssc, extra_jacobian=extra, mu_start=mu_start)
    return ols_fe(df["y"].to_numpy(), X, fes, cluster=u, names=names, ssc=ssc, extra_jacobian=extra,
                  weights=df["w"].to_numpy() if prep.weights else None)


def fit_identified(prep: Prepared, X: np.ndarray, names: list[str], ssc: str) -> tuple[FEFit, np.ndarray, list[str]]:
    """``_fit`` after dropping event-time terms the data cannot identify (no observation left
    once all-zero units and periods are dropped, or collinear with the fixed effects, e.g. a
    lead before the first period). A covariate or campaign term that cannot be identified is
    still an error naming it. Returns (fit, kept columns of X, kept names)."""
    keep = list(range(X.shape[1]))
    while True:
        try:
            return _fit(prep, X[:, keep], [names[j] for j in keep], ssc), X[:, keep], [names[j] for j in keep]
        except RankDeficientError as exc:
            drop = [names.index(c) for c in exc.columns if c in names]
            if not drop or len(drop) != len(exc.columns) or len(drop) == len(keep):
                raise
            keep = [j for j in keep if j not in drop]


def static_fit(prep: Prepared, campaign: Campaign, *, effect="phases", slope=False, post="decay",
               half_life=None, ssc="fixest", level=0.95):
    """The static TWFE model; returns (fit, names, profile, best half-life, X)."""
    Xc, names = _unit_terms(prep, campaign, effect, slope)
    post_days = float((prep.window[1] - campaign.end).days)
    has_post = post in ("decay", "level") and post_days > 0 and not campaign.staggered
    profile, best_h = None, (math.inf if half_life is None else float(half_life))
    if has_post and post == "decay" and half_life is None:
        state = {"mu": None}

        def crit(h: float) -> float:
            tau = tau_of(h) if math.isfinite(h) else math.inf
            X = np.column_stack([Xc, _unit_post(prep, campaign, tau)])
            f = _fit(prep, X, None, ssc, mu_start=state["mu"])
            state["mu"] = f.fitted if prep.model == "poisson" else None
            return f.criterion if prep.model == "poisson" else len(f.resid) * math.log(f.criterion)

        crit = fitting.memoise(crit)
        # The half-life interval comes from the cluster-robust Jacobian, not the profile.
        profile = fitting.profile_half_life(crit, post_days, level=level, scale=1.0, interval=False)
        best_h = profile.best
    extra = None
    if has_post:
        tau = tau_of(best_h) if (post == "decay" and math.isfinite(best_h)) else math.inf
        X = np.column_stack([Xc, _unit_post(prep, campaign, tau)])
        names = names + ["post"]
        if post == "decay" and half_life is None and math.isfinite(best_h):
            pre = _fit(prep, X, names, ssc)
            extra = _unit_post(prep, campaign, tau, deriv=True)[:, None] * pre.params[len(names) - 1]
    else:
        X = Xc
    fit = _fit(prep, X, names, ssc, extra=extra)
    return fit, names, profile, best_h, X


def event_design(prep: Prepared, campaign: Campaign, window: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    """Treated x 1{period - start period = e}, e = -pre..post except -1, endpoints binned."""
    pre, post_n = window
    df = prep.df
    units = df["unit_id"].to_numpy()
    uniq, inv = np.unique(units, return_inverse=True)
    starts = np.array([pd.Timestamp(campaign.adoption.get(u, campaign.start)) for u in uniq],
                      dtype="datetime64[ns]")[inv]
    pidx = np.searchsorted(prep.axis.days.values, starts)
    pidx = np.clip(pidx, 0, len(prep.axis.days) - 1)
    start_t = prep.axis.pidx[pidx]
    rel = df["t"].to_numpy() - start_t
    rel = np.clip(rel, -pre, post_n)
    events = [e for e in range(-pre, post_n + 1) if e != -1]
    tr = df["treated"].to_numpy()
    X = np.column_stack([(tr & (rel == e)).astype(float) for e in events])
    return X, events


def pretrend_tests(prep: Prepared, campaign: Campaign, es_fit: FEFit, events: list[int], ssc: str) -> dict:
    out: dict = {}
    leads = [i for i, e in enumerate(events) if e < -1]
    G = es_fit.n_clusters
    q = len(leads)
    if q:
        # Hotelling-type small-sample form: the cluster scores as G_eff draws, W ~ T^2, so
        # W (G_eff - q) / (q (G_eff - 1)) ~ F(q, G_eff - q), with G_eff - 1 the Bell-McCaffrey
        # degrees of freedom of the mean lead (at most G - 1). Plain W/q against F(q, G-1)
        # over-rejects badly when q is close to G or when few of the clusters are treated.
        c = np.zeros(len(es_fit.params))
        c[leads] = 1.0 / q
        g_eff = es_fit.effective_df(c) + 1.0
    if q and q < g_eff - 1:
        b = es_fit.params[leads]
        Vl = es_fit.vcov[np.ix_(leads, leads)]
        W = float(b @ np.linalg.solve(Vl, b))
        F = W * (g_eff - q) / (q * (g_eff - 1))
        out.update(joint_wald=W, joint_F=F, joint_df=(q, round(g_eff - q, 1)),
                   pretrend_p=float(stats.f.sf(F, q, g_eff - q)))
    else:
        out.update(joint_wald=np.nan, joint_F=np.nan, joint_df=(q, np.nan), pretrend_p=np.nan,
                   joint_note=f"前置期系数 {q} 个,有效聚类数仅约 {g_eff if q else G:.0f} 个,无法做联合检验")
    # Linear pre-trend: before the earliest start only, treated x period index.
    first = min(pd.Timestamp(v) for v in campaign.adoption.values()) if campaign.adoption else campaign.start
    first_t = int(prep.axis.pidx[np.searchsorted(prep.axis.days.values, np.datetime64(first))]) \
        if first <= prep.axis.days[-1] else int(prep.df["t"].max()) + 1
    sub = prep.df[prep.df["t"] < first_t]
    if sub["t"].nunique() >= 3 and sub["treated"].any() and (~sub["treated"]).any():
        x = (sub["treated"].to_numpy() * (sub["t"].to_numpy() - first_t)).astype(float)[:, None]
        fes = [sub["unit_id"].to_numpy(), sub["t"].to_numpy()]
        xn = ["trend"]
        if prep.covariates:
            x = np.column_stack([x, sub[prep.cov_columns].to_numpy(dtype=float)])
            xn += list(prep.covariates)
        if prep.model == "poisson":
            f = poisson_fe(sub["y"].to_numpy(), x, fes, cluster=sub["unit_id"].to_numpy(),
                           offset=sub["offset"].to_numpy(), names=xn, ssc=ssc)
        else:
            f = ols_fe(sub["y"].to_numpy(), x, fes, cluster=sub["unit_id"].to_numpy(), names=xn, ssc=ssc,
                       weights=sub["w"].to_numpy() if prep.weights else None)
        row = f.table().iloc[0]
        out.update(slope=float(row["coef"]), slope_se=float(row["se"]), pretrend_slope_p=float(row["p_value"]),
                   n_pre=int(sub["t"].nunique()))
    else:
        out.update(slope=np.nan, slope_se=np.nan, pretrend_slope_p=np.nan, n_pre=int(sub["t"].nunique()))
    return out


def _rows(fit: FEFit, names, level: float, log_scale: bool, labels=None, use_t: bool = True) -> pd.DataFrame:
    t = fit.table(level, use_t)
    t = t[t["term"].isin(names)].copy()
    if labels is not None:
        t.insert(1, "label_zh", [labels(n) for n in t["term"]])
    if log_scale:
        for a, b in (("pct", "coef"), ("pct_low", "ci_low"), ("pct_high", "ci_high")):
            t[a] = 100 * np.expm1(t[b])
    return t.reset_index(drop=True)


_UNSET = object()


def did(panel: pd.DataFrame, campaign: Campaign, *, outcome: str = "count", treated=None, control_units=None,
        model: str | None = None, effect: str = "phases", slope: bool = False, post: str = "decay",
        half_life: float | None = None, event_window: tuple[int, int] | None = None, event_study: bool = True,
        level: float = 0.95, ssc: str = "fixest", freq: str | None = None, outcome_label: str | None = None,
        n_draws: int = 1000, seed: int = 0, covariates=None, exposure: str | None = None,
        weights: str | None = None, unit_names: dict | None = None, use_t: bool = True,
        controls=_UNSET) -> DiDResult:
    """Difference-in-differences of ``outcome`` between covered units and controls.

    control_units: None = every unit in the panel the campaign does not cover; or the ids of
        the control units. (``controls=`` is the old name, deprecated: covariates are
        ``covariates=``.)
    covariates: panel columns entering every model linearly next to the fixed effects
        (time-varying; a covariate constant within units or periods, or collinear with the
        campaign terms, is an error naming it).
    exposure: for counts, a panel column (population, households, road length) whose log is
        the offset instead of log(days); rates are then per unit of exposure per period.
    weights: least squares only: a panel column (population behind a per-capita value ...)
        for weighted least squares, so a large unit counts by its size.
    unit_names: unit_id -> name, for the sentences.
    effect/slope/post/half_life: as in ``its`` (post is 'decay', 'level' or 'exclude').
    event_window: (leads, lags) of the event study; default by frequency (M: 6, 12).
    use_t: intervals and p-values from t with the Bell-McCaffrey degrees of freedom (default)
        or, False, from the standard normal.
    """
    if controls is not _UNSET:
        warnings.warn("did(controls=...) is renamed control_units= (the control units; covariates are "
                      "covariates=); controls= will be removed in the next release", DeprecationWarning, stacklevel=2)
        if control_units is not None:
            raise TypeError("did() got both control_units= and its old name controls=")
        control_units = controls
    prep = prepare(panel, campaign, outcome=outcome, treated=treated, control_units=control_units, model=model, freq=freq,
                   covariates=covariates, exposure=exposure, weights=weights)
    names_of = unit_names or {}
    early = sorted(u for u in prep.treated if pd.Timestamp(campaign.adoption.get(u, campaign.start)) < prep.window[0])
    if early and len(early) == len(prep.treated):
        raise ValueError(f"every covered unit started before the data begin ({prep.window[0]:%Y-%m-%d}): "
                         f"{', '.join(names_of.get(u, u) for u in early)}; no pre-campaign period to compare / "
                         f"{'、'.join(names_of.get(u, u) for u in early)} 在数据开始之前已开始活动,没有活动前数据,无法做双重差分")
    if post == "exclude":
        keep_t = prep.axis.pidx[min(np.searchsorted(prep.axis.days.values, np.datetime64(campaign.end)),
                                    len(prep.axis.days) - 1)]
        prep.df = prep.df[prep.df["t"] <= keep_t].reset_index(drop=True)
    if post not in ("decay", "level", "exclude"):
        raise ValueError(f"post must be 'decay', 'level' or 'exclude', got {post!r}")
    if campaign.open_ended:
        post = "open"  # a policy that stays: in force to the end of the data
    fit, names, profile, best_h, X = static_fit(prep, campaign, effect=effect, slope=slope, post=post,
                                                half_life=half_life, ssc=ssc, level=level)
    table = _rows(fit, names, level, prep.log_scale, lambda term: _label(term, post, prep.freq), use_t)
    diag = {"n_obs": fit.n, "n_treated": len(prep.treated), "n_control": len(prep.controls),
            "treated_before_data": early, "treated_before_data_names": [names_of.get(u, u) for u in early],
            "data_start": prep.window[0],
            "covariates": list(prep.covariates), "exposure": prep.exposure,
            "n_clusters": fit.n_clusters, "model": prep.model, "freq": prep.freq, "df_k": fit.df_k,
            "n_periods": int(prep.df["t"].nunique()), "zeros": prep.df.attrs.get("zeros", 0)}
    if "post" in names and post == "decay":
        diag["half_life"] = best_h
        if half_life is None and math.isfinite(best_h) and fit.vcov.shape[0] > len(names) + len(prep.covariates):
            se_lt = float(math.sqrt(fit.vcov[-1, -1]))
            tq = stats.t.ppf(0.5 + level / 2, float(table.set_index("term").loc["post", "df"]))
            diag.update(half_life_low=best_h * math.exp(-tq * se_lt), half_life_high=best_h * math.exp(tq * se_lt),
                        log_tau_se=se_lt)
        else:
            diag.update(half_life_low=np.nan if half_life is None else half_life,
                        half_life_high=math.inf if half_life is None else half_life)
        diag["persistent"] = math.isinf(best_h)
    # Cases averted in the treated units (counts on the log scale): fitted with the campaign
    # terms removed minus fitted.
    if prep.log_scale and prep.model == "poisson":
        k = len(names)
        mu = fit.fitted
        Xu = X if fit.n == len(prep.df) else None
        if Xu is not None:
            lin = Xu @ fit.params[:k]
            av = float(np.sum(mu * np.expm1(-lin)))
            rng = np.random.default_rng(seed)
            draws = rng.multivariate_normal(fit.params[:k], fit.vcov[:k, :k], size=n_draws, method="svd")
            # mu_cf = mu * exp(-lin) is held at the fit; the draws move the effect only.
            lin_d = Xu @ draws.T
            av_d = np.sum((mu * np.exp(-lin))[:, None] * -np.expm1(lin_d), axis=0)
            q = (50 * (1 - level), 50 * (1 + level))
            diag.update(averted_total=av, averted_total_low=float(np.percentile(av_d, q[0])),
                        averted_total_high=float(np.percentile(av_d, q[1])))
    es = pd.DataFrame()
    pre_info: dict = {}
    es_fit = None
    if event_study:
        window = event_window or DEFAULT_WINDOW[prep.freq]
        Xe, events = event_design(prep, campaign, window)
        ok = Xe.any(axis=0)
        Xe, events = Xe[:, ok], [e for e, k_ in zip(events, ok) if k_]
        es_names = [f"e{e:+d}" for e in events]
        es_fit, Xe, es_kept = fit_identified(prep, Xe, es_names, ssc)
        events = [e for e, name in zip(events, es_names) if name in es_kept]
        es_names = es_kept
        es = _rows(es_fit, es_names, level, prep.log_scale, use_t=use_t)
        es.insert(1, "event_time", events)
        ref = {"term": "e-1", "event_time": -1, "coef": 0.0, "se": 0.0, "ci_low": 0.0, "ci_high": 0.0,
               "t": np.nan, "p_value": np.nan, "df": np.nan}
        if prep.log_scale:
            ref.update(pct=0.0, pct_low=0.0, pct_high=0.0)
        es = pd.concat([es, pd.DataFrame([ref])], ignore_index=True).sort_values("event_time", ignore_index=True)
        es["binned"] = (es["event_time"] == -window[0]) | (es["event_time"] == window[1])
        pre_info = pretrend_tests(prep, campaign, es_fit, events, ssc)
    else:
        pre_info = {"n_pre": int(prep.df.loc[prep.df["t"] < prep.axis.pidx[
            min(np.searchsorted(prep.axis.days.values, np.datetime64(campaign.start)), len(prep.axis.days) - 1)],
            "t"].nunique())}
    from cityanalytics.impact import plots, sentences
    from cityanalytics.impact.warnings import did_warnings

    opts = dict(outcome=outcome, outcome_label=outcome_label or outcome_zh(outcome), model=prep.model, effect=effect, slope=slope,
                post=post, level=level, freq=prep.freq, campaign=campaign, ssc=ssc,
                scale="pct" if prep.log_scale else "level", log_scale=prep.log_scale,
                event_window=event_window or DEFAULT_WINDOW[prep.freq], covariates=list(prep.covariates),
                exposure=prep.exposure, weights=prep.weights, use_t=use_t)
    warns = did_warnings({"n_treated": len(prep.treated), "n_control": len(prep.controls),
                            "n_clusters": fit.n_clusters, "n_pre": pre_info.get("n_pre", 0),
                            "pretrend_p": pre_info.get("pretrend_p"),
                            "pretrend_slope_p": pre_info.get("pretrend_slope_p"), "freq": prep.freq,
                            "n_no_interval": int(table["se"].isna().sum())})
    k = len(fit.params)
    coefs = Coefficients(list(fit.names), fit.params, fit.vcov[:k, :k], fit.effective_dfs() if use_t else None, level)
    es_coefs = None
    if es_fit is not None:
        ke = len(es_fit.params)
        es_coefs = Coefficients(list(es_fit.names), es_fit.params, es_fit.vcov[:ke, :ke],
                                es_fit.effective_dfs() if use_t else None, level)
    res = DiDResult(table=table, event_study=es, pretrend=pre_info, fit=fit, es_fit=es_fit, profile=profile,
                    diagnostics=diag, warnings=warns, options=opts, data=prep.df, plotter=plots.plot_did, coefs=coefs,
                    es_coefs=es_coefs)
    res.spec = sentences.did_spec(res)
    res.sentences = sentences.did_sentences(res)
    return res
