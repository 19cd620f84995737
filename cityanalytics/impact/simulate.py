"""Simulated panels with a known campaign effect, for checking the estimators (coverage,
placebo rejection rates) without generating whole demo cities.

The generating structure follows the demo city (``cityanalytics.demo.cases``): daily
Poisson counts whose log intensity is unit size + seasonal cosine + weekend + Spring
Festival dip + trend + campaign log-effect (a level per phase, exponential decay after the
end, or a linear ramp after a staggered start), with gamma noise per unit-day (shape
DAY_SHAPE) for over-dispersion. Panels are aggregated to the requested frequency and have
the columns of ``case_panel``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cityanalytics.impact.campaign import Campaign
from cityanalytics.impact.design import SPRING_FESTIVAL
from cityanalytics.impact.panel import period_grid

START, END = "2019-01-01", "2024-12-31"
PHASES = (("宣传启动", "2022-07-22", "2022-07-31"), ("综合治理", "2022-08-01", "2022-09-30"),
          ("检查考评", "2022-10-01", "2022-10-31"))
PHASE_LOG_EFFECTS = (math.log(0.9), math.log(0.6), math.log(0.7))
HALF_LIFE = 45.0
DAY_SHAPE = 30.0


def _calendar(days: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    doy = days.day_of_year.to_numpy()
    peak = rng.uniform(150, 220)
    season = 0.2 * np.cos(2 * np.pi * (doy - peak) / 365.25)
    weekend = np.where(days.day_of_week.to_numpy() >= 5, math.log(0.85), 0.0)
    day_num = (days - days[0]).days.to_numpy().astype(float)
    sf_num = (SPRING_FESTIVAL - days[0]).days.to_numpy().astype(float)
    near = sf_num[(sf_num > -60) & (sf_num < len(days) + 60)]
    rel = day_num[:, None] - near[None, :]
    dip = np.sum(0.45 * np.exp(-0.5 * ((rel - 2.0) / 4.0) ** 2), axis=1)
    trend = 0.03 * (days - days[0]).days.to_numpy() / 365.25
    return season + weekend + np.log1p(-np.minimum(dip, 0.9)) + trend


def phased_log_effect(days: pd.DatetimeIndex, phases=PHASES, effects=PHASE_LOG_EFFECTS,
                      half_life: float | None = HALF_LIFE) -> np.ndarray:
    out = np.zeros(len(days))
    for (_, a, b), e in zip(phases, effects):
        out[(days >= a) & (days <= b)] = e
    end = pd.Timestamp(phases[-1][2])
    if half_life is not None:
        d = (days - end).days.to_numpy().astype(float)
        after = d > 0
        out[after] = effects[-1] * 0.5 ** (d[after] / half_life)
    return out


def ramp_log_effect(days: pd.DatetimeIndex, start, full: float, ramp_days: float) -> np.ndarray:
    since = (days - pd.Timestamp(start)).days.to_numpy().astype(float)
    return full * np.where(since >= 0, np.clip(since / ramp_days, 0.0, 1.0), 0.0)


def _panel(counts: np.ndarray, days: pd.DatetimeIndex, units: list[str], freq: str) -> pd.DataFrame:
    grid = period_grid(days[0], days[-1], freq)
    pidx = np.searchsorted(grid["period"].to_numpy(), days.to_numpy(), side="right") - 1
    P, U = len(grid), len(units)
    # Sum the days of each period for every unit at once: [period, unit].
    agg = np.zeros((P, U), dtype=np.int64)
    np.add.at(agg, pidx, counts)
    out = pd.DataFrame({
        "unit_id": np.repeat(np.asarray(units, dtype=object), P),
        "period": np.tile(grid["period"].to_numpy().astype("datetime64[ns]"), U),
        "period_end": np.tile(grid["period_end"].to_numpy().astype("datetime64[ns]"), U),
        "days": np.tile(grid["days"].to_numpy(), U),
        "count": agg.T.ravel(),
    })
    out.attrs.update({"freq": freq, "window": (days[0], days[-1])})
    return out


def phased_panel(seed: int, *, n_treated: int = 5, n_control: int = 5, per_day: float = 8.0, freq: str = "M",
                 effects=PHASE_LOG_EFFECTS, half_life: float | None = HALF_LIFE, start: str = START, end: str = END,
                 day_shape: float = DAY_SHAPE, phases=PHASES, trend_sd: float = 0.02
                 ) -> tuple[pd.DataFrame, Campaign, dict]:
    """A campaign with phases on ``n_treated`` units; controls untreated; every unit drifts
    by its own N(0, trend_sd) log per year (parallel only in expectation). Returns
    (panel, campaign, truth) with truth = {phase name: log effect, 'post': log effect at the
    end, 'half_life': days}."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D")
    n = n_treated + n_control
    units = [f"U{j:03d}" for j in range(n)]
    size = np.log(per_day) + rng.normal(0, 0.3, n)
    cal = _calendar(days, rng)
    eff = phased_log_effect(days, phases, effects, half_life)
    unit_trend = rng.normal(0, trend_sd, n)  # each unit's own drift (log per year), independent of treatment
    log_mu = size[None, :] + cal[:, None] + unit_trend[None, :] * (np.arange(len(days)) / 365.25)[:, None]
    log_mu[:, :n_treated] += eff[:, None]
    lam = np.exp(log_mu) * rng.gamma(day_shape, 1 / day_shape, log_mu.shape)
    counts = rng.poisson(lam)
    panel = _panel(counts, days, units, freq)
    camp = Campaign.from_dates("模拟专项行动", [(p, a, b) for p, a, b in phases], units[:n_treated], ("模拟",))
    truth = {p: e for (p, _, _), e in zip(phases, effects)}
    truth.update(post=effects[-1] if half_life is not None else 0.0, half_life=half_life)
    return panel, camp, truth


def staggered_panel(seed: int, *, cohorts=("2021-04-01", "2021-10-01", "2022-06-01", "2023-01-01"),
                    per_cohort: int = 6, n_never: int = 8, per_day: float = 6.0, freq: str = "M",
                    full_effects=(-0.5, -0.4, -0.3, -0.2), ramp_days: float = 120.0, start: str = START,
                    end: str = END, day_shape: float = DAY_SHAPE) -> tuple[pd.DataFrame, Campaign, dict]:
    """A staggered roll-out with effects that ramp up and differ by cohort. Returns (panel,
    campaign, truth) with truth = per-day log effects [day, unit] and the adoption dates."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D")
    n = len(cohorts) * per_cohort + n_never
    units = [f"S{j:03d}" for j in range(n)]
    size = np.log(per_day) + rng.normal(0, 0.3, n)
    cal = _calendar(days, rng)
    log_mu = size[None, :] + cal[:, None]
    adoption, eff = {}, np.zeros((len(days), n))
    for c, (date, full) in enumerate(zip(cohorts, full_effects)):
        for k in range(per_cohort):
            j = c * per_cohort + k
            adoption[units[j]] = date
            eff[:, j] = ramp_log_effect(days, date, full, ramp_days)
    lam = np.exp(log_mu + eff) * rng.gamma(day_shape, 1 / day_shape, log_mu.shape)
    counts = rng.poisson(lam)
    panel = _panel(counts, days, units, freq)
    camp = Campaign.from_dates("模拟分批推行", [("推行实施", min(cohorts), end)], units, ("模拟",), adoption=adoption)
    return panel, camp, {"days": days, "log_effect": eff, "adoption": adoption, "units": units,
                         "base_mu": np.exp(log_mu)}


def true_cell_effects(panel: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Per unit and period, the true log ratio of expected counts with and without the
    effect (what a DiD of log counts recovers for that cell)."""
    days = truth["days"]
    grid = panel.drop_duplicates("period")[["period"]].sort_values("period")
    pidx = np.searchsorted(grid["period"].to_numpy(), days.to_numpy(), side="right") - 1
    rows = []
    for j, u in enumerate(truth["units"]):
        base = truth["base_mu"][:, j]
        treated = np.bincount(pidx, base * np.exp(truth["log_effect"][:, j]))
        untreated = np.bincount(pidx, base)
        rows.append(pd.DataFrame({"unit_id": u, "period": grid["period"].to_numpy(),
                                  "log_effect": np.log(treated / untreated)}))
    return pd.concat(rows, ignore_index=True)
