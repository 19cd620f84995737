"""A campaign as the impact analyses see it: phases with dates, units covered, outcomes targeted.

Built from the canonical ``campaigns`` table (one row per campaign x unit x phase) or from
dates typed in a notebook. A campaign whose units start on different dates is a staggered
roll-out; ``adoption`` holds each unit's first day either way.

A policy that stays (no last day: a regulation, a sorting scheme rolled out district by
district) has an open end: its last phase ends on ``OPEN_END``, a date after any data, so the
analyses read it as in force to the end of the data (no post-campaign period, nothing
decays). ``Campaign.open_ended`` says so and the descriptions print 起持续实施.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# The last day of a phase without one. Far enough out that shifting a campaign by years (the
# placebo dates of the robustness checks) keeps it open; every end at or after
# ``_OPEN_FROM`` reads as open.
OPEN_END = pd.Timestamp("2199-12-31")
_OPEN_FROM = pd.Timestamp("2150-01-01")


def is_open_end(day) -> bool:
    return day is not None and pd.Timestamp(day) >= _OPEN_FROM


def _day_or_open(value) -> pd.Timestamp:
    """A phase's last day; None, NaT, "" or "open"/"持续" mean no last day (OPEN_END)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "open", "none", "持续", "至今")):
        return OPEN_END
    day = pd.Timestamp(value)
    if pd.isna(day):
        return OPEN_END
    return day.normalize()


@dataclass(frozen=True)
class Phase:
    name: str
    start: pd.Timestamp
    end: pd.Timestamp  # last day, inclusive
    order: int = 1

    @property
    def days(self) -> int:
        return int((self.end - self.start).days) + 1

    @property
    def open_ended(self) -> bool:
        return is_open_end(self.end)

    def describe_zh(self) -> str:
        return f"{self.name} {self.start:%Y-%m-%d}起持续实施" if self.open_ended else \
            f"{self.name} {self.start:%Y-%m-%d}至{self.end:%Y-%m-%d}"


@dataclass(frozen=True)
class Campaign:
    """phases: the common phases (for a staggered roll-out, one phase from the earliest start
    to the latest end); adoption: unit -> first day covered; outcomes: targeted subcategories."""

    campaign_id: str
    name_zh: str
    phases: tuple[Phase, ...]
    units: tuple[str, ...]
    outcomes: tuple[str, ...] = ()
    adoption: dict = field(default_factory=dict)
    unit_end: dict = field(default_factory=dict)  # unit -> last day covered

    @property
    def start(self) -> pd.Timestamp:
        return min(p.start for p in self.phases)

    @property
    def end(self) -> pd.Timestamp:
        return max(p.end for p in self.phases)

    @property
    def staggered(self) -> bool:
        return len(set(self.adoption.values())) > 1

    @property
    def open_ended(self) -> bool:
        """No last day: in force to the end of the data."""
        return is_open_end(self.end)

    def describe_zh(self) -> str:
        parts = [p.describe_zh() for p in self.phases]
        if self.staggered:
            stays = ",推行后持续实施" if self.open_ended else ""
            return (f"{self.name_zh}:{len(self.units)} 个单位分批推行,"
                    f"最早 {min(self.adoption.values()):%Y-%m-%d},最晚 {max(self.adoption.values()):%Y-%m-%d}{stays}")
        return f"{self.name_zh}:" + ";".join(parts) + f";覆盖 {len(self.units)} 个单位"

    def with_window(self, start, end) -> "Campaign":
        """The same campaign run from ``start`` to ``end`` (inclusive): phases are clipped to
        the window, those outside it dropped, and the first and last phase stretched to its
        edges. For a what-if on the dates, not for a staggered roll-out."""
        start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        if end < start:
            raise ValueError(f"campaign window: end {end:%Y-%m-%d} is before start {start:%Y-%m-%d}")
        if self.staggered:
            raise ValueError("a staggered roll-out has no single window; change the units' start dates instead")
        kept = [p for p in sorted(self.phases, key=lambda p: p.start) if p.end >= start and p.start <= end]
        if not kept:
            kept = [Phase("活动期", start, end, 1)]
        phases = tuple(Phase(p.name, start if i == 0 else max(p.start, start),
                             end if i == len(kept) - 1 else min(p.end, end), p.order) for i, p in enumerate(kept))
        return Campaign(self.campaign_id, self.name_zh, phases, self.units, self.outcomes,
                        {u: start for u in self.units}, {u: end for u in self.units})

    @classmethod
    def from_table(cls, campaigns: pd.DataFrame, campaign_id: str,
                   unit_changes: pd.DataFrame | None = None) -> "Campaign":
        """Read one campaign from the canonical campaigns table (unit ids harmonised if
        ``unit_changes`` is given, so a unit renamed later is the same unit)."""
        rows = campaigns[campaigns["campaign_id"].astype(str) == str(campaign_id)].copy()
        if rows.empty:
            known = ", ".join(sorted(campaigns["campaign_id"].astype(str).unique()))
            raise ValueError(f"campaign {campaign_id!r} is not in the campaigns table (known: {known})")
        if unit_changes is not None and len(unit_changes):
            from cityanalytics.units import harmonize_units

            rows = harmonize_units(rows, unit_changes)
        rows["unit_id"] = rows["unit_id"].astype(str)
        rows["start_date"] = pd.to_datetime(rows["start_date"]).dt.normalize()
        # A blank last day is a policy that stays (open end).
        rows["end_date"] = pd.to_datetime(rows["end_date"]).dt.normalize().fillna(OPEN_END)
        order = rows["phase_order"].astype(int) if "phase_order" in rows else 1
        rows["phase_order"] = order
        phases = []
        for (o, name), g in rows.groupby(["phase_order", "phase"], sort=True):
            phases.append(Phase(str(name), g["start_date"].min(), g["end_date"].max(), int(o)))
        phases.sort(key=lambda p: (p.order, p.start))
        per_unit = rows.groupby("unit_id")
        adoption = per_unit["start_date"].min().to_dict()
        unit_end = per_unit["end_date"].max().to_dict()
        outcomes: list[str] = []
        if "outcomes" in rows:
            for text in rows["outcomes"].dropna().astype(str):
                for item in text.replace(";", ";").split(";"):
                    item = item.strip()
                    if item and item not in outcomes:
                        outcomes.append(item)
        return cls(str(campaign_id), str(rows["name_zh"].iloc[0]), tuple(phases),
                   tuple(sorted(adoption)), tuple(outcomes), adoption, unit_end)

    @classmethod
    def from_dates(cls, name_zh: str, phases, units, outcomes=(), campaign_id: str = "custom",
                   adoption: dict | None = None) -> "Campaign":
        """phases: ``[(name, start, end), ...]`` or ``{name: [start, end]}``; an end of None
        (or a phase given as ``(name, start)``) is a policy that stays: in force to the end of
        the data. adoption: for a staggered roll-out, ``{unit: first day}``; without phases it
        is a policy that stays once adopted (one open phase 推行 from the first adoption)."""
        if isinstance(phases, dict):
            phases = [(k, *(v if isinstance(v, (list, tuple)) else [v])) for k, v in phases.items()]
        ph = []
        for i, item in enumerate(phases or (), start=1):
            if len(item) not in (2, 3):
                raise ValueError(f"phase {item!r}: expected (name, start) or (name, start, end)")
            n, a = item[0], item[1]
            ph.append(Phase(str(n), pd.Timestamp(a).normalize(), _day_or_open(item[2] if len(item) == 3 else None), i))
        ph = tuple(ph)
        units = tuple(str(u) for u in units)
        if adoption:
            adoption = {str(k): pd.Timestamp(v).normalize() for k, v in adoption.items()}
            units = tuple(sorted(adoption))
            if not ph:
                ph = (Phase("推行", min(adoption.values()), OPEN_END, 1),)
        else:
            if not ph:
                raise ValueError("give at least one phase: [(name, start, end), ...]")
            adoption = {u: min(p.start for p in ph) for u in units}
        end = max(p.end for p in ph)
        for p in ph:
            if p.end < p.start:
                raise ValueError(f"phase {p.name}: end {p.end:%Y-%m-%d} is before start {p.start:%Y-%m-%d}")
        return cls(campaign_id, name_zh, ph, units, tuple(outcomes), adoption, {u: end for u in units})


def list_campaigns(campaigns: pd.DataFrame) -> pd.DataFrame:
    """One row per campaign: id, name, first and last day (none for a policy that stays: a
    blank end date), units, staggered or not."""
    g = campaigns.groupby("campaign_id")
    open_end = g["end_date"].apply(lambda v: bool(v.isna().any()))
    out = pd.DataFrame({
        "name_zh": g["name_zh"].first(),
        "start": g["start_date"].min(),
        "end": pd.to_datetime(g["end_date"].max()).where(~open_end),
        "open_ended": open_end,
        "units": g["unit_id"].nunique(),
        "phases": g["phase"].nunique(),
        "staggered": g.apply(lambda d: d.groupby("unit_id")["start_date"].min().nunique() > 1,
                             include_groups=False),
    })
    return out.reset_index()
