"""A city-wide campaign with a known effect, and the neighbouring cities that serve as donors.

示范市 runs a 100-day campaign over the whole city (全市市容环境秩序百日攻坚), so no street
of its own is left untreated. What the city has instead is the province's monthly bulletin:
the city-management complaints on the 12345 hotline per 10,000 residents (城市管理类热线诉求,
件/万人) for every city of the (made-up) province. The other NEIGHBOURS never run the
campaign: they are the donor pool of a synthetic control.

Model, per city j and month m (2019-01 = 0):

    rate_jm = base_j + slope_j * m + season_j * s_m + load_j * f_m + tilt_j * g_m  [+ effect_m, 示范市 only]
    count_jm ~ Poisson(rate_jm * population_j / 10,000),   value_jm = count_jm / (population_j / 10,000)

s_m is a summer peak (cos of the month), f_m a province-wide random walk (complaint habits,
hotline reach) and g_m an AR(1) factor, both shared by every city. 示范市's own parameters
are a convex mix (DEMO_MIX) of four neighbours', so its expected path lies inside the donors'
convex hull and a weighted mix of donors can follow it before the campaign.

The effect is additive on the rate, per day: each phase's level while it runs, then the last
phase's level decaying with HALF_LIFE_DAYS; a month's effect is the mean over its days. The
truth file repeats every number, including the effect by month and its mean over the months
from the start to the end of the data (what a synthetic control's average gap estimates).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import timeline
from .truth import LABEL_ZH
from .units import CITY_ID, CITY_NAME, SERIES

C3_ID = "C2024-QSBR"
C3_NAME = "示范市全市市容环境秩序百日攻坚行动"
C3_PHASES = (  # 100 days: 2024-09-01 .. 2024-12-09; effect in complaints per 10,000 residents
    ("宣传动员", "2024-09-01", "2024-09-15", -0.5),
    ("集中整治", "2024-09-16", "2024-11-30", -2.0),
    ("巩固提升", "2024-12-01", "2024-12-09", -1.5),
)
HALF_LIFE_DAYS = 60.0

INDICATOR = "hotline_urban_per_10k"
INDICATOR_ZH = "城市管理类热线诉求"
VALUE_UNIT = "件/万人"
SOURCE = f"省城市管理监督考核月报:12345热线城市管理类诉求(虚构,{LABEL_ZH})"

# The province's other cities (made up; codes with the unused province prefix 99).
# (unit_id, name, population, base rate, slope per month, summer amplitude, load on f, tilt on g)
NEIGHBOURS = (
    ("990200", "临江市", 1_320_000, 7.2, 0.010, 0.55, 0.9, 0.4),
    ("990300", "青川市", 860_000, 9.8, 0.022, 0.80, 1.3, -0.3),
    ("990400", "云岭市", 540_000, 6.1, 0.004, 0.35, 0.6, 0.8),
    ("990500", "南浦市", 2_150_000, 10.6, 0.030, 0.95, 1.4, 0.1),
    ("990600", "北塘市", 720_000, 5.4, -0.006, 0.40, 0.7, -0.6),
    ("990700", "东湖市", 1_050_000, 8.3, 0.015, 0.70, 1.0, 0.9),
    ("990800", "西陵市", 480_000, 7.9, 0.008, 0.30, 0.5, -0.9),
    ("990900", "安澜市", 1_640_000, 11.4, 0.026, 1.00, 1.2, 0.5),
    ("991000", "松溪市", 630_000, 6.6, 0.012, 0.50, 0.8, -0.2),
    ("991100", "桐城市", 910_000, 8.8, 0.018, 0.65, 1.1, -0.7),
    ("991200", "石门市", 560_000, 5.9, 0.002, 0.45, 0.6, 0.3),
    ("991300", "望海市", 1_880_000, 9.4, 0.020, 0.85, 1.2, 0.7),
    ("991400", "丰乐市", 770_000, 7.0, 0.014, 0.60, 0.9, -0.4),
    ("991500", "嘉禾市", 1_230_000, 10.1, 0.024, 0.75, 1.3, 0.2),
    ("991600", "长宁市", 690_000, 6.4, 0.006, 0.40, 0.7, -0.8),
    ("991700", "白鹭市", 1_450_000, 8.6, 0.016, 0.90, 1.0, 0.6),
    ("991800", "平川市", 520_000, 7.6, 0.009, 0.55, 0.8, -0.1),
    ("991900", "清远市", 980_000, 9.1, 0.019, 0.70, 1.1, 0.0),
    ("992000", "金沙市", 1_120_000, 8.0, 0.011, 0.60, 0.9, -0.5),
)
# 示范市's parameters: this convex mix of four neighbours' (weights sum to one).
DEMO_MIX = {"990300": 0.35, "990700": 0.30, "991400": 0.20, "990600": 0.15}
RW_SD = 0.08  # monthly step of the shared random walk f
AR_G, AR_SD = 0.85, 0.12  # the shared AR(1) factor g


def demo_population() -> int:
    return sum(u.population for u in SERIES)


def _params() -> pd.DataFrame:
    cols = ["unit_id", "name_zh", "population", "base", "slope", "season", "load", "tilt"]
    nb = pd.DataFrame(NEIGHBOURS, columns=cols)
    mix = nb.set_index("unit_id").loc[list(DEMO_MIX)]
    w = np.array(list(DEMO_MIX.values()))
    demo = {c: float(w @ mix[c].to_numpy(float)) for c in ("base", "slope", "season", "load", "tilt")}
    row = pd.DataFrame([{"unit_id": CITY_ID, "name_zh": CITY_NAME, "population": demo_population(), **demo}])
    return pd.concat([row, nb], ignore_index=True)


def daily_effect(day: np.ndarray) -> np.ndarray:
    """The additive effect on 示范市's rate (件/万人) per day index of the demo's axis."""
    out = np.zeros(day.shape, dtype=float)
    for _, start, end, level in C3_PHASES:
        out[(day >= timeline.day_index(start)) & (day <= timeline.day_index(end))] = level
    last_end = timeline.day_index(C3_PHASES[-1][2])
    after = day > last_end
    out[after] = C3_PHASES[-1][3] * 0.5 ** ((day[after] - last_end) / HALF_LIFE_DAYS)
    return out


def monthly_effect() -> pd.Series:
    """The effect by month (mean of the daily effect over the month's days), every demo month."""
    days = np.arange(timeline.N_DAYS)
    eff = pd.Series(daily_effect(days), index=timeline.DAYS)
    out = eff.groupby(eff.index.to_period("M")).mean()
    return out.reindex(timeline.MONTHS)


def _factors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(timeline.MONTHS)
    season = np.cos(2 * np.pi * (timeline.MONTHS.month.to_numpy() - 7.5) / 12)  # peak in July-August
    f = np.cumsum(rng.normal(0.0, RW_SD, n))
    f -= f[0]
    g = np.zeros(n)
    eps = rng.normal(0.0, AR_SD, n)
    for i in range(n):
        g[i] = (AR_G * g[i - 1] if i else 0.0) + eps[i]
    return season, f, g


def expected_rates(seed: int) -> tuple[pd.DataFrame, np.ndarray, np.random.Generator]:
    """Parameters per city, rates [city, month] without the campaign, and the generator (the
    table's own stream, so nothing else in the demo changes) for the counts."""
    rng = timeline.rng(seed, "citywide")
    p = _params()
    season, f, g = _factors(rng)
    m = np.arange(len(timeline.MONTHS))
    rates = (p["base"].to_numpy()[:, None] + p["slope"].to_numpy()[:, None] * m
             + p["season"].to_numpy()[:, None] * season + p["load"].to_numpy()[:, None] * f
             + p["tilt"].to_numpy()[:, None] * g)
    return p, rates, rng


def generate(seed: int) -> tuple[pd.DataFrame, dict]:
    """The observations table (one row per city and month) and its truth."""
    p, rates, rng = expected_rates(seed)
    effect = monthly_effect().to_numpy()
    rates = rates.copy()
    rates[0] += effect  # row 0 is 示范市
    if (rates <= 0).any():
        raise AssertionError("a city's expected complaint rate fell to 0 or below: the demo parameters are wrong")
    pop10k = p["population"].to_numpy(float) / 10_000
    counts = rng.poisson(rates * pop10k[:, None])
    rows = []
    labels = [str(x) for x in timeline.MONTHS]
    for j, r in p.iterrows():
        for i, period in enumerate(labels):
            rows.append((r["unit_id"], r["name_zh"], period, INDICATOR, round(counts[j, i] / pop10k[j], 2),
                         float(counts[j, i]), round(pop10k[j], 1), VALUE_UNIT, SOURCE))
    frame = pd.DataFrame(rows, columns=["unit_id", "unit_name", "period", "indicator", "value", "numerator",
                                        "denominator", "unit", "source"])
    return frame, truth(seed)


def cities_frame() -> pd.DataFrame:
    """The neighbouring cities as rows of the districts table (level 市, no parent)."""
    from .units import PERSONS_PER_HOUSEHOLD

    rows = [(u, n, "市", None, u, pop, int(round(pop / PERSONS_PER_HOUSEHOLD)), None)
            for u, n, pop, *_ in NEIGHBOURS]
    return pd.DataFrame(rows, columns=["unit_id", "name_zh", "level", "parent_id", "division_code", "population",
                                       "households", "area_km2"])


def campaign_rows() -> list[tuple]:
    """Rows of the campaigns table: the whole city (its own unit id), one per phase."""
    return [(C3_ID, C3_NAME, CITY_ID, phase, order, start, end, INDICATOR)
            for order, (phase, start, end, _) in enumerate(C3_PHASES, start=1)]


def truth(seed: int | None = None) -> dict:
    eff = monthly_effect()
    start = pd.Period(C3_PHASES[0][1], freq="M")
    post = eff[eff.index >= start]
    during = eff[(eff.index >= start) & (eff.index <= pd.Period(C3_PHASES[-1][2], freq="M"))]
    params = _params()
    return {
        "campaign_id": C3_ID, "name_zh": C3_NAME,
        "design": "city-wide: the whole demo city treated, neighbouring cities (never treated) as donors",
        "treated_units": [CITY_ID],
        "donor_units": [u for u, *_ in NEIGHBOURS],
        "donors_untreated": "the neighbouring cities run no campaign in the data window",
        "outcome": {"table": "observations", "indicator": INDICATOR, "label_zh": INDICATOR_ZH, "unit": VALUE_UNIT,
                    "source": SOURCE, "frequency": "monthly"},
        "phases": [{"phase": p, "phase_order": i, "start": a, "end": b, "effect": lvl}
                   for i, (p, a, b, lvl) in enumerate(C3_PHASES, start=1)],
        "after_end": {"formula": "effect(t) = last phase effect * 0.5 ** ((t - end) / half_life_days)",
                      "half_life_days": HALF_LIFE_DAYS, "from": C3_PHASES[-1][2]},
        "applies_to": "expected complaints per 10,000 residents per month (rate), additive, 示范市 only",
        "effect_by_month": {str(k): round(float(v), 6) for k, v in post.items()},
        "mean_effect_campaign_months": round(float(during.mean()), 6),
        "mean_effect_post": round(float(post.mean()), 6),
        "mean_effect_post_note": "mean of the monthly effect from the first campaign month to the end of the data "
                                 "(what the average post-period gap of a synthetic control estimates)",
        "pre_periods": int((eff.index < start).sum()),
        "post_periods": int(len(post)),
        "model": {
            "rate": "base + slope*m + season*cos(2pi(month-7.5)/12) + load*f_m + tilt*g_m (+ effect)",
            "count": "Poisson(rate * population / 10,000); value = count / (population / 10,000), 2 decimals",
            "random_walk_sd": RW_SD, "ar_g": AR_G, "ar_sd": AR_SD,
            "demo_mix": DEMO_MIX,
            "by_unit": {r["unit_id"]: {k: (round(float(r[k]), 6) if k != "name_zh" else r[k])
                                       for k in ("name_zh", "population", "base", "slope", "season", "load", "tilt")}
                        for _, r in params.iterrows()},
        },
    }
