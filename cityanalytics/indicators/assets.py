"""Infrastructure checks from record-level data: the ``assets`` register and its ``inspections``.

- 亮灯率 (street_light_on_rate): lamps found lit / lamps checked in the period. A lamp checked
  several times in a period counts once, by its last check (the state the period ends with).
- 道路完好率 (road_intact_rate) and 桥梁完好率 (bridge_intact_rate): segments (bridges) found intact by
  their last check in the period / segments (bridges) checked.
- 巡查完成率 (asset_inspection_completion_rate): assets due in the period that were checked in it /
  assets due. An asset in service in the period is due when its next check falls on or before the
  period's last day: last check before the period + ``check_every_days`` (from ``in_service_from``
  when never checked; without a cycle, or without any earlier date, it is due every period).

Each rate comes for the unit as a whole (group "") and per road class (group "road_class=主干路"),
and, for completion, per kind (group "kind=路灯"). An asset without a road class is counted under
"road_class=未标明", never dropped. A class (or unit) with assets in service but none checked or
due in a period is listed with a denominator of 0 and no value, and named in
``frame.attrs["notes"]``: a rate with nothing behind it is said, not shown as 0% or 100%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityanalytics.indicators.frame import CITY, FREQS, UNASSIGNED, combine, proportion, window_label
from cityanalytics.indicators.computable import drop_not_computable

NO_CLASS = "未标明"
RATES = {"路灯": "street_light_on_rate", "道路": "road_intact_rate", "桥梁": "bridge_intact_rate"}
COMPLETION = "asset_inspection_completion_rate"
INDICATORS = (*RATES.values(), COMPLETION)


def asset_indicators(assets: pd.DataFrame, inspections: pd.DataFrame, *, start=None, end=None, freq: str = "M",
                     level: float = 0.95, unit_map: dict[str, str] | None = None,
                     include_city: bool = True) -> pd.DataFrame:
    """IndicatorFrame of lighting-on, intactness and check-completion rates by unit, period and road class."""
    reg = _register(assets, unit_map)
    checks = _checks(inspections, reg)
    start = pd.Timestamp(start if start is not None else checks["inspected_at"].min()).normalize()
    end = pd.Timestamp(end if end is not None else checks["inspected_at"].max()).normalize()
    periods = _periods(start, end, freq)

    parts, notes = [], []
    rows = []
    for label, p_start, p_end in periods:
        in_p = checks[(checks["inspected_at"] >= p_start) & (checks["inspected_at"] < p_end + pd.Timedelta(days=1))]
        last = in_p.sort_values("inspected_at").groupby("asset_id").tail(1).set_index("asset_id")["ok"]
        live = reg[_in_service(reg, p_start, p_end)].copy()
        live["checked"] = live["asset_id"].isin(last.index)
        live["ok"] = last.reindex(live["asset_id"]).fillna(False).astype(bool).to_numpy()
        live["due"] = _due(live, checks, p_start, p_end)
        live["period"] = label
        rows.append(live)
    d = pd.concat(rows, ignore_index=True) if rows else reg.iloc[:0].assign(checked=False, ok=False, due=False,
                                                                              period=None)
    if include_city:
        d = pd.concat([d, d.assign(unit_id=CITY)], ignore_index=True)

    for kind, indicator in RATES.items():
        k = d[d["kind"] == kind]
        for by in (None, "road_class"):
            g = _tally(k, by, num=k["checked"] & k["ok"], den=k["checked"])
            parts.append(proportion(indicator, g, g["num"], g["den"], level))
            notes += [f"{indicator} {r.unit_id} {r.period}{' ' + r.group if r.group else ''}: no {kind} checked"
                      for r in g[g["den"] == 0].itertuples()]
    for by in (None, "kind", "road_class"):
        g = _tally(d, by, num=d["due"] & d["checked"], den=d["due"])
        parts.append(proportion(COMPLETION, g, g["num"], g["den"], level))
        notes += [f"{COMPLETION} {r.unit_id} {r.period}{' ' + r.group if r.group else ''}: no asset due"
                  for r in g[g["den"] == 0].itertuples()]
    out = combine(parts, level)
    out.attrs["notes"] = notes
    return drop_not_computable(out, inspections, list(INDICATORS))


def _tally(d: pd.DataFrame, by: str | None, num: pd.Series, den: pd.Series) -> pd.DataFrame:
    keys = ["unit_id", "period"] + ([by] if by else [])
    t = d[keys].assign(num=num.astype(int), den=den.astype(int))
    g = t.groupby(keys, sort=True, dropna=False)[["num", "den"]].sum().reset_index()
    g["group"] = (by + "=" + g[by].astype(str)) if by else ""
    return g


def _register(assets: pd.DataFrame, unit_map) -> pd.DataFrame:
    for col in ("asset_id", "kind", "unit_id"):
        if col not in assets:
            raise ValueError(f"assets: missing column {col}")
    dup = assets["asset_id"].duplicated()
    if dup.any():
        raise ValueError(f"assets: row {assets.index[dup.to_numpy()][0]}, column asset_id: "
                         f"{assets['asset_id'][dup].iloc[0]!r} appears twice (expected one row per asset)")
    reg = assets.copy()
    for col in ("road_class", "check_every_days", "in_service_from", "retired_on"):
        if col not in reg:
            reg[col] = pd.NA
    reg["road_class"] = reg["road_class"].astype("object").where(reg["road_class"].notna(), NO_CLASS)
    reg["unit_id"] = reg["unit_id"].astype("object").where(reg["unit_id"].notna(), UNASSIGNED)
    if unit_map:
        reg["unit_id"] = reg["unit_id"].map(lambda u: unit_map.get(u, u))
    reg["in_service_from"] = pd.to_datetime(reg["in_service_from"])
    reg["retired_on"] = pd.to_datetime(reg["retired_on"])
    reg["check_every_days"] = pd.to_numeric(reg["check_every_days"]).astype(float)
    return reg


def _checks(inspections: pd.DataFrame, reg: pd.DataFrame) -> pd.DataFrame:
    for col in ("asset_id", "inspected_at", "ok"):
        if col not in inspections:
            raise ValueError(f"inspections: missing column {col}")
    unknown = ~inspections["asset_id"].isin(reg["asset_id"])
    if unknown.any():
        row = inspections.index[unknown.to_numpy()][0]
        raise ValueError(f"inspections: row {row}, column asset_id: {inspections['asset_id'][row]!r} is not in the "
                         f"assets register ({int(unknown.sum())} such rows); add it to assets or correct the id")
    blank = inspections["ok"].isna() | inspections["inspected_at"].isna()
    if blank.any():
        row = inspections.index[blank.to_numpy()][0]
        raise ValueError(f"inspections: row {row}: inspected_at and ok must both hold a value (a check with no "
                         f"result cannot count as on or off)")
    c = inspections[["asset_id", "inspected_at", "ok"]].copy()
    c["inspected_at"] = pd.to_datetime(c["inspected_at"])
    c["ok"] = c["ok"].astype(bool)
    return c


def _periods(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> list[tuple[object, pd.Timestamp, pd.Timestamp]]:
    if freq == "all":
        return [(window_label(start, end), start, end)]
    if freq not in FREQS:
        raise ValueError(f"freq must be one of {', '.join(FREQS)}, got {freq!r}")
    return [(p, max(p.start_time.normalize(), start), min(p.end_time.normalize(), end))
            for p in pd.period_range(start, end, freq=freq)]


def _in_service(reg: pd.DataFrame, p_start: pd.Timestamp, p_end: pd.Timestamp) -> pd.Series:
    started = reg["in_service_from"].isna() | (reg["in_service_from"] <= p_end)
    not_retired = reg["retired_on"].isna() | (reg["retired_on"] > p_start)
    return started & not_retired


def _due(live: pd.DataFrame, checks: pd.DataFrame, p_start: pd.Timestamp, p_end: pd.Timestamp) -> np.ndarray:
    before = checks[checks["inspected_at"] < p_start].groupby("asset_id")["inspected_at"].max()
    last = pd.Series(before.reindex(live["asset_id"]).to_numpy(), index=live.index, dtype="datetime64[ns]")
    anchor = last.fillna(live["in_service_from"]).dt.normalize()
    cycle = pd.to_timedelta(live["check_every_days"], unit="D")
    next_due = anchor + cycle
    return (next_due.isna() | (next_due <= p_end)).to_numpy()
