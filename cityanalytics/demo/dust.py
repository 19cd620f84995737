"""Road-dust samples (以克论净): one sample per road, lane and month.

Dust is log-normal around the lane's limit (3/8/10/10 g/m2 for 机动车道/非机动车道/人行道/背街小巷,
淄博市城市精细化管理“十四五”规划): log(dust / limit) = unit level + road effect + trend + season + noise. A sample
complies when dust <= limit. Unit levels are set from a target compliance per unit, so the
city lands near Zibo's 2020 figure (1,282 of 1,369 samples = 93.64%) with units differing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from . import timeline
from .units import N_SERIES, SERIES, id_index, roads, series_ids

LIMITS = {"机动车道": 3.0, "非机动车道": 8.0, "人行道": 10.0, "背街小巷": 10.0}
LANES_BY_CLASS = {
    "主干路": ("机动车道", "非机动车道", "人行道"),
    "次干路": ("机动车道", "人行道"),
    "支路": ("机动车道",),
    "背街小巷": ("背街小巷",),
}
# Compliance each unit would have mid-window, averaged over seasons and roads.
TARGET_COMPLIANCE = np.array([0.96, 0.97, 0.93, 0.87, 0.96, 0.94, 0.975, 0.89, 0.91, 0.98])
SIGMA = 0.45  # sample-to-sample log spread
ROAD_SD = 0.15  # persistent road effect
LANE_SHIFT = {"机动车道": 0.0, "非机动车道": 0.0, "人行道": 0.0, "背街小巷": 0.08}
TREND_PER_YEAR = -0.04  # cleaning improves a little every year (centred on mid-window)
SEASON_AMP, SEASON_PEAK_DOY = 0.10, 100  # dusty, windy spring
SD_TOTAL = float(np.hypot(SIGMA, ROAD_SD))
UNIT_LEVEL = -norm.ppf(TARGET_COMPLIANCE) * SD_TOTAL


def _design() -> pd.DataFrame:
    """One row per unit x road x lane x month: the sampling plan."""
    rows = [(s, r, road_id, name, cls, lane)
            for s in range(N_SERIES)
            for r, (road_id, name, cls) in enumerate(roads(s))
            for lane in LANES_BY_CLASS[cls]]
    plan = pd.DataFrame(rows, columns=["series", "road", "road_id", "road_name", "road_class", "lane_type"])
    months = pd.DataFrame({"month": timeline.MONTHS})
    return plan.merge(months, how="cross")


def _mean_log(df: pd.DataFrame, day: np.ndarray) -> np.ndarray:
    """Expected log(dust/limit) without the road effect and noise."""
    years = timeline.years_since_start(day) - timeline.N_DAYS / 2 / 365.25
    doy = timeline.DAYS.day_of_year.to_numpy()[np.clip(day, 0, timeline.N_DAYS - 1)]
    season = SEASON_AMP * np.cos(2 * np.pi * (doy - SEASON_PEAK_DOY) / 365.25)
    lane = df["lane_type"].map(LANE_SHIFT).to_numpy()
    return UNIT_LEVEL[df["series"].to_numpy()] + lane + TREND_PER_YEAR * years + season


def generate(seed: int) -> tuple[pd.DataFrame, dict]:
    rng = timeline.rng(seed, "dust")
    df = _design()
    n = len(df)
    road_effect = rng.normal(0, ROAD_SD, (N_SERIES, len(roads(0))))
    # Sampled on a random day between the 3rd and the 26th of the month.
    first = df["month"].dt.start_time
    sampled = first + pd.to_timedelta(rng.integers(2, 26, n), unit="D")
    day = ((sampled - timeline.START).dt.days).to_numpy()
    mean = _mean_log(df, day)
    limit = df["lane_type"].map(LIMITS).to_numpy()
    log_ratio = mean + road_effect[df["series"], df["road"]] + SIGMA * rng.standard_normal(n)
    dust = np.round(limit * np.exp(log_ratio), 2)

    series = df["series"].to_numpy()
    ids = np.array(series_ids(), dtype=object)
    lane_code = df["lane_type"].map({k: i + 1 for i, k in enumerate(LIMITS)}).astype(str)
    out = pd.DataFrame({
        "sample_id": "DS" + df["month"].dt.strftime("%Y%m") + "-" + df["road_id"] + "-" + lane_code,
        "road_id": df["road_id"],
        "road_name": df["road_name"],
        "unit_id": ids[id_index(series, day)],
        "road_class": df["road_class"],
        "lane_type": df["lane_type"],
        "sampled_on": sampled.astype("datetime64[ns]"),
        "dust_g_m2": dust,
    }).sort_values(["sampled_on", "sample_id"], kind="stable").reset_index(drop=True)

    # Expected compliance per unit over this sampling plan, marginal over road effects.
    p = norm.cdf(-mean / SD_TOTAL)
    expected = pd.Series(p).groupby(series).mean()
    truth = {
        "limits_g_m2": LIMITS,
        "compliant_if": "dust_g_m2 <= limit of the lane type",
        "model": "log(dust / limit) = unit_level + lane_shift + road_effect + trend x (years - mid) "
                 "+ season_amp x cos(2 pi (doy - peak) / 365.25) + sigma x N(0,1)",
        "sigma": SIGMA, "road_effect_sd": ROAD_SD, "lane_shift": LANE_SHIFT,
        "trend_log_per_year": TREND_PER_YEAR, "season_amp": SEASON_AMP, "season_peak_day_of_year": SEASON_PEAK_DOY,
        "lanes_by_road_class": {k: list(v) for k, v in LANES_BY_CLASS.items()},
        "by_unit": {
            u.unit_id: {
                "unit_level": round(float(UNIT_LEVEL[i]), 6),
                "target_compliance": float(TARGET_COMPLIANCE[i]),
                "expected_compliance": round(float(expected[i]), 6),
                "road_effects": dict(zip([r[0] for r in roads(i)], np.round(road_effect[i], 6).tolist())),
            }
            for i, u in enumerate(SERIES)
        },
        "expected_compliance_city": round(float(p.mean()), 6),
        "realized_compliance_city": round(float((dust <= limit).mean()), 6),
    }
    return out, truth
