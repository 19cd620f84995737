"""Monthly coverage series per unit: from the community register or from an aggregated table.

A coverage series is a count process on a finite register: ``covered[u, t]`` of ``total[u, t]``
communities (or households) had started sorting by the end of month ``t``. Models work on
*effective counts*: coverage share times the unit's effective register size ``n_eff``. For
communities ``n_eff`` is the number of communities; for households it is Kish's effective
number of communities ``(sum w)^2 / sum w^2`` (a community starts sorting as a whole, so its
households move together), the same convention as ``indicators.sorting``. For an aggregated
table of covered/total per month, ``n_eff`` is the denominator unless you say otherwise
(pass ``cluster_size`` when the denominator counts households).

    s = coverage_series(communities, measure="communities", area_type="城市", as_of="2025-06-30")
    s = series_from_frame(observations, indicator="sorting_coverage_communities")
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from cityanalytics.indicators.frame import CITY
from cityanalytics.stats import intervals

MEASURES = ("communities", "households")
EVENTS = ("started", "compliant")
CITY_NAME = "全市"

INDICATOR_IDS = {  # (event, measure) -> indicator id in the registry
    ("started", "communities"): "sorting_coverage_communities",
    ("started", "households"): "sorting_coverage_households",
    ("compliant", "communities"): "sorting_compliant_share",
    ("compliant", "households"): "sorting_compliant_share",
}


@dataclass
class CoverageSeries:
    """Coverage by unit (rows) and month (columns); NaN where a unit has no figure.

    covered, total: in the measure's units (communities or households).
    n_eff: effective register size per unit, the scale of the count process the models see.
    """

    unit_ids: np.ndarray
    months: pd.PeriodIndex
    covered: np.ndarray
    total: np.ndarray
    n_eff: np.ndarray
    measure: str = "communities"
    event: str = "started"
    indicator: str = "sorting_coverage_communities"
    area_type: str | None = None
    source: str = ""
    unit_names: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)  # unit_id -> list of notes made while building

    def __post_init__(self) -> None:
        self.unit_ids = np.asarray(self.unit_ids, dtype=object)
        self.covered = np.asarray(self.covered, dtype=float)
        self.total = np.asarray(self.total, dtype=float)
        self.n_eff = np.asarray(self.n_eff, dtype=float)
        u, t = len(self.unit_ids), len(self.months)
        if self.covered.shape != (u, t) or self.total.shape != (u, t) or self.n_eff.shape != (u,):
            raise ValueError(f"shapes do not fit {u} units x {t} months")

    @property
    def integer(self) -> bool:
        """True when the effective counts are whole communities (paths are rounded)."""
        return self.measure == "communities" and bool(np.allclose(self.n_eff, np.round(self.n_eff)))

    @property
    def share(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.total > 0, self.covered / np.where(self.total > 0, self.total, 1), np.nan)

    @property
    def effective(self) -> np.ndarray:
        """Coverage on the effective-count scale: share x n_eff."""
        return self.share * self.n_eff[:, None]

    @property
    def first(self) -> np.ndarray:
        """Index of each unit's first month with a figure (len(months) if none)."""
        ok = ~np.isnan(self.share)
        return np.where(ok.any(axis=1), ok.argmax(axis=1), len(self.months))

    @property
    def last(self) -> np.ndarray:
        """Index of each unit's last month with a figure (-1 if none)."""
        ok = ~np.isnan(self.share)
        t = len(self.months)
        return np.where(ok.any(axis=1), t - 1 - ok[:, ::-1].argmax(axis=1), -1)

    def name(self, unit_id: str) -> str:
        return self.unit_names.get(unit_id, CITY_NAME if unit_id == CITY else str(unit_id))

    def select(self, units) -> "CoverageSeries":
        """Only these units (in this order); unknown ids raise."""
        index = {u: i for i, u in enumerate(self.unit_ids)}
        missing = [u for u in units if u not in index]
        if missing:
            raise ValueError(f"units not in the series: {', '.join(map(str, missing))}")
        rows = [index[u] for u in units]
        return replace(self, unit_ids=self.unit_ids[rows], covered=self.covered[rows], total=self.total[rows],
                       n_eff=self.n_eff[rows], notes={u: self.notes.get(u, []) for u in units})

    def cut(self, as_of) -> "CoverageSeries":
        """The series as it was known at the end of month ``as_of`` (later months dropped)."""
        end = pd.Period(as_of, freq="M")
        keep = self.months <= end
        return replace(self, months=self.months[keep], covered=self.covered[:, keep], total=self.total[:, keep])

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """The history as an IndicatorFrame (value in percent, Wilson interval on n_eff)."""
        u, t = self.covered.shape
        share = self.share.ravel()
        ok = ~np.isnan(share)
        n_eff = np.repeat(self.n_eff, t)[ok]
        _, low, high = intervals.wilson(share[ok] * n_eff, n_eff, level)
        out = pd.DataFrame({
            "indicator": self.indicator,
            "unit_id": np.repeat(self.unit_ids, t)[ok],
            "period": self.months[np.tile(np.arange(t), u)[ok]],
            "group": f"area_type={self.area_type}" if self.area_type else "",
            "numerator": self.covered.ravel()[ok],
            "denominator": self.total.ravel()[ok],
            "value": 100 * share[ok],
            "ci_low": low,
            "ci_high": high,
            "ci_method": "wilson" if self.measure == "communities" else "wilson_kish",
        })
        out.attrs["ci_level"] = level
        return out


def coverage_series(communities, *, measure: str = "communities", event: str = "started",
                    area_type: str | None = None, as_of=None, start=None, include_city: bool = True,
                    unit_names: dict | None = None, source: str = "", engine=None) -> CoverageSeries:
    """Monthly coverage per unit (and the city) from the sorting register, as the coverage
    indicators count it (``indicators.sorting.coverage_counts``, the one definition).

    measure: "communities" (share of communities) or "households" (share of households).
    event: "started" (sorting_started_on: coverage) or "compliant" (compliant_on: 达标).
    area_type: "城市", "农村" or None for both.
    as_of: the data's end; dates after it are not known yet. Default: the month of the
        latest date in the register.
    start: first month of the series (default: the month of the earliest event).
    """
    from cityanalytics.indicators.sorting import coverage_counts

    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    if event not in EVENTS:
        raise ValueError(f"event must be one of {', '.join(EVENTS)}, got {event!r}")
    counts = coverage_counts(communities, event=event, area_type=area_type or None, start=start, end=as_of,
                             include_city=include_city, engine=engine)
    return series_from_counts(counts, measure=measure, event=event, area_type=area_type, unit_names=unit_names,
                              source=source or "社区(小区)垃圾分类台账")


def series_from_counts(counts: pd.DataFrame, *, measure: str = "communities", event: str = "started",
                       area_type: str | None = None, unit_names: dict | None = None,
                       source: str = "") -> CoverageSeries:
    """The coverage series of ``indicators.sorting.coverage_counts``' frame (one group): covered
    of total communities, or households with Kish's effective number of communities as n_eff."""
    ids = list(dict.fromkeys(counts["unit_id"]))
    if len(counts):
        months = pd.period_range(counts["period"].min(), counts["period"].max(), freq="M")
    else:
        months = pd.PeriodIndex([], freq="M")
    covered_col, total_col = ("covered", "n") if measure == "communities" else ("hh_covered", "hh")
    wide = counts.pivot(index="unit_id", columns="period", values=[covered_col, total_col]) if len(counts) else None
    if wide is None:
        covered = total = np.zeros((0, len(months)))
    else:
        covered = wide[covered_col].reindex(index=ids, columns=months).to_numpy(dtype=float)
        total = wide[total_col].reindex(index=ids, columns=months).to_numpy(dtype=float)
    size = counts.groupby("unit_id", sort=False)["n" if measure == "communities" else "n_eff"].first()
    n_eff = size.reindex(ids).to_numpy(dtype=float)
    covered = np.where(total > 0, covered, np.nan)
    names = dict(unit_names or {})
    names.setdefault(CITY, CITY_NAME)
    return CoverageSeries(
        unit_ids=np.array(ids, dtype=object), months=months, covered=covered, total=total, n_eff=n_eff,
        measure=measure, event=event, indicator=INDICATOR_IDS[(event, measure)], area_type=area_type,
        source=source, unit_names=names,
    )


def series_from_frame(frame: pd.DataFrame, *, indicator: str | None = None, measure: str = "communities",
                      cluster_size: float | dict | None = None, n_eff: dict | None = None, group: str = "",
                      unit_names: dict | None = None, source: str = "") -> CoverageSeries:
    """Coverage series from an aggregated covered/total table (``observations`` or an IndicatorFrame).

    Needs columns unit_id, period (monthly: "2023-08" or a Period), numerator, denominator
    (or value in percent with denominator). An IndicatorFrame's ``group`` column selects one
    breakdown (default "": the whole unit). Months a unit skips inside its range are filled
    by linear interpolation of the share, and the unit's notes say how many.

    The effective register size is the latest denominator, divided by ``cluster_size`` (a
    number, or unit -> number) when the denominator counts households rather than
    communities; ``n_eff`` (unit -> size) sets it directly.
    """
    f = frame
    if indicator is not None and "indicator" in f:
        f = f[f["indicator"] == indicator]
    if "group" in f:  # an IndicatorFrame's breakdowns: one group at a time
        f = f[f["group"].fillna("") == group]
    if f.empty:
        raise ValueError(f"no rows{' for indicator ' + indicator if indicator else ''}")
    periods = pd.PeriodIndex([pd.Period(p, freq="M") for p in f["period"].astype(str)], freq="M")
    den = pd.to_numeric(f["denominator"], errors="coerce").astype(float).to_numpy()
    if "numerator" in f and pd.to_numeric(f["numerator"], errors="coerce").notna().all():
        num = pd.to_numeric(f["numerator"], errors="coerce").astype(float).to_numpy()
    else:
        num = pd.to_numeric(f["value"], errors="coerce").astype(float).to_numpy() / 100 * den
    if np.isnan(den).any():
        raise ValueError("every row needs a denominator (the register size) to forecast a bounded count")
    if (num < 0).any() or (num > den + 1e-9).any():
        raise ValueError("need 0 <= numerator <= denominator in every row")
    t = pd.DataFrame({"unit_id": f["unit_id"].astype(str).to_numpy(), "period": periods, "num": num, "den": den})
    t = t.groupby(["unit_id", "period"], as_index=False).last()
    months = pd.period_range(t["period"].min(), t["period"].max(), freq="M")
    ids = sorted(t["unit_id"].unique())
    num_w = t.pivot(index="unit_id", columns="period", values="num").reindex(index=ids, columns=months)
    den_w = t.pivot(index="unit_id", columns="period", values="den").reindex(index=ids, columns=months)
    share = (num_w / den_w).to_numpy(dtype=float)
    den_a = den_w.to_numpy(dtype=float)
    notes = {}
    for i, unit in enumerate(ids):
        ok = ~np.isnan(share[i])
        a, b = ok.argmax(), len(ok) - 1 - ok[::-1].argmax()
        gaps = int((~ok[a:b + 1]).sum())
        if gaps:
            x = np.arange(len(ok))
            share[i, a:b + 1] = np.interp(x[a:b + 1], x[ok], share[i, ok])
            den_a[i, a:b + 1] = np.interp(x[a:b + 1], x[ok], den_a[i, ok])
            notes[unit] = [f"{gaps}个月缺数,按前后月份线性插补"]
    last_den = np.array([row[~np.isnan(row)][-1] for row in den_a])
    size = last_den.copy()
    if cluster_size is not None:
        cs = np.array([cluster_size.get(u, np.nan) if isinstance(cluster_size, dict) else cluster_size for u in ids],
                      dtype=float)
        size = np.where(np.isnan(cs), size, last_den / cs)
    if n_eff:
        size = np.array([n_eff.get(u, s) for u, s in zip(ids, size)], dtype=float)
    covered = share * den_a
    src = source or (str(f["source"].iloc[0]) if "source" in f and len(f) else "汇总报表")
    return CoverageSeries(
        unit_ids=np.array(ids, dtype=object), months=months, covered=covered, total=den_a, n_eff=size,
        measure=measure, indicator=indicator or (str(f["indicator"].iloc[0]) if "indicator" in f else "coverage"),
        source=src, unit_names=dict(unit_names or {}), notes=notes,
    )


def load_series(workspace, *, table: str = "communities", measure: str = "communities",
                event: str = "started", area_type: str | None = None, as_of=None, indicator: str | None = None,
                cluster_size: float | None = None) -> CoverageSeries:
    """Load the register (or an observations table) from a workspace and build the series.

    workspace: a workspace folder, a folder of canonical tables, or a ``Workspace``. Goes
    through the loaders (``cityanalytics.io.load``), so a real export is validated the same
    way; unit names come from the districts table when there is one.
    """
    from cityanalytics.workspace import open_workspace

    ws = open_workspace(workspace)
    path = ws.path(table)
    if path is None:
        raise FileNotFoundError(f"{ws.root}: no {table} table (.parquet/.csv/.xlsx in {ws.tables_dir})")
    names = {}
    d = ws.table("districts")
    if d is not None:
        names = dict(zip(d["unit_id"].astype(str), d["name_zh"].astype(str)))
    frame = ws.load(table).frame
    if table == "communities":
        return coverage_series(frame, measure=measure, event=event, area_type=area_type, as_of=as_of,
                               unit_names=names, source=f"{path.name}(社区垃圾分类台账)")
    if table == "observations":
        s = series_from_frame(frame, indicator=indicator, measure=measure, cluster_size=cluster_size,
                              unit_names=names)
        return s.cut(as_of) if as_of not in (None, "") else s
    raise ValueError(f"table must be communities or observations, got {table!r}")
