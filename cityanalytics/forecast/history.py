"""What of each unit's history a model may use, and what state the unit is in.

A *row* is one unit's series cut at one month (its last month for the forecast, earlier
months for backtest origins). For each row this module finds

- where the usable history starts: the first month with any coverage (the programme's
  launch shows up as a jump there), moved later past a *break*: a fall in coverage (a
  register rarely falls; a fall is a correction) or a one-month jump far above the recent
  pace (a correction adding communities that had started earlier): an increase of at least
  max(5% of the register, 3) and above 4 m + 6 sqrt(m + 1), m the median of the previous
  six increments (a month of ordinary adoption is far below that). The month of a break
  becomes the first month used, its level the mass "started by then";
- the row's status: ``ok`` (forecast with models), ``complete`` (100%), ``not_started``
  (nothing covered), ``flat`` (no growth in the last 12 months), ``short`` (fewer than
  ``MIN_MONTHS`` usable months) or ``no_data``.

Small falls (less than ``FALL_TOLERANCE`` of the register, as when an aggregated table's
denominator grows) are smoothed by a running maximum instead of being breaks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_MONTHS = 3  # fewer usable months than this: no model is fitted
FLAT_MONTHS = 12  # no growth over this many months: flat
JUMP_LOOKBACK = 6  # months of previous increments a jump is compared with
FALL_TOLERANCE = 0.005  # falls below this share of the register are noise, not breaks

STATUS_ZH = {
    "ok": "正常预测",
    "complete": "已全覆盖",
    "not_started": "尚未开展",
    "flat": "近期停滞",
    "short": "历史过短",
    "no_data": "无数据",
}


@dataclass
class Rows:
    """Effective-count histories, one row per (unit, cut month)."""

    c: np.ndarray  # R x T effective covered counts, monotone on [start, end], NaN outside
    n: np.ndarray  # R effective register size
    start: np.ndarray  # R first usable month index
    end: np.ndarray  # R last month index (the forecast origin)
    status: np.ndarray  # R status strings
    breaks: list  # R lists of (month index, kind, size) found
    integer: bool

    def __len__(self) -> int:
        return len(self.n)

    def take(self, idx) -> "Rows":
        idx = np.asarray(idx)
        return Rows(self.c[idx], self.n[idx], self.start[idx], self.end[idx], self.status[idx],
                    [self.breaks[i] for i in idx], self.integer)

    @property
    def months_used(self) -> np.ndarray:
        return np.where(self.start <= self.end, self.end - self.start + 1, 0)

    @property
    def current(self) -> np.ndarray:
        return self.c[np.arange(len(self.n)), np.clip(self.end, 0, None)]


def prepare(effective: np.ndarray, n: np.ndarray, ends: np.ndarray | None = None, *,
            integer: bool = True, unit_rows: np.ndarray | None = None) -> Rows:
    """Rows for ``effective`` (U x T) cut at ``ends`` (default: each unit's last month).

    unit_rows: for each row, which unit (row of ``effective``) it comes from (default: identity).
    Vectorised over rows, one pass over the months.
    """
    u_of = np.arange(len(effective)) if unit_rows is None else np.asarray(unit_rows)
    eff = np.asarray(effective, dtype=float)[u_of]
    nn = np.asarray(n, dtype=float)[u_of]
    r, t = eff.shape
    cols = np.arange(t)
    ok_all = ~np.isnan(eff)
    last = np.where(ok_all.any(axis=1), t - 1 - ok_all[:, ::-1].argmax(axis=1), -1)
    end = last.copy() if ends is None else np.minimum(np.asarray(ends, dtype=int), last)
    x = np.where(cols[None, :] <= end[:, None], eff, np.nan)
    x = pd.DataFrame(x).ffill(axis=1).to_numpy()  # a unit's own missing months: last figure carried
    has = ~np.isnan(x)
    x = np.minimum(x, nn[:, None])
    nonzero = has & (x > 1e-9)
    first_nz = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), t)
    first = np.where(has.any(axis=1), has.argmax(axis=1), t)

    tol = np.maximum(0.5 if integer else 1e-9, FALL_TOLERANCE * nn)
    jump_min = np.maximum(0.05 * nn, 3.0)
    start = first_nz.copy()
    buf = np.full((r, JUMP_LOOKBACK), np.nan)  # recent increments since the last start
    breaks: list[list] = [[] for _ in range(r)]
    for j in range(1, t):
        active = (j > start) & (j <= end)
        if not active.any():
            continue
        d = x[:, j] - x[:, j - 1]
        count = (~np.isnan(buf)).sum(axis=1)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(buf, axis=1)
        fall = active & (d < -tol)
        jump = active & ~fall & (count >= 3) & (d >= jump_min) & (d > 4 * med + 6 * np.sqrt(np.abs(med) + 1))
        brk = fall | jump
        for i in np.nonzero(brk)[0]:
            breaks[i].append((j, "fall" if fall[i] else "jump", float(d[i])))
        start[brk] = j
        buf[brk] = np.nan
        push = active & ~brk
        buf[push] = np.roll(buf[push], -1, axis=1)
        buf[push, -1] = np.maximum(d[push], 0)

    inside = (cols[None, :] >= start[:, None]) & (cols[None, :] <= end[:, None])
    y = np.where(inside, x, -np.inf)
    y = np.maximum.accumulate(y, axis=1)
    c = np.where(inside, y, np.nan)
    rows_i = np.arange(r)
    status = np.full(r, "ok", dtype=object)
    e = np.clip(end, 0, None)
    cur = c[rows_i, e]
    used = np.where(start <= end, end - start + 1, 0)
    window = np.clip(np.minimum(FLAT_MONTHS, used - 1), 0, None)
    before = c[rows_i, np.clip(e - window, 0, None)]
    grew = (cur - before) > np.where(integer, 0.5, 1e-9 * nn)
    status[~grew] = "flat"
    status[used < MIN_MONTHS] = "short"
    status[cur >= nn - 1e-9] = "complete"
    nst = (first_nz > end) & (first <= end)
    status[nst] = "not_started"
    c[nst] = np.where((cols[None, :] >= first[nst, None]) & (cols[None, :] <= end[nst, None]), 0.0, np.nan)
    start[nst] = first[nst]
    status[(end < 0) | (nn <= 0)] = "no_data"
    return Rows(c=c, n=nn, start=start, end=end, status=status, breaks=breaks, integer=integer)
