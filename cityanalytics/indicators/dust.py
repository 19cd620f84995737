"""Road cleanliness "以克论净": dust left on a 1 m2 frame after cleaning, in g/m2.

A sample complies when its dust is at or below the limit of its lane type; 淄博市城市精细化管理“十四五”规划
(Zibo) sets 3 / 8 / 10 / 10 g/m2 for 机动车道 / 非机动车道 / 人行道 / 背街小巷. A road complies when
the mean of its samples is within the limit for every lane type sampled on it (lanes whose
samples carry no dust value are not judged; a road with no dust value at all is not counted).

The engine (``cityanalytics.engines``, through Ibis) sums per unit, period, road and lane type:
samples, compliant samples, and the dust's count, sum and sum of squares. Road means, city rows
and intervals (Wilson for the rates, t for the mean dust) are computed from those sums; a road's
lanes are the finest rows that come back, since a road complies on the mean of each lane.
"""

from __future__ import annotations

from functools import reduce

import pandas as pd

from cityanalytics.engines import backend
from cityanalytics.engines.connect import to_frame
from cityanalytics.indicators.frame import CITY, combine, estimate, period_keys, proportion
from cityanalytics.indicators.computable import drop_not_computable
from cityanalytics.indicators._grouping import keys_of
from cityanalytics.indicators._on_engine import engine_table, moments, profile, rolled_up, t_mean

DEFAULT_LIMITS = {"机动车道": 3.0, "非机动车道": 8.0, "人行道": 10.0, "背街小巷": 10.0}  # 淄博市“十四五”规划


INDICATORS = ("road_dust_sample_compliance_rate", "road_dust_road_compliance_rate", "road_dust_mean")


def dust_indicators(samples: pd.DataFrame, *, limits: dict[str, float] | None = None, start=None, end=None,
                    freq: str = "M", level: float = 0.95, unit_map: dict[str, str] | None = None,
                    include_city: bool = True, engine=None) -> pd.DataFrame:
    """samples: the dust_samples table, or where an engine reads it (``cityanalytics.engines``)."""
    limits = limits or DEFAULT_LIMITS
    with backend(engine) as con:
        t = engine_table(con, samples, "dust_samples")
        filled, row = profile(con, t, lo=t.sampled_on.min(), hi=t.sampled_on.max())
        lanes = to_frame(con, t.select(lane=t.lane_type.cast("string")).distinct())["lane"]
        unknown = set(lanes.dropna()) - set(limits)
        if unknown:
            raise ValueError(f"no dust limit for lane type(s): {', '.join(sorted(unknown))}")
        start = pd.Timestamp(start if start is not None else row["lo"]).normalize()
        end = pd.Timestamp(end if end is not None else row["hi"]).normalize()
        rows = to_frame(con, _sums(t, limits, start, end, freq, unit_map))
    rows["period"] = period_keys(pd.to_datetime(rows["period"]) if "period" in rows
                                 else pd.Series(pd.NaT, index=rows.index), freq, start, end)
    keys = ["unit_id", "period"]

    per_sample = rolled_up(rows, keys, ["samples", "ok"], include_city, CITY)
    parts = [proportion("road_dust_sample_compliance_rate", keys_of(per_sample), per_sample["ok"],
                        per_sample["samples"], level)]

    lane = rolled_up(rows, [*keys, "road_id", "lane_type"], ["n", "s"], include_city, CITY)
    lane = lane[lane["n"] > 0]  # a lane with no dust value has no mean to judge; a road with none, no verdict
    lane = lane.assign(ok=lane["s"] / lane["n"] <= lane["lane_type"].map(limits).astype(float))
    roads = lane.groupby([*keys, "road_id"], sort=True)["ok"].all().reset_index()
    per_road = roads.groupby(keys, sort=True).agg(n=("ok", "size"), ok=("ok", "sum")).reset_index()
    parts.append(proportion("road_dust_road_compliance_rate", keys_of(per_road), per_road["ok"],
                            per_road["n"], level))

    means = t_mean(rolled_up(rows, [*keys, "lane_type"], ["n", "s", "ss"], include_city, CITY), level)
    means["group"] = "lane_type=" + means["lane_type"].astype(str)
    parts.append(estimate("road_dust_mean", keys_of(means), means["mean"], means["ci_low"], means["ci_high"],
                          "t", means["n"]))
    return drop_not_computable(combine(parts, level), filled, list(INDICATORS))


def _sums(t, limits: dict[str, float], start: pd.Timestamp, end: pd.Timestamp, freq: str, unit_map):
    """Samples in [start, end] summed per unit, period, road and lane type."""
    import ibis

    t = t.filter(t.sampled_on >= ibis.literal(start.to_pydatetime(), type="timestamp"),
                 t.sampled_on < ibis.literal((end + pd.Timedelta(days=1)).to_pydatetime(), type="timestamp"))
    dust = t.dust_g_m2.cast("float64")
    lane = t.lane_type.cast("string")
    within = reduce(lambda a, b: a | b, [(lane == k) & (dust <= float(v)) for k, v in limits.items()])
    unit = t.unit_id.cast("string")
    keys = {"unit_id": unit.substitute(unit_map) if unit_map else unit}
    bucket = {"M": "M", "Q": "Q", "Y": "Y"}.get(freq)
    if bucket:
        keys["period"] = t.sampled_on.truncate(bucket)
    keys.update(road_id=t.road_id.cast("string"), lane_type=lane)
    return t.group_by(**keys).aggregate(samples=t.count(), ok=within.fill_null(False).cast("int64").sum(),
                                        **moments(t.dust_g_m2))
