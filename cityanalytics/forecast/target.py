"""Targets (a value and a deadline) and what simulated paths say about reaching them.

    Target(98, "2025-12-31")                    # coverage of at least 98% by end 2025
    Target.from_registry("hl_sorting_coverage")  # 海陵区: 城区居民小区 98% by 2025-12-31

Probability of reaching the target = share of simulated paths at or above it in the deadline
month (paths never fall, so this is also the share that pass it by then). Expected date =
median month in which paths first reach it, with an interval from the quantiles of that month;
paths that have not reached it by the end of the horizon are counted as "later than the
horizon" (never dropped). Pace needed = (target x register - covered now) / months left,
against the recent pace (the mean monthly increase over the last six months).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cityanalytics.text import BLANK

# Registry indicator -> (event, measure, kind, scope) the forecast uses for it.
REGISTRY_INDICATORS = {
    "sorting_coverage_communities": ("started", "communities", "share", "each"),
    "sorting_coverage_households": ("started", "households", "share", "each"),
    "fixed_dropoff_coverage": ("started", "communities", "share", "each"),
    "sorting_compliant_share": ("compliant", "communities", "share", "each"),
    "sorting_compliant_communities_new": ("compliant", "communities", "new_count", "city"),
}

RECENT_MONTHS = 6


@dataclass(frozen=True)
class Target:
    """value: percent (kind "share") or a number of new communities (kind "new_count").

    scope "each": every unit and the city must reach it; "city": the city only.
    since: for new_count, the month whose end the count starts from (default: the
    December before the deadline's year, i.e. "new in the deadline's year").
    """

    value: float
    deadline: str
    kind: str = "share"
    scope: str = "each"
    since: str | None = None
    label: str = ""
    target_id: str | None = None
    indicator: str | None = None
    event: str = "started"
    measure: str = "communities"
    area_type: str | None = None
    quote: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("share", "new_count"):
            raise ValueError(f"target kind must be share or new_count, got {self.kind!r}")
        if self.kind == "share" and not 0 < self.value <= 100:
            raise ValueError(f"a coverage target is a percent in (0, 100], got {self.value}")
        pd.Period(self.deadline, freq="M")  # raises on a bad date

    @property
    def deadline_month(self) -> pd.Period:
        return pd.Period(pd.Timestamp(self.deadline), freq="M")

    @property
    def since_month(self) -> pd.Period:
        if self.since:
            return pd.Period(pd.Timestamp(self.since), freq="M")
        return pd.Period(f"{self.deadline_month.year - 1}-12", freq="M")

    def describe(self) -> str:
        when = f"{self.deadline_month.year}年{self.deadline_month.month}月底"
        if self.kind == "share":
            return f"{when}前覆盖率达到{self.value:g}%"
        return f"{when}前新增{self.value:g}个"

    @classmethod
    def from_registry(cls, target_id: str, path=None) -> "Target":
        """The target with this id in the targets registry (``cityanalytics.targets``)."""
        from cityanalytics.targets import load_targets

        t = load_targets(path)
        row = t[t["target_id"] == target_id]
        if row.empty:
            raise ValueError(f"no target {target_id!r} in the targets registry")
        row = row.iloc[0]
        indicator = str(row["indicator"])
        if indicator not in REGISTRY_INDICATORS:
            raise ValueError(f"target {target_id!r} is about {indicator}, which this forecast does not cover "
                             f"(it covers {', '.join(REGISTRY_INDICATORS)})")
        event, measure, kind, scope = REGISTRY_INDICATORS[indicator]
        scope_text = str(row["scope"])
        area = "城市" if any(w in scope_text for w in ("城区", "居民小区", "建成区")) else (
            "农村" if "农村" in scope_text else None)
        return cls(value=float(row["value"]), deadline=str(row["deadline"].date()), kind=kind, scope=scope,
                   label=f"{row['plan']}:{scope_text}{row['comparison']}{float(row['value']):g}{row['unit']}",
                   target_id=target_id, indicator=indicator, event=event, measure=measure, area_type=area,
                   quote=str(row["quote"]))


def first_passage(paths: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Month (1..H) each path first reaches its row's threshold; H + 1 if it never does.

    paths: R x S x H shares; threshold: R shares.
    """
    hit = paths >= threshold[:, None, None] - 1e-9
    h = paths.shape[2]
    return np.where(hit.any(axis=2), hit.argmax(axis=2) + 1, h + 1)


def passage_quantiles(fp: np.ndarray, probs) -> np.ndarray:
    """Quantiles (R x len(probs)) of first-passage months; H + 1 means "not by the horizon"."""
    return np.quantile(fp, probs, axis=1, method="inverted_cdf").T


def month_text(p: pd.Period) -> str:
    return f"{p.year}年{p.month}月"


def passage_text(end: pd.Period, h: float, horizon: int) -> str:
    if not np.isfinite(h):
        return BLANK
    if h > horizon:
        return f"晚于{month_text(end + horizon)}"
    return month_text(end + int(h))


def pace_needed(threshold_count: float, covered_now: float, months_left: int, integer: bool) -> float:
    """Increase per month needed to reach ``threshold_count`` in ``months_left`` months."""
    if months_left <= 0:
        return math.nan
    need = (math.ceil(threshold_count - 1e-9) if integer else threshold_count) - covered_now
    return max(need, 0.0) / months_left


def recent_pace(covered: np.ndarray, start: int, end: int, months: int = RECENT_MONTHS) -> tuple[float, int]:
    """Mean monthly increase over the last ``months`` usable months, and how many months it uses."""
    k = min(months, end - start)
    if k <= 0:
        return math.nan, 0
    return float(covered[end] - covered[end - k]) / k, k
