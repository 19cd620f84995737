"""Checks against the truth: intervals and target probabilities on simulated demo cities.

Sixteen demo cities (seeds 101-116) are cut at three origins (2023-06, 2024-03, 2024-12) and
forecast exactly as a user would run it (backtest, model choice per unit, simulation). The
forecasts are compared with each unit's *realised* register coverage from the demo's truth
(through 2026-12, beyond the data end): that is what a prediction interval is for. The truth
curve (the expected share) would be the wrong yardstick: a register of 50-110 communities
scatters around it by a few percentage points.

Bounds are loose on purpose (a few hundred correlated held-out months and ~600 target
predictions); the figures themselves are printed by ``python -m cityanalytics.forecast.calibration``.
"""

from __future__ import annotations

import numpy as np
import pytest

from cityanalytics.forecast import calibration

pytestmark = pytest.mark.slow  # sixteen simulated cities, three origins each

SEEDS = tuple(range(101, 117))


@pytest.fixture(scope="module")
def result():
    return calibration.run(seeds=SEEDS, n_paths=300, backtest_paths=100, seed=7)


def test_held_out_intervals_cover_the_realised_coverage(result):
    cov = calibration.interval_coverage(result)
    overall = cov.loc["all"]
    assert overall["points"] > 2000 and overall["units"] > 80
    assert 0.91 <= overall["cover_95"] <= 0.99, cov
    assert 0.74 <= overall["cover_80"] <= 0.92, cov
    # every model that is chosen often enough covers at least 85% with its 95% intervals
    often = cov.drop(index="all")
    assert (often.loc[often["points"] >= 300, "cover_95"] >= 0.85).all(), cov


def test_target_probabilities_are_calibrated(result):
    rel = calibration.reliability(result)
    assert rel["n"].sum() > 400
    # units given 60-95% reach the target about as often as predicted
    t = result["targets"].dropna(subset=["p_reach"])
    t = t[t["share"] < t["target"]]
    likely = t[(t["p_reach"] >= 0.6) & (t["p_reach"] < 0.95)]
    assert len(likely) > 60
    assert abs(likely["reached"].mean() - likely["p_reach"].mean()) < 0.1, rel
    unlikely = t[t["p_reach"] < 0.2]
    assert unlikely["reached"].mean() < 0.2, rel
    # calibration in the large and skill over always predicting the base rate
    b = calibration.brier(result)
    assert abs(b["mean_predicted"] - b["mean_observed"]) < 0.06, b
    assert b["brier"] < 0.7 * b["brier_climatology"], b
    # the reliability curve rises: higher predicted probability, higher observed share
    obs = rel["observed"].to_numpy()
    assert np.corrcoef(rel["predicted"], obs)[0, 1] > 0.9, rel
