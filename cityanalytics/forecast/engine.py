"""Run models over many rows in chunks, reducing each chunk's paths at once.

Paths for thousands of units do not fit in memory together (3,000 units x 1,000 paths x 36
months is 860 MB), so rows are simulated in chunks of at most ``MAX_CELLS`` path-months and
each chunk is reduced (quantiles, probabilities) before the next one is drawn.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from cityanalytics.forecast.models import MODELS, get as get_model, take
from cityanalytics.forecast.history import Rows

MAX_CELLS = 600_000  # small chunks stay in cache: the work is memory-bound


def run_models(rows: Rows, model_of_row: np.ndarray, horizon: int, n_paths: int, rng: np.random.Generator,
               reduce: Callable[[np.ndarray, np.ndarray], dict]) -> dict:
    """Simulate every row with its model (``model_of_row``: model name or "" for none).

    ``reduce(shares, idx)`` gets the simulated coverage shares (B x S x H) of rows ``idx`` and
    returns a dict of arrays whose first axis is B. Returns the same keys with arrays over all
    rows (NaN for rows without a model).
    """
    out: dict = {}
    chunk = max(1, MAX_CELLS // max(1, n_paths * horizon))
    for name in [m for m in MODELS if (model_of_row == m).any()]:
        model = get_model(name)
        idx_all = np.nonzero(model_of_row == name)[0]
        group = rows.take(idx_all)
        fitted = model.fit(group)  # one batched fit; the simulation goes in chunks
        for lo in range(0, len(idx_all), chunk):
            local = np.arange(lo, min(lo + chunk, len(idx_all)))
            idx = idx_all[local]
            sub = group.take(local)
            paths = model.simulate(take(fitted, local), sub, horizon, n_paths, rng)
            shares = paths / sub.n[:, None, None]
            for key, value in reduce(shares, idx).items():
                value = np.asarray(value, dtype=float)
                if key not in out:
                    out[key] = np.full((len(rows),) + value.shape[1:], np.nan)
                out[key][idx] = value
    return out
