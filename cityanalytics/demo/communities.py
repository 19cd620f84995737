"""Garbage-sorting register: communities (城市 小区) and villages (农村), with adoption dates.

Each unit follows a logistic adoption curve: the share of its communities that have started
sorting (两定一撤) by time t is K / (1 + exp(-r (t - t0))), and zero before the programme
launch. Each community draws u ~ U(0,1): it starts at the curve's inverse at u if u < K and
never otherwise. Units with K < 0.98, or slow curves, miss 98% coverage by the end of 2025.
Dates after the end of the data are blanked (not known yet); the truth file keeps the curves
and the realized coverage through TRUTH_END.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import timeline
from .units import PERSONS_PER_HOUSEHOLD, SERIES

LAUNCH = pd.Timestamp("2019-07-01")  # nothing started before the programme launch
# Per series: K (ceiling), r (per year), t0 (midpoint), households per urban community,
# villages, probability a started community ever passes the standard.
CURVES = (
    (1.00, 1.9, "2020-09-01", 420, 0, 0.99),
    (1.00, 1.6, "2021-03-01", 450, 0, 0.98),
    (1.00, 1.4, "2021-10-01", 400, 0, 0.97),
    (0.97, 1.2, "2022-06-01", 320, 24, 0.93),
    (1.00, 2.2, "2020-06-01", 430, 0, 0.99),
    (1.00, 1.3, "2022-09-01", 410, 0, 0.96),
    (1.00, 1.1, "2022-12-01", 400, 6, 0.97),
    (0.93, 1.0, "2023-03-01", 300, 34, 0.90),
    (0.96, 0.9, "2023-06-01", 300, 30, 0.92),
    (1.00, 2.5, "2021-06-01", 480, 0, 0.99),
)
URBAN_SHARE_OF_POP = {True: 0.95, False: 0.55}  # part of a unit's households living in 小区
VILLAGE_HOUSEHOLDS = 320
COMPLIANT_LAG_DAYS, COMPLIANT_LAG_SD = 150, 0.6  # started -> 达标, log-normal
YEAR_DAYS = 365.25

_NAME_A = "金银玉翠锦瑞康和安福祥泰盛嘉华明春兰梅竹松柏桃李杏荷桂枫云"
_NAME_B = "园庭湾城府居轩阁林景湖山水岸庐台溪桥"
_URBAN_SUFFIX = ("小区", "花园", "家园", "新村", "公寓", "苑")
_VILLAGE_A = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_VILLAGE_B = ("庄", "营", "湾", "桥", "店", "集", "圩", "塘")


def _years(date) -> float:
    return (pd.Timestamp(date) - timeline.START).days / YEAR_DAYS


def curve(series: int, when: pd.DatetimeIndex) -> np.ndarray:
    """True expected share of the unit's communities that have started sorting by ``when``."""
    k, r, t0 = CURVES[series][:3]
    t = (when - timeline.START).days.to_numpy() / YEAR_DAYS
    share = k / (1 + np.exp(-r * (t - _years(t0))))
    return np.where(when >= LAUNCH, share, 0.0)


def _names(rng: np.random.Generator, n_urban: int, n_village: int) -> list[str]:
    urban = [a + b + c for a in _NAME_A for b in _NAME_B for c in _URBAN_SUFFIX]
    village = [a + b + "村" for a in _VILLAGE_A for b in _VILLAGE_B]
    return ([urban[i] for i in rng.choice(len(urban), n_urban, replace=False)]
            + [village[i] for i in rng.choice(len(village), n_village, replace=False)])


def generate(seed: int) -> tuple[pd.DataFrame, dict]:
    rng = timeline.rng(seed, "communities")
    frames, by_unit = [], {}
    month_ends = pd.period_range(timeline.START, timeline.TRUTH_END, freq="M").to_timestamp(how="end").normalize()
    for s, u in enumerate(SERIES):
        k, r, t0, hh_urban, n_village, q = CURVES[s]
        households = u.population / PERSONS_PER_HOUSEHOLD
        n_urban = int(round(households * URBAN_SHARE_OF_POP[u.urban] / hh_urban))
        n = n_urban + n_village
        hh = np.concatenate([
            rng.lognormal(np.log(hh_urban), 0.5, n_urban),
            rng.lognormal(np.log(VILLAGE_HOUSEHOLDS), 0.4, n_village),
        ]).round().astype(int).clip(20)
        draw = rng.random(n)
        covered = draw < k
        # Inverse of the logistic at draw / K, in years from START; clamp to the launch.
        x = np.clip(draw / k, 1e-9, 1 - 1e-9)
        t = _years(t0) + np.log(x / (1 - x)) / r
        started = timeline.START + pd.to_timedelta(np.round(t * YEAR_DAYS), unit="D")
        started = started.where(started >= LAUNCH, LAUNCH)
        passes = covered & (rng.random(n) < q)
        lag = np.round(COMPLIANT_LAG_DAYS * np.exp(COMPLIANT_LAG_SD * rng.standard_normal(n)))
        compliant = started + pd.to_timedelta(lag, unit="D")
        started = pd.Series(started).where(covered)
        compliant = pd.Series(compliant).where(passes)

        frames.append(pd.DataFrame({
            "community_id": [f"{u.unit_id}-{i + 1:04d}" for i in range(n)],
            "name_zh": _names(rng, n_urban, n_village),
            "unit_id": u.unit_id,
            "area_type": ["城市"] * n_urban + ["农村"] * n_village,
            "households": hh,
            "sorting_started_on": started.where(started <= timeline.END),
            "compliant_on": compliant.where(compliant <= timeline.END),
        }))
        by_unit[u.unit_id] = _unit_truth(s, started, compliant, hh, month_ends)
    out = pd.concat(frames, ignore_index=True)
    for c in ("sorting_started_on", "compliant_on"):
        out[c] = out[c].astype("datetime64[ns]")
    truth = {
        "model": "share started by t = K / (1 + exp(-r (t - t0))) for t >= launch, else 0; t in years",
        "launch": str(LAUNCH.date()),
        "coverage_definition": "share of the unit's communities (rows) with sorting_started_on <= month end",
        "compliant_lag": f"log-normal, median {COMPLIANT_LAG_DAYS} days, log sd {COMPLIANT_LAG_SD}",
        "censoring": "dates after the end of the data are blank in the register",
        "months": [str(p) for p in pd.period_range(timeline.START, timeline.TRUTH_END, freq="M")],
        "by_unit": by_unit,
    }
    return out, truth


def _unit_truth(s, started, compliant, hh, month_ends) -> dict:
    k, r, t0, _, n_village, q = CURVES[s]
    st = started.to_numpy(dtype="datetime64[ns]")
    co = compliant.to_numpy(dtype="datetime64[ns]")
    me = month_ends.to_numpy(dtype="datetime64[ns]")
    started_by = st[None, :] <= me[:, None]  # NaT compares False
    compliant_by = co[None, :] <= me[:, None]
    expected = curve(s, month_ends)
    reach = np.nonzero(expected >= 0.98)[0]
    return {
        "K": k, "r_per_year": r, "t0": t0, "p_ever_compliant_if_started": q,
        "communities": int(len(st)), "villages": n_village,
        "coverage_curve": np.round(expected, 6).tolist(),
        "coverage_realized": np.round(started_by.mean(axis=1), 6).tolist(),
        "coverage_realized_households": np.round((started_by * hh).sum(axis=1) / hh.sum(), 6).tolist(),
        "compliant_realized": np.round(compliant_by.mean(axis=1), 6).tolist(),
        "curve_reaches_98_on_month": str(month_ends[reach[0]].to_period("M")) if len(reach) else None,
        "curve_at_2025_12": round(float(curve(s, pd.DatetimeIndex(["2025-12-31"]))[0]), 6),
    }
