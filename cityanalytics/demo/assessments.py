"""Monthly assessment (一月一考评) of each unit: score, problems found and rectified.

score = unit base + slow improvement + summer dip + AR(1) noise (+ a bump in units covered by
the 100-day campaign while it runs); problems found fall with the score, and a unit-specific
share of them is rectified.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import campaigns, timeline
from .units import SERIES, unit_id_on

BASE_SCORE = np.array([89.0, 90.5, 86.5, 82.0, 89.5, 87.5, 91.0, 83.5, 85.0, 92.0])
P_RECTIFIED = np.array([0.95, 0.96, 0.92, 0.86, 0.95, 0.93, 0.97, 0.88, 0.90, 0.97])
IMPROVE_PER_YEAR = 0.4
SUMMER_DIP = 1.0
AR, NOISE_SD = 0.6, 1.5
PROBLEMS_PER_POINT = 6.0  # expected problems found per point below 100, per 100,000 people
CAMPAIGN_BUMP = 2.0  # score points while the 100-day campaign runs, covered units only


def generate(seed: int) -> tuple[pd.DataFrame, dict]:
    rng = timeline.rng(seed, "assessments")
    months = timeline.MONTHS
    mid = months.to_timestamp() + pd.Timedelta(days=14)
    years = (mid - timeline.START).days.to_numpy() / 365.25
    summer = np.isin(months.month, (6, 7, 8))
    c1_start, c1_end = campaigns.C1_PHASES[0][1], campaigns.C1_PHASES[-1][2]
    in_c1 = (mid >= pd.Timestamp(c1_start)) & (mid <= pd.Timestamp(c1_end))
    rows = []
    for s, u in enumerate(SERIES):
        noise = np.zeros(len(months))
        eps = rng.normal(0, NOISE_SD, len(months))
        for i in range(len(months)):  # AR(1) over 78 months
            noise[i] = (AR * noise[i - 1] if i else 0.0) + eps[i]
        score = BASE_SCORE[s] + IMPROVE_PER_YEAR * years - SUMMER_DIP * summer + noise
        if s in campaigns.C1_UNITS:
            score = score + CAMPAIGN_BUMP * in_c1
        score = np.clip(np.round(score, 1), 0, 100)
        found = rng.poisson(PROBLEMS_PER_POINT * (100 - score) * u.population / 100_000)
        fixed = rng.binomial(found, P_RECTIFIED[s])
        for i, p in enumerate(months):
            rows.append((unit_id_on(s, p.start_time), p, float(score[i]), int(found[i]), int(fixed[i])))
    out = pd.DataFrame(rows, columns=["unit_id", "period", "score", "problems_found", "problems_rectified"])
    out = out.sort_values(["period", "unit_id"], kind="stable").reset_index(drop=True)
    truth = {
        "model": "score = base + improve_per_year x years - summer_dip (Jun-Aug) + AR(1) noise "
                 "[+ campaign bump]; found ~ Poisson(per_point x (100 - score) x pop / 1e5); "
                 "rectified ~ Binomial(found, p_rectified)",
        "improve_per_year": IMPROVE_PER_YEAR, "summer_dip": SUMMER_DIP, "ar": AR, "noise_sd": NOISE_SD,
        "problems_per_point_per_100k": PROBLEMS_PER_POINT,
        "campaign_bump": {"campaign_id": campaigns.C1_ID, "points": CAMPAIGN_BUMP,
                          "months": "mid-month inside the campaign window"},
        "by_unit": {u.unit_id: {"base_score": float(BASE_SCORE[i]), "p_rectified": float(P_RECTIFIED[i])}
                    for i, u in enumerate(SERIES)},
    }
    return out, truth
